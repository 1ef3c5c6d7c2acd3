package gateway

import (
	"testing"
	"time"
)

func TestLatencyBucket(t *testing.T) {
	cases := []struct {
		d    time.Duration
		want int
	}{
		{0, 0},
		{4 * time.Millisecond, 0},
		{5 * time.Millisecond, 1},
		{9 * time.Millisecond, 1},
		{10 * time.Millisecond, 2},
		{time.Second, 8},
		{time.Hour, LatencyBuckets - 1},
	}
	for _, c := range cases {
		if got := LatencyBucket(c.d); got != c.want {
			t.Errorf("LatencyBucket(%s) = %d, want %d", c.d, got, c.want)
		}
	}
}

func TestLatencyQuantile(t *testing.T) {
	var h LatencyHistogram
	if got := h.Quantile(0.5); got != 0 {
		t.Fatalf("empty histogram p50 = %s, want 0", got)
	}
	// 99 fast calls (~100ms) and one slow one (~3s).
	for range 99 {
		h.Observe(100 * time.Millisecond)
	}
	h.Observe(3 * time.Second)
	p50, p99, p100 := h.Quantile(0.5), h.Quantile(0.99), h.Quantile(1)
	if p50 < 80*time.Millisecond || p50 > 160*time.Millisecond {
		t.Errorf("p50 = %s, want within the 80ms–160ms bucket", p50)
	}
	if p99 > 160*time.Millisecond {
		t.Errorf("p99 = %s, want the fast bucket (99 of 100 are fast)", p99)
	}
	if p100 < 2560*time.Millisecond || p100 > 5120*time.Millisecond {
		t.Errorf("p100 = %s, want the 2.56s–5.12s bucket", p100)
	}
	var sum LatencyHistogram
	sum.Add(h)
	sum.Add(h)
	if sum.Count() != 200 || sum.Quantile(0.5) != p50 {
		t.Errorf("sum of two equal histograms: count %d p50 %s, want 200 and %s", sum.Count(), sum.Quantile(0.5), p50)
	}
	var slow LatencyHistogram
	slow.Observe(time.Hour)
	if got := slow.Quantile(0.5); got != LatencyBound(LatencyBuckets-2) {
		t.Errorf("open bucket p50 = %s, want its lower bound %s", got, LatencyBound(LatencyBuckets-2))
	}
}
