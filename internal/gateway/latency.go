package gateway

import "time"

// LatencyBuckets is the number of buckets of a LatencyHistogram.
const LatencyBuckets = 18

// latencyBase is the upper bound of the first bucket; each next bucket's
// bound doubles, so the last bounded one ends at 5ms·2^16 ≈ 5.5 minutes and
// the final bucket takes everything longer.
const latencyBase = 5 * time.Millisecond

// LatencyBound returns the exclusive upper bound of bucket i; the last
// bucket has none (0).
func LatencyBound(i int) time.Duration {
	if i < 0 || i >= LatencyBuckets-1 {
		return 0
	}
	return latencyBase << i
}

// LatencyBucket returns the bucket d falls in.
func LatencyBucket(d time.Duration) int {
	for i := range LatencyBuckets - 1 {
		if d < LatencyBound(i) {
			return i
		}
	}
	return LatencyBuckets - 1
}

// LatencyHistogram counts durations in doubling buckets. Histograms add,
// which is what lets stored hourly and daily aggregates answer percentile
// questions without the raw rows.
type LatencyHistogram [LatencyBuckets]int64

// Observe counts d.
func (h *LatencyHistogram) Observe(d time.Duration) { h[LatencyBucket(d)]++ }

// Add adds o's counts to h.
func (h *LatencyHistogram) Add(o LatencyHistogram) {
	for i := range h {
		h[i] += o[i]
	}
}

// Count is the number of durations counted.
func (h LatencyHistogram) Count() int64 {
	var n int64
	for _, c := range h {
		n += c
	}
	return n
}

// Quantile estimates the q-quantile (0 < q ≤ 1) by linear interpolation
// inside its bucket: within a factor of two of the true value, as any
// bucketed histogram (Prometheus's histogram_quantile works the same way).
// It is 0 for an empty histogram; the open last bucket reports its lower
// bound.
func (h LatencyHistogram) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := q * float64(n)
	var seen float64
	for i, c := range h {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			var lo time.Duration
			if i > 0 {
				lo = LatencyBound(i - 1)
			}
			hi := LatencyBound(i)
			if hi == 0 {
				return lo
			}
			frac := (rank - seen) / float64(c)
			return lo + time.Duration(frac*float64(hi-lo))
		}
		seen += float64(c)
	}
	return LatencyBound(LatencyBuckets - 2)
}
