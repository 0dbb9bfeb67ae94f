package magiclink

import (
	"context"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// SignUpStatus is the state of a SignUp.
type SignUpStatus string

// Sign-up statuses, as Clerk's.
const (
	SignUpMissingRequirements SignUpStatus = "missing_requirements"
	SignUpComplete            SignUpStatus = "complete"
	SignUpAbandoned           SignUpStatus = "abandoned"
)

// SignUp is a sign-up attempt (Clerk's sign_up_attempt): an email address
// to verify and, once verified, the user and session it created.
type SignUp struct {
	ID                string
	Status            SignUpStatus
	EmailAddress      string
	RequiredFields    []string
	MissingFields     []string
	UnverifiedFields  []string
	EmailVerification *Verification // verifications.email_address
	CreatedUserID     string
	CreatedSessionID  string
	CreatedAt         time.Time
	UpdatedAt         time.Time
	AbandonAt         time.Time

	handout
}

// SignUpParams are the parameters of SignUps.Create.
type SignUpParams struct {
	// EmailAddress is the address to sign up with.
	EmailAddress string
	// Locale is the language the flow's emails and pages are written in,
	// unless the user has stored one: a BCP 47 tag ("de") or an
	// Accept-Language value, best first. Empty or unmatched: the
	// default locale.
	Locale string
}

// SignUps creates and drives sign-up attempts.
type SignUps struct{ a *Auth }

// Create starts a sign-up for client. It answers missing_requirements
// the same way whether or not the address already has an account (unless
// enumeration protection is off); the link then sent signs in to the
// existing account instead.
func (s *SignUps) Create(ctx context.Context, client *Client, p SignUpParams) (*SignUp, error) {
	ctx = client.context(ctx)
	if client == nil {
		return nil, paramMissing("client")
	}
	addr, err := parseAddress("email_address", p.EmailAddress)
	if err != nil {
		return nil, err
	}
	if err := s.a.allowCreate(ctx); err != nil {
		return nil, err
	}
	owner, _, err := s.a.lookupAddress(ctx, addr)
	if err != nil {
		return nil, err
	}
	if owner != nil && s.a.cfg.DisableEnumerationProtection {
		return nil, identifierExists()
	}
	now := s.a.now()
	f := flowRec{ID: newID(prefixSignUp), Kind: kindSignUp, ClientID: client.ID, Status: string(SignUpMissingRequirements),
		Address: addr, Locale: s.a.cat.Match(p.Locale), CreatedAt: ms(now), UpdatedAt: ms(now), AbandonAt: ms(now.Add(flowLifetime))}
	if err := s.a.st.Apply(ctx, client.withSave([]store.Op{store.Insert(keySignUp+f.ID, encode(f), flowExpiry(&f))})...); err != nil {
		return nil, err
	}
	client.saved()
	return s.a.signUp(&f, client), nil
}

// Get returns the sign-up with id if client started it; to anyone else it
// does not exist. It only reads: the session a complete sign-up created
// is handed out by SignUp.ClaimSession alone.
func (s *SignUps) Get(ctx context.Context, client *Client, id string) (*SignUp, error) {
	return s.Wait(ctx, client, id, 0)
}

// Wait is Get as a long poll: it answers as soon as the sign-up's status
// or its verification's status changes, or after d.
func (s *SignUps) Wait(ctx context.Context, client *Client, id string, d time.Duration) (*SignUp, error) {
	f, err := s.a.waitOwnFlow(ctx, keySignUp, prefixSignUp, id, client.owns, d)
	if err != nil {
		return nil, err
	}
	return s.a.signUp(f, client), nil
}

// PrepareVerification sends a magic link verifying the sign-up's address.
// A new link supersedes earlier ones.
func (su *SignUp) PrepareVerification(ctx context.Context, p PrepareParams) (*SignUp, error) {
	f, err := su.prepareLink(ctx, "sign up", false, p)
	if err != nil {
		return nil, err
	}
	return su.a.signUp(f, su.client), nil
}

// AttemptVerification completes the sign-up with the code from its email
// (strategy email_code), as SignIn.AttemptFirstFactor does a sign-in.
func (su *SignUp) AttemptVerification(ctx context.Context, p AttemptParams) (*SignUp, error) {
	ctx = su.client.context(ctx)
	f, fresh, err := su.attempt(ctx, "sign up", p)
	if f == nil {
		return nil, err
	}
	return holding(su.a.signUp(f, su.client), fresh), err
}

// StartMagicLinkFlow sends a magic link, then blocks until it is
// confirmed, expires or fails, or ctx ends.
func (su *SignUp) StartMagicLinkFlow(ctx context.Context, p FlowParams) (*SignUp, error) {
	return startFlow(ctx, su.a, keySignUp+su.ID, p, su.PrepareVerification, func(f *flowRec) *SignUp { return su.a.signUp(f, su.client) })
}

// ClaimSession is SignIn.ClaimSession for a sign-up.
func (su *SignUp) ClaimSession(ctx context.Context) (*NewSession, error) {
	return su.take(ctx, su.Status == SignUpComplete)
}

func (a *Auth) signUp(f *flowRec, client *Client) *SignUp {
	su := &SignUp{ID: f.ID, Status: SignUpStatus(f.Status), EmailAddress: f.Address,
		RequiredFields: []string{"email_address"}, MissingFields: []string{}, UnverifiedFields: []string{"email_address"},
		EmailVerification: a.verification(f.Ver, f.ClientID),
		CreatedAt:         fromMS(f.CreatedAt), UpdatedAt: fromMS(f.UpdatedAt), AbandonAt: fromMS(f.AbandonAt),
		handout: handout{a: a, client: client, key: keySignUp + f.ID}}
	if f.Status == string(SignUpComplete) {
		su.UnverifiedFields = []string{}
		su.CreatedUserID, su.CreatedSessionID = f.UserID, f.SessionID
	}
	if f.abandoned(a.now()) {
		su.Status = SignUpAbandoned
	}
	return su
}
