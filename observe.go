package magiclink

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// Observer receives what happens inside an Auth, for metrics and traces;
// the otelmagiclink module implements it with OpenTelemetry. Its methods
// are called on hot paths, concurrently: they must be quick and must not
// block.
type Observer interface {
	// Observe records one occurrence.
	Observe(ctx context.Context, o Observation)
	// Start begins a span of work (an API request, a store Apply) named
	// op, and returns the context to run it under and the function that
	// ends it with its error (nil: success).
	Start(ctx context.Context, op string) (context.Context, func(err error))
}

// ObservationKind says what an Observation counts.
type ObservationKind string

// The kinds of Observation, with the Names each takes.
const (
	// ObserveFlow: a sign-in, sign-up or email verification (FlowKind,
	// Strategy) "started", "completed", "expired" or "failed".
	ObserveFlow ObservationKind = "flow"
	// ObserveSend: an email (Name the message kind) "ok" or "failed" in
	// Outcome.
	ObserveSend ObservationKind = "send"
	// ObserveLimit: a request refused by the rate limit rule Name.
	ObserveLimit ObservationKind = "limit"
	// ObserveWebhook: a delivery to Endpoint "ok", "failed", "retried" or
	// "gave_up".
	ObserveWebhook ObservationKind = "webhook"
	// ObserveWaiting: a long poll began (Value 1) or ended (Value -1).
	ObserveWaiting ObservationKind = "waiting"
	// ObserveWake: a waiting request learned of its link's confirmation
	// after Duration.
	ObserveWake ObservationKind = "wake"
	// ObserveApply: a store Apply took Duration.
	ObserveApply ObservationKind = "apply"
)

// Observation is one thing an Observer is told.
type Observation struct {
	Kind ObservationKind
	// Name refines Kind (see the kinds).
	Name string
	// FlowKind is "sign_in", "sign_up" or "verify_email", for flows.
	FlowKind string
	// Strategy is the flow's verification strategy, for flows.
	Strategy string
	// Outcome is "ok" or "failed", for sends.
	Outcome string
	// Endpoint is the webhook endpoint's id, for webhooks.
	Endpoint string
	// Value is the change of a gauge.
	Value float64
	// Duration is a latency.
	Duration time.Duration
}

// observe tells the configured Observer, if any.
func (a *Auth) observe(ctx context.Context, o Observation) {
	if a.cfg.Observer != nil {
		a.cfg.Observer.Observe(ctx, o)
	}
}

// observeFlow tells the Observer that a flow of kind went through
// outcome ("started", "completed", "expired", "failed").
func (a *Auth) observeFlow(ctx context.Context, kind flowKind, strategy, outcome string) {
	if strategy == "" {
		strategy = StrategyEmailLink
	}
	a.observe(ctx, Observation{Kind: ObserveFlow, Name: outcome, FlowKind: string(kind), Strategy: strategy})
}

// observeSettled tells the Observer how the verification of f by
// strategy ended: "completed" when verified, else "failed".
func (a *Auth) observeSettled(ctx context.Context, f *flowRec, strategy string) {
	outcome := "failed"
	if f.Ver.Status == string(VerificationVerified) {
		outcome = "completed"
	}
	a.observeFlow(ctx, f.Kind, strategy, outcome)
}

// observedStore times every Apply for the Observer, in a span of its own.
// It passes on the optional interfaces of the store it wraps.
type observedStore struct {
	store.Store
	o Observer
}

func (s *observedStore) Apply(ctx context.Context, ops ...store.Op) error {
	start := time.Now()
	ctx, end := s.o.Start(ctx, "store.Apply")
	err := s.Store.Apply(ctx, ops...)
	end(err)
	s.o.Observe(ctx, Observation{Kind: ObserveApply, Duration: time.Since(start)})
	return err
}

// ListFrom passes store.RangeLister on.
func (s *observedStore) ListFrom(ctx context.Context, prefix, from string, limit int) ([]store.Item, error) {
	return store.ListFrom(ctx, s.Store, prefix, from, limit)
}

// Exclusive passes store.Exclusive on.
func (s *observedStore) Exclusive() bool {
	e, ok := s.Store.(store.Exclusive)
	return ok && e.Exclusive()
}

// traced wraps the handler of mux's routes in a span per request, named
// by its method and route pattern, when an Observer is set. An answer of
// 500 or more ends the span with an error.
func (a *Auth) traced(mux *http.ServeMux, next http.Handler) http.Handler {
	o := a.cfg.Observer
	if o == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		if pattern == "" {
			pattern = r.Method + " (no route)"
		}
		ctx, end := o.Start(r.Context(), pattern)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r.WithContext(ctx))
		var err error
		if sw.status >= 500 {
			err = errors.New(http.StatusText(sw.status))
		}
		end(err)
	})
}

// statusWriter records the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the wrapped writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// QueueDepth returns how many emails the outbox holds and how many event
// deliveries (webhooks and subscribers) are queued, for metrics. It lists
// both queues: call it at the pace of a metrics scrape, not per request.
func (a *Auth) QueueDepth(ctx context.Context) (emails, events int, err error) {
	out, err := a.st.List(ctx, keyOutbox, 0)
	if err != nil {
		return 0, 0, err
	}
	dl, err := a.st.List(ctx, keyDelivery, 0)
	if err != nil {
		return 0, 0, err
	}
	return len(out), len(dl), nil
}
