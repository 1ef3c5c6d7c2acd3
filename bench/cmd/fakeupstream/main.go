// Command fakeupstream is the benchmark's OpenAI-compatible upstream: it
// answers POST /v1/chat/completions with a fixed, small response so that
// the cost measured in front of it belongs to whatever sits in between.
//
// Non-streaming calls get one JSON body with usage. Streaming calls get
// exactly 20 content chunks, a usage chunk when stream_options.include_usage
// is true, and "data: [DONE]", each flushed on its own. A request for the
// model named by -slow-model waits -slow-delay before every chunk; that is
// how the benchmark holds many streams open at once.
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
	"strconv"
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
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, `{"error":{"message":"read body","type":"invalid_request_error"}}`, http.StatusBadRequest)
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
	flag.Parse()
	srv := &http.Server{
		Addr:              *addr,
		Handler:           &upstream{chunkDelay: *chunkDelay, slowModel: *slowModel, slowDelay: *slowDelay},
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Printf("fakeupstream listening on http://%s", *addr)
	log.Fatal(srv.ListenAndServe())
}
