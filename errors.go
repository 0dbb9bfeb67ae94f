package magiclink

import (
	"errors"
	"net/http"
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
// Status is the HTTP status it is served with.
type Error struct {
	Status      int
	Code        string
	Message     string
	LongMessage string
	Meta        map[string]any
	// RetryAfter is set for too_many_requests: how long to wait.
	RetryAfterSeconds int
	kind              error
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

func paramInvalid(param, long string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "form_param_format_invalid",
		Message: "is invalid", LongMessage: long, Meta: map[string]any{"param_name": param}, kind: ErrInvalidParam}
}

func paramMissing(param string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "form_param_missing",
		Message: "is missing", LongMessage: param + " must be included.", Meta: map[string]any{"param_name": param}, kind: ErrInvalidParam}
}

func paramValue(param, long string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "form_param_value_invalid",
		Message: "is invalid", LongMessage: long, Meta: map[string]any{"param_name": param}, kind: ErrInvalidParam}
}

// paramsConflict refuses parameters that cannot go together, naming
// them all in meta.param_names (param_name is the first).
func paramsConflict(long string, names ...string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "form_param_value_invalid",
		Message: "is invalid", LongMessage: long, Meta: map[string]any{"param_name": names[0], "param_names": names}, kind: ErrInvalidParam}
}

func notFound(what string) *Error {
	return &Error{Status: http.StatusNotFound, Code: "resource_not_found",
		Message: "not found", LongMessage: "No " + what + " was found with this id.", kind: ErrNotFound}
}

func verificationExpired() *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "verification_expired",
		Message: "expired", LongMessage: "This verification has expired. Request a new code.", kind: ErrExpired}
}

func verificationFailed() *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "verification_failed",
		Message: "failed", LongMessage: "This verification has failed: too many incorrect codes, or it was superseded. Request a new code.", kind: ErrVerificationFailed}
}

// codeIncorrect answers a wrong code; remaining is how many more
// attempts the verification allows.
func codeIncorrect(remaining int) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "form_code_incorrect",
		Message: "is incorrect", LongMessage: "The code is incorrect.",
		Meta: map[string]any{"param_name": "code", "remaining_attempts": remaining}, kind: ErrCodeIncorrect}
}

func unauthenticated() *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "authentication_invalid",
		Message: "not signed in", LongMessage: "You need to be signed in.", kind: ErrUnauthenticated}
}

func identifierNotFound() *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "form_identifier_not_found",
		Message: "Couldn't find your account.", LongMessage: "No account uses this email address.",
		Meta: map[string]any{"param_name": "identifier"}, kind: ErrNoIdentifier}
}

func identifierExists() *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "form_identifier_exists",
		Message: "That email address is taken. Please try another.", LongMessage: "That email address is taken. Please try another.",
		Meta: map[string]any{"param_name": "email_address"}, kind: ErrIdentifierExists}
}

func flowConflict(long string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "verification_status_invalid",
		Message: "cannot be done now", LongMessage: long, kind: ErrConflict}
}

func tooManyRequests(retryAfter int) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: "too_many_requests",
		Message: "Too many requests. Please try again in a bit.", LongMessage: "Too many requests. Please try again in a bit.",
		RetryAfterSeconds: retryAfter, kind: ErrRateLimited}
}
