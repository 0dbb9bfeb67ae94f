package magiclink_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/store"
)

// TestAttackCodeBruteForce guesses one address's codes as fast as the
// default limits allow, through as many new flows as the send limits
// allow: a new flow does not renew the budget, so over a day no more than
// Limits.AddressAttemptsPerDay guesses are answered, and the hourly rule
// holds within each hour.
func TestAttackCodeBruteForce(t *testing.T) {
	s := newSite(t, nil)
	victim := s.signedOut(t, "victim@example.com")
	s.clock.Advance(time.Hour)
	attacker := s.browser(t)
	start := s.clock.Now()
	guesses, refusedHour := 0, 0
	flow := ""
	code := ""
	left := 0
	for s.clock.Now().Sub(start) < 24*time.Hour {
		if left == 0 {
			// A new flow for the same address: it needs a send, limited
			// to 5 an hour, 30 s apart.
			s.clock.Advance(time.Minute)
			si := attacker.answer("POST", "/auth/sign_ins", map[string]any{"identifier": "victim@example.com"})
			if si.status != 200 {
				t.Fatalf("create = %d %s", si.status, si.body)
			}
			flow = si.json.(map[string]any)["id"].(string)
			n := len(s.mail.Messages()) + 1
			p := attacker.answer("POST", "/auth/sign_ins/"+flow+"/prepare_first_factor", map[string]any{"strategy": "email_code"})
			if p.status == http.StatusTooManyRequests {
				s.clock.Advance(10 * time.Minute)
				continue
			}
			code = s.code(t, n) // the attacker never sees it: the test guesses around it
			left = magiclink.MaxCodeAttempts
		}
		a := attacker.attempt(flow, map[string]any{"strategy": "email_code", "code": wrongCode(code)})
		switch {
		case a.status == http.StatusTooManyRequests:
			if a.retry == "" {
				t.Fatalf("429 without Retry-After: %s", a.body)
			}
			refusedHour++
			s.clock.Advance(10 * time.Minute)
		case codeOf(a) == "form_code_incorrect":
			guesses++
			left--
		case codeOf(a) == "verification_expired":
			left = 0 // waited out a refusal: a new flow
		default:
			t.Fatalf("guess = %d %s", a.status, a.body)
		}
	}
	if guesses != magiclink.DefaultAddressAttemptsPerDay || refusedHour == 0 {
		t.Fatalf("%d guesses answered in a day (%d refusals); want exactly %d", guesses, refusedHour, magiclink.DefaultAddressAttemptsPerDay)
	}
	victim.api("GET", "/auth/me", nil, 401)
	attacker.api("GET", "/auth/me", nil, 401)
}

// TestAttackCodePerIP: one client IP guessing at many addresses is
// stopped by the per-IP limit, whatever the address.
func TestAttackCodePerIP(t *testing.T) {
	s := newSite(t, func(c *magiclink.Config) { c.Limits.IPAttemptsPerHour = 3 })
	b := s.browser(t)
	for i := range 4 {
		s.clock.Advance(10 * time.Second)
		id, _ := b.startSignIn("someone"+string(rune('a'+i))+"@example.com", "email_code")
		a := b.attempt(id, map[string]any{"strategy": "email_code", "code": "000000"})
		if i < 3 && codeOf(a) != "form_code_incorrect" {
			t.Fatalf("guess %d = %d %s", i+1, a.status, a.body)
		}
		if i == 3 && (a.status != http.StatusTooManyRequests || codeOf(a) != "too_many_requests") {
			t.Fatalf("guess 4 from one IP = %d %s; want 429", a.status, a.body)
		}
	}
}

// countingStore counts the reads and the ops written through it.
type countingStore struct {
	store.Store
	mu     sync.Mutex
	gets   int
	writes []int // ops per Apply
}

func (c *countingStore) Get(ctx context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	c.gets++
	c.mu.Unlock()
	return c.Store.Get(ctx, key)
}

func (c *countingStore) Apply(ctx context.Context, ops ...store.Op) error {
	c.mu.Lock()
	c.writes = append(c.writes, len(ops))
	c.mu.Unlock()
	return c.Store.Apply(ctx, ops...)
}

// since returns the reads and the Applies (their op counts) since mark.
func (c *countingStore) since(mark func() (int, int)) (int, []int) {
	g0, w0 := mark()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets - g0, append([]int(nil), c.writes[w0:]...)
}

func (c *countingStore) mark() func() (int, int) {
	c.mu.Lock()
	g, w := c.gets, len(c.writes)
	c.mu.Unlock()
	return func() (int, int) { return g, w }
}

// TestAttackCodeDecoy: under enumeration protection a sign-in for an
// unknown address is a decoy whose every code is incorrect, answered as
// a registered address's wrong codes are (status, JSON shape, attempts,
// the failed state after five), with the same store reads and writes.
func TestAttackCodeDecoy(t *testing.T) {
	var cs *countingStore
	s := newSite(t, func(c *magiclink.Config) {
		cs = &countingStore{Store: c.Store}
		c.Store = cs
	})
	s.signedOut(t, "known@example.com")
	s.clock.Advance(time.Hour)
	run := func(addr string) (answers []answer, reads []int, writes [][]int) {
		s.clock.Advance(time.Minute)
		b := s.browser(t)
		id, n := b.startSignIn(addr, "email_code")
		m := s.message(t, n)
		if (m.Code == "") != (addr == "unknown@example.com") {
			t.Fatalf("%s: message %s carries code %q", addr, m.Kind, m.Code)
		}
		waitOutbox(t, s.auth.Store(), magiclink.OutboxPrefix+id, func(raw []byte) bool { return raw == nil })
		guess := "123456"
		if m.Code == guess {
			guess = wrongCode(guess)
		}
		for range magiclink.MaxCodeAttempts + 1 {
			mark := cs.mark()
			answers = append(answers, b.attempt(id, map[string]any{"strategy": "email_code", "code": guess}))
			r, w := cs.since(mark)
			reads, writes = append(reads, r), append(writes, w)
		}
		answers = append(answers, b.answer("GET", "/auth/sign_ins/"+id, nil))
		return answers, reads, writes
	}
	known, kr, kw := run("known@example.com")
	unknown, ur, uw := run("unknown@example.com")
	for i := range known {
		k, u := known[i], unknown[i]
		if k.status != u.status || codeOf(k) != codeOf(u) {
			t.Fatalf("answer %d: registered %d %s, unknown %d %s", i+1, k.status, k.body, u.status, u.body)
		}
		if d := cmp.Diff(jsonPaths(k), jsonPaths(u)); d != "" {
			t.Fatalf("answer %d differs in shape (-registered +unknown):\n%s", i+1, d)
		}
		if k.status != http.StatusOK && string(k.body) != string(u.body) {
			t.Fatalf("answer %d: registered %s, unknown %s", i+1, k.body, u.body)
		}
	}
	last := func(a []answer) any {
		return a[len(a)-1].json.(map[string]any)["first_factor_verification"]
	}
	kv, uv := last(known).(map[string]any), last(unknown).(map[string]any)
	if kv["status"] != "failed" || uv["status"] != "failed" || kv["attempts"] != uv["attempts"] {
		t.Fatalf("after the guesses: registered %v, unknown %v", kv, uv)
	}
	if d := cmp.Diff(kr, ur); d != "" {
		t.Fatalf("store reads per attempt differ (-registered +unknown):\n%s", d)
	}
	if d := cmp.Diff(kw, uw); d != "" {
		t.Fatalf("store writes per attempt differ (-registered +unknown):\n%s", d)
	}
}

// jsonPaths returns the paths of an answer's JSON values: its shape.
func jsonPaths(a answer) map[string]bool {
	m := map[string]string{}
	flattenJSON("body", a.json, m)
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// TestAttackCodeStoreWrites: a right code costs no more store writes than
// a same-browser link click: one Apply.
func TestAttackCodeStoreWrites(t *testing.T) {
	var cs *countingStore
	s := newSite(t, func(c *magiclink.Config) {
		cs = &countingStore{Store: c.Store}
		c.Store = cs
	})
	b := s.signedOut(t, "ada@example.com")
	id, n := b.startSignIn("ada@example.com", "email_link")
	settled := func() {
		waitOutbox(t, s.auth.Store(), magiclink.OutboxPrefix+id, func(raw []byte) bool { return raw == nil })
	}
	settled()
	mark := cs.mark()
	b.confirm(s.token(t, n))
	_, link := cs.since(mark)
	b.api("DELETE", "/auth/session", nil, 200)
	s.clock.Advance(time.Minute)
	id, n = b.startSignIn("ada@example.com", "email_link")
	settled()
	mark = cs.mark()
	b.api("POST", "/auth/sign_ins/"+id+"/attempt_first_factor", map[string]any{"strategy": "email_code", "code": s.code(t, n)}, 200)
	_, code := cs.since(mark)
	if len(code) != 1 || len(code) > len(link) {
		t.Fatalf("a code attempt wrote %v (Applies, ops each); a link click %v", code, link)
	}
}
