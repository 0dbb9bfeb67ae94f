package magiclink_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/store/memstore"
)

// answer is one HTTP answer, decoded.
type answer struct {
	status int
	body   []byte
	json   any
	retry  string
}

func (b *browser) answer(method, path string, body any) answer {
	b.t.Helper()
	raw, _ := json.Marshal(body)
	res, data := b.do(method, path, "application/json", string(raw))
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		b.t.Fatalf("%s %s: not JSON: %q", method, path, data)
	}
	return answer{res.StatusCode, data, v, res.Header.Get("Retry-After")}
}

// fields flattens an HTTP answer into named values: its status, each
// header (Set-Cookie split into each cookie's attributes and its value),
// and each JSON leaf by path.
func fields(res *http.Response, body []byte) map[string]string {
	out := map[string]string{"status": strconv.Itoa(res.StatusCode)}
	for k, v := range res.Header {
		switch k {
		case "Date": // differs between any two requests a second apart
		case "Set-Cookie":
			for _, c := range res.Cookies() {
				out["cookie "+c.Name+" value"] = c.Value
				c.Value = ""
				out["cookie "+c.Name] = c.String()
			}
		default:
			out["header "+k] = strings.Join(v, "\n")
		}
	}
	var v any
	if json.Unmarshal(body, &v) == nil {
		flattenJSON("body", v, out)
	}
	return out
}

func flattenJSON(path string, v any, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		out[path] = "object"
		for k, x := range v {
			flattenJSON(path+"."+k, x, out)
		}
	case []any:
		out[path] = "array of " + strconv.Itoa(len(v))
		for i, x := range v {
			flattenJSON(path+"["+strconv.Itoa(i)+"]", x, out)
		}
	default:
		b, _ := json.Marshal(v)
		out[path] = string(b)
	}
}

// timeOrdered reports whether an id's hex part is a UUIDv7 minted within
// a year of now: an id that tells when its record was made.
func timeOrdered(id string) bool {
	_, h, ok := strings.Cut(id, "_")
	if !ok || len(h) != 32 || h[12] != '7' {
		return false
	}
	b, err := hex.DecodeString(h[:12])
	if err != nil {
		return false
	}
	var msec int64
	for _, x := range b {
		msec = msec<<8 | int64(x)
	}
	d := time.Since(time.UnixMilli(msec))
	return d > -365*24*time.Hour && d < 365*24*time.Hour
}

// alike fails t unless four answers to one request — two about a
// registered address, two about an unknown one, sent by four fresh
// browsers — tell nothing apart: every value either differs between the
// two answers about the same address (it varies anyway: ids, cookies,
// nonces, times), or is the same in all four. The only values allowed to
// be stable per address yet differ between the addresses are the address
// itself and its email_address_id, whose two forms must match and must
// not be time-ordered.
func alike(t *testing.T, step string, known, unknown [2]map[string]string) {
	t.Helper()
	names := map[string]bool{}
	for _, m := range append(known[:], unknown[:]...) {
		for k := range m {
			names[k] = true
		}
	}
	get := func(m map[string]string, k string) string {
		if v, ok := m[k]; ok {
			return v
		}
		return "<absent>"
	}
	for k := range names {
		k1, k2, u1, u2 := get(known[0], k), get(known[1], k), get(unknown[0], k), get(unknown[1], k)
		kVaries, uVaries := k1 != k2, u1 != u2
		switch {
		case kVaries != uVaries:
			t.Errorf("%s: %s varies between requests for one address but not the other:\nregistered %s / %s\nunknown    %s / %s", step, k, k1, k2, u1, u2)
		case kVaries || k1 == u1:
		case strings.HasSuffix(k, ".identifier") || strings.HasSuffix(k, ".safe_identifier") || strings.HasSuffix(k, ".email_address"):
		case strings.HasSuffix(k, ".email_address_id"):
			if len(k1) != len(u1) || k1[:5] != u1[:5] || timeOrdered(strings.Trim(k1, `"`)) || timeOrdered(strings.Trim(u1, `"`)) {
				t.Errorf("%s: %s tells the addresses apart: registered %s, unknown %s", step, k, k1, u1)
			}
		default:
			t.Errorf("%s: %s differs between a registered address (%s) and an unknown one (%s)", step, k, k1, u1)
		}
	}
}

// comparison collects, step by step, the answers about a registered
// address (side 0) and an unknown one (side 1), two rounds each.
type comparison struct {
	steps []string
	got   map[string]*[2][2]map[string]string // step → [side][round]
}

func (c *comparison) record(step string, side, round int, res *http.Response, body []byte) {
	if c.got == nil {
		c.got = map[string]*[2][2]map[string]string{}
	}
	if c.got[step] == nil {
		c.got[step] = new([2][2]map[string]string)
		c.steps = append(c.steps, step)
	}
	c.got[step][side][round] = fields(res, body)
}

// check fails t unless the answers of every step are alike.
func (c *comparison) check(t *testing.T) {
	t.Helper()
	for _, step := range c.steps {
		a := c.got[step]
		alike(t, step, a[0], a[1])
	}
}

// TestEnumerationEveryAnswerAlike: over HTTP, every route that takes an
// address answers alike for a registered and an unknown one: sign-in,
// prepare, resend and long poll; sign-up, prepare, resend, long poll and
// the confirm page of the link sent. Each request is sent twice per
// address, each time by a fresh browser.
func TestEnumerationEveryAnswerAlike(t *testing.T) {
	s := newSite(t, nil)
	owner := s.browser(t)
	owner.signUp("reg@example.com") // same length as the unknown one
	owner.api("DELETE", "/auth/session", nil, 200)
	s.clock.Advance(time.Hour)
	addrs := [2]string{"reg@example.com", "unk@example.com"}

	var c comparison
	record := c.record
	sent := len(s.mail.Messages())
	delivered := func() { // both messages of a step, before a resend supersedes them
		sent += 2
		s.message(t, sent)
	}
	// resendAndPoll sends the step's first link, a second one, and a long
	// poll, for both addresses.
	resendAndPoll := func(flow, prepare string, bs [2]*browser, paths [2]string, round int) {
		delivered()
		s.clock.Advance(31 * time.Second)
		for side := range addrs {
			res, body := bs[side].do("POST", paths[side]+prepare, "application/json", `{"strategy":"email_link"}`)
			record(flow+" resend", side, round, res, body)
			res, body = bs[side].do("GET", paths[side]+"?wait=0.05", "", "")
			record(flow+" long poll", side, round, res, body)
		}
		delivered()
	}
	for round := range 2 {
		// sign-in and its prepare, resend and long poll
		var paths [2]string
		var bs [2]*browser
		for side, addr := range addrs {
			bs[side] = s.browser(t)
			raw, _ := json.Marshal(map[string]any{"identifier": addr})
			res, body := bs[side].do("POST", "/auth/sign_ins", "application/json", string(raw))
			record("sign-in", side, round, res, body)
			var si struct {
				ID      string `json:"id"`
				Factors []struct {
					EmailAddressID string `json:"email_address_id"`
				} `json:"supported_first_factors"`
			}
			if json.Unmarshal(body, &si) != nil || si.ID == "" || len(si.Factors) == 0 {
				t.Fatalf("sign-in %s = %d %s", addr, res.StatusCode, body)
			}
			paths[side] = "/auth/sign_ins/" + si.ID
			prep := `{"strategy":"email_link","email_address_id":"` + si.Factors[0].EmailAddressID + `"}`
			res, body = bs[side].do("POST", paths[side]+"/prepare_first_factor", "application/json", prep)
			record("sign-in prepare", side, round, res, body)
		}
		resendAndPoll("sign-in", "/prepare_first_factor", bs, paths, round)
		// sign-up and its prepare, resend, long poll and confirm page
		s.clock.Advance(31 * time.Second)
		for side, addr := range addrs {
			bs[side] = s.browser(t)
			raw, _ := json.Marshal(map[string]any{"email_address": addr})
			res, body := bs[side].do("POST", "/auth/sign_ups", "application/json", string(raw))
			record("sign-up", side, round, res, body)
			var su struct{ ID string }
			if json.Unmarshal(body, &su) != nil || su.ID == "" {
				t.Fatalf("sign-up %s = %d %s", addr, res.StatusCode, body)
			}
			paths[side] = "/auth/sign_ups/" + su.ID
			res, body = bs[side].do("POST", paths[side]+"/prepare_verification", "application/json", `{"strategy":"email_link"}`)
			record("sign-up prepare", side, round, res, body)
		}
		resendAndPoll("sign-up", "/prepare_verification", bs, paths, round)
		for side, addr := range addrs {
			var link string
			for _, m := range s.mail.Messages() {
				if m.To == addr {
					link = m.Link // the last one: the sign-up's resend
				}
			}
			u, err := url.Parse(link)
			if err != nil || u.Query().Get("token") == "" {
				t.Fatalf("the last message to %s has no link: %q", addr, link)
			}
			// The page's text says what fits, as the email does, to the
			// mailbox's holder only; its status and headers are compared.
			res, _ := bs[side].do("GET", "/auth/verify?token="+url.QueryEscape(u.Query().Get("token")), "", "")
			res.Header.Del("Content-Length") // the text's length
			record("sign-up confirm page", side, round, res, nil)
		}
		s.clock.Advance(time.Hour) // clear of the per-address hourly limit
	}
	c.check(t)
}

// TestEnumerationSameRateLimit: sends beyond an address's limit are
// refused with the same bytes and Retry-After for a registered and an
// unknown address, and the mailer receives no more.
func TestEnumerationSameRateLimit(t *testing.T) {
	s := newSite(t, nil)
	owner := s.browser(t)
	owner.signUp("known@example.com")
	owner.api("DELETE", "/auth/session", nil, 200)
	sent := len(s.mail.Messages())
	s.clock.Advance(time.Hour) // the sign-up's link is out of the hour

	b := s.browser(t)
	start := func(addr string) string {
		si := b.api("POST", "/auth/sign_ins", map[string]any{"identifier": addr}, 200)
		return "/auth/sign_ins/" + si["id"].(string) + "/prepare_first_factor"
	}
	known, unknown := start("known@example.com"), start("unknown@example.com")
	prep := map[string]any{"strategy": "email_link"}
	both := func() (answer, answer) {
		return b.answer("POST", known, prep), b.answer("POST", unknown, prep)
	}
	// Five sends an hour, 30 s apart.
	for i := range 5 {
		k, u := both()
		if k.status != 200 || u.status != 200 {
			t.Fatalf("send %d: %d %s / %d %s", i+1, k.status, k.body, u.status, u.body)
		}
		sent += 2
		s.message(t, sent) // delivered before the next one supersedes it
		s.clock.Advance(10 * time.Second)
		k, u = both() // within the cooldown
		want := "20"  // the cooldown; after the fifth, the hour
		if i == 4 {
			want = "3470"
		}
		if k.status != http.StatusTooManyRequests || string(k.body) != string(u.body) || k.retry != want || u.retry != k.retry {
			t.Fatalf("cooldown refusal: registered %d %q Retry-After %s; unknown %d %q Retry-After %s", k.status, k.body, k.retry, u.status, u.body, u.retry)
		}
		s.clock.Advance(20 * time.Second)
	}
	k, u := both() // the sixth in an hour
	if k.status != http.StatusTooManyRequests || string(k.body) != string(u.body) || k.retry == "" || u.retry != k.retry {
		t.Fatalf("hourly refusal: registered %d %q Retry-After %s; unknown %d %q Retry-After %s", k.status, k.body, k.retry, u.status, u.body, u.retry)
	}
	if errCode(k.json.(map[string]any)) != "too_many_requests" {
		t.Fatalf("refusal = %s", k.body)
	}
	if want := `{"errors":[{"code":"too_many_requests","message":"Too many requests. Please try again in a bit.","long_message":"Too many requests. Please try again in a bit.","meta":{}}]}` + "\n"; string(k.body) != want {
		t.Fatalf("refusal body = %q; want no ids or times: %q", k.body, want)
	}
	// Settle the sender, then check that nothing more was sent.
	s.auth.Close()
	if n := len(s.mail.Messages()); n != sent {
		t.Fatalf("the mailer received %d messages; want %d", n, sent)
	}
}

// TestDecoyIDsSharedAcrossInstances: instances sharing a store, and a
// restarted one, give an unknown address the same decoy id, so that
// comparing answers across instances tells nothing either.
func TestDecoyIDsSharedAcrossInstances(t *testing.T) {
	st := memstore.New(memstore.Config{})
	ctx := context.Background()
	var ids []string
	for range 2 {
		a, err := magiclink.New(magiclink.Config{BaseURL: "https://app.example", Store: st, Mailer: mailtest.New()})
		if err != nil {
			t.Fatal(err)
		}
		c := newClient(t, a)
		si, err := a.SignIns.Create(ctx, c, magiclink.SignInParams{Identifier: "nobody@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, si.SupportedFirstFactors[0].EmailAddressID)
		a.Close()
	}
	if ids[0] != ids[1] {
		t.Fatalf("decoy ids %s and %s differ between instances", ids[0], ids[1])
	}
}

// TestEnumerationAddingAddress: with enumeration protection on, adding an
// address another account has verified answers exactly like adding a new
// one, and so do its prepare and long poll; the owner is told instead of
// being sent a link, and the verification never succeeds. Past the cap
// and past the per-user limit, both are refused alike.
func TestEnumerationAddingAddress(t *testing.T) {
	s := newSite(t, func(c *magiclink.Config) { c.Limits.UserAddressesPerHour = 30 })
	s.browser(t).signUp("reg@example.com")
	var users [2]*browser
	for i := range users {
		users[i] = s.browser(t)
		users[i].signUp("user" + strconv.Itoa(i) + "@example.com")
	}
	s.clock.Advance(time.Hour)
	addrs := [2]string{"reg@example.com", "unk@example.com"}
	var c comparison
	record := c.record
	sent := len(s.mail.Messages())
	for round, b := range users {
		var paths [2]string
		for side, addr := range addrs {
			s.clock.Advance(10 * time.Second) // clear of the per-IP creation limit
			raw, _ := json.Marshal(map[string]any{"email_address": addr})
			res, body := b.do("POST", "/auth/me/email_addresses", "application/json", string(raw))
			record("add", side, round, res, body)
			var e struct{ ID string }
			if json.Unmarshal(body, &e) != nil || e.ID == "" {
				t.Fatalf("adding %s = %d %s", addr, res.StatusCode, body)
			}
			paths[side] = "/auth/me/email_addresses/" + e.ID
		}
		for side := range addrs {
			res, body := b.do("POST", paths[side]+"/prepare_verification", "application/json", `{"strategy":"email_link"}`)
			record("prepare", side, round, res, body)
			res, body = b.do("GET", paths[side]+"?wait=0.05", "", "")
			record("long poll", side, round, res, body)
		}
		sent += 2
		s.message(t, sent)
		for _, m := range s.mail.Messages()[sent-2:] {
			switch m.To {
			case "reg@example.com":
				if m.Kind != mailer.KindAddressInUse || strings.Contains(m.Link, "token=") || strings.Contains(m.Text, "token=") {
					t.Fatalf("the owner got %s with link %q; want a notice without a link", m.Kind, m.Link)
				}
			case "unk@example.com":
				if m.Kind != mailer.KindVerifyEmail || !strings.Contains(m.Link, "token=") {
					t.Fatalf("the new address got %s with link %q", m.Kind, m.Link)
				}
			}
		}
		s.clock.Advance(time.Hour) // clear of the per-address send limit
	}
	c.check(t)

	// The cap comes before anything about the address.
	b := users[0]
	for i := 0; ; i++ {
		s.clock.Advance(10 * time.Second)
		raw, _ := json.Marshal(map[string]any{"email_address": "more" + strconv.Itoa(i) + "@example.com"})
		if res, _ := b.do("POST", "/auth/me/email_addresses", "application/json", string(raw)); res.StatusCode != 200 {
			break
		}
	}
	s.clock.Advance(10 * time.Second)
	_, reg := b.do("POST", "/auth/me/email_addresses", "application/json", `{"email_address":"reg@example.com"}`)
	_, unk := b.do("POST", "/auth/me/email_addresses", "application/json", `{"email_address":"unk@example.com"}`)
	if string(reg) != string(unk) || !strings.Contains(string(reg), "form_param_format_invalid") {
		t.Fatalf("past the cap: registered %s, unknown %s", reg, unk)
	}
}

// TestAddingAddressesIsLimited: one user adds at most
// Limits.UserAddressesPerHour addresses an hour, registered or not.
func TestAddingAddressesIsLimited(t *testing.T) {
	s := newSite(t, nil)
	s.browser(t).signUp("reg@example.com")
	b := s.browser(t)
	b.signUp("me@example.com")
	statuses := ""
	for i := range magiclink.DefaultUserAddressesPerHour + 2 {
		s.clock.Advance(10 * time.Second) // clear of the per-IP creation limit
		addr := "new" + strconv.Itoa(i) + "@example.com"
		if i%2 == 0 {
			addr = "reg@example.com"
			if i > 0 {
				addr = "x" + strconv.Itoa(i) + "@example.com"
			}
		}
		raw, _ := json.Marshal(map[string]any{"email_address": addr})
		res, _ := b.do("POST", "/auth/me/email_addresses", "application/json", string(raw))
		statuses += strconv.Itoa(res.StatusCode) + " "
	}
	if want := strings.Repeat("200 ", magiclink.DefaultUserAddressesPerHour) + "429 429 "; statuses != want {
		t.Fatalf("statuses %q; want %q", statuses, want)
	}
}
