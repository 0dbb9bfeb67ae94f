package otelmagiclink_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/authtest"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/otelmagiclink"
	"github.com/magiclink-go/magiclink/store/memstore"
	"github.com/magiclink-go/magiclink/webhook"
)

// TestMetricsAndSpans drives a sign-up whose tab waits for the link, a
// second send refused by the address cooldown, and a webhook delivery,
// and reads what the SDK's in-memory reader and span recorder got.
func TestMetricsAndSpans(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewSpanRecorder()
	obs, err := otelmagiclink.New(otelmagiclink.Config{
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
	})
	if err != nil {
		t.Fatal(err)
	}
	delivered := make(chan struct{}, 16)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { delivered <- struct{}{} }))
	defer rcv.Close()
	mail := mailtest.New()
	srv := httptest.NewUnstartedServer(nil)
	auth, err := magiclink.New(magiclink.Config{BaseURL: "http://" + srv.Listener.Addr().String(), Store: memstore.New(memstore.Config{}),
		Mailer: mail, Observer: obs, AllowCrossClient: true, // confirmed by a plain HTTP client
		Webhooks: []magiclink.WebhookEndpoint{{URL: rcv.URL, Secrets: []string{webhook.NewSecret()}, Types: []magiclink.EventType{magiclink.EventUserCreated}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer auth.Close()
	if err := obs.ObserveQueues(auth); err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = auth.Handler()
	srv.Start()
	defer srv.Close()

	ctx := context.Background()
	client := authtest.Client(t, auth)
	su, err := auth.SignUps.Create(ctx, client, magiclink.SignUpParams{EmailAddress: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := su.StartMagicLinkFlow(ctx, magiclink.FlowParams{})
		done <- err
	}()
	msgs, err := mail.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(msgs[0].Link)
	if _, err := su.PrepareVerification(ctx, magiclink.PrepareParams{}); magiclink.AsError(err) == nil || magiclink.AsError(err).Code != "too_many_requests" {
		t.Fatalf("a second send at once: %v; want too_many_requests", err)
	}
	// The confirmation over HTTP (a span), which wakes the waiting flow.
	res, err := http.PostForm(srv.URL+"/auth/verify", url.Values{"token": {u.Query().Get("token")}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the waiting flow was not woken (confirm answered %d %s)", res.StatusCode, res.Header.Get("Location"))
	}
	select {
	case <-delivered:
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook delivery")
	}
	// The delivery's outcome is recorded after the answer: wait for it.
	var rm metricdata.ResourceMetrics
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := reader.Collect(ctx, &rm); err != nil {
			t.Fatal(err)
		}
		if sum(rm, "magiclink.webhook.deliveries", "outcome", "ok") == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	for _, c := range []struct {
		metric, key, value string
		want               int64
	}{
		{"magiclink.flows", "outcome", "started", 1},
		{"magiclink.flows", "outcome", "completed", 1},
		{"magiclink.emails", "outcome", "ok", 1},
		{"magiclink.limit.refusals", "rule", "send", 1},
		{"magiclink.webhook.deliveries", "outcome", "ok", 1},
		{"magiclink.waiting", "", "", 0}, // the one waiter has returned
	} {
		if got := sum(rm, c.metric, c.key, c.value); got != c.want {
			t.Errorf("%s{%s=%s} = %d, want %d", c.metric, c.key, c.value, got, c.want)
		}
	}
	if n := histogramCount(rm, "magiclink.wake.duration"); n != 1 {
		t.Errorf("wake latency recorded %d times, want 1", n)
	}
	if n := histogramCount(rm, "magiclink.store.apply.duration"); n < 3 {
		t.Errorf("store Apply latency recorded %d times", n)
	}
	if !has(rm, "magiclink.outbox.depth") {
		t.Error("no outbox depth gauge")
	}
	names := map[string]int{}
	for _, s := range spans.Ended() {
		names[s.Name()]++
	}
	if names["magiclink POST /auth/verify"] != 1 || names["magiclink store.Apply"] < 3 {
		t.Errorf("spans %v", names)
	}
}

// sum adds up the data points of a counter (or up-down counter) whose
// attribute key is value (key "": all points).
func sum(rm metricdata.ResourceMetrics, name, key, value string) int64 {
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			if s, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range s.DataPoints {
					if v, ok := dp.Attributes.Value(attribute.Key(key)); key == "" || (ok && v.AsString() == value) {
						n += dp.Value
					}
				}
			}
		}
	}
	return n
}

func histogramCount(rm metricdata.ResourceMetrics, name string) uint64 {
	var n uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == name {
				for _, dp := range h.DataPoints {
					n += dp.Count
				}
			}
		}
	}
	return n
}

func has(rm metricdata.ResourceMetrics, name string) bool {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return true
			}
		}
	}
	return false
}
