// Command webhookreceiver is a runnable receiver of magiclink's webhooks:
// it verifies each delivery with package webhook, skips the ones it has
// already seen (by webhook-id: delivery is at least once) and prints the
// event.
//
//	go run ./examples/webhookreceiver -addr localhost:9090 &
//	go run ./examples/basic -webhook http://localhost:9090/webhooks -webhook-secret "$MAGICLINK_WEBHOOK_SECRET"
//
// The secret comes from the environment variable MAGICLINK_WEBHOOK_SECRET
// (whsec_…); with none, one is generated and printed for the app's
// -webhook-secret.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/magiclink-go/magiclink/webhook"
)

// maxBody bounds a delivery's body; magiclink's are a few KiB.
const maxBody = 1 << 20

func main() {
	addr := flag.String("addr", "localhost:9090", "listen `address`")
	flag.Parse()
	secret := os.Getenv("MAGICLINK_WEBHOOK_SECRET")
	if secret == "" {
		secret = webhook.NewSecret()
		fmt.Printf("MAGICLINK_WEBHOOK_SECRET=%s\n", secret) // generated for this run, to pass to the app
	}
	if _, err := webhook.ParseSecret(secret); err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	srv := &http.Server{Addr: *addr, Handler: newReceiver(secret, os.Stdout), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Printf("receiving webhooks at http://%s/webhooks\n", *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// newReceiver returns the handler of POST /webhooks, printing each new
// event to out.
func newReceiver(secret string, out io.Writer) http.Handler {
	var mu sync.Mutex
	seen := map[string]bool{} // a real receiver keeps these in its database, for as long as retries last (a day)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhooks", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := webhook.Verify(secret, r.Header, body); err != nil {
			http.Error(w, "invalid signature", http.StatusBadRequest)
			return
		}
		id := r.Header.Get(webhook.HeaderID)
		mu.Lock()
		dup := seen[id]
		seen[id] = true
		mu.Unlock()
		if dup {
			w.WriteHeader(http.StatusNoContent) // already handled: acknowledge again
			return
		}
		var ev struct {
			Type      string          `json:"type"`
			Timestamp int64           `json:"timestamp"`
			Data      json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "not an event", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(out, "%s %s %s %s\n", time.UnixMilli(ev.Timestamp).UTC().Format(time.RFC3339), id, ev.Type, ev.Data)
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}
