package mailer

import (
	"context"
	"errors"
)

// Multi returns a Mailer that sends each message through every one of
// mailers, in order — for example through SMTP and into a development inbox.
// It tries them all even when some fail, and returns their errors joined
// (errors.Join); the result is permanent (IsPermanent) only if every failure
// is. A message one mailer accepted may thus be sent again by a caller that
// retries. mailers must not contain nil.
func Multi(mailers ...Mailer) Mailer {
	return multi(append([]Mailer(nil), mailers...))
}

type multi []Mailer

// Send sends msg through every mailer of m.
func (m multi) Send(ctx context.Context, msg *Message) error {
	var errs []error
	for _, s := range m {
		c := *msg // each mailer gets its own copy, whatever it does with it
		if err := s.Send(ctx, &c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
