// Package otelmagiclink reports what a magiclink.Auth does as OpenTelemetry
// metrics and spans. It implements magiclink.Observer and lives in a module
// of its own, so that the magiclink module stays free of OpenTelemetry.
//
//	obs, err := otelmagiclink.New(otelmagiclink.Config{})  // the global providers
//	auth, err := magiclink.New(magiclink.Config{..., Observer: obs})
//	err = obs.ObserveQueues(auth)                          // the outbox depth gauge
//
// Metrics (instrumentation scope github.com/magiclink-go/magiclink):
//
//	magiclink.flows                 counter   flows by kind, strategy and outcome (started, completed, expired, failed)
//	magiclink.emails                counter   emails handed to the mailer, by kind and outcome (ok, failed)
//	magiclink.limit.refusals        counter   requests refused by a rate limit, by rule
//	magiclink.webhook.deliveries    counter   webhook attempts by endpoint and outcome (ok, failed, retried, gave_up)
//	magiclink.waiting               up-down   long polls waiting now
//	magiclink.outbox.depth          gauge     emails and events queued, by queue (emails, events)
//	magiclink.wake.duration         histogram seconds from a link's confirmation to the waiting tab's answer
//	magiclink.store.apply.duration  histogram seconds of a store Apply
//
// Spans: one per Frontend and Backend API request ("magiclink <method> <route>")
// and one per store Apply ("magiclink store.Apply").
package otelmagiclink

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/magiclink-go/magiclink"
)

// scope names the instrumentation.
const scope = "github.com/magiclink-go/magiclink"

// Config chooses the providers; nil fields mean the global ones.
type Config struct {
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
}

// Observer is a magiclink.Observer backed by OpenTelemetry.
type Observer struct {
	meter    metric.Meter
	tracer   trace.Tracer
	flows    metric.Int64Counter
	emails   metric.Int64Counter
	limits   metric.Int64Counter
	webhooks metric.Int64Counter
	waiting  metric.Int64UpDownCounter
	wake     metric.Float64Histogram
	apply    metric.Float64Histogram
}

var _ magiclink.Observer = (*Observer)(nil)

// New creates the instruments.
func New(cfg Config) (*Observer, error) {
	mp, tp := cfg.MeterProvider, cfg.TracerProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	o := &Observer{meter: mp.Meter(scope), tracer: tp.Tracer(scope)}
	var err error
	counter := func(name, desc string) metric.Int64Counter {
		c, e := o.meter.Int64Counter(name, metric.WithDescription(desc))
		if err == nil {
			err = e
		}
		return c
	}
	histogram := func(name, desc string) metric.Float64Histogram {
		h, e := o.meter.Float64Histogram(name, metric.WithDescription(desc), metric.WithUnit("s"))
		if err == nil {
			err = e
		}
		return h
	}
	o.flows = counter("magiclink.flows", "Sign-ins, sign-ups and email verifications by kind, strategy and outcome.")
	o.emails = counter("magiclink.emails", "Emails handed to the mailer, by kind and outcome.")
	o.limits = counter("magiclink.limit.refusals", "Requests refused by a rate limit, by rule.")
	o.webhooks = counter("magiclink.webhook.deliveries", "Webhook delivery attempts by endpoint and outcome.")
	o.wake = histogram("magiclink.wake.duration", "Time from a link's confirmation to the waiting request's answer.")
	o.apply = histogram("magiclink.store.apply.duration", "Duration of store Apply calls.")
	if err != nil {
		return nil, err
	}
	if o.waiting, err = o.meter.Int64UpDownCounter("magiclink.waiting", metric.WithDescription("Long polls waiting for a flow to change.")); err != nil {
		return nil, err
	}
	return o, nil
}

// Observe records one observation.
func (o *Observer) Observe(ctx context.Context, ob magiclink.Observation) {
	switch ob.Kind {
	case magiclink.ObserveFlow:
		o.flows.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", ob.FlowKind),
			attribute.String("strategy", ob.Strategy), attribute.String("outcome", ob.Name)))
	case magiclink.ObserveSend:
		o.emails.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", ob.Name), attribute.String("outcome", ob.Outcome)))
	case magiclink.ObserveLimit:
		o.limits.Add(ctx, 1, metric.WithAttributes(attribute.String("rule", ob.Name)))
	case magiclink.ObserveWebhook:
		o.webhooks.Add(ctx, 1, metric.WithAttributes(attribute.String("endpoint", ob.Endpoint), attribute.String("outcome", ob.Name)))
	case magiclink.ObserveWaiting:
		o.waiting.Add(ctx, int64(ob.Value))
	case magiclink.ObserveWake:
		o.wake.Record(ctx, ob.Duration.Seconds())
	case magiclink.ObserveApply:
		o.apply.Record(ctx, ob.Duration.Seconds())
	}
}

// Start begins a span named "magiclink " + op.
func (o *Observer) Start(ctx context.Context, op string) (context.Context, func(error)) {
	ctx, span := o.tracer.Start(ctx, "magiclink "+op)
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

// ObserveQueues registers the magiclink.outbox.depth gauge of auth: the
// emails and the event deliveries queued, read from its store each time
// metrics are collected.
func (o *Observer) ObserveQueues(auth *magiclink.Auth) error {
	g, err := o.meter.Int64ObservableGauge("magiclink.outbox.depth", metric.WithDescription("Emails and event deliveries queued, by queue."))
	if err != nil {
		return err
	}
	_, err = o.meter.RegisterCallback(func(ctx context.Context, obs metric.Observer) error {
		emails, events, err := auth.QueueDepth(ctx)
		if err != nil {
			return err
		}
		obs.ObserveInt64(g, int64(emails), metric.WithAttributes(attribute.String("queue", "emails")))
		obs.ObserveInt64(g, int64(events), metric.WithAttributes(attribute.String("queue", "events")))
		return nil
	}, g)
	return err
}
