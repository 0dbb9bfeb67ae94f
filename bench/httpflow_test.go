package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/authtest"
)

// BenchmarkHTTPFlow runs complete sign-ins over loopback HTTP against a
// server in its own process (see serve), on bbolt and on PostgreSQL, by
// 32 concurrent users, each a browser with its own cookie jar: POST
// /auth/sign_ins, POST …/prepare_first_factor (the server mails the link
// to a maildir), a long poll GET /auth/sign_ins/{id}?wait=30 waiting, the
// link's token read from the maildir, POST /auth/verify from the same
// browser, and the long poll's answer (complete, with the session cookie).
// It reports flows/s, the server's CPU time per flow, PostgreSQL's (the
// server pgtest started), and the delay from the confirmation's answer to
// the long poll's (wake, p50 and p99; 0 when the poll answered first).
//
// pg-2 runs two server processes on one database, as two instances behind
// a load balancer: every flow starts and waits on one instance and is
// confirmed on the other, and flows start at most 500 per second in all
// (MAGICLINK_BENCH_PG2_RATE sets another rate).
// Its wake-sent is the delay from sending the confirmation (before the
// confirming commit) to the long poll's answer: an upper bound of the
// delay from that commit, which wake bounds from below.
func BenchmarkHTTPFlow(b *testing.B) {
	const users = 32
	for _, kind := range []string{"bolt", "pg", "pg-2"} {
		b.Run(kind+"/users=32", func(b *testing.B) {
			var bases []string
			var inbox *maildirInbox
			var servers []*server
			pg := kind != "bolt"
			var pace <-chan time.Time
			if kind == "bolt" {
				servers = append(servers, startServer(b, "bolt:"+filepath.Join(b.TempDir(), "magiclink.db"), users, ""))
			} else {
				dsn := pgDSN(b)
				mail := filepath.Join(b.TempDir(), "mail")
				servers = append(servers, startServer(b, "pg:"+dsn, users, mail))
				if kind == "pg-2" {
					servers = append(servers, startServer(b, "pg:"+dsn, 0, mail))
					rate := 500
					if v, err := strconv.Atoi(os.Getenv("MAGICLINK_BENCH_PG2_RATE")); err == nil && v > 0 {
						rate = v
					}
					t := time.NewTicker(time.Second / time.Duration(rate))
					defer t.Stop()
					pace = t.C
				}
			}
			for _, srv := range servers {
				bases = append(bases, srv.base)
			}
			inbox = watchMaildir(b, servers[0].maildir)
			browsers := make([]*httpBrowser, users)
			for i := range browsers {
				browsers[i] = newHTTPBrowser(b, bases, i, fmt.Sprintf("user%d@example.com", i))
			}
			var mu sync.Mutex
			var wakes, wakesSent []time.Duration
			cpu := func() (d time.Duration) {
				for _, srv := range servers {
					d += srv.cpu()
				}
				return d
			}
			cpu0, db0 := cpu(), serverCPU()
			runN(b, len(browsers), func(w, _ int) error {
				if pace != nil {
					<-pace
				}
				wake, sent, err := browsers[w].signIn(inbox)
				if err != nil {
					return err
				}
				mu.Lock()
				wakes, wakesSent = append(wakes, wake), append(wakesSent, sent)
				mu.Unlock()
				return nil
			})
			rate := float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "flows/s")
			b.ReportMetric(float64((cpu()-cpu0).Microseconds())/float64(b.N), "server-cpu-µs/flow")
			if pg {
				b.ReportMetric(float64(db0.since().Microseconds())/float64(b.N), "pg-cpu-µs/flow")
			}
			reportMillis(b, wakes, "wake")
			if len(servers) > 1 {
				reportMillis(b, wakesSent, "wake-sent")
			}
		})
	}
}

// httpBrowser is one user's browser: a cookie jar on the servers. With
// two servers, it starts and waits on one and confirms on the other.
type httpBrowser struct {
	start, confirm, addr string // base URLs and the user's address
	client               *http.Client
}

func newHTTPBrowser(tb testing.TB, bases []string, i int, addr string) *httpBrowser {
	client := authtest.Browser()
	client.Transport = &http.Transport{MaxIdleConnsPerHost: 4}
	return &httpBrowser{start: bases[i%len(bases)], confirm: bases[(i+1)%len(bases)], addr: addr, client: client}
}

// call sends a request to the server at base and returns the answer's
// status and body.
func (br *httpBrowser) call(base, method, path, contentType, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := br.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	return res.StatusCode, data, err
}

// api sends JSON and decodes the JSON answer, which must have status
// 200.
func (br *httpBrowser) api(method, path, body string) (map[string]any, error) {
	status, data, err := br.call(br.start, method, path, "application/json", body)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, status, data)
	}
	var out map[string]any
	return out, json.Unmarshal(data, &out)
}

// signIn runs one complete sign-in and returns the delays from the
// confirmation's answer, and from its sending, to the long poll's answer.
func (br *httpBrowser) signIn(inbox *maildirInbox) (wake, wakeSent time.Duration, err error) {
	si, err := br.api("POST", "/auth/sign_ins", `{"identifier":"`+br.addr+`"}`)
	if err != nil {
		return 0, 0, err
	}
	id, _ := si["id"].(string)
	if _, err := br.api("POST", "/auth/sign_ins/"+id+"/prepare_first_factor", `{"strategy":"email_link","redirect_url":"/done"}`); err != nil {
		return 0, 0, err
	}
	type answer struct {
		at     time.Time
		status any
		err    error
	}
	polled := make(chan answer, 1)
	go func() {
		out, err := br.api("GET", "/auth/sign_ins/"+id+"?wait=30", "")
		polled <- answer{time.Now(), out["status"], err}
	}()
	token, err := inbox.await(br.addr)
	if err != nil {
		return 0, 0, err
	}
	sent := time.Now()
	status, body, err := br.call(br.confirm, "POST", "/auth/verify", "application/x-www-form-urlencoded", "token="+url.QueryEscape(token))
	confirmed := time.Now()
	if err != nil {
		return 0, 0, err
	}
	if status != http.StatusSeeOther {
		return 0, 0, fmt.Errorf("POST /auth/verify: %d %s", status, body)
	}
	p := <-polled
	if p.err != nil {
		return 0, 0, p.err
	}
	if p.status != "complete" {
		return 0, 0, fmt.Errorf("long poll answered %v", p.status)
	}
	return max(0, p.at.Sub(confirmed)), p.at.Sub(sent), nil
}

// maildirInbox reads the messages a server writes into a maildir and
// hands each link's token to whoever awaits mail for its recipient.
type maildirInbox struct {
	byAddr mailboxes[string]
}

var (
	mailTo    = regexp.MustCompile(`(?m)^To: (?:.*<)?([^<>\r\n]+@[^<>\r\n]+?)>?\r?$`)
	mailToken = regexp.MustCompile(`/auth/verify\?token=([A-Za-z0-9_\-]+)`)
)

// watchMaildir reads dir/new every millisecond until tb ends, removing
// each message it has read.
func watchMaildir(tb testing.TB, dir string) *maildirInbox {
	in := &maildirInbox{byAddr: mailboxes[string]{size: 64}}
	done := make(chan struct{})
	stopped := make(chan struct{})
	tb.Cleanup(func() { close(done); <-stopped })
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			for _, sub := range []string{"new", ""} {
				ents, _ := os.ReadDir(filepath.Join(dir, sub))
				for _, e := range ents {
					if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
						continue
					}
					p := filepath.Join(dir, sub, e.Name())
					raw, err := os.ReadFile(p)
					if err != nil {
						continue
					}
					os.Remove(p)
					// Undo quoted-printable: soft line breaks and "=3D".
					raw = bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte("=\r\n"), nil), []byte("=3D"), []byte("="))
					to, tok := mailTo.FindSubmatch(raw), mailToken.FindSubmatch(raw)
					if to == nil || tok == nil {
						continue
					}
					in.inbox(string(to[1])) <- string(tok[1])
				}
			}
		}
	}()
	return in
}

func (in *maildirInbox) inbox(addr string) chan string { return in.byAddr.of(addr) }

// await returns the token of the next link mailed to addr.
func (in *maildirInbox) await(addr string) (string, error) {
	select {
	case tok := <-in.inbox(addr):
		return tok, nil
	case <-time.After(30 * time.Second):
		return "", fmt.Errorf("no link mailed to %s within 30s", addr)
	}
}
