package magiclink

import (
	"context"
	"time"
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
