#!/usr/bin/env bash
# Runs magiclink's benchmarks (peers, disk ceiling, flows, wake-up, verify)
# in one invocation and prints the machine, the command line, the benchstat
# table and the ratios that BENCHMARKS.md reports.
#
# Usage: bench/run.sh [count]
#   count      runs of each benchmark (default 6; benchstat wants >= 6)
#   BENCHTIME  -benchtime of each run (default 1s)
#   BENCH      -bench pattern (default: session check, fsync, flows, wake-ups
#              and verify, on bbolt; the
#              PostgreSQL, HTTP, growth and tab benchmarks have their own
#              commands in BENCHMARKS.md)
#   OUT        file to keep the raw results in (default: a temporary file)
set -euo pipefail
cd "$(dirname "$0")"

count="${1:-${COUNT:-6}}"
benchtime="${BENCHTIME:-1s}"
pattern="${BENCH:-^Benchmark(SessionCheck|Fsync|Flow|Wakeup|VerifyHTTP)$}"
out="${OUT:-$(mktemp "${TMPDIR:-/tmp}/magiclink-bench.XXXXXX")}"
tmp="${TMPDIR:-/tmp}"

echo "## machine"
echo "cpus:       $(nproc)"
echo "cpu model:  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "kernel:     $(uname -sr)"
echo "go:         $(go version | cut -d' ' -f3-)"
echo "filesystem: $(df -T "$tmp" | awk 'NR == 2 { print $2 }') (the temporary folder, where every benchmark's files live)"
echo "peers:      $(go list -m -f '{{.Path}} {{.Version}}' github.com/alexedwards/scs/v2 github.com/gorilla/sessions go.etcd.io/bbolt | paste -sd, - | sed 's/,/, /g')"
echo "load avg:   $(cut -d' ' -f1-3 /proc/loadavg) (before)"
echo
cmd=(go test -run '^$' -bench "$pattern" -benchmem -count "$count" -benchtime "$benchtime" -timeout 60m .)
echo "## command"
echo "(cd bench && ${cmd[*]})"
echo
"${cmd[@]}" >"$out"
echo "load avg:   $(cut -d' ' -f1-3 /proc/loadavg) (after)"
echo
echo "## benchstat"
go tool benchstat "results=$out"
echo
echo "## ratios (medians of the $count runs)"
awk '
function median(key,    n, i, j, t, v) {
	n = cnt[key]
	if (n == 0) return ""
	for (i = 1; i <= n; i++) v[i] = val[key, i]
	for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
	return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function worst(key,    n, i, m) {
	n = cnt[key]; m = 0
	for (i = 1; i <= n; i++) if (val[key, i] > m) m = val[key, i]
	return m
}
function verdict(ok) { return ok ? "met" : "MISSED" }
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name); sub(/^Benchmark/, "", name)
	for (i = 3; i < NF; i += 2) { key = name SUBSEP $(i + 1); val[key, ++cnt[key]] = $i }
}
END {
	m = median("SessionCheck/magiclink" SUBSEP "ns/op")
	s = median("SessionCheck/scs" SUBSEP "ns/op")
	g = median("SessionCheck/gorilla" SUBSEP "ns/op")
	if (m != "") {
		printf "session check: magiclink %.2f µs/op, %d allocs/op; scs %.2f µs/op (%.1fx magiclink); gorilla %.2f µs/op (%.1fx magiclink)\n",
			m / 1e3, median("SessionCheck/magiclink" SUBSEP "allocs/op"), s / 1e3, s / m, g / 1e3, g / m
		printf "  target <= 2 µs/op: %s; >= 8x faster than both: %s\n", verdict(m <= 2000), verdict(s / m >= 8 && g / m >= 8)
		mc = median("SessionCheck/magiclink" SUBSEP "cpu-ns/op")
		sc = median("SessionCheck/scs" SUBSEP "cpu-ns/op")
		gc = median("SessionCheck/gorilla" SUBSEP "cpu-ns/op")
		if (mc != "") printf "  CPU time per request: magiclink %.2f µs, scs %.2f µs (%.1fx), gorilla %.2f µs (%.1fx)\n", mc / 1e3, sc / 1e3, sc / mc, gc / 1e3, gc / mc
	}
	f = median("Fsync" SUBSEP "fsyncs/s")
	if (f != "") printf "fsync ceiling: %.0f durable 4 KiB writes/s (%.0f µs each)\n", f, 1e6 / f
	split("1 8 64", callers, " ")
	for (i = 1; i <= 3; i++) {
		r = median("Flow/callers=" callers[i] SUBSEP "flows/s")
		if (r == "") continue
		c = median("Flow/callers=" callers[i] SUBSEP "cpu-µs/flow")
		printf "flows, %2d callers: %.0f flows/s, %.3f flows per fsync (ratio to the ceiling measured in this run), %.0f µs of CPU per flow (CPU alone allows %.0f flows/s on %d cores)\n",
			callers[i], r, median("Flow/callers=" callers[i] SUBSEP "flows/fsync"), c, ncpu * 1e6 / c, ncpu
		if (callers[i] == 64) printf "  target >= 3000 flows/s at 64 callers: %s\n", verdict(r >= 3000)
	}
	split("flow longpoll", kinds, " ")
	for (i = 1; i <= 2; i++) {
		p = median("Wakeup/" kinds[i] SUBSEP "p99-µs")
		if (p == "") continue
		printf "wake-up, %-8s: p50 %.0f µs, p99 %.0f µs (worst run %.0f µs)\n", kinds[i],
			median("Wakeup/" kinds[i] SUBSEP "p50-µs"), p, worst("Wakeup/" kinds[i] SUBSEP "p99-µs")
		printf "  target p99 <= 5 ms: %s\n", verdict(p <= 5000)
	}
	v = median("VerifyHTTP" SUBSEP "ns/op")
	if (v != "") printf "POST /auth/verify over loopback: %.0f µs/op\n", v / 1e3
}' ncpu="$(nproc)" "$out"
echo
echo "raw results: $out"
