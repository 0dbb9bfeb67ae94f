package demo

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/magiclink-go/magiclink"
)

// promObserver is the magiclink.Observer behind -metrics: it counts in
// memory and serves the counts in the Prometheus text format, under the
// names otelmagiclink's metrics get from OpenTelemetry's Prometheus
// exporter (durations as a sum and a count, not histograms). Module
// otelmagiclink does the same through OpenTelemetry, for apps that use it;
// the example stays on the standard library, so that the root module
// builds without OpenTelemetry.
type promObserver struct {
	mu     sync.Mutex
	series map[string]float64 // `name{label="value",…}` → value
	auth   *magiclink.Auth    // for the outbox depth; set once magiclink is up
}

func newPromObserver() *promObserver { return &promObserver{series: map[string]float64{}} }

// add adds v to the series name with labels (name, value, name, value, …).
func (p *promObserver) add(name string, v float64, labels ...string) {
	key := name
	if len(labels) > 0 {
		var b strings.Builder
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s=%q", labels[i], labels[i+1])
		}
		key += "{" + b.String() + "}"
	}
	p.mu.Lock()
	p.series[key] += v
	p.mu.Unlock()
}

// Observe implements magiclink.Observer.
func (p *promObserver) Observe(_ context.Context, o magiclink.Observation) {
	switch o.Kind {
	case magiclink.ObserveFlow:
		p.add("magiclink_flows_total", 1, "kind", o.FlowKind, "strategy", o.Strategy, "outcome", o.Name)
	case magiclink.ObserveSend:
		p.add("magiclink_emails_total", 1, "kind", o.Name, "outcome", o.Outcome)
	case magiclink.ObserveLimit:
		p.add("magiclink_limit_refusals_total", 1, "rule", o.Name)
	case magiclink.ObserveWebhook:
		p.add("magiclink_webhook_deliveries_total", 1, "endpoint", o.Endpoint, "outcome", o.Name)
	case magiclink.ObserveWaiting:
		p.add("magiclink_waiting", o.Value)
	case magiclink.ObserveWake:
		p.add("magiclink_wake_duration_seconds_sum", o.Duration.Seconds())
		p.add("magiclink_wake_duration_seconds_count", 1)
	case magiclink.ObserveApply:
		p.add("magiclink_store_apply_duration_seconds_sum", o.Duration.Seconds())
		p.add("magiclink_store_apply_duration_seconds_count", 1)
	}
}

// Start implements magiclink.Observer; the example records no spans.
func (p *promObserver) Start(ctx context.Context, _ string) (context.Context, func(error)) {
	return ctx, func(error) {}
}

// ServeHTTP writes every series, and the outbox's depth, one per line.
func (p *promObserver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	auth := p.auth
	p.mu.Unlock()
	if auth != nil {
		if emails, events, err := auth.QueueDepth(r.Context()); err == nil {
			p.mu.Lock()
			p.series[`magiclink_outbox_depth{queue="emails"}`] = float64(emails)
			p.series[`magiclink_outbox_depth{queue="events"}`] = float64(events)
			p.mu.Unlock()
		}
	}
	p.mu.Lock()
	lines := make([]string, 0, len(p.series))
	for k, v := range p.series {
		lines = append(lines, fmt.Sprintf("%s %g\n", k, v))
	}
	p.mu.Unlock()
	slices.Sort(lines)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	for _, l := range lines {
		fmt.Fprint(w, l)
	}
}
