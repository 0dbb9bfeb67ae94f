package demo

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/magiclink-go/magiclink"
)

// webhookEndpoints returns the -webhook endpoint, which receives every
// event type, signed with -webhook-secret (or MAGICLINK_WEBHOOK_SECRET).
// magiclink refuses an http URL to a host that is not loopback unless
// -webhook-insecure.
func webhookEndpoints(o *options) ([]magiclink.WebhookEndpoint, error) {
	secret := o.webhookSecret
	if secret == "" {
		secret = os.Getenv("MAGICLINK_WEBHOOK_SECRET")
	}
	if o.webhook == "" {
		if o.webhookSecret != "" || o.webhookInsecure {
			return nil, errors.New("-webhook-secret and -webhook-insecure go with -webhook URL")
		}
		return nil, nil
	}
	if secret == "" {
		return nil, errors.New("-webhook needs -webhook-secret whsec_… (or MAGICLINK_WEBHOOK_SECRET): 24 to 64 random bytes in base64 after whsec_")
	}
	return []magiclink.WebhookEndpoint{{URL: o.webhook, Secrets: []string{secret}, AllowInsecure: o.webhookInsecure}}, nil
}

// metrics is the -metrics server: Prometheus text at /metrics.
type metrics struct {
	obs *promObserver
	srv *http.Server
	ln  net.Listener
}

// newMetrics listens on addr ("" : no metrics) and returns the observer
// to give magiclink; serve starts answering once magiclink is up.
func newMetrics(addr string, logger *slog.Logger) (*metrics, error) {
	if addr == "" {
		return nil, nil
	}
	obs := newPromObserver()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", obs)
	return &metrics{obs: obs, srv: newServer(mux, logger), ln: ln}, nil
}

// observer is the magiclink.Observer of m, nil without -metrics.
func (m *metrics) observer() magiclink.Observer {
	if m == nil {
		return nil
	}
	return m.obs
}

// serve counts auth's outbox depth too and serves until close.
func (m *metrics) serve(auth *magiclink.Auth, logger *slog.Logger) error {
	if m == nil {
		return nil
	}
	m.obs.mu.Lock()
	m.obs.auth = auth
	m.obs.mu.Unlock()
	go func() {
		if err := m.srv.Serve(m.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server", slog.Any("error", err))
		}
	}()
	return nil
}

func (m *metrics) close() {
	if m != nil {
		m.srv.Close()
		m.ln.Close()
	}
}
