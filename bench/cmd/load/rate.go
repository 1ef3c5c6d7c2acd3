package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The open-loop mode (-rate) sends calls at a fixed rate whatever the
// target's answers do, as real traffic does: a slow answer does not delay
// the next call, so a stall shows in the tail instead of lowering the
// rate (a closed loop hides it; "coordinated omission"). Each kind of call
// (non-stream, stream, embeddings) is sent to each target in turn, in
// -rounds rounds that alternate the targets, so that whatever else the
// machine does lands on all three alike. The report gives p50/p99/p99.9 per
// target, the latency each proxy adds (its percentile minus the fake
// upstream's, measured in the same run), and the proxy's CPU per call.

type rateOptions struct {
	options
	rate       int
	rounds     int
	embedModel string
	pinned     string
	kinds      string // comma-separated: non-stream, stream, embeddings
}

// callKind is one kind of call the open loop sends.
type callKind struct {
	name   string
	path   string
	body   []byte
	stream bool
	check  func([]byte) error
}

// callKinds are the kinds o.kinds names, in a fixed order.
func callKinds(o rateOptions) []callKind {
	all := []callKind{
		{name: "non-stream", path: "/v1/chat/completions", body: requestBody(o.model, false),
			check: func(b []byte) error { return checkChat(b, false) }},
		{name: "stream (20 chunks)", path: "/v1/chat/completions", body: requestBody(o.model, true), stream: true,
			check: func(b []byte) error { return checkChat(b, true) }},
		{name: "embeddings", path: "/v1/embeddings",
			body:  []byte(`{"model":"` + o.embedModel + `","input":"The quick brown fox jumps over the lazy dog.","encoding_format":"base64"}`),
			check: checkEmbedding},
	}
	var out []callKind
	for _, k := range all {
		short, _, _ := strings.Cut(k.name, " (")
		if slices.Contains(strings.Split(o.kinds, ","), short) {
			out = append(out, k)
		}
	}
	return out
}

func checkEmbedding(b []byte) error {
	if !bytes.Contains(b, []byte(`"embedding":"`)) || !bytes.Contains(b, []byte(`"usage"`)) {
		return fmt.Errorf("incomplete embeddings answer: %.200s", b)
	}
	return nil
}

// openResult is what the open loop measured of one kind on one target.
type openResult struct {
	sent, ok, errs int
	late           int // calls sent more than a millisecond after their slot
	dropped        int // calls not sent: too many in flight
	firstErr       error
	total, ttfb    []time.Duration
	cpu            time.Duration
}

func (r *openResult) add(o openResult) {
	r.sent += o.sent
	r.ok += o.ok
	r.errs += o.errs
	r.late += o.late
	r.dropped += o.dropped
	if r.firstErr == nil {
		r.firstErr = o.firstErr
	}
	r.total = append(r.total, o.total...)
	r.ttfb = append(r.ttfb, o.ttfb...)
	r.cpu += o.cpu
}

func (r *openResult) cpuPerCall() time.Duration {
	if r.ok == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.ok)
}

// pctile is the nearest-rank percentile p (0–100) of sorted durations.
func pctile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(float64(len(d))*p/100 + 0.9999999)
	return d[min(max(i, 1), len(d))-1]
}

// maxInFlight bounds the calls the driver keeps open: past it a target is
// stalled, and further calls count as dropped rather than pile up.
const maxInFlight = 4096

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// fire sends k to t at o.rate calls per second for d.
func fire(ctx context.Context, t target, k callKind, o rateOptions, d time.Duration) openResult {
	client := newClient(256)
	defer client.CloseIdleConnections()
	url := t.base + k.path
	n := int(int64(d) * int64(o.rate) / int64(time.Second))
	interval := time.Second / time.Duration(o.rate)
	total := make([]time.Duration, n)
	ttfb := make([]time.Duration, n)
	var (
		wg       sync.WaitGroup
		inflight atomic.Int64
		errs     atomic.Int64
		errOnce  sync.Once
		firstErr error
		res      openResult
	)
	fail := func(err error) {
		errs.Add(1)
		errOnce.Do(func() { firstErr = err })
	}
	cpu0, _ := readCPU(t.pid)
	start := time.Now()
	for i := range n {
		slot := start.Add(time.Duration(i) * interval)
		if wait := time.Until(slot); wait > 0 {
			time.Sleep(wait)
		} else if wait < -time.Millisecond {
			res.late++
		}
		if inflight.Load() >= maxInFlight {
			res.dropped++
			continue
		}
		res.sent++
		inflight.Add(1)
		wg.Go(func() {
			defer inflight.Add(-1)
			bp := bufPool.Get().(*[]byte)
			defer bufPool.Put(bp)
			var acc []byte
			tot, first, _, err := fetch(ctx, client, url, o.key, k.body, *bp, &acc)
			if err == nil {
				err = k.check(acc)
			}
			if err != nil {
				fail(err)
				return
			}
			total[i], ttfb[i] = tot, first
		})
	}
	wg.Wait()
	if cpu1, err := readCPU(t.pid); err == nil && t.pid != 0 {
		res.cpu = cpu1 - cpu0
	}
	for i := range n {
		if total[i] > 0 {
			res.total = append(res.total, total[i])
			if k.stream {
				res.ttfb = append(res.ttfb, ttfb[i])
			}
		}
	}
	res.ok = len(res.total)
	res.errs = int(errs.Load())
	res.firstErr = firstErr
	return res
}

func openLoop(ctx context.Context, targets []target, o rateOptions, out io.Writer) error {
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	kinds := callKinds(o)
	if len(kinds) == 0 {
		return fmt.Errorf("-kinds %q names none of non-stream, stream, embeddings", o.kinds)
	}
	results := make([][]openResult, len(kinds)) // [kind][target]
	per := o.dur / time.Duration(o.rounds)
	for ki, k := range kinds {
		results[ki] = make([]openResult, len(targets))
		for _, t := range targets {
			if w := fire(ctx, t, k, o, o.warm); w.ok == 0 {
				return fmt.Errorf("%s %s: warm-up failed: %d errors, first: %v", t.name, k.name, w.errs, w.firstErr)
			}
		}
		for round := range o.rounds {
			for ti := range targets {
				// Alternate the order so no target always runs first.
				ti = (ti + round) % len(targets)
				t := targets[ti]
				r := fire(ctx, t, k, o, per)
				logf("%-11s %-18s round %d: %d/%d ok, p50 %s p99 %s, late %d, dropped %d",
					t.name, k.name, round, r.ok, r.sent, ms3(pctile(sorted(r.total), 50)), ms3(pctile(sorted(r.total), 99)), r.late, r.dropped)
				if r.firstErr != nil {
					logf("  first error: %v", r.firstErr)
				}
				results[ki][ti].add(r)
			}
		}
		for ti := range targets {
			slices.Sort(results[ki][ti].total)
			slices.Sort(results[ki][ti].ttfb)
		}
	}
	rateReport(out, targets, o, kinds, results)
	return nil
}

// unsound says why a tail comparison of rs means nothing: a target
// failed calls, the driver sent more than 1% of its calls late (it was
// starved of CPU, and so were the targets' schedules), or the fake
// upstream alone had a worse p99 than a proxy in front of it.
func unsound(rs []openResult) string {
	for _, r := range rs {
		if r.errs > 0 || r.dropped > 0 {
			return fmt.Sprintf("%d errors, %d dropped", r.errs, r.dropped)
		}
		if r.sent > 0 && r.late*100 > r.sent {
			return fmt.Sprintf("%.0f%% of calls sent late", 100*float64(r.late)/float64(r.sent))
		}
	}
	for _, r := range rs[1:] {
		if pctile(r.total, 99) < pctile(rs[0].total, 99) {
			return "the upstream alone had the worse p99"
		}
	}
	return ""
}

func sorted(d []time.Duration) []time.Duration {
	c := slices.Clone(d)
	slices.Sort(c)
	return c
}

func rateReport(w io.Writer, targets []target, o rateOptions, kinds []callKind, results [][]openResult) {
	const direct, bare, sb = 0, 1, 2
	fmt.Fprintf(w, "Open loop: %d calls/s per target, %v per target and kind in %d alternating rounds after %v warm-up; run %s on %d CPUs, driver GOMAXPROCS %d, %s.\n",
		o.rate, o.dur, o.rounds, o.warm, time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	if o.pinned != "" {
		fmt.Fprintf(w, "Pinned: %s.\n", o.pinned)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| calls | metric | direct | bare proxy | Switchboard | Switchboard / bare |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: |")
	ratio := func(a, b time.Duration) string {
		if b <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", float64(a)/float64(b))
	}
	type verdict struct {
		kind          string
		p50, p99      time.Duration // Switchboard's added latency
		bareP99       time.Duration
		cpuSB, cpuBar time.Duration
		unsound       string // why the latency verdict cannot be given
	}
	var verdicts []verdict
	for ki, k := range kinds {
		rs := results[ki]
		row := func(metric string, f func(i int) string, r string) {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", k.name, metric, f(0), f(1), f(2), r)
		}
		pcts := func(d func(r *openResult) []time.Duration) func(i int) string {
			return func(i int) string {
				v := d(&rs[i])
				return fmt.Sprintf("%s / %s / %s", ms3(pctile(v, 50)), ms3(pctile(v, 99)), ms3(pctile(v, 99.9)))
			}
		}
		row("total p50 / p99 / p99.9", pcts(func(r *openResult) []time.Duration { return r.total }), "")
		if k.stream {
			row("TTFB p50 / p99 / p99.9", pcts(func(r *openResult) []time.Duration { return r.ttfb }), "")
		}
		added := func(i int, p float64) time.Duration { return pctile(rs[i].total, p) - pctile(rs[direct].total, p) }
		row("added p50 / p99 (target − direct)", func(i int) string {
			if i == direct {
				return "—"
			}
			return us(added(i, 50)) + " / " + us(added(i, 99))
		}, ratio(added(sb, 99), added(bare, 99))+" (p99)")
		row("proxy CPU per call", func(i int) string {
			if targets[i].pid == 0 {
				return "—"
			}
			return us(rs[i].cpuPerCall())
		}, ratio(rs[sb].cpuPerCall(), rs[bare].cpuPerCall()))
		row("ok / errors / late / dropped", func(i int) string {
			r := &rs[i]
			return fmt.Sprintf("%d / %d / %d / %d", r.ok, r.errs, r.late, r.dropped)
		}, "")
		verdicts = append(verdicts, verdict{k.name, added(sb, 50), added(sb, 99), added(bare, 99), rs[sb].cpuPerCall(), rs[bare].cpuPerCall(), unsound(rs)})
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | measured | result |")
	fmt.Fprintln(w, "| --- | ---: | --- |")
	for _, v := range verdicts {
		result := passMiss(v.p99 <= time.Millisecond)
		if v.unsound != "" {
			result = "NOT MEASURABLE: " + v.unsound
		}
		fmt.Fprintf(w, "| %s: Switchboard p99 added ≤ 1 ms at %d/s | %s (p50 %s; bare proxy p99 added %s) | %s |\n",
			v.kind, o.rate, us(v.p99), us(v.p50), us(v.bareP99), result)
	}
	for _, v := range verdicts {
		if v.cpuBar > 0 {
			r := float64(v.cpuSB) / float64(v.cpuBar)
			want := "informative"
			if strings.HasPrefix(v.kind, "stream") {
				want = passMiss(r <= 1.1)
			}
			fmt.Fprintf(w, "| %s: CPU per call ≤ 1.1× bare proxy's | %.2f× (%s vs %s) | %s |\n", v.kind, r, us(v.cpuSB), us(v.cpuBar), want)
		}
	}
}
