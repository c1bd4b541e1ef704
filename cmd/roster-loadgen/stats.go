package main

import (
	"math"
	"slices"
	"time"
)

// Latencies holds the percentiles of a run's report latencies.
type Latencies struct {
	P50, P90, P99, Max time.Duration
}

// percentile is the nearest-rank percentile of sorted durations: the
// smallest value at or above which p percent of the samples lie. It is 0
// for no samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// summarise sorts samples in place and returns their percentiles.
func summarise(samples []time.Duration) Latencies {
	slices.Sort(samples)
	var l Latencies
	l.P50, l.P90, l.P99 = percentile(samples, 50), percentile(samples, 90), percentile(samples, 99)
	if n := len(samples); n > 0 {
		l.Max = samples[n-1]
	}
	return l
}
