package magiclink

import (
	"encoding/json"
	"time"
)

// The JSON forms below are the Frontend and Backend API's: Clerk's field
// names, timestamps in Unix milliseconds, absent values as null. A
// resource begins with its object and id (apiObject) and, when it has
// them, ends with created_at and updated_at (stamps).

// apiObject is how every resource begins: what it is, and its id.
type apiObject struct {
	Object string `json:"object"`
	ID     string `json:"id"`
}

// stamps is how a resource ends: when it was created and last updated.
type stamps struct {
	CreatedAt *int64 `json:"created_at"`
	UpdatedAt *int64 `json:"updated_at"`
}

// stampsOf returns the stamps of a resource created at c and last
// updated at u.
func stampsOf(c, u time.Time) stamps { return stamps{msOrNil(c), msOrNil(u)} }

// msOrNil is a timestamp for JSON: Unix milliseconds, or null.
func msOrNil(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	v := t.UnixMilli()
	return &v
}

func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// MarshalJSON encodes the verification as the API serves it.
func (v *Verification) MarshalJSON() ([]byte, error) {
	object := "verification_email_link"
	switch v.Strategy {
	case StrategyTicket:
		object = "verification_ticket"
	case StrategyEmailCode:
		object = "verification_email_code"
	}
	return json.Marshal(struct {
		Object                    string             `json:"object"`
		Status                    VerificationStatus `json:"status"`
		Strategy                  string             `json:"strategy"`
		Attempts                  int                `json:"attempts"`
		ExpireAt                  *int64             `json:"expire_at"`
		VerifiedFromTheSameClient bool               `json:"verified_from_the_same_client"`
	}{object, v.Status, v.Strategy, v.Attempts, msOrNil(v.ExpireAt), v.VerifiedFromTheSameClient})
}

type firstFactorJSON struct {
	Strategy       string `json:"strategy"`
	SafeIdentifier string `json:"safe_identifier"`
	EmailAddressID string `json:"email_address_id"`
}

// factorsJSON returns factors as the API serves them, [] when none.
func factorsJSON(factors []FirstFactor) []firstFactorJSON {
	out := make([]firstFactorJSON, 0, len(factors))
	for _, f := range factors {
		out = append(out, firstFactorJSON(f))
	}
	return out
}

// MarshalJSON encodes the sign-in as the API serves it.
func (si *SignIn) MarshalJSON() ([]byte, error) {
	factors := factorsJSON(si.SupportedFirstFactors)
	return json.Marshal(struct {
		apiObject
		Status                   SignInStatus      `json:"status"`
		SupportedIdentifiers     []string          `json:"supported_identifiers"`
		Identifier               string            `json:"identifier"`
		SupportedFirstFactors    []firstFactorJSON `json:"supported_first_factors"`
		SupportedSecondFactors   []string          `json:"supported_second_factors"`
		FirstFactorVerification  *Verification     `json:"first_factor_verification"`
		SecondFactorVerification *Verification     `json:"second_factor_verification"`
		CreatedSessionID         *string           `json:"created_session_id"`
		AbandonAt                *int64            `json:"abandon_at"`
		stamps
	}{apiObject{"sign_in_attempt", si.ID}, si.Status, []string{"email_address"}, si.Identifier, factors, nil,
		si.FirstFactorVerification, nil, strOrNil(si.CreatedSessionID),
		msOrNil(si.AbandonAt), stampsOf(si.CreatedAt, si.UpdatedAt)})
}

// MarshalJSON encodes the sign-up as the API serves it.
func (su *SignUp) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		apiObject
		Status           SignUpStatus `json:"status"`
		RequiredFields   []string     `json:"required_fields"`
		OptionalFields   []string     `json:"optional_fields"`
		MissingFields    []string     `json:"missing_fields"`
		UnverifiedFields []string     `json:"unverified_fields"`
		Verifications    struct {
			EmailAddress *Verification `json:"email_address"`
		} `json:"verifications"`
		EmailAddress     string  `json:"email_address"`
		CreatedUserID    *string `json:"created_user_id"`
		CreatedSessionID *string `json:"created_session_id"`
		AbandonAt        *int64  `json:"abandon_at"`
		stamps
	}{apiObject: apiObject{"sign_up_attempt", su.ID}, Status: su.Status, RequiredFields: su.RequiredFields,
		OptionalFields: []string{}, MissingFields: su.MissingFields, UnverifiedFields: su.UnverifiedFields,
		Verifications: struct {
			EmailAddress *Verification `json:"email_address"`
		}{su.EmailVerification},
		EmailAddress: su.EmailAddress, CreatedUserID: strOrNil(su.CreatedUserID), CreatedSessionID: strOrNil(su.CreatedSessionID),
		AbandonAt: msOrNil(su.AbandonAt), stamps: stampsOf(su.CreatedAt, su.UpdatedAt)})
}

// MarshalJSON encodes the address as the API serves it.
func (e *EmailAddress) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		apiObject
		EmailAddress string        `json:"email_address"`
		Verification *Verification `json:"verification"`
		LinkedTo     []string      `json:"linked_to"`
		stamps
	}{apiObject{"email_address", e.ID}, e.EmailAddress, e.Verification, []string{}, stampsOf(e.CreatedAt, e.UpdatedAt)})
}

// MarshalJSON encodes the user as the Backend API serves it, private
// metadata included.
func (u *User) MarshalJSON() ([]byte, error) { return u.marshal(true) }

// frontendUser is a user as the Frontend API serves it: without private
// metadata.
type frontendUser struct{ *User }

// MarshalJSON encodes the user without its private metadata.
func (u frontendUser) MarshalJSON() ([]byte, error) { return u.User.marshal(false) }

func (u *User) marshal(withPrivate bool) ([]byte, error) {
	addrs := u.EmailAddresses
	if addrs == nil {
		addrs = []*EmailAddress{}
	}
	orEmpty := func(m Metadata) Metadata {
		if m == nil {
			return Metadata{}
		}
		return m
	}
	var private *Metadata
	if withPrivate {
		p := orEmpty(u.PrivateMetadata)
		private = &p
	}
	return json.Marshal(struct {
		apiObject
		PrimaryEmailAddressID *string         `json:"primary_email_address_id"`
		EmailAddresses        []*EmailAddress `json:"email_addresses"`
		Locale                *string         `json:"locale"`
		FirstName             *string         `json:"first_name"`
		LastName              *string         `json:"last_name"`
		PublicMetadata        Metadata        `json:"public_metadata"`
		PrivateMetadata       *Metadata       `json:"private_metadata,omitempty"`
		UnsafeMetadata        Metadata        `json:"unsafe_metadata"`
		Banned                bool            `json:"banned"`
		LastSignInAt          *int64          `json:"last_sign_in_at"`
		stamps
	}{apiObject{"user", u.ID}, strOrNil(u.PrimaryEmailAddressID), addrs, strOrNil(u.Locale), strOrNil(u.FirstName), strOrNil(u.LastName),
		orEmpty(u.PublicMetadata), private, orEmpty(u.UnsafeMetadata), u.Banned, msOrNil(u.LastSignInAt),
		stampsOf(u.CreatedAt, u.UpdatedAt)})
}

// MarshalJSON encodes the session as the API serves it.
func (s *Session) MarshalJSON() ([]byte, error) {
	act := s.LatestActivity
	return json.Marshal(struct {
		apiObject
		UserID         string        `json:"user_id"`
		ClientID       string        `json:"client_id"`
		Status         SessionStatus `json:"status"`
		LastActiveAt   *int64        `json:"last_active_at"`
		LastVerifiedAt *int64        `json:"last_verified_at"`
		ExpireAt       *int64        `json:"expire_at"`
		AbandonAt      *int64        `json:"abandon_at"`
		LatestActivity activityJSON  `json:"latest_activity"`
		stamps
	}{apiObject{"session", s.ID}, s.UserID, s.ClientID, s.Status, msOrNil(s.LastActiveAt), msOrNil(s.LastVerifiedAt), msOrNil(s.ExpireAt),
		msOrNil(s.AbandonAt), activityJSON{"session_activity", strOrNil(act.BrowserName), strOrNil(act.BrowserVersion),
			strOrNil(act.DeviceType), strOrNil(act.IPAddress), act.IsMobile},
		stampsOf(s.CreatedAt, s.UpdatedAt)})
}

// activityJSON is Clerk's session_activity object.
type activityJSON struct {
	Object         string  `json:"object"`
	BrowserName    *string `json:"browser_name"`
	BrowserVersion *string `json:"browser_version"`
	DeviceType     *string `json:"device_type"`
	IPAddress      *string `json:"ip_address"`
	IsMobile       bool    `json:"is_mobile"`
}

// mySession is a session as GET /me/sessions lists it: with whether it is
// the one asking.
type mySession struct {
	*Session
	current bool
}

// MarshalJSON adds "current" to the session's JSON.
func (s mySession) MarshalJSON() ([]byte, error) {
	raw, err := s.Session.MarshalJSON()
	if err != nil {
		return nil, err
	}
	flag := []byte(`,"current":false}`)
	if s.current {
		flag = []byte(`,"current":true}`)
	}
	return append(raw[:len(raw)-1], flag...), nil
}

// deletedObject is Clerk's answer to a deletion.
type deletedObject struct {
	Object  string `json:"object"`
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

// MarshalJSON encodes the error as one entry of the API's errors list.
func (e *Error) MarshalJSON() ([]byte, error) {
	meta := e.Meta
	if meta == nil {
		meta = map[string]any{}
	}
	return json.Marshal(struct {
		Code        string         `json:"code"`
		Message     string         `json:"message"`
		LongMessage string         `json:"long_message"`
		Meta        map[string]any `json:"meta"`
	}{e.Code, e.Message, e.LongMessage, meta})
}
