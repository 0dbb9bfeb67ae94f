package ratelimit_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store/memstore"
)

// Instances behind a load balancer share one store (pgstore in
// production) and, through it, their send and creation limits. The load
// balancer's addresses are trusted to tell the client IP.
func ExampleNewStore() {
	st := memstore.New(memstore.Config{}) // pgstore.New(ctx, pool, pgstore.Config{}) in production
	newInstance := func() *magiclink.Auth {
		auth, err := magiclink.New(magiclink.Config{
			BaseURL:        "https://app.example",
			Store:          st,
			Mailer:         mailtest.New(),
			Limits:         magiclink.Limits{Limiter: ratelimit.NewStore(st)},
			TrustedProxies: []string{"10.0.0.0/8"},
			ClientIPHeader: "X-Forwarded-For",
		})
		if err != nil {
			panic(err)
		}
		return auth
	}
	one, two := newInstance(), newInstance()
	defer one.Close()
	defer two.Close()

	ctx := context.Background()
	send := func(auth *magiclink.Auth) error {
		c, _, _ := auth.Clients.Create(ctx)
		si, err := auth.SignIns.Create(ctx, c, magiclink.SignInParams{Identifier: "ada@example.com"})
		if err != nil {
			return err
		}
		_, err = si.PrepareVerification(ctx, magiclink.PrepareParams{})
		return err
	}
	fmt.Println("first link, from one instance:", send(one))
	err := send(two)
	fmt.Println("second link within 30 s, from the other:", errors.Is(err, magiclink.ErrRateLimited), magiclink.AsError(err).RetryAfterSeconds > 0)
	// Output:
	// first link, from one instance: <nil>
	// second link within 30 s, from the other: true true
}
