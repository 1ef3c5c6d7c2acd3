// Command fakeupstream is the benchmark's OpenAI-compatible upstream: it
// answers POST /v1/chat/completions with a fixed, small response so that
// the cost measured in front of it belongs to whatever sits in between.
//
// POST /v1/embeddings answers one 1,536-dimension vector, base64-encoded
// as OpenAI SDKs ask for it by default, with usage.
//
// Non-streaming calls get one JSON body with usage. Streaming calls get
// exactly 20 content chunks, a usage chunk when stream_options.include_usage
// is true, and "data: [DONE]", each flushed on its own. A request for the
// model named by -slow-model waits -slow-delay before every chunk; that is
// how the benchmark holds many streams open at once.
//
// For the soak benchmark it can also misbehave: -fail-rate is the share of
// calls that fail, each with a fault drawn uniformly from -fail-modes
// (500, 429, reset = the connection is closed with a TCP reset before any
// answer, hang = no headers until the client gives up). -fail-for limits
// the faults to the first part of the process's life, so a channel can be
// broken and then recover. GET /stats reports counts of calls and faults
// as JSON.
package main

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/gjson"
)

// Chunks is the number of content chunks in every stream.
const Chunks = 20

var (
	nonStreamBody = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-model",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the benchmark upstream."},"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":12,"completion_tokens":20,"total_tokens":32}}`)
	chunkFrames = buildChunks()
	usageFrame  = []byte(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model",` +
		`"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":20,"total_tokens":32}}` + "\n\n")
	doneFrame = []byte("data: [DONE]\n\n")
	// embeddingBody is one 1,536-float vector in base64 (8 KiB of floats).
	embeddingBody = []byte(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":"` +
		base64.StdEncoding.EncodeToString(make([]byte, 4*1536)) + `"}],"model":"bench-embed",` +
		`"usage":{"prompt_tokens":8,"total_tokens":8}}`)
)

func buildChunks() [][]byte {
	frames := make([][]byte, Chunks)
	for i := range frames {
		delta := `{"content":"tok` + strconv.Itoa(i) + ` "}`
		if i == 0 {
			delta = `{"role":"assistant","content":"tok0 "}`
		}
		finish := "null"
		if i == Chunks-1 {
			finish = `"stop"`
		}
		frames[i] = []byte(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model",` +
			`"choices":[{"index":0,"delta":` + delta + `,"finish_reason":` + finish + `}]}` + "\n\n")
	}
	return frames
}

type upstream struct {
	chunkDelay time.Duration // before every chunk of ordinary streams
	slowModel  string
	slowDelay  time.Duration // before every chunk of slow-model streams

	faults faults
	stats  stats
}

// Fault modes of -fail-modes.
const (
	fault500   = "500"
	fault429   = "429"
	faultReset = "reset"
	faultHang  = "hang"
)

// faults decides which calls fail and how.
type faults struct {
	rate  float64
	modes []string
	// For -fail-for: faults stop this long after the first call, so the
	// schedule starts with the load rather than with the process.
	window time.Duration
	start  sync.Once
	until  time.Time // zero: for ever

	mu  sync.Mutex // guards rng
	rng *rand.Rand
}

func parseModes(s string) ([]string, error) {
	var modes []string
	for m := range strings.SplitSeq(s, ",") {
		m = strings.TrimSpace(m)
		switch m {
		case "":
			continue
		case fault500, fault429, faultReset, faultHang:
			modes = append(modes, m)
		default:
			return nil, fmt.Errorf("unknown fail mode %q (want 500, 429, reset or hang)", m)
		}
	}
	return modes, nil
}

// pick returns the fault for one call, or "" for a healthy answer.
func (f *faults) pick(now time.Time) string {
	if f.rate <= 0 || len(f.modes) == 0 {
		return ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.window > 0 {
		f.start.Do(func() { f.until = now.Add(f.window) })
		if !now.Before(f.until) {
			return ""
		}
	}
	if f.rng.Float64() >= f.rate {
		return ""
	}
	return f.modes[f.rng.IntN(len(f.modes))]
}

// stats counts calls; GET /stats serves it as JSON.
type stats struct {
	Requests, OK, F500, F429, Reset, Hang atomic.Int64
}

func (s *stats) serve(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]int64{
		"requests": s.Requests.Load(), "ok": s.OK.Load(),
		"500": s.F500.Load(), "429": s.F429.Load(), "reset": s.Reset.Load(), "hang": s.Hang.Load(),
	})
}

// fail acts out one fault.
func (u *upstream) fail(w http.ResponseWriter, r *http.Request, mode string) {
	switch mode {
	case fault500:
		u.stats.F500.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"error":{"message":"injected fault","type":"server_error"}}`)
	case fault429:
		u.stats.F429.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"error":{"message":"injected rate limit","type":"rate_limit_error"}}`)
	case faultReset:
		u.stats.Reset.Add(1)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		// Linger 0 makes close send RST instead of FIN: a real reset.
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = conn.Close()
	case faultHang:
		u.stats.Hang.Add(1)
		// No headers until the client gives up; bounded so a client without
		// a timeout cannot pin the handler for ever.
		t := time.NewTimer(10 * time.Minute)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-t.C:
		}
	}
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/stats" {
		u.stats.serve(w)
		return
	}
	if r.Method != http.MethodPost || (r.URL.Path != "/v1/chat/completions" && r.URL.Path != "/v1/embeddings") {
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, `{"error":{"message":"read body","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	u.stats.Requests.Add(1)
	if mode := u.faults.pick(time.Now()); mode != "" {
		u.fail(w, r, mode)
		return
	}
	u.stats.OK.Add(1)
	if r.URL.Path == "/v1/embeddings" {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(embeddingBody)))
		_, _ = w.Write(embeddingBody)
		return
	}
	res := gjson.GetManyBytes(body, "stream", "stream_options.include_usage", "model")
	if !res[0].Bool() {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(nonStreamBody)))
		_, _ = w.Write(nonStreamBody)
		return
	}
	delay := u.chunkDelay
	if u.slowModel != "" && res[2].String() == u.slowModel {
		delay = u.slowDelay
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	var timer *time.Timer
	if delay > 0 {
		timer = time.NewTimer(delay)
		defer timer.Stop()
	}
	for _, frame := range chunkFrames {
		if timer != nil {
			select {
			case <-r.Context().Done():
				return
			case <-timer.C:
			}
			timer.Reset(delay)
		}
		if _, err := w.Write(frame); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
	if res[1].Bool() {
		_, _ = w.Write(usageFrame)
	}
	_, _ = w.Write(doneFrame)
	_ = rc.Flush()
}

func main() {
	addr := flag.String("addr", "127.0.0.1:18001", "listen address")
	chunkDelay := flag.Duration("chunk-delay", 0, "delay before every stream chunk")
	slowModel := flag.String("slow-model", "bench-slow", "model whose streams use -slow-delay")
	slowDelay := flag.Duration("slow-delay", time.Second, "delay before every chunk of -slow-model streams")
	failRate := flag.Float64("fail-rate", 0, "share of calls (0–1) that fail with a fault from -fail-modes")
	failModes := flag.String("fail-modes", "500,429,reset,hang", "comma-separated faults: 500, 429, reset, hang")
	failFor := flag.Duration("fail-for", 0, "inject faults only during this long after the first call (0: always)")
	seed := flag.Uint64("seed", 1, "seed of the fault choices")
	flag.Parse()
	modes, err := parseModes(*failModes)
	if err != nil {
		log.Fatal(err)
	}
	if *failRate < 0 || *failRate > 1 {
		log.Fatalf("-fail-rate %v is outside 0–1", *failRate)
	}
	u := &upstream{chunkDelay: *chunkDelay, slowModel: *slowModel, slowDelay: *slowDelay}
	u.faults = faults{rate: *failRate, modes: modes, window: *failFor, rng: rand.New(rand.NewPCG(*seed, *seed^0x9e3779b97f4a7c15))}
	srv := &http.Server{
		Addr:              *addr,
		Handler:           u,
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Printf("fakeupstream listening on http://%s", *addr)
	log.Fatal(srv.ListenAndServe())
}
