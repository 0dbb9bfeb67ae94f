package magiclink

import (
	"context"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// Client is one browser or device, known by an opaque secret kept in an
// HttpOnly cookie. Flows belong to the client that started them.
type Client struct {
	ID        string
	CreatedAt time.Time
}

// Clients creates and looks up clients.
type Clients struct{ a *Auth }

// Create makes a new client and returns it with its secret token (the
// cookie value). Only the token's hash is stored.
func (c *Clients) Create(ctx context.Context) (*Client, string, error) {
	now := c.a.now()
	rec := clientRec{ID: newID(prefixClient), CreatedAt: ms(now)}
	token := newToken()
	if err := c.a.st.Apply(ctx, store.Insert(keyClient+hashToken(token), encode(rec), now.Add(clientLifetime))); err != nil {
		return nil, "", err
	}
	return &Client{ID: rec.ID, CreatedAt: fromMS(rec.CreatedAt)}, token, nil
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
