package bench

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tabsEnv sets how many tabs BenchmarkWaitingTabs keeps waiting; default
// 200 (CI); the target is measured with 10000.
const tabsEnv = "MAGICLINK_BENCH_TABS"

// BenchmarkWaitingTabs keeps many tabs waiting at once on one server (a
// process of its own, on bbolt): each tab is a browser that started a
// sign-in (its link mailed) and holds a long poll GET
// /auth/sign_ins/{id}?wait=30 on a connection of its own. With every poll
// waiting, it reads the server's resident memory; then it confirms every
// link as fast as 64 confirmers can (POST /auth/verify from the tab's
// browser) and waits for every tab's answer. It reports the server's
// resident memory per waiting request (rss-KiB/wait: the growth from
// before the polls were opened), the delay from each confirmation's
// answer to its tab's (p50-ms, p99-ms), and how many confirmations per
// second the server took.
func BenchmarkWaitingTabs(b *testing.B) {
	tabs := 200
	if v, err := strconv.Atoi(os.Getenv(tabsEnv)); err == nil && v > 0 {
		tabs = v
	}
	srv := startServer(b, "bolt:"+filepath.Join(b.TempDir(), "magiclink.db"), tabs, "")
	inbox := watchMaildir(b, srv.maildir)
	type tab struct {
		br        *httpBrowser
		id, token string
		confirmed time.Time
		answered  chan time.Time
	}
	all := make([]*tab, tabs)
	// One transport for every tab, so that the connections of finished
	// requests are shared: each waiting poll holds one of its own.
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(transport.CloseIdleConnections)
	eachIndex(b, 32, tabs, func(i int) error {
		br := newHTTPBrowser(b, []string{srv.base}, 0, fmt.Sprintf("user%d@example.com", i))
		br.client.Transport = transport
		si, err := br.api("POST", "/auth/sign_ins", `{"identifier":"`+br.addr+`"}`)
		if err != nil {
			return err
		}
		id, _ := si["id"].(string)
		if _, err := br.api("POST", "/auth/sign_ins/"+id+"/prepare_first_factor", `{"strategy":"email_link","redirect_url":"/done"}`); err != nil {
			return err
		}
		token, err := inbox.await(br.addr)
		if err != nil {
			return err
		}
		all[i] = &tab{br: br, id: id, token: token, answered: make(chan time.Time, 1)}
		return nil
	})
	if b.Failed() {
		return
	}
	rss0 := procRSS(srv.cmd.Process.Pid)
	for _, t := range all {
		go func() {
			_, err := t.br.api("GET", "/auth/sign_ins/"+t.id+"?wait=30", "")
			if err != nil {
				b.Error(err)
			}
			t.answered <- time.Now()
		}()
	}
	// Let every poll reach its wait: until the server's memory stops
	// growing.
	rss1 := rss0
	for range 100 {
		time.Sleep(300 * time.Millisecond)
		r := procRSS(srv.cmd.Process.Pid)
		if r-rss1 < (r-rss0)/100+64<<10 && r > rss0 {
			rss1 = r
			break
		}
		rss1 = r
	}
	if os.Getenv(heapEnv) != "" {
		srv.cmd.Process.Signal(syscall.SIGUSR1)
		time.Sleep(2 * time.Second)
	}
	b.ResetTimer()
	start := time.Now()
	eachIndex(b, 64, tabs, func(i int) error {
		t := all[i]
		status, body, err := t.br.call(t.br.confirm, "POST", "/auth/verify", "application/x-www-form-urlencoded", "token="+url.QueryEscape(t.token))
		t.confirmed = time.Now()
		if err != nil || status != http.StatusSeeOther {
			return fmt.Errorf("POST /auth/verify: %d %s %v", status, body, err)
		}
		return nil
	})
	confirming := time.Since(start)
	delays := make([]time.Duration, 0, tabs)
	for _, t := range all {
		select {
		case at := <-t.answered:
			delays = append(delays, max(0, at.Sub(t.confirmed)))
		case <-time.After(45 * time.Second):
			b.Fatal("a tab was not answered within 45s")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(rss1-rss0)/float64(tabs)/1024, "rss-KiB/wait")
	b.ReportMetric(float64(tabs)/confirming.Seconds(), "confirms/s")
	reportMillis(b, delays, "")
}

// procRSS returns the resident memory of process pid in bytes.
func procRSS(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
