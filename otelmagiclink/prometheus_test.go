package otelmagiclink_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/otelmagiclink"
)

// TestPrometheus: what the Observer is told comes out of the handler in
// the Prometheus text format.
func TestPrometheus(t *testing.T) {
	obs, h, err := otelmagiclink.NewPrometheus(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	obs.Observe(ctx, magiclink.Observation{Kind: magiclink.ObserveFlow, Name: "completed", FlowKind: "sign_in", Strategy: "email_link"})
	obs.Observe(ctx, magiclink.Observation{Kind: magiclink.ObserveLimit, Name: "send"})
	obs.Observe(ctx, magiclink.Observation{Kind: magiclink.ObserveApply, Duration: 3 * time.Millisecond})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	page, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`magiclink_flows_total{`, `kind="sign_in"`, `outcome="completed"`, `strategy="email_link"`,
		`magiclink_limit_refusals_total{`, `rule="send"`,
		`magiclink_store_apply_duration_seconds_count{`,
	} {
		if !strings.Contains(string(page), want) {
			t.Errorf("no %s in:\n%s", want, page)
		}
	}
}
