package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The soak mode (-soak DURATION) drives only Switchboard, with a mix of
// streaming and non-streaming calls, for minutes rather than seconds,
// while some of its upstreams fail. It reports what the clients saw
// (success rate, status codes, latency), how the upstreams' traffic
// shifted over time (their GET /stats counters), and the gateway's
// resident memory, threads and open descriptors before, during and after
// the load, which is how a leak would show.

type soakOptions struct {
	base        string
	pid         int
	key, model  string
	conc        int
	dur         time.Duration
	interval    time.Duration // timeline resolution
	settle      time.Duration // idle pause before the final process sample
	callTimeout time.Duration
	streamShare float64
	upstreams   []namedURL
	countFile   string // receives the number of calls made, for the ledger check
}

type namedURL struct{ name, url string }

func parseUpstreams(s string) ([]namedURL, error) {
	var out []namedURL
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		name, u, ok := strings.Cut(part, "=")
		if !ok || name == "" || u == "" {
			return nil, fmt.Errorf("upstream %q: want NAME=URL", part)
		}
		out = append(out, namedURL{name, strings.TrimRight(u, "/")})
	}
	return out, nil
}

// upstreamStats is a fake upstream's GET /stats.
type upstreamStats map[string]int64

func fetchStats(ctx context.Context, c *http.Client, base string) (upstreamStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/stats", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("stats of %s: %w", base, err)
	}
	defer resp.Body.Close()
	var s upstreamStats
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&s); err != nil {
		return nil, fmt.Errorf("stats of %s: %w", base, err)
	}
	return s, nil
}

// procSample is what /proc says about the gateway at one moment.
type procSample struct {
	rss     int64
	threads int
	fds     int
	sockets int // of fds
}

func readProc(pid int) (procSample, error) {
	var p procSample
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return p, fmt.Errorf("read status: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return p, fmt.Errorf("parse VmRSS %q: %w", v, err)
			}
			p.rss = kb << 10
		case "Threads":
			if p.threads, err = strconv.Atoi(f[0]); err != nil {
				return p, fmt.Errorf("parse Threads %q: %w", v, err)
			}
		}
	}
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return p, fmt.Errorf("list fds: %w", err)
	}
	p.fds = len(ents)
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	for _, e := range ents {
		// A descriptor closed since ReadDir fails here; it is simply not a socket.
		if l, err := os.Readlink(dir + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			p.sockets++
		}
	}
	return p, nil
}

// soakCall is one finished call.
type soakCall struct {
	stream      bool
	status      int // 0: no HTTP response
	err         error
	total, ttfb time.Duration
}

// tick is one row of the timeline.
type tick struct {
	at            time.Duration
	calls, failed int64
	up            []upstreamStats // cumulative, per upstream
	proc          procSample
}

type soakResult struct {
	calls   []soakCall
	elapsed time.Duration
	start   procSample
	end     procSample // as the load stops
	settled procSample // after o.settle idle
	ticks   []tick
	up      []upstreamStats // final, per upstream
}

func soak(ctx context.Context, o soakOptions, out io.Writer) error {
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	statsClient := newClient(len(o.upstreams))
	defer statsClient.CloseIdleConnections()
	snapshot := func() ([]upstreamStats, error) {
		all := make([]upstreamStats, len(o.upstreams))
		for i, u := range o.upstreams {
			s, err := fetchStats(ctx, statsClient, u.url)
			if err != nil {
				return nil, err
			}
			all[i] = s
		}
		return all, nil
	}

	var res soakResult
	var err error
	if res.start, err = readProc(o.pid); err != nil {
		return fmt.Errorf("gateway process: %w", err)
	}
	base, err := snapshot()
	if err != nil {
		return err
	}

	client := newClient(o.conc)
	client.Timeout = o.callTimeout
	url := o.base + "/v1/chat/completions"
	bodies := [2][]byte{requestBody(o.model, false), requestBody(o.model, true)}
	var calls, failed atomic.Int64
	parts := make([][]soakCall, o.conc)
	start := time.Now()
	deadline := start.Add(o.dur)

	// The timeline sampler runs beside the workers.
	stopTicks := make(chan struct{})
	var ticker sync.WaitGroup
	ticker.Go(func() {
		t := time.NewTicker(o.interval)
		defer t.Stop()
		for {
			select {
			case <-stopTicks:
				return
			case <-t.C:
			}
			tk := tick{at: time.Since(start).Round(time.Second), calls: calls.Load(), failed: failed.Load()}
			tk.up, _ = snapshot()
			tk.proc, _ = readProc(o.pid)
			res.ticks = append(res.ticks, tk)
			logf("soak %4.0fs: %d calls, %d failed, RSS %s, threads %d, fds %d",
				tk.at.Seconds(), tk.calls, tk.failed, mib(tk.proc.rss), tk.proc.threads, tk.proc.fds)
		}
	})

	var wg sync.WaitGroup
	for w := range o.conc {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w)+1, 0x5eed))
			buf := make([]byte, 32<<10)
			var acc []byte
			for time.Now().Before(deadline) {
				stream := rng.Float64() < o.streamShare
				b := bodies[0]
				if stream {
					b = bodies[1]
				}
				total, ttfb, status, err := callStatus(ctx, client, url, o.key, b, stream, buf, &acc)
				calls.Add(1)
				if err != nil {
					failed.Add(1)
				}
				parts[w] = append(parts[w], soakCall{stream: stream, status: status, err: err, total: total, ttfb: ttfb})
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	close(stopTicks)
	ticker.Wait()
	if res.end, err = readProc(o.pid); err != nil {
		return fmt.Errorf("gateway process: %w", err)
	}
	client.CloseIdleConnections()
	final, err := snapshot()
	if err != nil {
		return err
	}
	// Only this run's traffic: subtract what the upstreams had seen before.
	res.up = diffStats(final, base)
	for i := range res.ticks {
		if res.ticks[i].up != nil {
			res.ticks[i].up = diffStats(res.ticks[i].up, base)
		}
	}
	time.Sleep(o.settle)
	if res.settled, err = readProc(o.pid); err != nil {
		return fmt.Errorf("gateway process: %w", err)
	}
	for _, p := range parts {
		res.calls = append(res.calls, p...)
	}
	if o.countFile != "" {
		if err := os.WriteFile(o.countFile, []byte(strconv.Itoa(len(res.calls))+"\n"), 0o644); err != nil {
			return fmt.Errorf("write call count: %w", err)
		}
	}
	soakReport(out, o, &res)
	return nil
}

func diffStats(a, b []upstreamStats) []upstreamStats {
	out := make([]upstreamStats, len(a))
	for i := range a {
		out[i] = upstreamStats{}
		for k, v := range a[i] {
			out[i][k] = v - b[i][k]
		}
	}
	return out
}

// errClass groups a failed call for the report.
func errClass(c soakCall) string {
	switch {
	case c.err == nil:
		return "200 verified"
	case c.status == 0:
		return "no HTTP response"
	case c.status == http.StatusOK:
		return "200 but incomplete body"
	default:
		return strconv.Itoa(c.status)
	}
}

func soakReport(w io.Writer, o soakOptions, r *soakResult) {
	fmt.Fprintf(w, "Soak run %s on %d CPUs (GOMAXPROCS %d), load driver built with %s: %v of load, %d closed-loop clients, %.0f%% streaming calls, client timeout %v.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(),
		r.elapsed.Round(time.Second), o.conc, 100*o.streamShare, o.callTimeout)

	n := len(r.calls)
	classes := map[string]int{}
	examples := map[string]string{}
	var ok, non5xx int
	var lat [2][]time.Duration // [stream] total
	var ttfb [2][]time.Duration
	for _, c := range r.calls {
		k := errClass(c)
		classes[k]++
		if c.err != nil {
			if _, seen := examples[k]; !seen {
				examples[k] = c.err.Error()
			}
		} else {
			ok++
			s := 0
			if c.stream {
				s = 1
			}
			lat[s] = append(lat[s], c.total)
			ttfb[s] = append(ttfb[s], c.ttfb)
		}
		if c.status != 0 && c.status < 500 {
			non5xx++
		}
	}
	share := func(a int) string {
		if n == 0 {
			return "—"
		}
		return fmt.Sprintf("%.3f%%", 100*float64(a)/float64(n))
	}
	fmt.Fprintln(w, "| client | value |")
	fmt.Fprintln(w, "| --- | ---: |")
	fmt.Fprintf(w, "| calls | %d (%.0f/s) |\n", n, float64(n)/r.elapsed.Seconds())
	fmt.Fprintf(w, "| verified 200 (complete body) | %d (%s) |\n", ok, share(ok))
	fmt.Fprintf(w, "| HTTP status < 500 | %d (%s) |\n", non5xx, share(non5xx))
	keys := make([]string, 0, len(classes))
	for k := range classes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "200 verified" {
			continue
		}
		fmt.Fprintf(w, "| outcome %s | %d (%s) |\n", k, classes[k], share(classes[k]))
	}
	fmt.Fprintln(w)
	for _, k := range keys {
		if e, ok := examples[k]; ok {
			fmt.Fprintf(w, "- first %q: `%.200s`\n", k, strings.ReplaceAll(e, "`", "'"))
		}
	}
	if len(examples) > 0 {
		fmt.Fprintln(w)
	}

	fmt.Fprintln(w, "| successful calls | count | total p50 | total p99 | total max | TTFB p50 | TTFB p99 |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for s, label := range []string{"non-streaming", "streaming (20 chunks)"} {
		slices.Sort(lat[s])
		slices.Sort(ttfb[s])
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s |\n", label, len(lat[s]),
			ms3(pctOf(lat[s], 50)), ms3(pctOf(lat[s], 99)), ms3(pctOf(lat[s], 100)), ms3(pctOf(ttfb[s], 50)), ms3(pctOf(ttfb[s], 99)))
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "| upstream | requests | share | answered | 500 | 429 | reset | hang |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	var upTotal int64
	for _, s := range r.up {
		upTotal += s["requests"]
	}
	for i, u := range o.upstreams {
		s := r.up[i]
		fmt.Fprintf(w, "| %s | %d | %.1f%% | %d | %d | %d | %d | %d |\n", u.name, s["requests"], 100*float64(s["requests"])/float64(max(upTotal, 1)),
			s["ok"], s["500"], s["429"], s["reset"], s["hang"])
	}
	fmt.Fprintf(w, "| all | %d | %.3f per client call | | | | | |\n\n", upTotal, float64(upTotal)/float64(max(n, 1)))

	// The timeline: traffic per interval, per upstream.
	fmt.Fprint(w, "| t | client calls | client failures |")
	for _, u := range o.upstreams {
		fmt.Fprintf(w, " %s req (faults) |", u.name)
	}
	fmt.Fprintln(w, " RSS | threads | fds |")
	fmt.Fprint(w, "| ---: | ---: | ---: |")
	for range o.upstreams {
		fmt.Fprint(w, " ---: |")
	}
	fmt.Fprintln(w, " ---: | ---: | ---: |")
	var prev tick
	prev.up = make([]upstreamStats, len(o.upstreams))
	for i := range prev.up {
		prev.up[i] = upstreamStats{}
	}
	faults := func(s upstreamStats) int64 { return s["500"] + s["429"] + s["reset"] + s["hang"] }
	for _, t := range r.ticks {
		fmt.Fprintf(w, "| %.0fs | %d | %d |", t.at.Seconds(), t.calls-prev.calls, t.failed-prev.failed)
		for i := range o.upstreams {
			if t.up == nil {
				fmt.Fprint(w, " ? |")
				continue
			}
			fmt.Fprintf(w, " %d (%d) |", t.up[i]["requests"]-prev.up[i]["requests"], faults(t.up[i])-faults(prev.up[i]))
		}
		fmt.Fprintf(w, " %s | %d | %d |\n", mib(t.proc.rss), t.proc.threads, t.proc.fds)
		if t.up != nil {
			prev = t
		} else {
			prev.calls, prev.failed = t.calls, t.failed
		}
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "| gateway process | RSS | threads | open fds | of which sockets |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: |")
	for _, row := range []struct {
		label string
		p     procSample
	}{
		{"before the load", r.start},
		{"as the load stops", r.end},
		{fmt.Sprintf("%v after, client connections closed", o.settle), r.settled},
	} {
		fmt.Fprintf(w, "| %s | %s | %d | %d | %d |\n", row.label, mib(row.p.rss), row.p.threads, row.p.fds, row.p.sockets)
	}
	fmt.Fprintln(w)
}

// pctOf is the nearest-rank percentile of sorted durations.
func pctOf(d []time.Duration, p int) time.Duration {
	var r result
	return r.pct(d, p)
}
