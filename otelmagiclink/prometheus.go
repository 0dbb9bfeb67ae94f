package otelmagiclink

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/trace"
)

// NewPrometheus returns an Observer whose metrics handler serves in the
// Prometheus text format, through the OpenTelemetry Prometheus exporter
// and a registry of its own. Spans go to tp (nil: the global provider).
// Mount the handler where Prometheus scrapes, usually on an address of
// its own, not on the app's public one.
func NewPrometheus(tp trace.TracerProvider) (*Observer, http.Handler, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, nil, err
	}
	o, err := New(Config{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)), TracerProvider: tp})
	if err != nil {
		return nil, nil, err
	}
	return o, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}
