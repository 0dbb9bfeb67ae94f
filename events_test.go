package magiclink_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/webhook"
)

// delivery is one webhook request a receiver got.
type delivery struct {
	id     string // webhook-id
	header http.Header
	body   []byte
	event  map[string]any
}

// receiver is a webhook endpoint on loopback that verifies each delivery
// with the webhook package and records it.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret string
	now    func() time.Time

	mu        sync.Mutex
	status    int            // answer to give; 0: 204
	flaky     bool           // answer 503 to every other verified request
	tolerance time.Duration  // of the verifier; 0: webhook.DefaultTolerance
	n         int            // verified requests
	tries     map[string]int // verified requests by webhook-id, answered or not
	got       []delivery
	gotIDs    map[string]bool // the webhook-ids in got
	bad       int             // deliveries that failed verification
	more      chan struct{}
}

// withReceiver is a Config option that delivers webhooks to one new
// receiver on the Auth's clock, stored in *rcv.
func withReceiver(t *testing.T, rcv **receiver) func(*magiclink.Config) {
	return func(c *magiclink.Config) {
		*rcv = newReceiver(t, c.Now)
		c.Webhooks = []magiclink.WebhookEndpoint{(*rcv).endpoint()}
	}
}

func newReceiver(t *testing.T, now func() time.Time) *receiver {
	r := &receiver{t: t, secret: webhook.NewSecret(), now: now, more: make(chan struct{}, 1)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	r.mu.Lock()
	defer r.mu.Unlock()
	v := webhook.Verifier{Secrets: []string{r.secret}, Now: r.now, Tolerance: r.tolerance}
	if err := v.Verify(req.Header, body); err != nil {
		r.bad++
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.tries == nil {
		r.tries = map[string]int{}
	}
	r.tries[req.Header.Get(webhook.HeaderID)]++
	r.n++
	select {
	case r.more <- struct{}{}:
	default:
	}
	if r.status != 0 {
		w.WriteHeader(r.status)
		return
	}
	if r.flaky && r.n%2 == 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var ev map[string]any
	json.Unmarshal(body, &ev)
	id := req.Header.Get(webhook.HeaderID)
	r.got = append(r.got, delivery{id: id, header: req.Header.Clone(), body: body, event: ev})
	if r.gotIDs == nil {
		r.gotIDs = map[string]bool{}
	}
	r.gotIDs[id] = true
	w.WriteHeader(http.StatusNoContent)
}

// waitFor waits until cond holds over the receiver's state.
func (r *receiver) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.After(15 * time.Second)
	for !cond() {
		select {
		case <-r.more:
		case <-deadline:
			r.t.Fatalf("waiting for %s: timed out", what)
		}
	}
}

func (r *receiver) setStatus(code int) {
	r.mu.Lock()
	r.status = code
	r.mu.Unlock()
}

func (r *receiver) setFlaky(on bool) {
	r.mu.Lock()
	r.flaky = on
	r.mu.Unlock()
}

func (r *receiver) setTolerance(d time.Duration) {
	r.mu.Lock()
	r.tolerance = d
	r.mu.Unlock()
}

// answered reports whether a delivery with webhook-id id was answered 204.
func (r *receiver) answered(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gotIDs[id]
}

func (r *receiver) endpoint() magiclink.WebhookEndpoint {
	return magiclink.WebhookEndpoint{URL: r.srv.URL + "/hook", Secrets: []string{r.secret}}
}

// deliveries returns what was received so far.
func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// waitTypes waits until the received event types, counted, are want.
func (r *receiver) waitTypes(want map[string]int) []delivery {
	r.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		got := r.deliveries()
		counts := map[string]int{}
		for _, d := range got {
			counts[d.event["type"].(string)]++
		}
		if equalCounts(counts, want) {
			return got
		}
		select {
		case <-r.more:
		case <-deadline:
			r.t.Fatalf("received %v; want %v", counts, want)
		}
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestEventsOverWebhook drives sign-up, sign-out, sign-in over HTTP and
// sign-in tokens and a revocation through the Go API, and checks that a
// real receiver gets each change's event exactly once, signed, in
// Clerk's envelope, with the request's IP and user agent, and nothing
// secret.
func TestEventsOverWebhook(t *testing.T) {
	var rcv *receiver
	s := newSite(t, withReceiver(t, &rcv))
	ctx := context.Background()
	b := s.browser(t)
	b.signUp("ada@example.com")
	rcv.waitTypes(map[string]int{"email.created": 1, "user.created": 1, "session.created": 1})
	secrets := []string{b.cookie("magiclink_session"), b.cookie("magiclink_client")}
	if secrets[0] == "" || secrets[1] == "" {
		t.Fatal("no cookies after sign-up")
	}

	sess := b.api("GET", "/auth/session", nil, 200)
	userID := sess["user_id"].(string)

	// An address added, then verified: the user changes twice.
	ea := b.api("POST", "/auth/me/email_addresses", map[string]any{"email_address": "ada@work.example"}, 200)
	b.api("POST", "/auth/me/email_addresses/"+ea["id"].(string)+"/prepare_verification", map[string]any{"strategy": "email_link"}, 200)
	if u := b.confirm(s.token(t, 2)); u.Query().Get("magiclink_status") != "verified" {
		t.Fatalf("address confirmation landed on %s", u)
	}
	var updates []map[string]any
	for _, d := range rcv.waitTypes(map[string]int{"email.created": 2, "user.created": 1, "session.created": 1, "user.updated": 2}) {
		if d.event["type"] == "user.updated" {
			updates = append(updates, d.event["data"].(map[string]any))
		}
	}
	status := func(u map[string]any) string { // of the added address
		for _, e := range u["email_addresses"].([]any) {
			e := e.(map[string]any)
			if e["email_address"] == "ada@work.example" {
				if v, ok := e["verification"].(map[string]any); ok {
					return v["status"].(string)
				}
				return "none"
			}
		}
		return "absent"
	}
	if got := []string{status(updates[0]), status(updates[1])}; !(got[0] == "none" && got[1] == "verified") && !(got[1] == "none" && got[0] == "verified") {
		t.Errorf("user.updated shows the added address as %v; want none, then verified", got)
	}

	b.api("DELETE", "/auth/session", nil, 200)
	rcv.waitTypes(map[string]int{"email.created": 2, "user.created": 1, "session.created": 1, "session.ended": 1, "user.updated": 2})

	tok, err := s.auth.SignInTokens.Create(ctx, userID, magiclink.SignInTokenParams{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.auth.SignInTokens.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	tok2, err := s.auth.SignInTokens.Create(ctx, userID, magiclink.SignInTokenParams{})
	if err != nil {
		t.Fatal(err)
	}
	si, err := s.auth.SignIns.Create(ctx, s.client(t), magiclink.SignInParams{Strategy: "ticket", Ticket: tok2.Token})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.auth.Sessions.Revoke(ctx, si.CreatedSessionID); err != nil {
		t.Fatal(err)
	}
	got := rcv.waitTypes(map[string]int{"email.created": 2, "user.updated": 2, "user.created": 1, "session.created": 2, "session.ended": 1,
		"sign_in_token.created": 2, "sign_in_token.revoked": 1, "sign_in_token.accepted": 1, "session.revoked": 1})

	ids := map[string]bool{}
	for _, d := range got {
		ev := d.event
		if ids[d.id] {
			t.Errorf("event %s delivered twice", d.id)
		}
		ids[d.id] = true
		if ev["id"] != d.id || !strings.HasPrefix(d.id, "evt_") || ev["object"] != "event" || ev["instance_id"] == "" {
			t.Errorf("envelope %s; webhook-id %s", d.body, d.id)
		}
		if _, ok := ev["timestamp"].(float64); !ok {
			t.Errorf("timestamp missing: %s", d.body)
		}
		for _, secret := range append(secrets, tok.Token, tok2.Token, rcv.secret) {
			if strings.Contains(string(d.body), secret) {
				t.Errorf("%s carries a secret: %s", ev["type"], d.body)
			}
		}
		if strings.Contains(string(d.body), "token=") {
			t.Errorf("%s carries a link: %s", ev["type"], d.body)
		}
		data := ev["data"].(map[string]any)
		switch ev["type"] {
		case "user.created":
			if data["object"] != "user" || data["id"] != userID {
				t.Errorf("user.created data %v", data)
			}
		case "session.ended":
			if data["object"] != "session" || data["status"] != "ended" || data["user_id"] != userID {
				t.Errorf("session.ended data %v", data)
			}
			// Caused by a request: its IP and user agent come along.
			req := ev["event_attributes"].(map[string]any)["http_request"].(map[string]any)
			if req["client_ip"] != "127.0.0.1" || !strings.HasPrefix(req["user_agent"].(string), "Go-http-client") {
				t.Errorf("session.ended http_request %v", req)
			}
		case "session.revoked":
			if data["status"] != "revoked" || data["id"] != si.CreatedSessionID {
				t.Errorf("session.revoked data %v", data)
			}
		case "sign_in_token.accepted":
			if data["object"] != "sign_in_token" || data["status"] != "accepted" || data["token"] != nil || data["url"] != nil {
				t.Errorf("sign_in_token.accepted data %v", data)
			}
		case "email.created":
			if data["to_email_address"] == "ada@work.example" {
				break
			}
			if data["to_email_address"] != "ada@example.com" || data["slug"] != "sign_up" || data["status"] != "sent" {
				t.Errorf("email.created data %v", data)
			}
		}
	}
}

// TestSubscribe: a subscriber hears every committed event after the
// change, on another goroutine; a panicking one is recovered and the
// others still hear.
func TestSubscribe(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	evs := make(chan *magiclink.Event, 16)
	e.auth.Subscribe(func(context.Context, *magiclink.Event) { panic("a bug in the app") })
	unsub := e.auth.Subscribe(func(_ context.Context, ev *magiclink.Event) { evs <- ev })
	u, err := e.auth.Users.Create(ctx, magiclink.UserParams{EmailAddress: "grace@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-evs:
		if ev.Type != magiclink.EventUserCreated || ev.UserID != u.ID || !strings.Contains(string(ev.Data), u.ID) {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	unsub()
}

// TestLifecycleEventsOverWebhook: each Backend API change of a user and
// its sessions reaches a real receiver as exactly one event.
func TestLifecycleEventsOverWebhook(t *testing.T) {
	var rcv *receiver
	s := newTicketServer(t, withReceiver(t, &rcv))
	ctx := context.Background()
	bearer := "Bearer " + sitSecretKey
	call := func(method, path string, body any) map[string]any {
		t.Helper()
		status, _, out := s.do(t, nil, method, path, bearer, body)
		if status != 200 {
			t.Fatalf("%s %s = %d %v", method, path, status, out)
		}
		return out
	}
	user := call("POST", "/v1/users", map[string]any{"email_address": "ada@example.com"})
	id := user["id"].(string)
	var sessions []string
	for range 2 {
		tok, err := s.auth.SignInTokens.Create(ctx, id, magiclink.SignInTokenParams{})
		if err != nil {
			t.Fatal(err)
		}
		c := newClient(t, s.auth)
		si, err := s.auth.SignIns.Create(ctx, c, magiclink.SignInParams{Strategy: "ticket", Ticket: tok.Token})
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, si.CreatedSessionID)
	}
	call("PATCH", "/v1/users/"+id, map[string]any{"first_name": "Ada"})
	call("PATCH", "/v1/users/"+id+"/metadata", map[string]any{"public_metadata": map[string]any{"plan": "pro"}})
	call("POST", "/v1/sessions/"+sessions[0]+"/revoke", nil)
	call("POST", "/v1/users/"+id+"/ban", nil)
	call("POST", "/v1/users/"+id+"/unban", nil)
	want := map[string]int{"user.created": 1, "sign_in_token.created": 2, "sign_in_token.accepted": 2, "session.created": 2,
		"user.updated": 4, "session.revoked": 2}
	got := rcv.waitTypes(want)
	revoked := map[string]bool{}
	for _, d := range got {
		data := d.event["data"].(map[string]any)
		switch d.event["type"] {
		case "session.revoked":
			revoked[data["id"].(string)] = true
		case "user.updated":
			if data["id"] != id {
				t.Errorf("user.updated of %v", data["id"])
			}
		}
	}
	if !revoked[sessions[0]] || !revoked[sessions[1]] {
		t.Errorf("revoked %v, want both of %v", revoked, sessions)
	}
	call("DELETE", "/v1/users/"+id, nil)
	want["user.deleted"] = 1
	for _, d := range rcv.waitTypes(want) {
		if d.event["type"] == "user.deleted" {
			if data := d.event["data"].(map[string]any); data["id"] != id || data["deleted"] != true {
				t.Errorf("user.deleted data %v", data)
			}
		}
	}
}
