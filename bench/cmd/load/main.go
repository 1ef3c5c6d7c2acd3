// Command load is the benchmark's load driver and report writer. It drives
// three targets with identical OpenAI chat-completion calls — the fake
// upstream directly, a bare reverse proxy, and Switchboard — and prints
// one markdown report: throughput and latency percentiles for
// non-streaming calls and 20-chunk streams, the latency each proxy adds on
// a single connection, and the resident memory of the proxies at idle and
// with many slow streams open.
//
// It uses only net/http with keep-alive connections, so the numbers
// depend on nothing outside this repository. With -soak it instead runs
// the failover soak of bench/soak.sh (see soak.go). See bench/README.md.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
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

// expectedChunks is how many content chunks the fake upstream sends.
const expectedChunks = 20

type target struct {
	name string
	base string // http://host:port
	pid  int    // 0: memory not measured
}

type options struct {
	key        string
	model      string
	slowModel  string
	conc       int
	dur        time.Duration
	warm       time.Duration
	slowN      int
	slowWait   time.Duration
	idleSettle time.Duration
}

func main() {
	var o options
	direct := flag.String("direct", "http://127.0.0.1:18001", "fake upstream base URL")
	bare := flag.String("bare", "http://127.0.0.1:18002", "bare reverse proxy base URL")
	sb := flag.String("switchboard", "http://127.0.0.1:18003", "Switchboard base URL")
	barePID := flag.Int("bare-pid", 0, "bare proxy process id (for RSS)")
	sbPID := flag.Int("switchboard-pid", 0, "Switchboard process id (for RSS)")
	flag.StringVar(&o.key, "key", "sk-bench-0123456789abcdef", "client API key sent as Bearer")
	flag.StringVar(&o.model, "model", "bench-model", "model for throughput and latency runs")
	flag.StringVar(&o.slowModel, "slow-model", "bench-slow", "model the fake upstream streams slowly")
	flag.IntVar(&o.conc, "c", 32, "concurrency of the throughput runs")
	flag.DurationVar(&o.dur, "d", 10*time.Second, "duration of each measurement")
	flag.DurationVar(&o.warm, "warmup", 2*time.Second, "warm-up before each measurement (discarded)")
	flag.IntVar(&o.slowN, "streams", 1000, "slow streams held open for the memory measurement")
	flag.DurationVar(&o.slowWait, "streams-timeout", 60*time.Second, "limit for all slow streams to deliver a first byte")
	flag.DurationVar(&o.idleSettle, "idle-settle", 2*time.Second, "pause before reading idle RSS")
	soakDur := flag.Duration("soak", 0, "soak mode: drive only -switchboard for this long with mixed calls (0: the normal benchmark)")
	upstreams := flag.String("upstreams", "", "soak: NAME=URL,... of fake upstreams whose /stats to report")
	streamShare := flag.Float64("stream-share", 0.5, "soak: share of streaming calls")
	interval := flag.Duration("interval", 10*time.Second, "soak: timeline resolution")
	settle := flag.Duration("settle", 5*time.Second, "soak: idle pause before the last process sample")
	callTimeout := flag.Duration("call-timeout", 60*time.Second, "soak: client timeout of one call")
	countFile := flag.String("count-file", "", "soak: write the number of calls made to this file")
	rate := flag.Int("rate", 0, "open-loop mode: send this many calls per second to each target in turn (0: the normal benchmark)")
	rounds := flag.Int("rounds", 3, "open-loop: split each -d into this many rounds, alternating the targets")
	embedModel := flag.String("embed-model", "bench-embed", "open-loop: model of the embeddings calls")
	kindList := flag.String("kinds", "non-stream,stream,embeddings", "open-loop: which calls to send")
	pinned := flag.String("pinned", "", "open-loop: how the processes are pinned, for the report (e.g. \"load on CPU 0, proxies and upstream on CPU 1\")")
	flag.Parse()

	if *soakDur > 0 {
		ups, err := parseUpstreams(*upstreams)
		if err == nil && *sbPID == 0 {
			err = errors.New("-soak needs -switchboard-pid")
		}
		if err == nil {
			err = soak(context.Background(), soakOptions{
				base: *sb, pid: *sbPID, key: o.key, model: o.model, conc: o.conc, dur: *soakDur,
				interval: *interval, settle: *settle, callTimeout: *callTimeout, streamShare: *streamShare,
				upstreams: ups, countFile: *countFile,
			}, os.Stdout)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(1)
		}
		return
	}

	targets := []target{
		{name: "direct", base: *direct},
		{name: "bare proxy", base: *bare, pid: *barePID},
		{name: "Switchboard", base: *sb, pid: *sbPID},
	}
	if *rate > 0 {
		ro := rateOptions{options: o, rate: *rate, rounds: max(*rounds, 1), embedModel: *embedModel, pinned: *pinned, kinds: *kindList}
		if err := openLoop(context.Background(), targets, ro, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(1)
		}
		return
	}
	if err := benchmark(context.Background(), targets, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// measurement is one (mode, concurrency) run against every target.
type measurement struct {
	stream bool
	conc   int
	res    [3]result
}

func benchmark(ctx context.Context, targets []target, o options, out io.Writer) error {
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

	// Warm every target so idle memory includes pools, caches and JIT-free
	// steady state, then let it settle.
	for _, t := range targets {
		r := run(ctx, t, o, false, 4, time.Second)
		if r.ok == 0 {
			return fmt.Errorf("%s: warm-up failed: %d errors, first: %v", t.name, r.errs, r.firstErr)
		}
	}
	time.Sleep(o.idleSettle)
	idle := map[string]int64{}
	for _, t := range targets {
		if t.pid != 0 {
			rss, err := readRSS(t.pid)
			if err != nil {
				return err
			}
			idle[t.name] = rss
			logf("%s idle RSS %s", t.name, kib(rss))
		}
	}

	// Memory per open stream, before the throughput runs inflate the heap.
	slow := map[string]slowResult{}
	for _, t := range targets {
		if t.pid == 0 {
			continue
		}
		s, err := slowStreams(ctx, t, o)
		if err != nil {
			return fmt.Errorf("%s: slow streams: %w", t.name, err)
		}
		slow[t.name] = s
		logf("%s: %d/%d streams open, RSS %s → %s", t.name, s.open, o.slowN, kib(s.before), kib(s.during))
		time.Sleep(time.Second) // let cancellations propagate
	}

	ms := []*measurement{
		{stream: false, conc: o.conc},
		{stream: true, conc: o.conc},
		{stream: false, conc: 1},
		{stream: true, conc: 1},
	}
	for _, m := range ms {
		for i, t := range targets {
			run(ctx, t, o, m.stream, m.conc, o.warm)
			cpu0, _ := readCPU(t.pid)
			m.res[i] = run(ctx, t, o, m.stream, m.conc, o.dur)
			if cpu1, err := readCPU(t.pid); err == nil && t.pid != 0 {
				m.res[i].cpu = cpu1 - cpu0
			}
			r := m.res[i]
			logf("%-11s stream=%-5v c=%-3d %8.0f req/s  p50 %s  p99 %s  ttfb p50 %s  errors %d",
				t.name, m.stream, m.conc, r.rate(), ms3(r.pct(r.total, 50)), ms3(r.pct(r.total, 99)), ms3(r.pct(r.ttfb, 50)), r.errs)
			if r.firstErr != nil {
				logf("  first error: %v", r.firstErr)
			}
		}
	}
	after := map[string]int64{}
	for _, t := range targets {
		if t.pid != 0 {
			if rss, err := readRSS(t.pid); err == nil {
				after[t.name] = rss
			}
		}
	}
	report(out, targets, o, ms, idle, after, slow)
	return nil
}

// result collects one run against one target.
type result struct {
	ok, errs int
	firstErr error
	elapsed  time.Duration
	total    []time.Duration // whole call, request sent to body fully read
	ttfb     []time.Duration // request sent to first body byte (streams)
	cpu      time.Duration   // user+system CPU the target process spent (0: not measured)
}

// cpuPerCall is the target process's CPU time per completed call.
func (r *result) cpuPerCall() time.Duration {
	if r.ok == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.ok)
}

func (r *result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

// pct is the nearest-rank percentile of sorted durations.
func (r *result) pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := (len(d)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return d[i-1]
}

func requestBody(model string, stream bool) []byte {
	b := `{"model":"` + model + `","messages":[{"role":"system","content":"You are a benchmark."},{"role":"user","content":"Say hello in twenty tokens."}],"max_tokens":64`
	if stream {
		b += `,"stream":true,"stream_options":{"include_usage":true}`
	}
	return []byte(b + "}")
}

func newClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns + 16,
		MaxIdleConnsPerHost: conns + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
}

// run drives t with conc closed-loop workers for d.
func run(ctx context.Context, t target, o options, stream bool, conc int, d time.Duration) result {
	client := newClient(conc)
	defer client.CloseIdleConnections()
	body := requestBody(o.model, stream)
	url := t.base + "/v1/chat/completions"
	deadline := time.Now().Add(d)
	parts := make([]result, conc)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conc {
		wg.Go(func() {
			p := &parts[w]
			buf := make([]byte, 32<<10)
			var acc []byte
			for time.Now().Before(deadline) {
				total, ttfb, err := call(ctx, client, url, o.key, body, stream, buf, &acc)
				if err != nil {
					p.errs++
					if p.firstErr == nil {
						p.firstErr = err
					}
					continue
				}
				p.ok++
				p.total = append(p.total, total)
				if stream {
					p.ttfb = append(p.ttfb, ttfb)
				}
			}
		})
	}
	wg.Wait()
	r := result{elapsed: time.Since(start)}
	for _, p := range parts {
		r.ok += p.ok
		r.errs += p.errs
		if r.firstErr == nil {
			r.firstErr = p.firstErr
		}
		r.total = append(r.total, p.total...)
		r.ttfb = append(r.ttfb, p.ttfb...)
	}
	slices.Sort(r.total)
	slices.Sort(r.ttfb)
	return r
}

// call makes one request and checks that the answer is complete: a
// usage-bearing JSON body, or a stream with every content chunk, the
// usage chunk and [DONE].
func call(ctx context.Context, c *http.Client, url, key string, body []byte, stream bool, buf []byte, acc *[]byte) (total, ttfb time.Duration, err error) {
	total, ttfb, _, err = callStatus(ctx, c, url, key, body, stream, buf, acc)
	return total, ttfb, err
}

// callStatus is call that also returns the HTTP status (0: no response).
func callStatus(ctx context.Context, c *http.Client, url, key string, body []byte, stream bool, buf []byte, acc *[]byte) (total, ttfb time.Duration, status int, err error) {
	total, ttfb, status, err = fetch(ctx, c, url, key, body, buf, acc)
	if err != nil {
		return 0, 0, status, err
	}
	if err := checkChat(*acc, stream); err != nil {
		return 0, 0, status, err
	}
	return total, ttfb, status, nil
}

// fetch posts body and reads the whole answer into acc; a status other
// than 200 is an error.
func fetch(ctx context.Context, c *http.Client, url, key string, body []byte, buf []byte, acc *[]byte) (total, ttfb time.Duration, status int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, 0, err
	}
	status = resp.StatusCode
	defer resp.Body.Close()
	*acc = (*acc)[:0]
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if ttfb == 0 {
				ttfb = time.Since(start)
			}
			*acc = append(*acc, buf[:n]...)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return 0, 0, status, fmt.Errorf("read body: %w", rerr)
		}
	}
	total = time.Since(start)
	if resp.StatusCode != http.StatusOK {
		return 0, 0, status, fmt.Errorf("status %d: %.200s", resp.StatusCode, *acc)
	}
	return total, ttfb, status, nil
}

// checkChat checks that a chat answer is complete: a usage-bearing JSON
// body, or a stream with every content chunk, the usage chunk and [DONE].
func checkChat(got []byte, stream bool) error {
	if !stream {
		if !bytes.Contains(got, []byte(`"usage"`)) || !bytes.Contains(got, []byte(`"content"`)) {
			return fmt.Errorf("incomplete response: %.200s", got)
		}
		return nil
	}
	if n := bytes.Count(got, []byte(`"content":"tok`)); n != expectedChunks {
		return fmt.Errorf("stream carried %d content chunks, want %d", n, expectedChunks)
	}
	if !bytes.Contains(got, []byte(`"choices":[],"usage"`)) && !bytes.Contains(got, []byte(`"usage":{`)) {
		return errors.New("stream carried no usage chunk")
	}
	if !bytes.HasSuffix(bytes.TrimSpace(got), []byte("data: [DONE]")) {
		return errors.New("stream did not end with [DONE]")
	}
	return nil
}

type slowResult struct {
	open           int
	before, during int64 // RSS bytes
	failed         int
	firstErr       error
}

// slowStreams opens o.slowN streams of the slow model at once, waits until
// each has delivered its first body byte, reads the target's RSS and
// cancels them all.
func slowStreams(ctx context.Context, t target, o options) (slowResult, error) {
	var s slowResult
	before, err := readRSS(t.pid)
	if err != nil {
		return s, err
	}
	s.before = before
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := newClient(o.slowN)
	defer client.CloseIdleConnections()
	body := requestBody(o.slowModel, true)
	url := t.base + "/v1/chat/completions"

	var (
		first    sync.WaitGroup
		done     sync.WaitGroup
		open     atomic.Int64
		failed   atomic.Int64
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		failed.Add(1)
		errOnce.Do(func() { firstErr = err })
	}
	first.Add(o.slowN)
	for range o.slowN {
		done.Go(func() {
			signalled := false
			signal := func() {
				if !signalled {
					signalled = true
					first.Done()
				}
			}
			defer signal()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				fail(err)
				return
			}
			req.Header.Set("Authorization", "Bearer "+o.key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				fail(err)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				fail(fmt.Errorf("status %d", resp.StatusCode))
				return
			}
			buf := make([]byte, 4096)
			n, err := resp.Body.Read(buf)
			if n == 0 && err != nil {
				fail(fmt.Errorf("first read: %w", err))
				return
			}
			open.Add(1)
			signal()
			_, _ = io.Copy(io.Discard, resp.Body) // until cancelled
		})
	}
	waited := make(chan struct{})
	go func() { first.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(o.slowWait):
		cancel()
		done.Wait()
		return s, fmt.Errorf("only %d of %d streams delivered a first byte within %v (first error: %v)", open.Load(), o.slowN, o.slowWait, firstErr)
	}
	s.during, err = readRSS(t.pid)
	s.open, s.failed, s.firstErr = int(open.Load()), int(failed.Load()), firstErr
	cancel()
	done.Wait()
	return s, err
}

// clockTick is USER_HZ, the unit of /proc/PID/stat times; 100 on every
// Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// readCPU returns the user+system CPU time pid has used.
func readCPU(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read CPU time: %w", err)
	}
	// The command name may hold spaces: fields start after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// readRSS returns VmRSS of pid in bytes.
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("read RSS: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmRSS %q: %w", rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

func kib(b int64) string { return strconv.FormatInt(b>>10, 10) + " KiB" }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func ms3(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }

func us(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d)/1e3) }

func passMiss(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func report(w io.Writer, targets []target, o options, ms []*measurement, idle, after map[string]int64, slow map[string]slowResult) {
	const bare, sb = 1, 2
	nsC, stC, ns1, st1 := ms[0], ms[1], ms[2], ms[3]
	fmt.Fprintf(w, "Run %s on %d CPUs (GOMAXPROCS %d), load driver built with %s, %s/%s.\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "Each cell: %v measured after %v warm-up; throughput runs use %d closed-loop keep-alive clients.\n\n", o.dur, o.warm, o.conc)

	row := func(label string, f func(i int) string, ratio string) {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", label, f(0), f(1), f(2), ratio)
	}
	fmt.Fprintln(w, "| metric | direct | bare proxy | Switchboard | Switchboard / bare |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: |")
	ratio := func(a, b float64) string {
		if b == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", a/b)
	}
	for _, m := range []*measurement{nsC, stC} {
		kind := "non-stream"
		if m.stream {
			kind = "stream (20 chunks)"
		}
		row(fmt.Sprintf("%s req/s, c=%d", kind, m.conc), func(i int) string { return fmt.Sprintf("%.0f", m.res[i].rate()) },
			ratio(m.res[sb].rate(), m.res[bare].rate()))
		if m.stream {
			row(fmt.Sprintf("%s TTFB p50 / p99, c=%d", kind, m.conc), func(i int) string {
				r := &m.res[i]
				return ms3(r.pct(r.ttfb, 50)) + " / " + ms3(r.pct(r.ttfb, 99))
			}, "")
		}
		row(fmt.Sprintf("%s total p50 / p99, c=%d", kind, m.conc), func(i int) string {
			r := &m.res[i]
			return ms3(r.pct(r.total, 50)) + " / " + ms3(r.pct(r.total, 99))
		}, "")
		row(fmt.Sprintf("%s proxy CPU per call, c=%d", kind, m.conc), func(i int) string {
			if targets[i].pid == 0 {
				return "—"
			}
			return us(m.res[i].cpuPerCall())
		}, ratio(float64(m.res[sb].cpuPerCall()), float64(m.res[bare].cpuPerCall())))
	}
	p50 := func(r *result, ttfb bool) time.Duration {
		if ttfb {
			return r.pct(r.ttfb, 50)
		}
		return r.pct(r.total, 50)
	}
	added := func(m *measurement, ttfb bool, label string) (time.Duration, time.Duration) {
		d0 := p50(&m.res[0], ttfb)
		ab, as := p50(&m.res[bare], ttfb)-d0, p50(&m.res[sb], ttfb)-d0
		row(label+" p50, c=1", func(i int) string { return ms3(p50(&m.res[i], ttfb)) }, "")
		row("added "+label+" p50, c=1 (target − direct)", func(i int) string {
			if i == 0 {
				return "—"
			}
			return us(p50(&m.res[i], ttfb) - d0)
		}, ratio(float64(as), float64(ab)))
		return ab, as
	}
	addBare, addSB := added(ns1, false, "non-stream latency")
	added(st1, true, "stream TTFB")
	row("errors (all runs)", func(i int) string {
		n := 0
		for _, m := range ms {
			n += m.res[i].errs
		}
		return strconv.Itoa(n)
	}, "")
	mem := func(m map[string]int64) func(i int) string {
		return func(i int) string {
			if v, ok := m[targets[i].name]; ok {
				return mib(v)
			}
			return "—"
		}
	}
	row("RSS idle after warm-up", mem(idle), "")
	row("RSS after all load runs", mem(after), "")
	perStream := map[string]float64{}
	row(fmt.Sprintf("RSS with %d slow streams open", o.slowN), func(i int) string {
		s, ok := slow[targets[i].name]
		if !ok {
			return "—"
		}
		return mib(s.during)
	}, "")
	row("RSS per open stream", func(i int) string {
		s, ok := slow[targets[i].name]
		if !ok || s.open == 0 {
			return "—"
		}
		v := float64(s.during-s.before) / 1024 / float64(s.open)
		perStream[targets[i].name] = v
		return fmt.Sprintf("%.1f KiB", v)
	}, "")

	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | measured | result |")
	fmt.Fprintln(w, "| --- | ---: | --- |")
	thr := func(m *measurement) float64 { return m.res[sb].rate() / m.res[bare].rate() }
	fmt.Fprintf(w, "| non-stream throughput ≥ 90%% of bare proxy | %.0f%% | %s |\n", 100*thr(nsC), passMiss(thr(nsC) >= 0.9))
	fmt.Fprintf(w, "| stream throughput ≥ 90%% of bare proxy | %.0f%% | %s |\n", 100*thr(stC), passMiss(thr(stC) >= 0.9))
	if addBare > 0 {
		r := float64(addSB) / float64(addBare)
		fmt.Fprintf(w, "| added p50 latency at c=1 ≤ 1.2× bare proxy's | %.2f× (%s vs %s) | %s |\n", r, us(addSB), us(addBare), passMiss(r <= 1.2))
	} else {
		fmt.Fprintf(w, "| added p50 latency at c=1 ≤ 1.2× bare proxy's | bare proxy added %s: ratio undefined | MISS (unmeasurable) |\n", us(addBare))
	}
	sbName := targets[sb].name
	if v, ok := idle[sbName]; ok {
		fmt.Fprintf(w, "| Switchboard RSS idle < 40 MiB | %s | %s |\n", mib(v), passMiss(v < 40<<20))
	}
	if v, ok := perStream[sbName]; ok {
		s := slow[sbName]
		fmt.Fprintf(w, "| Switchboard RSS < 64 KiB per open stream | %.1f KiB (%d streams open, %d failed) | %s |\n", v, s.open, s.failed, passMiss(v < 64 && s.failed == 0))
	}
}
