package magiclink_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// shape replaces every JSON value by its type, keeping object keys and
// array lengths: two answers with the same shape reveal nothing by their
// form.
func shape(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = shape(x)
		}
		return m
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = shape(x)
		}
		return out
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	}
	return "?"
}

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

// TestEnumerationSameAnswers: a sign-in with an unknown address and a
// sign-up with a registered one answer with the status and JSON shape of
// the normal case, at creation and when the link is prepared.
func TestEnumerationSameAnswers(t *testing.T) {
	s := newSite(t, nil)
	owner := s.browser(t)
	owner.signUp("known@example.com")
	owner.api("DELETE", "/auth/session", nil, 200)

	flow := func(t *testing.T, create, prepare string, body map[string]any, prep map[string]any) (answer, answer) {
		s.clock.Advance(10 * time.Second) // keep clear of the per-IP creation limit
		b := s.browser(t)
		c := b.answer("POST", create, body)
		id, _ := c.json.(map[string]any)["id"].(string)
		if c.status != http.StatusOK || id == "" {
			return c, c
		}
		p := b.answer("POST", create+"/"+id+"/"+prepare, prep)
		return c, p
	}
	link := map[string]any{"strategy": "email_link", "redirect_url": "/x"}
	for _, c := range []struct {
		name               string
		create, prepare    string
		normal, suspicious map[string]any
	}{
		{"sign-in", "/auth/sign_ins", "prepare_first_factor",
			map[string]any{"identifier": "known@example.com"}, map[string]any{"identifier": "unknown@example.com"}},
		{"sign-up", "/auth/sign_ups", "prepare_verification",
			map[string]any{"email_address": "new@example.com"}, map[string]any{"email_address": "known@example.com"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			nc, np := flow(t, c.create, c.prepare, c.normal, link)
			sc, sp := flow(t, c.create, c.prepare, c.suspicious, link)
			for _, pair := range [][2]answer{{nc, sc}, {np, sp}} {
				n, s := pair[0], pair[1]
				if n.status != http.StatusOK || s.status != n.status {
					t.Fatalf("status: normal %d %s, suspicious %d %s", n.status, n.body, s.status, s.body)
				}
				if d := cmp.Diff(shape(n.json), shape(s.json)); d != "" {
					t.Fatalf("the answers differ in shape (-normal +suspicious):\n%s\nnormal: %s\nsuspicious: %s", d, n.body, s.body)
				}
			}
		})
	}
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
