package magiclink_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/store"
)

// downStore answers every call with an error while its next failures
// calls are to fail: wrapping store.ErrUnavailable (a database that is
// down or restarting), or, when broken is set, a plain error (a bug).
type downStore struct {
	store.Store
	failures atomic.Int32
	broken   atomic.Bool
}

func (s *downStore) fail() error {
	if s.failures.Add(-1) < 0 {
		s.failures.Store(0)
		return nil
	}
	if s.broken.Load() {
		return errors.New("corrupt page 7")
	}
	return errors.Join(store.ErrUnavailable, errors.New("dial tcp 127.0.0.1:5432: connect: connection refused"))
}

func (s *downStore) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.Get(ctx, key)
}

func (s *downStore) Apply(ctx context.Context, ops ...store.Op) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.Store.Apply(ctx, ops...)
}

// Fault: the database is down. Rule: requests answer 503
// service_unavailable with Retry-After, change nothing, and work again as
// soon as it is back; a genuine bug stays a 500 without Retry-After.
func TestHTTPStoreUnavailable(t *testing.T) {
	ds := &downStore{}
	s := newSite(t, func(c *magiclink.Config) {
		ds.Store = c.Store
		c.Store = ds
	})
	b := s.browser(t)
	ds.failures.Store(1 << 20)
	res, data := b.do("POST", "/auth/sign_ins", "application/json", `{"identifier":"down@example.com"}`)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "2" || !strings.Contains(string(data), `"code":"service_unavailable"`) {
		t.Fatalf("with the store down: %d, Retry-After %q, %s; want 503 service_unavailable with Retry-After 2", res.StatusCode, res.Header.Get("Retry-After"), data)
	}
	ds.failures.Store(0)
	si := b.api("POST", "/auth/sign_ins", map[string]any{"identifier": "down@example.com"}, 200)
	if si["status"] != "needs_first_factor" {
		t.Fatalf("sign-in after the store is back: %v", si)
	}
	ds.broken.Store(true)
	ds.failures.Store(1 << 20)
	res, data = b.do("POST", "/auth/sign_ins", "application/json", `{"identifier":"bug@example.com"}`)
	if res.StatusCode != http.StatusInternalServerError || res.Header.Get("Retry-After") != "" || !strings.Contains(string(data), `"code":"internal_error"`) {
		t.Fatalf("with a broken store: %d, Retry-After %q, %s; want 500 internal_error", res.StatusCode, res.Header.Get("Retry-After"), data)
	}
	ds.failures.Store(0)
	if n := len(s.mail.Messages()); n != 0 {
		t.Fatalf("%d emails sent", n)
	}
}

// Fault: the database is down for the first two tries of a request made
// through magiclink.js. Rule: the helper retries a 503 after its
// Retry-After, and the call resolves once the database is back. Needs
// node (MAGICLINK_REQUIRE_NODE=1 makes its absence a failure).
func TestJSRetriesUnavailable(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("MAGICLINK_REQUIRE_NODE") == "1" {
			t.Fatal("node not found")
		}
		t.Skip("node not found")
	}
	ds := &downStore{}
	s := newSite(t, func(c *magiclink.Config) {
		ds.Store = c.Store
		c.Store = ds
	})
	ds.failures.Store(2) // each failed call ends its request with a 503
	// magiclink.js as a page loads it, with fetch resolving its paths
	// against the server.
	script := `
const base = process.argv[1];
globalThis.window = globalThis;
globalThis.document = { currentScript: { src: base + "/auth/magiclink.js" } };
globalThis.location = { href: base + "/" };
const f = globalThis.fetch;
globalThis.fetch = (u, init) => f(new URL(u, base), init);
const src = await (await f(base + "/auth/magiclink.js")).text();
(0, eval)(src);
const si = await magiclink.signIn.create({ identifier: "js@example.com" });
console.log(si.status);
`
	out, err := exec.Command(node, "--input-type=module", "-e", script, s.srv.URL).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "needs_first_factor" {
		t.Fatalf("node: %v\n%s", err, out)
	}
	if n := ds.failures.Load(); n != 0 {
		t.Fatalf("%d store failures left; want both met (two 503s, each retried)", n)
	}
}
