package accounttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/authtest"
	"github.com/magiclink-go/magiclink/internal/racetest"
	"github.com/magiclink-go/magiclink/mailer"
)

// Run runs the suite on stores open opens.
func Run(t *testing.T, open OpenStore) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, OpenStore)
	}{
		{"UserFields", testUserFields},
		{"Metadata", testMetadata},
		{"BadInput", testBadInput},
		{"ListAndCount", testListAndCount},
		{"MySessions", testMySessions},
		{"BackendSessions", testBackendSessions},
		{"Reverification", testReverification},
		{"PrimaryAddress", testPrimaryAddress},
		{"RemoveAddress", testRemoveAddress},
		{"Ban", testBan},
		{"BanBeforeClaim", testBanBeforeClaim},
		{"Delete", testDelete},
		{"DeleteMe", testDeleteMe},
		{"ConcurrentMetadata", testConcurrentMetadata},
		{"DeleteRacesSignIn", testDeleteRacesSignIn},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open) })
	}
}

func testUserFields(t *testing.T, open OpenStore) {
	e := newEnv(t, open, nil)
	id := e.newUser("ada@example.com")
	u := e.backend("PATCH", "/users/"+id, obj{"first_name": "Ada", "last_name": "Lovelace",
		"public_metadata": obj{"plan": "pro"}, "private_metadata": obj{"stripe": "cus_1"}, "unsafe_metadata": obj{"theme": "dark"}}, 200)
	if u["first_name"] != "Ada" || u["last_name"] != "Lovelace" || u["public_metadata"].(obj)["plan"] != "pro" ||
		u["private_metadata"].(obj)["stripe"] != "cus_1" || u["banned"] != false || u["object"] != "user" {
		t.Fatalf("PATCH /users/{id} = %v", u)
	}
	// A whole-object replace: the old keys go.
	u = e.backend("PATCH", "/users/"+id, obj{"public_metadata": obj{"seats": 3}}, 200)
	if _, ok := u["public_metadata"].(obj)["plan"]; ok || u["public_metadata"].(obj)["seats"] != float64(3) || u["first_name"] != "Ada" {
		t.Fatalf("PATCH replaced badly: %v", u)
	}

	// The user sees public and unsafe metadata, never private.
	b := e.browser()
	b.signInTicket(id)
	me := b.api("GET", "/auth/me", nil, 200)
	if _, ok := me["private_metadata"]; ok {
		t.Fatalf("GET /me shows private_metadata: %v", me)
	}
	if me["public_metadata"].(obj)["seats"] != float64(3) || me["unsafe_metadata"].(obj)["theme"] != "dark" || me["last_sign_in_at"] == nil {
		t.Fatalf("GET /me = %v", me)
	}
	me = b.api("PATCH", "/auth/me", obj{"first_name": "Augusta", "unsafe_metadata": obj{"theme": "light"}}, 200)
	if me["first_name"] != "Augusta" || me["last_name"] != "Lovelace" || me["unsafe_metadata"].(obj)["theme"] != "light" {
		t.Fatalf("PATCH /me = %v", me)
	}
	if _, ok := me["private_metadata"]; ok {
		t.Fatalf("PATCH /me shows private_metadata: %v", me)
	}
	// The Go API sees the same user.
	gu, err := e.auth.Users.Get(context.Background(), id)
	if err != nil || gu.FirstName != "Augusta" || gu.PrivateMetadata["stripe"] != "cus_1" || gu.LastSignInAt.IsZero() {
		t.Fatalf("Users.Get = %+v, %v", gu, err)
	}
	name := "Ada"
	gu, err = e.auth.Users.Update(context.Background(), id, magiclink.UserUpdate{FirstName: &name, PrivateMetadata: magiclink.Metadata{}})
	if err != nil || gu.FirstName != "Ada" || len(gu.PrivateMetadata) != 0 {
		t.Fatalf("Users.Update = %+v, %v", gu, err)
	}
}

func testMetadata(t *testing.T, open OpenStore) {
	e := newEnv(t, open, nil)
	id := e.newUser("meta@example.com")
	e.backend("PATCH", "/users/"+id, obj{"public_metadata": obj{"a": 1, "nested": obj{"x": 1, "y": 2}, "gone": true}}, 200)
	u := e.backend("PATCH", "/users/"+id+"/metadata", obj{"public_metadata": obj{"nested": obj{"y": nil, "z": 3}, "gone": nil, "b": "two"},
		"private_metadata": obj{"k": "v"}}, 200)
	want := `{"a":1,"b":"two","nested":{"x":1,"z":3}}`
	if got := mustJSON(u["public_metadata"]); got != want {
		t.Fatalf("merged public_metadata = %s; want %s", got, want)
	}
	if got := mustJSON(u["private_metadata"]); got != `{"k":"v"}` {
		t.Fatalf("merged private_metadata = %s", got)
	}
	// Through Go, with exact numbers kept.
	gu, err := e.auth.Users.UpdateMetadata(context.Background(), id, magiclink.MetadataUpdate{
		UnsafeMetadata: magiclink.Metadata{"n": 12345678901234567}})
	if err != nil || mustJSON(gu.UnsafeMetadata) != `{"n":12345678901234567}` || mustJSON(gu.PublicMetadata) != want {
		t.Fatalf("UpdateMetadata = %+v, %v", gu, err)
	}
}

func testBadInput(t *testing.T, open OpenStore) {
	e := newEnv(t, open, nil)
	id := e.newUser("bad@example.com")
	before := mustJSON(e.backend("GET", "/users/"+id, nil, 200))
	big := obj{"blob": strings.Repeat("x", magiclink.MaxMetadataSize)}
	for _, c := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"PATCH", "/users/" + id, obj{"public_metadata": big}, 422, "form_param_exceeds_allowed_size"},
		{"PATCH", "/users/" + id + "/metadata", obj{"private_metadata": big}, 422, "form_param_exceeds_allowed_size"},
		{"PATCH", "/users/" + id, obj{"public_metadata": []any{1}}, 422, "form_param_format_invalid"},
		{"PATCH", "/users/" + id + "/metadata", obj{"unsafe_metadata": "x"}, 422, "form_param_format_invalid"},
		{"PATCH", "/users/" + id, obj{"banned": true}, 422, "form_param_unknown"},
		{"PATCH", "/users/" + id + "/metadata", obj{"first_name": "x"}, 422, "form_param_unknown"},
		{"PATCH", "/users/" + id, obj{"first_name": 7}, 422, "form_param_format_invalid"},
		{"PATCH", "/users/" + id, obj{"first_name": "a\nb"}, 422, "form_param_format_invalid"},
		{"PATCH", "/users/" + id, `{"first_name":`, 400, "malformed_request"},
		{"PATCH", "/users/user_00000000000000000000000000000000", obj{"first_name": "x"}, 404, "resource_not_found"},
		{"GET", "/users?limit=501", nil, 422, "form_param_value_invalid"},
		{"GET", "/users?order_by=email", nil, 422, "form_param_value_invalid"},
		{"GET", "/sessions", nil, 422, "form_param_missing"},
		{"GET", "/sessions?user_id=" + id + "&status=bogus", nil, 422, "form_param_value_invalid"},
		{"DELETE", "/users/user_nope", nil, 404, "resource_not_found"},
	} {
		if got := code(e.backend(c.method, c.path, c.body, c.status)); got != c.code {
			t.Errorf("%s %s: code %q; want %q", c.method, c.path, got, c.code)
		}
	}
	if after := mustJSON(e.backend("GET", "/users/"+id, nil, 200)); after != before {
		t.Errorf("a refused request changed the user:\n%s\n%s", before, after)
	}
	// The Frontend API refuses what the user may not write.
	b := e.browser()
	b.signInTicket(id) // sets last_sign_in_at
	before = mustJSON(e.backend("GET", "/users/"+id, nil, 200))
	for _, c := range []struct {
		body any
		code string
	}{
		{obj{"public_metadata": obj{"plan": "free"}}, "form_param_unknown"},
		{obj{"private_metadata": obj{}}, "form_param_unknown"},
		{obj{"unsafe_metadata": big}, "form_param_exceeds_allowed_size"},
		{obj{"unsafe_metadata": 3}, "form_param_format_invalid"},
	} {
		if got := code(b.api("PATCH", "/auth/me", c.body, 422)); got != c.code {
			t.Errorf("PATCH /me %v: %q; want %q", c.body, got, c.code)
		}
	}
	if after := mustJSON(e.backend("GET", "/users/"+id, nil, 200)); after != before {
		t.Errorf("a refused PATCH /me changed the user")
	}
	// Without a session, the account routes are 401.
	anon := e.browser()
	for _, r := range [][2]string{{"PATCH", "/auth/me"}, {"DELETE", "/auth/me"}, {"GET", "/auth/me/sessions"},
		{"POST", "/auth/me/sessions/revoke_others"}, {"POST", "/auth/session/verify"}} {
		if got := code(anon.api(r[0], r[1], obj{}, 401)); got != "authentication_invalid" {
			t.Errorf("%s %s without a session: %q", r[0], r[1], got)
		}
	}
}

func testListAndCount(t *testing.T, open OpenStore) {
	e := newEnv(t, open, nil)
	var ids []string
	for i := range 5 {
		ids = append(ids, e.newUser(fmt.Sprintf("u%d@example.com", i)))
		e.clock.Advance(time.Second)
	}
	page := func(q string) []string {
		var out []string
		for _, u := range e.backendList("/users" + q) {
			out = append(out, u.(obj)["id"].(string))
		}
		return out
	}
	if got := page(""); fmt.Sprint(got) != fmt.Sprint([]string{ids[4], ids[3], ids[2], ids[1], ids[0]}) {
		t.Errorf("default order (-created_at): %v", got)
	}
	if got := page("?order_by=+created_at&limit=2&offset=1"); fmt.Sprint(got) != fmt.Sprint(ids[1:3]) {
		t.Errorf("created_at, limit 2, offset 1: %v", got)
	}
	if got := page("?email_address=u3@example.com&email_address=U1@EXAMPLE.COM&email_address=nobody@example.com&order_by=%2Bcreated_at"); fmt.Sprint(got) != fmt.Sprint([]string{ids[1], ids[3]}) {
		t.Errorf("by address: %v", got)
	}
	if got := page("?offset=9"); len(got) != 0 {
		t.Errorf("past the end: %v", got)
	}
	if c := e.backend("GET", "/users/count", nil, 200); c["object"] != "total_count" || c["total_count"] != float64(5) {
		t.Errorf("count = %v", c)
	}
	if c := e.backend("GET", "/users/count?email_address=u2@example.com", nil, 200); c["total_count"] != float64(1) {
		t.Errorf("count by address = %v", c)
	}
	n, err := e.auth.Users.Count(context.Background(), magiclink.UserListParams{})
	us, err2 := e.auth.Users.List(context.Background(), magiclink.UserListParams{Limit: 1, OrderBy: "created_at"})
	if n != 5 || err != nil || err2 != nil || len(us) != 1 || us[0].ID != ids[0] {
		t.Errorf("Go: Count %d %v, List %v %v", n, err, us, err2)
	}
}

func testMySessions(t *testing.T, open OpenStore) {
	e := newEnv(t, open, nil)
	id := e.newUser("devices@example.com")
	laptop, phone := e.browser(), e.browser()
	laptop.signInTicket(id)
	e.clock.Advance(time.Second)
	phone.signInTicket(id)
	list := laptop.list("GET", "/auth/me/sessions", 200)
	if len(list) != 2 {
		t.Fatalf("GET /me/sessions: %v", list)
	}
	var mine, other obj
	for _, s := range list {
		if s.(obj)["current"] == true {
			mine = s.(obj)
		} else {
			other = s.(obj)
		}
	}
	if mine == nil || other == nil {
		t.Fatalf("no current session marked: %v", list)
	}
	act := mine["latest_activity"].(obj)
	if act["browser_name"] != "Firefox" || act["browser_version"] != "128.0" || act["device_type"] != "Linux" ||
		act["is_mobile"] != false || act["ip_address"] != "127.0.0.0" || mine["status"] != "active" ||
		mine["last_active_at"] == nil || mine["created_at"] == nil {
		t.Fatalf("session JSON = %v", mine)
	}
	// Another user's session is not found, exactly like an unknown one.
	stranger := e.browser()
	stranger.signInTicket(e.newUser("stranger@example.com"))
	for _, sid := range []string{other["id"].(string), "sess_00000000000000000000000000000000", "nope"} {
		if got := code(stranger.api("POST", "/auth/me/sessions/"+sid+"/revoke", nil, 404)); got != "resource_not_found" {
			t.Errorf("revoking %s: %q", sid, got)
		}
	}
	phone.api("GET", "/auth/me", nil, 200)
	// Revoke the phone: its very next request is refused.
	if s := laptop.api("POST", "/auth/me/sessions/"+other["id"].(string)+"/revoke", nil, 200); s["status"] != "revoked" {
		t.Fatalf("revoke = %v", s)
	}
	phone.api("GET", "/auth/me", nil, 401)
	// Sign out of all other devices: one call.
	tablet := e.browser()
	tablet.signInTicket(id)
	tablet.api("GET", "/auth/me", nil, 200)
	left := laptop.list("POST", "/auth/me/sessions/revoke_others", 200)
	if len(left) != 1 || left[0].(obj)["id"] != mine["id"] {
		t.Fatalf("revoke_others left %v", left)
	}
	tablet.api("GET", "/auth/me", nil, 401)
	laptop.api("GET", "/auth/me", nil, 200)
	// Go: List and RevokeOthers.
	ss, err := e.auth.Sessions.List(context.Background(), id)
	if err != nil || len(ss) != 1 || ss[0].LatestActivity.BrowserName != "Firefox" {
		t.Fatalf("Sessions.List = %v, %v", ss, err)
	}
	// Revoking the session asking signs it out.
	laptop.api("POST", "/auth/me/sessions/"+mine["id"].(string)+"/revoke", nil, 200)
	laptop.api("GET", "/auth/me", nil, 401)
}

func testBackendSessions(t *testing.T, open OpenStore) {
	e := newEnv(t, open, nil)
	id := e.newUser("backend-sess@example.com")
	b := e.browser()
	sid := b.signInTicket(id)["created_session_id"].(string)
	list := e.backendList("/sessions?user_id=" + id + "&status=active")
	if len(list) != 1 || list[0].(obj)["id"] != sid || list[0].(obj)["user_id"] != id {
		t.Fatalf("GET /sessions = %v", list)
	}
	if l := e.backendList("/sessions?user_id=" + id + "&status=revoked"); len(l) != 0 {
		t.Fatalf("revoked sessions: %v", l)
	}
	if l := e.backendList("/sessions?user_id=user_unknown"); len(l) != 0 {
		t.Fatalf("unknown user's sessions: %v", l)
	}
	if s := e.backend("GET", "/sessions/"+sid, nil, 200); s["id"] != sid || s["status"] != "active" {
		t.Fatalf("GET /sessions/{id} = %v", s)
	}
	if s := e.backend("POST", "/sessions/"+sid+"/revoke", nil, 200); s["status"] != "revoked" {
		t.Fatalf("revoke = %v", s)
	}
	b.api("GET", "/auth/me", nil, 401)
	e.backend("GET", "/sessions/"+sid, nil, 404)
	e.backend("POST", "/sessions/"+sid+"/revoke", nil, 404)
}

// reverify runs a reverification of b's session by email link.
func (b *browser) reverify() {
	b.e.t.Helper()
	rv := b.api("POST", "/auth/session/verify", nil, 200)
	if rv["object"] != "session_verification" || rv["status"] != "needs_first_factor" {
		b.e.t.Fatalf("POST /session/verify = %v", rv)
	}
	n := len(b.e.mail.Messages()) + 1
	b.api("POST", "/auth/session/verify/prepare_first_factor", obj{"strategy": "email_link", "redirect_url": "/account"}, 200)
	m := b.e.message(n)
	if m.Kind != mailer.KindReverification {
		b.e.t.Fatalf("reverification email is %s", m.Kind)
	}
	if st := b.confirmStatus(authtest.LinkToken(b.e.t, m)); st != "verified" {
		b.e.t.Fatalf("reverification link: %s", st)
	}
	if rv := b.api("GET", "/auth/session/verify", nil, 200); rv["status"] != "complete" {
		b.e.t.Fatalf("after the link: %v", rv)
	}
}

func testReverification(t *testing.T, open OpenStore) {
	e := newEnv(t, open, nil)
	id := e.newUser("rev@example.com")
	b := e.browser()
	b.signInTicket(id)
	extra, err := e.auth.EmailAddresses.Create(context.Background(), id, magiclink.EmailAddressParams{EmailAddress: "rev2@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	// Just signed in: a sensitive page lets it through.
	if st, body := e.do(b.http, "GET", "/sensitive", "", nil); st != 200 || string(body) != "sensitive ok" {
		t.Fatalf("/sensitive just after sign-in = %d %s", st, body)
	}
	e.clock.Advance(11 * time.Minute)
	for _, r := range [][2]string{{"DELETE", "/auth/me/email_addresses/" + extra.ID}, {"DELETE", "/auth/me"}, {"GET", "/sensitive"}} {
		o := b.api(r[0], r[1], nil, 403)
		if code(o) != "session_reverification_required" {
			t.Fatalf("%s %s after 11 minutes: %v", r[0], r[1], o)
		}
	}
	// Nothing was removed.
	if u, _ := e.auth.Users.Get(context.Background(), id); u == nil || len(u.EmailAddresses) != 2 {
		t.Fatalf("a refused sensitive change changed the user: %+v", u)
	}
	b.reverify()
	if s := b.api("GET", "/auth/session", nil, 200); s["last_verified_at"].(float64) != float64(e.clock.Now().UnixMilli()) {
		t.Fatalf("last_verified_at = %v; want now", s["last_verified_at"])
	}
	if st, _ := e.do(b.http, "GET", "/sensitive", "", nil); st != 200 {
		t.Fatalf("/sensitive after reverifying = %d", st)
	}
	if d := b.api("DELETE", "/auth/me/email_addresses/"+extra.ID, nil, 200); d["deleted"] != true || d["object"] != "email_address" || d["id"] != extra.ID {
		t.Fatalf("DELETE address = %v", d)
	}
	// Later, a code from the email does it too; a wrong one counts.
	e.clock.Advance(11 * time.Minute)
	b.api("GET", "/sensitive", nil, 403)
	b.api("POST", "/auth/session/verify", nil, 200)
	n := len(e.mail.Messages()) + 1
	b.api("POST", "/auth/session/verify/prepare_first_factor", obj{"strategy": "email_code"}, 200)
	m := e.message(n)
	if m.Kind != mailer.KindReverification || m.Code == "" {
		t.Fatalf("reverification email: %s, code %q", m.Kind, m.Code)
	}
	wrong := "000000"
	if m.Code == wrong {
		wrong = "111111"
	}
	if got := code(b.api("POST", "/auth/session/verify/attempt_first_factor", obj{"strategy": "email_code", "code": wrong}, 422)); got != "form_code_incorrect" {
		t.Fatalf("a wrong code: %q", got)
	}
	b.api("GET", "/sensitive", nil, 403)
	if rv := b.api("POST", "/auth/session/verify/attempt_first_factor", obj{"strategy": "email_code", "code": m.Code}, 200); rv["status"] != "complete" {
		t.Fatalf("the right code: %v", rv)
	}
	if st, _ := e.do(b.http, "GET", "/sensitive", "", nil); st != 200 {
		t.Fatalf("/sensitive after a code = %d", st)
	}
	// Without a session: 401, not 403.
	if st, _ := e.do(e.browser().http, "GET", "/sensitive", "", nil); st != 401 {
		t.Fatalf("/sensitive without a session = %d", st)
	}
}

// addVerified adds addr to the user b is signed in as and verifies it by
// link; it returns the address's id.
func (b *browser) addVerified(addr string) string {
	b.e.t.Helper()
	ea := b.api("POST", "/auth/me/email_addresses", obj{"email_address": addr}, 200)
	n := len(b.e.mail.Messages()) + 1
	b.api("POST", "/auth/me/email_addresses/"+ea["id"].(string)+"/prepare_verification", obj{"strategy": "email_link"}, 200)
	if st := b.confirmStatus(authtest.LinkToken(b.e.t, b.e.message(n))); st != "verified" {
		b.e.t.Fatalf("verifying %s: %s", addr, st)
	}
	return ea["id"].(string)
}

func testPrimaryAddress(t *testing.T, open OpenStore) {
	e := newEnv(t, open, nil)
	id := e.newUser("old@example.com")
	b := e.browser()
	b.signInTicket(id)
	newID := b.addVerified("new@example.com")
	pending := b.api("POST", "/auth/me/email_addresses", obj{"email_address": "pending@example.com"}, 200)["id"].(string)
	other := e.browser()
	otherID := e.newUser("other@example.com")
	other.signInTicket(otherID)
	otherAddr := other.api("GET", "/auth/me", nil, 200)["primary_email_address_id"].(string)
	for _, bad := range []string{pending, otherAddr, "idn_00000000000000000000000000000000"} {
		if got := code(b.api("PATCH", "/auth/me", obj{"primary_email_address_id": bad}, 422)); got != "form_param_value_invalid" {
			t.Errorf("primary %s: %q", bad, got)
		}
	}
	sent := len(e.mail.Messages())
	me := b.api("PATCH", "/auth/me", obj{"primary_email_address_id": newID}, 200)
	if me["primary_email_address_id"] != newID {
		t.Fatalf("PATCH primary = %v", me)
	}
	n := e.message(sent + 1)
	if n.Kind != mailer.KindPrimaryEmailChanged || n.To != "old@example.com" || !strings.Contains(n.Text, "new@example.com") ||
		!strings.Contains(n.Text, "Firefox 128.0 on Linux") || n.Link != e.srv.URL+"/" {
		t.Fatalf("notice = %s to %s: %s", n.Kind, n.To, n.Text)
	}
	// Later, the change needs a reverification.
	e.clock.Advance(11 * time.Minute)
	oldID := ""
	for _, a := range me["email_addresses"].([]any) {
		if a.(obj)["email_address"] == "old@example.com" {
			oldID = a.(obj)["id"].(string)
		}
	}
	if got := code(b.api("PATCH", "/auth/me", obj{"primary_email_address_id": oldID}, 403)); got != "session_reverification_required" {
		t.Fatalf("late primary change: %q", got)
	}
	// Names need none.
	b.api("PATCH", "/auth/me", obj{"first_name": "Still"}, 200)
	// The backend changes it without asking.
	if u := e.backend("PATCH", "/users/"+id, obj{"primary_email_address_id": oldID}, 200); u["primary_email_address_id"] != oldID {
		t.Fatalf("backend primary change = %v", u)
	}
	if m := e.message(sent + 2); m.Kind != mailer.KindPrimaryEmailChanged || m.To != "new@example.com" {
		t.Fatalf("second notice: %s to %s", m.Kind, m.To)
	}
}

func testRemoveAddress(t *testing.T, open OpenStore) {
	e := newEnv(t, open, nil)
	id := e.newUser("keep@example.com")
	b := e.browser()
	b.signInTicket(id)
	me := b.api("GET", "/auth/me", nil, 200)
	primary := me["primary_email_address_id"].(string)
	extra := b.addVerified("drop@example.com")
	if got := code(b.api("DELETE", "/auth/me/email_addresses/"+primary, nil, 400)); got != "primary_email_address_not_deletable" {
		t.Fatalf("removing the primary: %q", got)
	}
	other := e.browser()
	other.signInTicket(e.newUser("someone@example.com"))
	if got := code(other.api("DELETE", "/auth/me/email_addresses/"+extra, nil, 404)); got != "resource_not_found" {
		t.Fatalf("removing another user's address: %q", got)
	}
	if got := code(other.api("DELETE", "/auth/me/email_addresses/idn_00000000000000000000000000000000", nil, 404)); got != "resource_not_found" {
		t.Fatalf("removing an unknown address: %q", got)
	}
	b.api("DELETE", "/auth/me/email_addresses/"+extra, nil, 200)
	b.api("DELETE", "/auth/me/email_addresses/"+extra, nil, 404)
	if u := b.api("GET", "/auth/me", nil, 200); len(u["email_addresses"].([]any)) != 1 {
		t.Fatalf("after removal: %v", u)
	}
	// The address is free: someone else signs up with it.
	if _, err := e.auth.Users.Create(context.Background(), magiclink.UserParams{EmailAddress: "drop@example.com"}); err != nil {
		t.Fatalf("signing up with a removed address: %v", err)
	}
	// Go: the primary cannot go.
	if err := e.auth.EmailAddresses.Delete(context.Background(), id, primary); !errors.Is(err, magiclink.ErrConflict) {
		t.Fatalf("EmailAddresses.Delete(primary) = %v", err)
	}
}

func testBan(t *testing.T, open OpenStore) {
	e := newEnv(t, open, nil)
	id := e.newUser("banned@example.com")
	b := e.browser()
	b.signInTicket(id)
	tok := e.backend("POST", "/sign_in_tokens", obj{"user_id": id}, 200)["token"].(string)
	// A link sent before the ban, confirmed after it.
	early := e.browser()
	esi := early.api("POST", "/auth/sign_ins", obj{"identifier": "banned@example.com"}, 200)
	n := len(e.mail.Messages()) + 1
	early.api("POST", "/auth/sign_ins/"+esi["id"].(string)+"/prepare_first_factor", obj{"strategy": "email_link"}, 200)
	earlyLink := authtest.LinkToken(t, e.message(n))
	if u := e.backend("POST", "/users/"+id+"/ban", nil, 200); u["banned"] != true {
		t.Fatalf("ban = %v", u)
	}
	b.api("GET", "/auth/me", nil, 401)
	if l := e.backendList("/sessions?user_id=" + id); len(l) != 0 {
		t.Fatalf("a banned user keeps sessions: %v", l)
	}
	if st := early.confirmStatus(earlyLink); st != "failed" {
		t.Fatalf("a link sent before the ban, confirmed after: %s", st)
	}
	early.api("GET", "/auth/me", nil, 401)
	// Signing in answers as for anyone; the email says suspended and
	// carries no link.
	c := e.browser()
	si := c.api("POST", "/auth/sign_ins", obj{"identifier": "banned@example.com"}, 200)
	unknown := e.browser().api("POST", "/auth/sign_ins", obj{"identifier": "nobody@example.com"}, 200)
	if si["status"] != unknown["status"] || len(si["supported_first_factors"].([]any)) != len(unknown["supported_first_factors"].([]any)) {
		t.Fatalf("a banned user's sign-in looks different: %v vs %v", si, unknown)
	}
	n = len(e.mail.Messages()) + 1
	c.api("POST", "/auth/sign_ins/"+si["id"].(string)+"/prepare_first_factor", obj{"strategy": "email_link"}, 200)
	m := e.message(n)
	if m.Kind != mailer.KindAccountSuspended || m.Link != "" || strings.Contains(m.Text, "token=") || !strings.Contains(m.Text, "suspended") {
		t.Fatalf("banned sign-in email: %s %q %s", m.Kind, m.Link, m.Text)
	}
	// A sign-in token issued before the ban does not work.
	if got := code(c.api("POST", "/auth/sign_ins", obj{"strategy": "ticket", "ticket": tok}, 400)); got != "ticket_invalid_code" {
		t.Fatalf("ticket of a banned user: %q", got)
	}
	if u := e.backend("POST", "/users/"+id+"/unban", nil, 200); u["banned"] != false {
		t.Fatalf("unban = %v", u)
	}
	c.signInLink("banned@example.com")
	c.api("GET", "/auth/me", nil, 200)
}

// With cross-device links, a link confirmed in another browser leaves
// the session for the browser that asked; a ban (or deletion) in between
// means it never gets one.
func testBanBeforeClaim(t *testing.T, open OpenStore) {
	e := newEnv(t, open, func(c *magiclink.Config) { c.AllowCrossClient = true })
	for _, action := range []string{"ban", "delete"} {
		addr := action + "-claim@example.com"
		id := e.newUser(addr)
		laptop, phone := e.browser(), e.browser()
		si := laptop.api("POST", "/auth/sign_ins", obj{"identifier": addr}, 200)
		n := len(e.mail.Messages()) + 1
		laptop.api("POST", "/auth/sign_ins/"+si["id"].(string)+"/prepare_first_factor", obj{"strategy": "email_link"}, 200)
		if st := phone.confirmStatus(authtest.LinkToken(t, e.message(n))); st != "verified" {
			t.Fatalf("%s: the link confirmed on the phone: %s", action, st)
		}
		if action == "ban" {
			e.backend("POST", "/users/"+id+"/ban", nil, 200)
		} else {
			e.backend("DELETE", "/users/"+id, nil, 200)
		}
		if st, _ := e.do(laptop.http, "GET", "/auth/sign_ins/"+si["id"].(string), "", nil); st != 200 && st != 404 {
			t.Fatalf("%s: reading the sign-in: %d", action, st)
		}
		if got := code(laptop.api("GET", "/auth/me", nil, 401)); got != "authentication_invalid" {
			t.Fatalf("%s: the laptop got a session after the %s: %q", action, action, got)
		}
	}
}

func testDelete(t *testing.T, open OpenStore) {
	e := newEnv(t, open, nil)
	ctx := context.Background()
	id := e.newUser("gone@example.com")
	b, c := e.browser(), e.browser()
	b.signInTicket(id)
	b.addVerified("gone2@example.com")
	b.api("POST", "/auth/me/email_addresses", obj{"email_address": "gone3@example.com"}, 200)
	e.backend("PATCH", "/users/"+id, obj{"private_metadata": obj{"k": "v"}}, 200)
	tok := e.backend("POST", "/sign_in_tokens", obj{"user_id": id}, 200)["token"].(string)
	// A sign-in waiting for its link, and a primary change notice queued.
	si := c.api("POST", "/auth/sign_ins", obj{"identifier": "gone@example.com"}, 200)
	n := len(e.mail.Messages()) + 1
	c.api("POST", "/auth/sign_ins/"+si["id"].(string)+"/prepare_first_factor", obj{"strategy": "email_link"}, 200)
	link := authtest.LinkToken(t, e.message(n))

	if d := e.backend("DELETE", "/users/"+id, nil, 200); d["object"] != "user" || d["id"] != id || d["deleted"] != true {
		t.Fatalf("DELETE /users/{id} = %v", d)
	}
	b.api("GET", "/auth/me", nil, 401)
	if got := code(e.backend("DELETE", "/users/"+id, nil, 404)); got != "resource_not_found" {
		t.Fatalf("deleting again: %q", got)
	}
	e.backend("GET", "/users/"+id, nil, 404)
	if st := c.confirmStatus(link); st != "failed" {
		t.Fatalf("the deleted user's pending sign-in link: %s", st)
	}
	if got := code(c.api("POST", "/auth/sign_ins", obj{"strategy": "ticket", "ticket": tok}, 400)); got != "ticket_invalid_code" {
		t.Fatalf("the deleted user's sign-in token: %q", got)
	}
	assertForgotten(t, e, id, "gone@example.com", "gone2@example.com", "gone3@example.com")
	// Every address is free again.
	for _, addr := range []string{"gone@example.com", "gone2@example.com"} {
		if _, err := e.auth.Users.Create(ctx, magiclink.UserParams{EmailAddress: addr}); err != nil {
			t.Fatalf("signing up again with %s: %v", addr, err)
		}
	}
	if err := e.auth.Users.Delete(ctx, id); !errors.Is(err, magiclink.ErrNotFound) {
		t.Fatalf("Users.Delete of a deleted user = %v", err)
	}

	// A user who signed up by link: its sign-up's email events, appended
	// before it existed, go too.
	d := e.browser()
	su := d.api("POST", "/auth/sign_ups", obj{"email_address": "signed-up@example.com"}, 200)
	n = len(e.mail.Messages()) + 1
	d.api("POST", "/auth/sign_ups/"+su["id"].(string)+"/prepare_verification", obj{"strategy": "email_link"}, 200)
	if st := d.confirmStatus(authtest.LinkToken(t, e.message(n))); st != "verified" {
		t.Fatalf("sign-up link: %s", st)
	}
	me := d.api("GET", "/auth/me", nil, 200)
	d.api("DELETE", "/auth/me", nil, 200)
	assertForgotten(t, e, me["id"].(string), "signed-up@example.com")
}

// assertForgotten fails unless no record of the store names the user or
// its addresses, but for the user.deleted event, which names the user's
// id alone. (Send-limit counters, hashed, and link records, which name
// neither, may remain.)
func assertForgotten(t *testing.T, e *env, userID string, addrs ...string) {
	t.Helper()
	items, err := e.st.List(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	deletedEvent := 0
	for _, it := range items {
		if strings.HasPrefix(it.Key, "evtu/"+userID+"/") && string(it.Value) == "user.deleted" ||
			strings.HasPrefix(it.Key, "evt/") && strings.Contains(string(it.Value), `"type":"user.deleted"`) &&
				strings.Contains(string(it.Value), `"data":{"object":"user","id":"`+userID+`","deleted":true}`) {
			deletedEvent++
			continue
		}
		for _, s := range append([]string{userID}, addrs...) {
			if strings.Contains(it.Key, s) || strings.Contains(strings.ToLower(string(it.Value)), strings.ToLower(s)) {
				t.Errorf("record %s still names %s: %q", it.Key, s, it.Value)
			}
		}
	}
	if deletedEvent != 2 {
		t.Errorf("the user.deleted event: %d records; want 2 (the event and its index entry)", deletedEvent)
	}
}

func testDeleteMe(t *testing.T, open OpenStore) {
	e := newEnv(t, open, nil)
	id := e.newUser("me-gone@example.com")
	b, other := e.browser(), e.browser()
	b.signInTicket(id)
	other.signInTicket(id)
	e.clock.Advance(11 * time.Minute)
	b.api("DELETE", "/auth/me", nil, 403)
	b.reverify()
	if d := b.api("DELETE", "/auth/me", nil, 200); d["deleted"] != true || d["id"] != id {
		t.Fatalf("DELETE /me = %v", d)
	}
	b.api("GET", "/auth/me", nil, 401)
	other.api("GET", "/auth/me", nil, 401)
	assertForgotten(t, e, id, "me-gone@example.com")
}

func testConcurrentMetadata(t *testing.T, open OpenStore) {
	e := newEnv(t, open, nil)
	id := e.newUser("race@example.com")
	const n = 16
	for _, err := range racetest.Run(n, func(i int, start func()) error {
		start()
		_, err := e.auth.Users.UpdateMetadata(context.Background(), id, magiclink.MetadataUpdate{
			PublicMetadata: magiclink.Metadata{fmt.Sprintf("k%02d", i): i}})
		return err
	}) {
		if err != nil {
			t.Errorf("concurrent merge: %v", err)
		}
	}
	u, err := e.auth.Users.Get(context.Background(), id)
	if err != nil || len(u.PublicMetadata) != n {
		t.Fatalf("after %d concurrent merges: %v, %v", n, u.PublicMetadata, err)
	}
}

func testDeleteRacesSignIn(t *testing.T, open OpenStore) {
	e := newEnv(t, open, nil)
	ctx := context.Background()
	for round := range 5 {
		addr := fmt.Sprintf("racer%d@example.com", round)
		id := e.newUser(addr)
		c := e.browser()
		si := c.api("POST", "/auth/sign_ins", obj{"identifier": addr}, 200)
		n := len(e.mail.Messages()) + 1
		c.api("POST", "/auth/sign_ins/"+si["id"].(string)+"/prepare_first_factor", obj{"strategy": "email_link"}, 200)
		link := authtest.LinkToken(t, e.message(n))
		errs := racetest.Run(2, func(i int, start func()) error {
			start()
			if i == 0 {
				return e.auth.Users.Delete(ctx, id)
			}
			c.confirmStatus(link)
			return nil
		})
		if errs[0] != nil {
			t.Fatalf("round %d: Delete = %v", round, errs[0])
		}
		// Whichever won, the user is gone and nothing signs in as it.
		if _, err := e.auth.Users.Get(ctx, id); !errors.Is(err, magiclink.ErrNotFound) {
			t.Fatalf("round %d: the sign-in resurrected the user: %v", round, err)
		}
		c.api("GET", "/auth/me", nil, 401)
		if st, _ := e.do(c.http, "GET", "/auth/sign_ins/"+si["id"].(string), "", nil); st != http.StatusOK && st != http.StatusNotFound {
			t.Fatalf("round %d: reading the sign-in: %d", round, st)
		}
		c.api("GET", "/auth/me", nil, 401)
		assertForgotten(t, e, id, addr)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
