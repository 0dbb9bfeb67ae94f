// Package benchmetric reports latency percentiles as benchmark metrics,
// for the benchmarks of several modules.
package benchmetric

import (
	"slices"
	"testing"
	"time"
)

// Percentiles sorts ds and reports its median and 99th percentile as b's
// metrics prefix+"p50-"+unit and prefix+"p99-"+unit, in multiples of per
// (time.Millisecond with unit "ms", say). It reports nothing for an empty
// ds.
func Percentiles(b *testing.B, ds []time.Duration, prefix string, per time.Duration, unit string) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))]) / float64(per)
	}
	b.ReportMetric(at(0.50), prefix+"p50-"+unit)
	b.ReportMetric(at(0.99), prefix+"p99-"+unit)
}
