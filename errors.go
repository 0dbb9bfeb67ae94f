package magiclink

import (
	"errors"
	"net/http"
	"strings"

	"github.com/magiclink-go/magiclink/internal/i18n"
)

// Sentinel errors. Every *Error wraps one of them, so callers can use
// errors.Is without knowing API codes.
var (
	ErrInvalidParam     = errors.New("magiclink: invalid parameter")
	ErrNotFound         = errors.New("magiclink: not found")
	ErrExpired          = errors.New("magiclink: expired")
	ErrUnauthenticated  = errors.New("magiclink: not signed in")
	ErrIdentifierExists = errors.New("magiclink: identifier exists")
	ErrNoIdentifier     = errors.New("magiclink: identifier not found")
	ErrRateLimited      = errors.New("magiclink: too many requests")
	ErrConflict         = errors.New("magiclink: conflicting state")
	ErrTicket           = errors.New("magiclink: ticket rejected")
	// ErrCodeIncorrect: an email code did not match (form_code_incorrect).
	ErrCodeIncorrect = errors.New("magiclink: incorrect code")
	// ErrVerificationFailed: the verification failed, for example after
	// too many incorrect codes, and needs a new prepare.
	ErrVerificationFailed = errors.New("magiclink: verification failed")
)

// Error is the typed error every API call returns for a request it
// refuses. Code is the stable, Clerk-compatible code an HTTP client sees;
// Status is the HTTP status it is served with. Message is a short label
// ("is incorrect"); LongMessage is the sentence meant for people. Both
// are in English as API calls return them; the HTTP handlers serve them
// in the request's language, and Auth.ErrorFor does the same for an
// app's own pages.
//
// The codes and the sentinel errors they wrap (errors.Is):
//
//	form_param_missing, form_param_format_invalid,
//	form_param_value_invalid, form_param_unknown,
//	form_param_exceeds_allowed_size        422  ErrInvalidParam (Meta["param_name"])
//	malformed_request                      400  ErrInvalidParam
//	request_body_too_large                 413  ErrInvalidParam
//	unsupported_media_type                 415  ErrInvalidParam
//	cross_origin_request                   403  ErrInvalidParam
//	form_identifier_exists                 422  ErrIdentifierExists
//	form_identifier_not_found              422  ErrNoIdentifier
//	form_code_incorrect                    422  ErrCodeIncorrect (Meta["remaining_attempts"], an int;
//	                                            a malformed code's form_param_format_invalid has it too)
//	verification_expired                   422  ErrExpired
//	verification_failed                    422  ErrVerificationFailed
//	verification_status_invalid            400  ErrConflict (the flow's state does not allow it)
//	primary_email_address_not_deletable    400  ErrConflict
//	sign_in_token_cannot_be_revoked        400  ErrConflict
//	ticket_invalid_code, sign_in_token_already_used_code,
//	sign_in_token_revoked_code             400  ErrTicket
//	ticket_expired_code                    400  ErrTicket and ErrExpired
//	resource_not_found                     404  ErrNotFound
//	authentication_invalid                 401  ErrUnauthenticated
//	session_reverification_required        403  ErrReverificationRequired
//	too_many_requests                      429  ErrRateLimited (RetryAfterSeconds)
//
// A store failure is returned as it is, not as an *Error; the HTTP
// handlers answer it 500 internal_error, or 503 service_unavailable
// (RetryAfterSeconds) when the store wraps store.ErrUnavailable.
type Error struct {
	Status      int
	Code        string
	Message     string
	LongMessage string
	Meta        map[string]any
	// RetryAfterSeconds is set for too_many_requests and
	// service_unavailable: how many seconds to wait (Retry-After).
	RetryAfterSeconds int
	kind              error
	// The catalogue keys of Message and LongMessage (error.message.<msg>,
	// error.long.<long>) and their placeholders; empty for an Error
	// built without them, which is served as it is.
	msg, long string
	args      []string
}

// Error returns the code and the long message.
func (e *Error) Error() string {
	if e.LongMessage != "" {
		return "magiclink: " + e.Code + ": " + e.LongMessage
	}
	return "magiclink: " + e.Code + ": " + e.Message
}

// Unwrap returns the sentinel error the Error belongs to.
func (e *Error) Unwrap() error { return e.kind }

// AsError returns err as an *Error, or nil when it is not one.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// newError returns an *Error whose Message and LongMessage are the
// catalogue messages error.message.<msg> and error.long.<long> with the
// placeholders args (pairs of name and value), in English.
func newError(status int, code string, kind error, msg, long string, args ...string) *Error {
	e := &Error{Status: status, Code: code, kind: kind, msg: msg, long: long, args: args}
	e.Message, e.LongMessage = e.text(sourceMessages())
	return e
}

// text returns e's message and long message from the catalogue p. A
// long "key" the catalogue lacks is taken as the English sentence itself
// (TestMessageKeysExist keeps that from happening).
func (e *Error) text(p *i18n.Printer) (msg, long string) {
	if e.msg == "" {
		return e.Message, e.LongMessage
	}
	msg, long = p.T("error.message."+e.msg, e.args...), e.long
	if p.Has("error.long." + e.long) {
		long = p.T("error.long."+e.long, e.args...)
	}
	return msg, long
}

// in returns e with its messages in the language of p.
func (e *Error) in(p *i18n.Printer) *Error {
	if e.msg == "" {
		return e
	}
	c := *e
	c.Message, c.LongMessage = e.text(p)
	return &c
}

// paramError refuses the parameter param with a 422 of code: msg and
// long are the keys of its messages, args the long one's placeholders
// besides {param}; meta.param_name names param.
func paramError(code, msg, param, long string, args ...string) *Error {
	e := newError(http.StatusUnprocessableEntity, code, ErrInvalidParam, msg, long, append(args, "param", param)...)
	e.Meta = map[string]any{"param_name": param}
	return e
}

// paramInvalid refuses the parameter param; long is the key of the long
// message (error.long.<long>), args its placeholders besides {param}.
func paramInvalid(param, long string, args ...string) *Error {
	return paramError("form_param_format_invalid", "invalid", param, long, args...)
}

func paramMissing(param string) *Error {
	return paramError("form_param_missing", "missing", param, "param_missing")
}

// paramValue refuses the value of param; long is the key of the long
// message (error.long.<long>), args its placeholders besides {param}.
func paramValue(param, long string, args ...string) *Error {
	return paramError("form_param_value_invalid", "invalid", param, long, args...)
}

// paramsConflict refuses parameters that cannot go together, naming
// them all in meta.param_names (param_name is the first); long is the key
// of the long message (error.long.<long>).
func paramsConflict(long string, names ...string) *Error {
	e := newError(http.StatusUnprocessableEntity, "form_param_value_invalid", ErrInvalidParam, "invalid", long)
	e.Meta = map[string]any{"param_name": names[0], "param_names": names}
	return e
}

// notFound reports that no what ("user", "sign in", …) has the id.
func notFound(what string) *Error {
	return newError(http.StatusNotFound, "resource_not_found", ErrNotFound, "not_found", "not_found."+strings.ReplaceAll(what, " ", "_"))
}

// noRoute answers a request no route matches.
func noRoute(r *http.Request) *Error {
	return newError(http.StatusNotFound, "resource_not_found", ErrNotFound, "not_found", "not_found.route", "method", r.Method, "path", r.URL.Path)
}

func verificationExpired() *Error {
	return newError(http.StatusUnprocessableEntity, "verification_expired", ErrExpired, "expired", "verification_expired")
}

func verificationFailed() *Error {
	return newError(http.StatusUnprocessableEntity, "verification_failed", ErrVerificationFailed, "failed", "verification_failed")
}

// codeIncorrect answers a wrong code; remaining is how many more
// attempts the verification allows.
func codeIncorrect(remaining int) *Error {
	e := newError(http.StatusUnprocessableEntity, "form_code_incorrect", ErrCodeIncorrect, "incorrect", "code_incorrect")
	e.Meta = map[string]any{"param_name": "code", "remaining_attempts": remaining}
	return e
}

// failing marks e, the answer to the wrong code that used up a
// verification's last attempt, as failing the verification too:
// errors.Is(e, ErrVerificationFailed) holds, while the code an HTTP
// client sees stays e's (form_code_incorrect with remaining_attempts 0,
// or form_param_format_invalid), and its long message says that was the
// last attempt.
func (e *Error) failing() *Error {
	e.kind = errors.Join(e.kind, ErrVerificationFailed)
	e.long = "code_incorrect_last" // the person must ask for a new code
	e.Message, e.LongMessage = e.text(sourceMessages())
	return e
}

func unauthenticated() *Error {
	return newError(http.StatusUnauthorized, "authentication_invalid", ErrUnauthenticated, "not_signed_in", "not_signed_in")
}

func identifierNotFound() *Error {
	e := newError(http.StatusUnprocessableEntity, "form_identifier_not_found", ErrNoIdentifier, "identifier_not_found", "identifier_not_found")
	e.Meta = map[string]any{"param_name": "identifier"}
	return e
}

func identifierExists() *Error {
	e := newError(http.StatusUnprocessableEntity, "form_identifier_exists", ErrIdentifierExists, "identifier_exists", "identifier_exists")
	e.Meta = map[string]any{"param_name": "email_address"}
	return e
}

// flowConflict refuses what the flow's state does not allow; long is the
// key of the long message (error.long.<long>).
func flowConflict(long string) *Error {
	return newError(http.StatusBadRequest, "verification_status_invalid", ErrConflict, "not_now", long)
}

// userChanged is the error of a change that lost every round to
// concurrent changes of the user it reads (retryApplyOr's exhausted).
func userChanged() error { return flowConflict("user_changed") }

func tooManyRequests(retryAfter int) *Error {
	e := newError(http.StatusTooManyRequests, "too_many_requests", ErrRateLimited, "too_many_requests", "too_many_requests")
	e.RetryAfterSeconds = retryAfter
	return e
}

func metadataTooLarge(param string) *Error {
	return paramError("form_param_exceeds_allowed_size", "too_large", param, "metadata_too_large")
}

func paramUnknown(param string) *Error {
	return paramError("form_param_unknown", "unknown", param, "param_unknown")
}

func primaryNotDeletable() *Error {
	return newError(http.StatusBadRequest, "primary_email_address_not_deletable", ErrConflict, "primary_not_deletable", "primary_not_deletable")
}
