package magiclink

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/magiclink-go/magiclink/store"
)

// maxBodyBytes bounds a request body.
const maxBodyBytes = 16 << 10

// params are a request's parameters, from a JSON object or a form body.
type params map[string]any

// readParams decodes a JSON object or an urlencoded form. Anything else,
// or more than maxBodyBytes, is an *Error.
func readParams(w http.ResponseWriter, r *http.Request) (params, error) {
	body := http.MaxBytesReader(w, r.Body, maxBodyBytes)
	raw, err := io.ReadAll(body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, newError(http.StatusRequestEntityTooLarge, "request_body_too_large", ErrInvalidParam, "body_too_large", "body_too_large")
		}
		return nil, malformed("body_unreadable")
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case ct == "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(raw))
		if err != nil {
			return nil, malformed("form_malformed")
		}
		p := params{}
		for k, v := range vals {
			if len(v) > 0 {
				p[k] = v[0]
			}
		}
		return p, nil
	case ct == "" || ct == "application/json" || strings.HasSuffix(ct, "+json"):
		p := params{}
		if len(strings.TrimSpace(string(raw))) == 0 {
			return p, nil
		}
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		if err := dec.Decode(&p); err != nil || dec.More() {
			return nil, malformed("json_object")
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, malformed("json_single")
		}
		return p, nil
	default:
		return nil, newError(http.StatusUnsupportedMediaType, "unsupported_media_type", ErrInvalidParam, "unsupported_media_type", "unsupported_media_type")
	}
}

// malformed refuses a body that cannot be read; long is the key of the
// long message (error.long.<long>).
func malformed(long string) *Error {
	return newError(http.StatusBadRequest, "malformed_request", ErrInvalidParam, "malformed", long)
}

// readStr reads the body's parameters and the string one named name.
func readStr(w http.ResponseWriter, r *http.Request, name string) (params, string, error) {
	p, err := readParams(w, r)
	if err != nil {
		return nil, "", err
	}
	v, err := p.str(name)
	return p, v, err
}

// str returns the string parameter name; a present non-string is an
// error.
func (p params) str(name string) (string, error) {
	v, ok := p[name]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", paramInvalid(name, "param_string")
	}
	return s, nil
}

// int returns the integer parameter name (a JSON number or a decimal
// string); ok is false when it is absent.
func (p params) int(name string) (n int64, ok bool, err error) {
	v, present := p[name]
	if !present || v == nil {
		return 0, false, nil
	}
	var s string
	switch v := v.(type) {
	case json.Number:
		s = v.String()
	case string:
		s = v
	default:
		return 0, false, paramInvalid(name, "param_integer")
	}
	n, err = strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false, paramInvalid(name, "param_integer")
	}
	return n, true, nil
}

// field is a string parameter and where decode puts it.
type field struct {
	name string
	dst  *string
}

// decode reads string parameters into the fields of a request struct, in
// order, stopping at the first error.
func (p params) decode(fields ...field) error {
	for _, f := range fields {
		s, err := p.str(f.name)
		if err != nil {
			return err
		}
		*f.dst = s
	}
	return nil
}

// prepareParams decodes the body of a prepare route: strategy (required),
// email_address_id where the route takes one (factor), and redirect_url.
func (p params) prepareParams(factor bool) (PrepareParams, error) {
	var pp PrepareParams
	fields := []field{{"strategy", &pp.Strategy}, {"redirect_url", &pp.RedirectURL}}
	if factor {
		fields = append(fields, field{"email_address_id", &pp.EmailAddressID})
	}
	if err := p.decode(fields...); err != nil {
		return pp, err
	}
	if pp.Strategy == "" {
		return pp, paramMissing("strategy")
	}
	return pp, nil
}

// router returns the function that registers on mux a handler that may
// fail, under "METHOD /path" with prefix put before the path; the error
// it returns is answered with writeError.
func (a *Auth) router(mux *http.ServeMux, prefix string) func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
	return func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		method, path, _ := strings.Cut(pattern, " ")
		mux.HandleFunc(method+" "+prefix+path, func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r); err != nil {
				a.writeError(w, r, err)
			}
		})
	}
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// unavailableRetryAfter is the Retry-After, in seconds, of a request
// refused because the store is unavailable. magiclink.js retries such a
// request five times, so its retries span a database restart.
const unavailableRetryAfter = 2

// ErrorFor returns err as the Frontend API would answer the request r
// with it, for an app's own pages that show errors: an *Error whose
// Message and LongMessage are in r's language (its Accept-Language, among
// the built-in catalogues and those Config.Overrides adds). LongMessage
// is the sentence meant for people. An error that is not an *Error (a
// store failure) is logged on Config.Logger (which discards it when nil)
// and becomes internal_error (500), or
// service_unavailable (503, with RetryAfterSeconds) when the store could
// not serve for now (store.ErrUnavailable): its detail never reaches the
// answer. ErrorFor(r, nil) is nil.
func (a *Auth) ErrorFor(r *http.Request, err error) *Error {
	if err == nil {
		return nil
	}
	e := AsError(err)
	if e == nil && r.Context().Err() != nil {
		// The request was cut off (the client left, or the server is
		// shutting down): say so, in case someone still listens.
		e = newError(http.StatusServiceUnavailable, "request_interrupted", nil, "interrupted", "interrupted")
		e.RetryAfterSeconds = 1
	}
	if e == nil && errors.Is(err, store.ErrUnavailable) {
		// The database is down, restarting, read-only or out of disk:
		// nothing was written, and the same request may work shortly.
		a.log.Warn("magiclink: store unavailable", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
		e = newError(http.StatusServiceUnavailable, "service_unavailable", nil, "unavailable", "unavailable")
		e.RetryAfterSeconds = unavailableRetryAfter
	}
	if e == nil {
		a.log.Error("magiclink: request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
		e = newError(http.StatusInternalServerError, "internal_error", nil, "internal", "internal")
	}
	return e.in(a.msgs(a.requestLocale(r)))
}

// writeError answers with err in the API's error shape (see ErrorFor).
func (a *Auth) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := a.ErrorFor(r, err)
	if e.RetryAfterSeconds > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfterSeconds))
	}
	writeJSON(w, e.Status, struct {
		Errors []*Error `json:"errors"`
	}{[]*Error{e}})
}
