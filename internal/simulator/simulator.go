// Package simulator is a built-in model provider that speaks the OpenAI chat
// API with deterministic answers, configurable latency and streaming speed.
// It lets a newcomer try the gateway with no provider account, and it is
// what bench/ measures against. Channels of type "simulator" reach it
// in-process through Transport, without a socket.
package simulator

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"

	"switchboard/internal/tokencount"
)

// Settings shape the simulator's behaviour.
type Settings struct {
	Latency         time.Duration // before the first byte
	TokensPerSecond float64       // stream pacing; 0 = as fast as possible
	Models          []string      // listed by GET /v1/models
}

// ParseSettings reads a channel's settings map: latency ("250ms"),
// tokens_per_second ("50").
func ParseSettings(m map[string]string, models []string) (Settings, error) {
	s := Settings{Models: models}
	if v := m["latency"]; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return s, fmt.Errorf("simulator latency %q: %w", v, err)
		}
		s.Latency = d
	}
	if v := m["tokens_per_second"]; v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return s, fmt.Errorf("simulator tokens_per_second %q: want a non-negative number", v)
		}
		s.TokensPerSecond = f
	}
	return s, nil
}

// Handler serves the simulated OpenAI API.
type Handler struct {
	Settings Settings
	now      func() time.Time
}

// NewHandler returns a simulator with the given settings.
func NewHandler(s Settings) *Handler { return &Handler{Settings: s, now: time.Now} }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/v1")
	switch {
	case path == "/models" && r.Method == http.MethodGet:
		h.models(w)
	case path == "/chat/completions" && r.Method == http.MethodPost:
		h.chat(w, r)
	default:
		writeError(w, http.StatusNotFound, "not_found", "the simulator serves /v1/chat/completions and /v1/models")
	}
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
	_, _ = w.Write(b)
}

func (h *Handler) models(w http.ResponseWriter) {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	out := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for _, m := range h.Settings.Models {
		out.Data = append(out.Data, model{ID: m, Object: "model", Created: 1700000000, OwnedBy: "switchboard-simulator"})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// words is the simulator's vocabulary; answers are picked from it
// deterministically so tests and benchmarks are repeatable.
var words = strings.Fields(`the gateway relays every call to an upstream channel and records
its usage in the ledger so that each key stays within budget while streams flow through
unbuffered with tools images audio and thinking carried across formats`)

type plan struct {
	model        string
	text         []string // answer pieces, one per stream chunk
	toolName     string
	promptTokens int
	outTokens    int
	finish       string
}

func (h *Handler) plan(body []byte) (*plan, error) {
	if !gjson.ValidBytes(body) {
		return nil, fmt.Errorf("request body is not valid JSON")
	}
	model := gjson.GetBytes(body, "model").String()
	if model == "" {
		return nil, fmt.Errorf("you must provide a model parameter")
	}
	msgs := gjson.GetBytes(body, "messages")
	if !msgs.IsArray() || len(msgs.Array()) == 0 {
		return nil, fmt.Errorf("messages must be a non-empty array")
	}
	var prompt strings.Builder
	var last string
	msgs.ForEach(func(_, m gjson.Result) bool {
		c := m.Get("content")
		text := c.String()
		if c.IsArray() {
			var b strings.Builder
			c.ForEach(func(_, p gjson.Result) bool {
				if t := p.Get("text"); t.Exists() {
					b.WriteString(t.String())
					b.WriteByte(' ')
				}
				return true
			})
			text = b.String()
		}
		prompt.WriteString(text)
		prompt.WriteByte('\n')
		if m.Get("role").String() == "user" {
			last = text
		}
		return true
	})
	p := &plan{model: model, promptTokens: tokencount.Count(prompt.String()) + 3*len(msgs.Array()), finish: "stop"}

	// A required or named tool choice makes the simulator call the tool,
	// so tool plumbing can be tried without a provider.
	tc := gjson.GetBytes(body, "tool_choice")
	tools := gjson.GetBytes(body, "tools")
	if tools.IsArray() && len(tools.Array()) > 0 && (tc.String() == "required" || tc.Get("function.name").Exists()) {
		p.toolName = tc.Get("function.name").String()
		if p.toolName == "" {
			p.toolName = tools.Get("0.function.name").String()
		}
		p.finish = "tool_calls"
		p.outTokens = 10
		if mt := gjson.GetBytes(body, "max_tokens"); mt.Int() > 0 {
			p.outTokens = min(p.outTokens, int(mt.Int()))
		} else if mt := gjson.GetBytes(body, "max_completion_tokens"); mt.Int() > 0 {
			p.outTokens = min(p.outTokens, int(mt.Int()))
		}
		return p, nil
	}

	n := 24
	limit := 0 // the caller's output limit in tokens; 0: none
	if mt := gjson.GetBytes(body, "max_tokens"); mt.Exists() {
		limit = int(mt.Int())
	} else if mt := gjson.GetBytes(body, "max_completion_tokens"); mt.Exists() {
		limit = int(mt.Int())
	}
	if limit > 0 {
		n = limit
	}
	if v := gjson.GetBytes(body, "metadata.simulator_words"); v.Exists() {
		n = int(v.Int())
	}
	n = max(1, min(n, 4096))
	hsh := fnv.New32a()
	_, _ = io.WriteString(hsh, last)
	seed := int(hsh.Sum32())
	echo := strings.Fields(last)
	if len(echo) > 6 {
		echo = echo[:6]
	}
	first := "Simulated"
	if len(echo) > 0 {
		first = "Simulated reply to \"" + strings.Join(echo, " ") + "\":"
	}
	p.text = append(p.text, first)
	for i := 1; i < n; i++ {
		p.text = append(p.text, " "+words[(seed+i*7)%len(words)])
	}
	if n < 24 && !gjson.GetBytes(body, "metadata.simulator_words").Exists() && limit > 0 {
		p.finish = "length"
	}
	if limit > 0 && fitTokens(p, limit) {
		p.finish = "length"
	}
	p.outTokens = tokencount.Count(strings.Join(p.text, ""))
	return p, nil
}

// fitTokens cuts the answer to at most limit tokens, as a real model stops
// at max_tokens; it reports whether it cut anything. A word is often more
// than one token, so the answer is measured, not its words counted.
func fitTokens(p *plan, limit int) bool {
	count := func(k int) int { return tokencount.Count(strings.Join(p.text[:k], "")) }
	if count(len(p.text)) <= limit {
		return false
	}
	// The longest prefix of pieces that fits (more pieces never count
	// fewer tokens).
	lo, hi := 0, len(p.text)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if count(mid) <= limit {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	if lo == 0 {
		// Even the first piece is too long: a shorter opening word.
		for _, w := range []string{"Simulated", "Hi"} {
			if tokencount.Count(w) <= limit {
				p.text = []string{w}
				return true
			}
		}
		p.text = []string{"Hi"}
		return true
	}
	p.text = p.text[:lo]
	return true
}

func (h *Handler) chat(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "cannot read body")
		return
	}
	p, err := h.plan(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	if h.Settings.Latency > 0 {
		t := time.NewTimer(h.Settings.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	id := "chatcmpl-sim" + strconv.FormatInt(h.now().UnixNano(), 36)
	created := h.now().Unix()
	if gjson.GetBytes(body, "stream").Bool() {
		h.stream(w, r, p, id, created, gjson.GetBytes(body, "stream_options.include_usage").Bool())
		return
	}
	msg := map[string]any{"role": "assistant", "content": strings.Join(p.text, ""), "refusal": nil}
	if p.toolName != "" {
		msg["content"] = nil
		msg["tool_calls"] = []any{map[string]any{"id": "call_sim_0", "type": "function", "function": map[string]any{"name": p.toolName, "arguments": "{}"}}}
	}
	resp := map[string]any{
		"id": id, "object": "chat.completion", "created": created, "model": p.model,
		"choices": []any{map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": p.finish}},
		"usage":   usage(p),
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func usage(p *plan) map[string]any {
	return map[string]any{
		"prompt_tokens": p.promptTokens, "completion_tokens": p.outTokens, "total_tokens": p.promptTokens + p.outTokens,
		"prompt_tokens_details":     map[string]any{"cached_tokens": 0, "audio_tokens": 0},
		"completion_tokens_details": map[string]any{"reasoning_tokens": 0, "audio_tokens": 0},
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (h *Handler) stream(w http.ResponseWriter, r *http.Request, p *plan, id string, created int64, includeUsage bool) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	head := `{"id":"` + id + `","object":"chat.completion.chunk","created":` + strconv.FormatInt(created, 10) + `,"model":` + strconv.Quote(p.model) + `,"choices":`
	send := func(choices string, extra string) bool {
		b := (*bp)[:0]
		b = append(b, "data: "...)
		b = append(b, head...)
		b = append(b, choices...)
		b = append(b, extra...)
		b = append(b, "}\n\n"...)
		*bp = b
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(`[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]`, "") {
		return
	}
	var perChunk time.Duration
	if h.Settings.TokensPerSecond > 0 {
		perChunk = time.Duration(float64(time.Second) / h.Settings.TokensPerSecond)
	}
	var timer *time.Timer
	if p.toolName != "" {
		if !send(`[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_sim_0","type":"function","function":{"name":`+strconv.Quote(p.toolName)+`,"arguments":""}}]},"logprobs":null,"finish_reason":null}]`, "") ||
			!send(`[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]},"logprobs":null,"finish_reason":null}]`, "") {
			return
		}
	}
	for _, piece := range p.text {
		if perChunk > 0 {
			if timer == nil {
				timer = time.NewTimer(perChunk)
			} else {
				timer.Reset(perChunk)
			}
			select {
			case <-timer.C:
			case <-r.Context().Done():
				return
			}
		}
		if r.Context().Err() != nil {
			return
		}
		if !send(`[{"index":0,"delta":{"content":`+strconv.Quote(piece)+`},"logprobs":null,"finish_reason":null}]`, "") {
			return
		}
	}
	if !send(`[{"index":0,"delta":{},"logprobs":null,"finish_reason":"`+p.finish+`"}]`, "") {
		return
	}
	if includeUsage {
		u, _ := json.Marshal(usage(p))
		if !send(`[]`, `,"usage":`+string(u)) {
			return
		}
	}
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}
