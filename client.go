package magiclink

import (
	"context"
	"net/netip"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// Client is one browser or device, known by an opaque secret kept in an
// HttpOnly cookie. Flows belong to the client that started them.
type Client struct {
	ID        string
	CreatedAt time.Time

	// ip is the address of the request RequestClient found the client
	// in: Go calls made with the client count it against the per-IP
	// limits when their context carries no IP.
	ip netip.Addr

	// save, for a client not yet stored, is the op that stores it: the
	// first flow started for it writes it in the same Apply, so a refused
	// request leaves no client behind.
	save []store.Op
}

// newClient returns a client that is not stored yet, and its token.
func (a *Auth) newClient() (*Client, string) {
	now := a.now()
	rec := clientRec{ID: newID(prefixClient), CreatedAt: ms(now)}
	token := newToken()
	return &Client{ID: rec.ID, CreatedAt: fromMS(rec.CreatedAt),
		save: []store.Op{store.Insert(keyClient+hashToken(token), encode(rec), now.Add(clientLifetime))}}, token
}

// withSave returns ops plus, if c is not stored yet, the op that stores
// it. Call saved once they are applied.
func (c *Client) withSave(ops []store.Op) []store.Op { return append(ops, c.save...) }

// saved records that the ops withSave returned were applied.
func (c *Client) saved() { c.save = nil }

// Clients creates and looks up clients.
type Clients struct{ a *Auth }

// Create makes a new client and returns it with its secret token (the
// cookie value). Only the token's hash is stored.
func (c *Clients) Create(ctx context.Context) (*Client, string, error) {
	cl, token := c.a.newClient()
	if err := c.a.st.Apply(ctx, cl.withSave(nil)...); err != nil {
		return nil, "", err
	}
	cl.saved()
	return cl, token, nil
}

// Lookup returns the client whose token is token. An unknown or
// malformed token is ErrNotFound: a value the server did not issue is
// never adopted.
func (c *Clients) Lookup(ctx context.Context, token string) (*Client, error) {
	if !validToken(token) {
		return nil, notFound("client")
	}
	l, err := load[clientRec](ctx, c.a.st, keyClient+hashToken(token))
	if err != nil {
		if isNotFound(err) {
			return nil, notFound("client")
		}
		return nil, err
	}
	return &Client{ID: l.v.ID, CreatedAt: fromMS(l.v.CreatedAt)}, nil
}

// context returns ctx carrying c's IP for the per-IP limits, unless ctx
// carries one already or c has none (it did not come from RequestClient).
func (c *Client) context(ctx context.Context) context.Context {
	if c == nil || !c.ip.IsValid() {
		return ctx
	}
	if _, ok := ClientIPFrom(ctx); ok {
		return ctx
	}
	return WithClientIP(ctx, c.ip)
}
