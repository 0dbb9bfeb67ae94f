package magiclink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/magiclink-go/magiclink/internal/emailcode"
	"github.com/magiclink-go/magiclink/store"
)

// Email codes (Clerk's email_code strategy). Every email that verifies an
// address carries, beside its link, a short numeric code: the person
// either confirms the link in the browser that asked for it, or types the
// code into that browser's waiting tab — the way in when the email is read
// on another device. Link and code are one verification: either uses both
// up, a new prepare supersedes both, and both expire together.
//
// The code is made by the outbox when the email is sent, as the link's
// token is, from the prepare's random id under a server secret
// (Config.EmailCodes.Secret, or a random one kept in the store; see
// package emailcode), and never stored: the flow keeps only an HMAC-SHA-256 of it
// under that secret, bound to the flow, its purpose, its address and its
// prepare.
// A verification allows MaxCodeAttempts guesses, and the guesses at one
// address and from one client IP are limited across flows (Limits).

// CodeMode says whether emails carry codes, links, or both.
type CodeMode int

// Code modes.
const (
	// CodesWithLinks: every email carries a link and a code; either
	// completes the verification. The default.
	CodesWithLinks CodeMode = iota
	// CodesOff: emails carry links only; strategy email_code is refused.
	CodesOff
	// CodesOnly: emails carry codes only; strategy email_link is refused.
	CodesOnly
)

// Code lengths and the attempts one verification allows.
const (
	// DefaultCodeLength is the number of digits of a code when
	// Config.EmailCodes.Length is zero.
	DefaultCodeLength = 6
	// MinCodeLength and MaxCodeLength bound Config.EmailCodes.Length.
	MinCodeLength = 6
	MaxCodeLength = 10
	// MaxCodeAttempts is how many codes, right or wrong, one verification
	// accepts: the last wrong one fails it (and its link with it).
	MaxCodeAttempts = 5
)

// EmailCodes configures the one-time codes emails carry.
type EmailCodes struct {
	// Mode is CodesWithLinks (the zero value), CodesOff or CodesOnly.
	Mode CodeMode
	// Length is the number of digits of a code, from 6 (the default) to
	// 10.
	Length int
	// Secret keys the HMACs codes are made from and stored as: at least
	// 32 bytes, the same on every instance sharing a store. When empty, 32
	// random bytes are generated on first start and kept in the store;
	// then anyone holding a copy of the store can recompute the code of a
	// live verification (see SECURITY.md). Keep it in a secret manager to
	// rule that out.
	Secret []byte
}

// keyCodeSecret is the store key of the generated code secret.
const keyCodeSecret = "keys/email_codes"

// initCodes validates Config.EmailCodes and loads (or creates) the code
// secret.
func (a *Auth) initCodes() error {
	c := &a.cfg.EmailCodes
	if c.Mode < CodesWithLinks || c.Mode > CodesOnly {
		return fmt.Errorf("magiclink: Config.EmailCodes.Mode %d is not a CodeMode", c.Mode)
	}
	if c.Length == 0 {
		c.Length = DefaultCodeLength
	}
	if c.Length < MinCodeLength || c.Length > MaxCodeLength {
		return fmt.Errorf("magiclink: Config.EmailCodes.Length must be %d to %d, got %d", MinCodeLength, MaxCodeLength, c.Length)
	}
	if len(c.Secret) > 0 {
		if len(c.Secret) < 32 {
			return errors.New("magiclink: Config.EmailCodes.Secret must be at least 32 bytes")
		}
		a.codes = emailcode.New(c.Secret, c.Length)
		return nil
	}
	if c.Mode == CodesOff {
		a.codes = emailcode.New(nil, c.Length) // never used: emails carry no code
		return nil
	}
	secret, err := a.storedKey(keyCodeSecret, "email code secret")
	a.codes = emailcode.New(secret, c.Length)
	return err
}

// codesOn and linksOn say what emails carry.
func (a *Auth) codesOn() bool { return a.cfg.EmailCodes.Mode != CodesOff }
func (a *Auth) linksOn() bool { return a.cfg.EmailCodes.Mode != CodesOnly }

// factors returns the strategies a flow's address can be verified by.
func (a *Auth) factors() []string {
	switch a.cfg.EmailCodes.Mode {
	case CodesOff:
		return []string{StrategyEmailLink}
	case CodesOnly:
		return []string{StrategyEmailCode}
	}
	return []string{StrategyEmailLink, StrategyEmailCode}
}

// prepareStrategy checks a prepare's strategy against the code mode.
func (a *Auth) prepareStrategy(s string) (string, error) {
	if s == "" {
		s = a.factors()[0]
	}
	for _, f := range a.factors() {
		if s == f {
			return s, nil
		}
	}
	return "", paramValue("strategy", "strategy_one_of", "strategies", strings.Join(a.factors(), ", "))
}

// sendCode returns the code of the send f.Ver.SendID: derived from it
// under the code secret, so every attempt of one send mails the same code
// (see package emailcode).
func (a *Auth) sendCode(f *flowRec) string { return a.codes.Code(f.ID, f.Ver.SendID) }

// codeBinding is what a code sent for f's verification is bound to.
func codeBinding(f *flowRec) emailcode.Binding {
	return emailcode.Binding{Kind: string(f.Kind), FlowID: f.ID, Address: addressKey(f.Address), SendID: f.Ver.SendID}
}

// codeHash is what the flow stores of its code: an HMAC under the code
// secret, bound to the flow, its purpose, its address and its prepare.
func (a *Auth) codeHash(f *flowRec, code string) string { return a.codes.Hash(codeBinding(f), code) }

// codeMatches compares code with the flow's stored HMAC in constant time,
// taking as long whatever the flow holds.
func (a *Auth) codeMatches(f *flowRec, code string) bool {
	return a.codes.Matches(codeBinding(f), code, f.Ver.CodeHash)
}

// normalizeCode removes the spaces and dashes people type or paste, and
// reports whether what is left is a code of the configured length.
func (a *Auth) normalizeCode(s string) (string, bool) {
	if len(s) > 4*MaxCodeLength {
		return "", false
	}
	code := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, s)
	if len(code) != a.cfg.EmailCodes.Length {
		return "", false
	}
	for i := range len(code) {
		if code[i] < '0' || code[i] > '9' {
			return "", false
		}
	}
	return code, true
}

// AttemptParams are the parameters of AttemptFirstFactor and
// AttemptVerification.
type AttemptParams struct {
	// Strategy must be "email_code" or empty.
	Strategy string
	// Code is the code from the email; spaces and dashes are ignored.
	Code string
}

// attempt tries a code on the sign-in or sign-up h hands out (what names
// it in a not-found error), as its client; fresh is the session a right
// code created, for the returned flow's handout.
func (h *handout) attempt(ctx context.Context, what string, p AttemptParams) (f *flowRec, fresh *NewSession, err error) {
	if h.client == nil {
		return nil, nil, paramMissing("client")
	}
	return h.a.attemptCode(ctx, h.key, func(f *flowRec) error {
		if !h.client.owns(f) {
			return notFound(what)
		}
		return nil
	}, h.client.ID, p)
}

// holding returns f with fresh as the session its ClaimSession hands out.
func holding[F interface{ hold(*NewSession) }](f F, fresh *NewSession) F {
	f.hold(fresh)
	return f
}

func (h *handout) hold(s *NewSession) { h.fresh = s }

// decoy reports whether a flow can never be completed by a code: its
// email carries none (a sign-in for an address without an account, whose
// email offers to sign up; an address another account has verified, whose
// owner gets a notice), though a code was minted and its HMAC stored as
// for any other flow. Its attempts are answered like any other's: code
// incorrect.
func (f *flowRec) decoy() bool {
	return (f.Kind == kindSignIn && f.UserID == "") || (f.Ver != nil && f.Ver.NoCode)
}

// attemptCode checks a code typed into the flow at key by clientID, which
// check has confirmed may. A right code settles the flow as confirming
// its link in the same browser does, with a session for clientID (fresh);
// a wrong or malformed one counts as an attempt, and the last allowed one
// fails the verification. Either way the flow is written back in one
// compare-and-swap, so of concurrent right attempts exactly one wins.
// The returned flow is as written; the error is the answer to a wrong
// code.
func (a *Auth) attemptCode(ctx context.Context, key string, check func(*flowRec) error, clientID string, p AttemptParams) (*flowRec, *NewSession, error) {
	if p.Strategy != "" && p.Strategy != StrategyEmailCode {
		return nil, nil, paramValue("strategy", "strategy_code")
	}
	if !a.codesOn() {
		return nil, nil, paramValue("strategy", "codes_off")
	}
	if strings.TrimSpace(p.Code) == "" {
		return nil, nil, paramMissing("code")
	}
	code, wellFormed := a.normalizeCode(p.Code)
	counted := false
	// The flow as written and the session handed out, if any.
	type written struct {
		f     *flowRec
		fresh *NewSession
	}
	contended := func() error { return fmt.Errorf("magiclink: attempting a code for %s: too much contention", key) }
	w, err := retryApplyOr(contended, func() (written, error) {
		l, err := load[flowRec](ctx, a.st, key)
		if err != nil {
			if isNotFound(err) {
				return written{}, notFound(flowKindOf(key))
			}
			return written{}, err
		}
		f := l.v
		if err := check(&f); err != nil {
			return written{}, err
		}
		now := a.now()
		if err := codeState(&f, now); err != nil {
			return written{}, err
		}
		// One attempt is counted once, however often a conflict makes
		// this loop go round.
		if !counted {
			if err := a.allowAttempt(ctx, f.Address, now); err != nil {
				return written{}, err
			}
			counted = true
		}
		right := wellFormed && a.codeMatches(&f, code) && !f.decoy()
		f.Ver.Attempts++
		f.UpdatedAt = ms(now)
		var ops []store.Op
		var fresh *NewSession
		var answer error
		switch {
		case right:
			if ops, fresh, err = a.settle(ctx, &f, clientID, now); err != nil {
				return written{}, err
			}
			if f.Ver.Status == string(VerificationFailed) {
				answer = verificationFailed()
			}
		default:
			if f.Ver.Attempts >= MaxCodeAttempts {
				f.Ver.Status = string(VerificationFailed)
			}
			left := max(0, MaxCodeAttempts-f.Ver.Attempts)
			wrong := codeIncorrect(left)
			if !wellFormed {
				// A guess all the same: it says how many are left too.
				wrong = paramInvalid("code", "code_digits", "n", strconv.Itoa(a.cfg.EmailCodes.Length))
				wrong.Meta["remaining_attempts"] = left
			}
			if f.Ver.Status == string(VerificationFailed) {
				wrong = wrong.failing()
			}
			answer = wrong
		}
		if err := a.apply(ctx, append(ops, l.swap(f, flowExpiry(&f)))...); err != nil {
			return written{}, err // a conflict is another round
		}
		if right || f.Ver.Status == string(VerificationFailed) {
			a.observeSettled(ctx, &f, StrategyEmailCode)
		}
		return written{&f, fresh}, answer
	})
	return w.f, w.fresh, err
}

// codeState refuses an attempt on a flow whose verification cannot take
// a code: none prepared, already verified, failed or expired. Such an
// attempt is not counted.
func codeState(f *flowRec, now time.Time) error {
	switch {
	case f.Ver == nil || f.Ver.Strategy == StrategyTicket:
		return flowConflict("no_code." + string(f.Kind))
	case f.Ver.Status == string(VerificationVerified) || (f.Kind != kindEmail && !f.pending()):
		return flowConflict("verified." + string(f.Kind))
	case f.Ver.Status == string(VerificationFailed):
		return verificationFailed()
	case f.Ver.status(now) == VerificationExpired || f.abandoned(now):
		return verificationExpired()
	}
	return nil
}
