package main

// The hardening suite (issue 7): what a tenant with a valid key, or an
// upstream that misbehaves, can do to the gateway. Each test drives the
// real app and asserts the process survives, the error comes in the
// caller's shape, and nothing reaches an upstream it must not.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"switchboard/internal/config"
	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
)

const hardConfig = `
channels:
  - name: up-openai
    type: openai
    base_url: %s
    api_keys: [sk-upstream-openai-0123456789]
    models: [gpt-4o-mini, gpt-expensive]
  - name: up-anthropic
    type: anthropic
    base_url: %s
    api_keys: [sk-ant-upstream-0123456789]
    models: [claude-cheap, claude-expensive]
  - name: up-gemini
    type: gemini
    base_url: %s
    api_keys: [gemini-upstream-key-0123456789]
    models: [gemini-cheap, gemini-expensive]
%s
keys:
  - name: alice
    key: ` + testKey + `
    models: ["*"]
  - name: bob
    key: ` + testKeyLimit + `
    models: [gpt-4o-mini, claude-cheap, gemini-cheap, shared-model]
`

type hardFixture struct {
	n          *node
	oa, an, gm *gatewaytest.Upstream
}

func newHardFixture(t *testing.T, extra string) *hardFixture {
	t.Helper()
	f := &hardFixture{
		oa: gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{Text: "hello from openai", PromptTokens: 5, CompletionTokens: 3}.Handler()),
		an: gatewaytest.NewUpstream(t, gatewaytest.Anthropic{Text: "hello from anthropic", InputTokens: 5, OutputTokens: 3}.Handler()),
		gm: gatewaytest.NewUpstream(t, gatewaytest.Gemini{Text: "hello from gemini", PromptTokens: 5, CandidatesTokens: 3}.Handler()),
	}
	f.n = startNode(t, hardConfig, f.oa.URL, f.an.URL, f.gm.URL, extra)
	return f
}

func (f *hardFixture) upstreamCalls() int { return f.oa.Count() + f.an.Count() + f.gm.Count() }

// hardRoute is one JSON model route: how a body with a given routing
// prefix is framed, how the key is sent, and how errors look.
type hardRoute struct {
	name, path string
	// open and close frame the routing fields around a nested value.
	open, close string
	header      func(key string) map[string]string
	// shape checks the caller's error shape and returns the message.
	shape func(t *testing.T, body []byte) string
}

func openAIShape(t *testing.T, b []byte) string {
	t.Helper()
	if gjson.GetBytes(b, "error.type").Str != "invalid_request_error" {
		t.Errorf("not OpenAI's error shape: %s", b)
	}
	return gjson.GetBytes(b, "error.message").Str
}

func anthropicShape(t *testing.T, b []byte) string {
	t.Helper()
	if gjson.GetBytes(b, "type").Str != "error" || gjson.GetBytes(b, "error.type").Str != "invalid_request_error" {
		t.Errorf("not Anthropic's error shape: %s", b)
	}
	return gjson.GetBytes(b, "error.message").Str
}

func geminiShape(t *testing.T, b []byte) string {
	t.Helper()
	if gjson.GetBytes(b, "error.code").Int() != 400 || gjson.GetBytes(b, "error.status").Str != "INVALID_ARGUMENT" {
		t.Errorf("not Gemini's error shape: %s", b)
	}
	return gjson.GetBytes(b, "error.message").Str
}

func bearerHeader(key string) map[string]string { return nil }
func anthropicHeader(key string) map[string]string {
	return map[string]string{"X-Api-Key": key, "Anthropic-Version": "2023-06-01"}
}
func geminiHeader(key string) map[string]string { return map[string]string{"X-Goog-Api-Key": key} }

var hardRoutes = []hardRoute{
	{"openai chat", "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":`, `}`, bearerHeader, openAIShape},
	{"anthropic messages", "/v1/messages", `{"model":"claude-cheap","max_tokens":10,"messages":`, `}`, anthropicHeader, anthropicShape},
	{"anthropic count_tokens", "/v1/messages/count_tokens", `{"model":"claude-cheap","messages":`, `}`, anthropicHeader, anthropicShape},
	{"gemini generateContent", "/v1beta/models/gemini-cheap:generateContent", `{"contents":`, `}`, geminiHeader, geminiShape},
	{"gemini streamGenerateContent", "/v1beta/models/gemini-cheap:streamGenerateContent?alt=sse", `{"contents":`, `}`, geminiHeader, geminiShape},
	{"gemini countTokens", "/v1beta/models/gemini-cheap:countTokens", `{"contents":`, `}`, geminiHeader, geminiShape},
}

// hardPost sends a raw body on a route with the route's key style.
func hardPost(t *testing.T, n *node, rt hardRoute, key, body string) (int, []byte) {
	t.Helper()
	bearer := key
	hdr := rt.header(key)
	if hdr != nil {
		bearer = ""
	}
	resp := n.post(t, rt.path, bearer, body, hdr)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: read answer: %v", rt.name, err)
	}
	return resp.StatusCode, b
}

// hardAlive proves the node still serves a normal call on every family.
func hardAlive(t *testing.T, f *hardFixture) {
	t.Helper()
	for _, rt := range []hardRoute{hardRoutes[0], hardRoutes[1], hardRoutes[3]} {
		msgs := `[{"role":"user","content":"hi"}]`
		if strings.Contains(rt.path, "gemini") {
			msgs = `[{"role":"user","parts":[{"text":"hi"}]}]`
		}
		status, b := hardPost(t, f.n, rt, testKey, rt.open+msgs+rt.close)
		if status != http.StatusOK || !strings.Contains(string(b), "hello from") {
			t.Fatalf("%s after the attack: %d %s", rt.name, status, b)
		}
	}
}

// Deep JSON: ~11 MB of nested arrays (5.6 million levels, under the body
// limit) used to overflow the stack in gjson.ValidBytes — a fatal error
// that killed the process — from any valid key, on every JSON route.
func TestHardDeepJSONRefusedOnEveryRoute(t *testing.T) {
	faultNoLeaks(t)
	f := newHardFixture(t, "")
	const levels = 5_600_000
	nested := strings.Repeat("[", levels) + strings.Repeat("]", levels)
	for _, rt := range hardRoutes {
		t.Run(rt.name, func(t *testing.T) { hardRefused(t, f, rt, testKey, rt.open+nested+rt.close, "deeper than 512 levels") })
	}
	hardRefusedAll(t, f)
}

// hardRefused sends body and wants a 400 in the route's shape whose
// message holds why.
func hardRefused(t *testing.T, f *hardFixture, rt hardRoute, key, body, why string) {
	t.Helper()
	status, b := hardPost(t, f.n, rt, key, body)
	if status != http.StatusBadRequest {
		t.Fatalf("status %d: %.300s", status, b)
	}
	if msg := rt.shape(t, b); !strings.Contains(msg, why) {
		t.Errorf("message %q does not say why", msg)
	}
}

// hardRefusedAll checks that refused bodies reached no upstream and that
// the node still serves.
func hardRefusedAll(t *testing.T, f *hardFixture) {
	t.Helper()
	if n := f.upstreamCalls(); n != 0 {
		t.Fatalf("%d upstream calls for refused bodies", n)
	}
	hardAlive(t, f)
}

// Duplicate routing fields: the gateway checked the last "model" while an
// upstream that takes the first ran (and billed) a model the key may not use.
func TestHardDuplicateRoutingFieldsRefused(t *testing.T) {
	faultNoLeaks(t)
	f := newHardFixture(t, "")
	cases := []struct {
		rt   hardRoute
		body string
	}{
		{hardRoutes[0], `{"model":"gpt-expensive","model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}`},
		{hardRoutes[0], `{"model":"gpt-4o-mini","Model":"gpt-expensive","messages":[{"role":"user","content":"x"}]}`},
		{hardRoutes[0], `{"model":"gpt-4o-mini","messages":[],"stream":false,"stream":true}`},
		{hardRoutes[1], `{"mod\u0065l":"claude-expensive","model":"claude-cheap","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`},
		{hardRoutes[1], `{"model":"claude-cheap","max_tokens":5,"max_tokens":100000,"messages":[{"role":"user","content":"x"}]}`},
		{hardRoutes[2], `{"model":"claude-expensive","model":"claude-cheap","messages":[{"role":"user","content":"x"}]}`},
		{hardRoutes[3], `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"maxOutputTokens":5},"generation_config":{"maxOutputTokens":99999}}`},
		{hardRoutes[4], `{"contents":[{"parts":[{"text":"x"}]}],"contents":[]}`},
		{hardRoutes[5], `{"contents":[{"parts":[{"text":"x"}]}],"generateContentRequest":{},"generateContentRequest":{}}`},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%s/%d", tc.rt.name, i), func(t *testing.T) { hardRefused(t, f, tc.rt, testKeyLimit, tc.body, "more than once") })
	}
	hardRefusedAll(t, f)
}

// Quadratic CPU: the usage estimate (run whenever an upstream reports no
// usage, and on every client disconnect) walked the request recursively,
// rescanning the rest of the body at every level: 500 levels around a
// 24 MB payload cost 500 scans of it. Now it is one pass.
func TestHardUsageEstimateIsLinear(t *testing.T) {
	faultNoLeaks(t)
	f := newHardFixture(t, "")
	f.oa.SetHandler(gatewaytest.OpenAIChat{Text: "counted answer", NoUsage: true}.Handler())
	payload := `{"data":"` + strings.Repeat("A", 24<<20) + `"}`
	call := func(blob string) time.Duration {
		body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"metadata_blob":` + blob + `}`
		start := time.Now()
		status, b := hardPost(t, f.n, hardRoutes[0], testKey, body)
		elapsed := time.Since(start)
		if status != http.StatusOK {
			t.Fatalf("status %d: %.300s", status, b)
		}
		return elapsed
	}
	// The same bytes without the nesting are the baseline: reading, checking
	// and forwarding 24 MB costs what it costs on this machine today.
	flat := call(payload)
	nested := call(strings.Repeat("[", 500) + payload + strings.Repeat("]", 500))
	rec := f.n.usage(t, func(r gateway.UsageRecord) bool { return r.Model == "gpt-4o-mini" })
	if rec.UsageSource != gateway.UsageEstimated || rec.Usage.InputTokens == 0 {
		t.Fatalf("usage not estimated: %+v", rec)
	}
	// A linear walk costs the nested body about what the flat one costs; the
	// recursive walk rescanned the 24 MB at each of the 500 levels (minutes).
	if nested > 3*flat+2*time.Second {
		t.Fatalf("a call whose usage is estimated took %s with 500 levels of nesting, %s without", nested, flat)
	}
}

// hostileJSON answers 200 with n levels of nesting where the answer's
// content belongs, in the request's format (stream: one event of it).
func hostileJSON(n int) http.HandlerFunc {
	deep := strings.Repeat("[", n) + strings.Repeat("]", n)
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if strings.Contains(r.URL.Path, "stream") || r.Header.Get("Accept") == "text/event-stream" {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"content\":%s}}\n\n", deep)
			fmt.Fprintf(w, "data: {\"choices\":%s,\"candidates\":%s}\n\n", deep, deep)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"x","type":"message","choices":%s,"content":%s,"candidates":%s}`, deep, deep, deep)
	}
}

// A hostile upstream's deep answer used to overflow the stack in the
// recursive validity checks of the pass-through and translation paths.
func TestHardUpstreamDeepJSONFailsCleanly(t *testing.T) {
	faultNoLeaks(t)
	f := newHardFixture(t, "")
	f.n.skipSchemaCheck("the test's hostile upstream sends minimal or broken events, which the pass-through path relays byte for byte")
	for _, u := range []*gatewaytest.Upstream{f.oa, f.an, f.gm} {
		u.SetHandler(hostileJSON(3_000_000))
	}
	type call struct {
		name  string
		rt    hardRoute
		model string
	}
	chat := func(rt hardRoute, model string, stream bool) string {
		if strings.HasPrefix(rt.path, "/v1beta") {
			return `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
		}
		return fmt.Sprintf(`{"model":%q,"max_tokens":10,"stream":%v,"messages":[{"role":"user","content":"hi"}]}`, model, stream)
	}
	geminiTo := func(model, method string) hardRoute {
		rt := hardRoutes[3]
		rt.path = "/v1beta/models/" + model + ":" + method
		return rt
	}
	for _, c := range []call{
		{"openai pass-through", hardRoutes[0], "gpt-4o-mini"},
		{"openai to anthropic", hardRoutes[0], "claude-cheap"},
		{"anthropic to gemini", hardRoutes[1], "gemini-cheap"},
		{"gemini to openai", geminiTo("gpt-4o-mini", "generateContent"), ""},
	} {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", c.name, stream), func(t *testing.T) {
				rt := c.rt
				if stream && strings.HasPrefix(rt.path, "/v1beta") {
					rt = geminiTo("gpt-4o-mini", "streamGenerateContent?alt=sse")
				}
				status, b := hardPost(t, f.n, rt, testKey, chat(rt, c.model, stream))
				if !stream && status != http.StatusBadGateway {
					t.Fatalf("status %d: %.300s", status, b)
				}
				if stream && (status == http.StatusOK) != strings.Contains(string(b), "error") || stream && status != http.StatusOK && status != http.StatusBadGateway {
					t.Fatalf("a stream of hostile events: %d %.300s", status, b)
				}
			})
		}
	}
	f.oa.SetHandler(gatewaytest.OpenAIChat{Text: "hello from openai", PromptTokens: 5, CompletionTokens: 3}.Handler())
	f.an.SetHandler(gatewaytest.Anthropic{Text: "hello from anthropic", InputTokens: 5, OutputTokens: 3}.Handler())
	f.gm.SetHandler(gatewaytest.Gemini{Text: "hello from gemini", PromptTokens: 5, CandidatesTokens: 3}.Handler())
	hardAlive(t, f)
}

// hostileChannel is YAML for one more OpenAI channel at url serving
// model "hostile" (to append with newHardFixture's extra).
func hostileChannel(url, extra string) string {
	return fmt.Sprintf(`  - name: hostile
    type: openai
    base_url: %s
    api_keys: [sk-hostile-upstream-0123456789]
    models: [hostile]
%s`, url, extra)
}

const hostileChunk = `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}` + "\n\n"

// endlessEvent streams one good chunk, then data lines that never end in
// the blank line closing an event: limit bytes of them, every pause.
func endlessEvent(limit int64, pause time.Duration) http.HandlerFunc {
	line := []byte("data: " + strings.Repeat("x", 4096) + "\n")
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, hostileChunk)
		w.(http.Flusher).Flush()
		for sent := int64(0); sent < limit && r.Context().Err() == nil; sent += int64(len(line)) {
			if _, err := w.Write(line); err != nil {
				return
			}
			if pause > 0 {
				w.(http.Flusher).Flush()
				time.Sleep(pause)
			}
		}
	}
}

// One SSE event was unbounded: data lines without a blank line grew it
// until memory ran out (1 GiB took a process to ~7 GB). The event is
// bounded now (64 MiB by default), and the stream ends in an error.
func TestHardEndlessSSEEventIsBounded(t *testing.T) {
	faultNoLeaks(t)
	hostile := gatewaytest.NewUpstream(t, endlessEvent(256<<20, 0))
	f := newHardFixture(t, hostileChannel(hostile.URL, "    timeout: 20s"))
	f.n.skipSchemaCheck("the test's hostile upstream sends minimal or broken events, which the pass-through path relays byte for byte")
	peak := faultWatchHeap(t)
	resp := f.n.post(t, "/v1/chat/completions", testKey, `{"model":"hostile","stream":true,"messages":[{"role":"user","content":"hi"}]}`, nil)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	grew := peak()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	if !strings.Contains(string(b), `"hi"`) || !strings.Contains(string(b), "ended before the answer was complete") {
		t.Fatalf("stream did not end in an error: %.500s", b)
	}
	t.Logf("heap grew by %d MiB while the upstream sent 256 MiB of one event", grew>>20)
	if grew > 200<<20 {
		t.Fatalf("heap grew by %d MiB", grew>>20)
	}
	rec := f.n.usage(t, func(r gateway.UsageRecord) bool { return r.Model == "hostile" })
	if rec.Status != http.StatusBadGateway {
		t.Fatalf("ledger %+v", rec)
	}
	hardAlive(t, f)
}

// Bytes that cannot complete an event never restart the idle timer: an
// upstream trickling a data line forever is cut at the channel's idle
// timeout, not kept alive.
func TestHardTrickledEventTimesOut(t *testing.T) {
	faultNoLeaks(t)
	hostile := gatewaytest.NewUpstream(t, endlessEvent(1<<30, 20*time.Millisecond))
	f := newHardFixture(t, hostileChannel(hostile.URL, "    timeout: 20s\n    idle_timeout: 400ms"))
	f.n.skipSchemaCheck("the test's hostile upstream sends minimal or broken events, which the pass-through path relays byte for byte")
	start := time.Now()
	resp := f.n.post(t, "/v1/chat/completions", testKey, `{"model":"hostile","stream":true,"messages":[{"role":"user","content":"hi"}]}`, nil)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a trickled event kept the stream alive for %s", d)
	}
	if !strings.Contains(string(b), "ended before the answer was complete") {
		t.Fatalf("stream did not end in an error: %.500s", b)
	}
}

// Header and query pass-through is an allow-list per format: what real
// clients need arrives, what steers the operator's account does not, and
// an operator can extend a channel's list.
func TestHardClientCannotSteerUpstream(t *testing.T) {
	faultNoLeaks(t)
	ext := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{Text: "hello from openai", PromptTokens: 5, CompletionTokens: 3}.Handler())
	f := newHardFixture(t, fmt.Sprintf(`  - name: extended
    type: openai
    base_url: %s
    api_keys: [sk-extended-0123456789]
    models: [gpt-extended]
    pass_headers: [OpenAI-Organization]
    pass_query: [trace]`, ext.URL))
	steer := map[string]string{
		"OpenAI-Organization": "org-victim", "OpenAI-Project": "proj-victim", "X-Goog-User-Project": "victim",
		"X-Forwarded-Host": "evil.example", "X-Original-URL": "/admin", "X-HTTP-Method-Override": "DELETE",
		"Cookie2": "a=b", "x-portkey-custom-host": "http://evil.example", "Idempotency-Key": "shared",
	}
	const steerQuery = "access_token=t&%24key=k&quotaUser=u&fields=x&trace=1"
	cases := []struct {
		rt     hardRoute
		path   string
		up     *gatewaytest.Upstream
		body   string
		want   map[string]string
		wantQ  string
		header map[string]string
	}{
		{hardRoutes[0], "/v1/chat/completions?" + steerQuery, f.oa, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"OpenAI-Beta": "assistants=v2", "Originator": "codex_exec", "Session-Id": "s1", "X-Codex-Turn-Metadata": "{}", "User-Agent": "codex_exec/0.135.0"}, "",
			map[string]string{"Authorization": "Bearer " + testKey}},
		{hardRoutes[1], "/v1/messages?beta=true&" + steerQuery, f.an, `{"model":"claude-cheap","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"Anthropic-Beta": "claude-code-20250219", "X-App": "cli", "User-Agent": "claude-cli/1.0", "X-Stainless-Lang": "js"}, "beta=true",
			anthropicHeader(testKey)},
		{hardRoutes[3], "/v1beta/models/gemini-cheap:generateContent?" + steerQuery, f.gm, `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`,
			map[string]string{"X-Goog-Api-Client": "genai-go/1.0", "User-Agent": "GeminiCLI/0.1"}, "",
			geminiHeader(testKey)},
		{hardRoutes[0], "/v1/chat/completions?" + steerQuery, ext, `{"model":"gpt-extended","messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"OpenAI-Organization": "org-victim"}, "trace=1",
			map[string]string{"Authorization": "Bearer " + testKey}},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			hdr := map[string]string{}
			for k, v := range steer {
				hdr[k] = v
			}
			for k, v := range tc.want {
				hdr[k] = v
			}
			for k, v := range tc.header {
				hdr[k] = v
			}
			resp := f.n.post(t, tc.path, "", tc.body, hdr)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			got := tc.up.Last(t)
			for k, v := range tc.want {
				if got.Header.Get(k) != v {
					t.Errorf("%s = %q upstream, want %q", k, got.Header.Get(k), v)
				}
			}
			for k := range steer {
				if _, wanted := tc.want[k]; !wanted && got.Header.Get(k) != "" {
					t.Errorf("client header %s reached the upstream", k)
				}
			}
			if got.RawQuery != tc.wantQ {
				t.Errorf("upstream query %q, want %q", got.RawQuery, tc.wantQ)
			}
		})
	}
}

// leakyMessage is what a careless or hostile upstream writes into its
// errors: the key it was called with and the URL it serves.
func leakyMessage(r *http.Request) string {
	key := r.Header.Get("Authorization") + r.Header.Get("X-Api-Key") + r.Header.Get("X-Goog-Api-Key")
	return fmt.Sprintf("invalid key %s for http://%s%s (host %s)", key, r.Host, r.URL.Path, r.Host)
}

// leakyError answers an error in the upstream's own format whose message
// holds the key and the URL.
func leakyError(format string, status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		msg := leakyMessage(r)
		switch format {
		case "anthropic":
			gatewaytest.AnthropicError(status, "invalid_request_error", msg, nil)(w, r)
		case "gemini":
			gatewaytest.GeminiError(status, msg)(w, r)
		default:
			gatewaytest.OpenAIError(status, msg, nil)(w, r)
		}
	}
}

// leakyStream starts a stream and fails mid-way with an error event whose
// message holds the key and the URL, in the upstream's format.
func leakyStream(format string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		msg, _ := json.Marshal(leakyMessage(r))
		w.Header().Set("Content-Type", "text/event-stream")
		switch format {
		case "anthropic":
			fmt.Fprint(w, `event: message_start`+"\n"+`data: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"model":"claude-cheap","usage":{"input_tokens":1,"output_tokens":1}}}`+"\n\n")
			fmt.Fprint(w, `event: content_block_start`+"\n"+`data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`+"\n\n")
			fmt.Fprint(w, `event: content_block_delta`+"\n"+`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"partial"}}`+"\n\n")
			fmt.Fprintf(w, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":%s}}\n\n", msg)
		case "gemini":
			fmt.Fprint(w, `data: {"candidates":[{"content":{"role":"model","parts":[{"text":"partial"}]}}]}`+"\n\n")
			fmt.Fprintf(w, "data: {\"error\":{\"code\":500,\"message\":%s,\"status\":\"INTERNAL\"}}\n\n", msg)
		default:
			fmt.Fprint(w, hostileChunk)
			fmt.Fprintf(w, "data: {\"error\":{\"message\":%s,\"type\":\"server_error\"}}\n\n", msg)
		}
	}
}

// Upstream error text (error bodies and mid-stream error events) reached
// clients and the ledger verbatim, with the upstream key and URL in it.
func TestHardUpstreamErrorsAreRedacted(t *testing.T) {
	faultNoLeaks(t)
	f := newHardFixture(t, "")
	f.n.skipSchemaCheck("the test's hostile upstream sends minimal or broken events, which the pass-through path relays byte for byte")
	ups := map[string]*gatewaytest.Upstream{"openai": f.oa, "anthropic": f.an, "gemini": f.gm}
	secrets := []string{"sk-upstream-openai-0123456789", "sk-ant-upstream-0123456789", "gemini-upstream-key-0123456789", "127.0.0.1"}
	for _, u := range ups {
		secrets = append(secrets, strings.TrimPrefix(u.URL, "http://"))
	}
	leaks := func(s string) string {
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				return sec
			}
		}
		return ""
	}
	geminiGen := hardRoutes[3]
	geminiStream := hardRoutes[4]
	type call struct {
		name     string
		upstream string
		rt       hardRoute
		body     string
		status   int
		stream   bool
	}
	openaiBody := `{"model":"%s","stream":%v,"messages":[{"role":"user","content":"hi"}]}`
	anthropicBody := `{"model":"%s","max_tokens":5,"stream":%v,"messages":[{"role":"user","content":"hi"}]}`
	geminiBody := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	calls := []call{
		{"openai 400", "openai", hardRoutes[0], fmt.Sprintf(openaiBody, "gpt-4o-mini", false), 400, false},
		{"gemini 500", "gemini", geminiGen, geminiBody, 500, false},
		{"openai to anthropic 400", "anthropic", hardRoutes[0], fmt.Sprintf(openaiBody, "claude-cheap", false), 400, false},
		{"openai stream", "openai", hardRoutes[0], fmt.Sprintf(openaiBody, "gpt-4o-mini", true), 200, true},
		{"openai stream to anthropic", "anthropic", hardRoutes[0], fmt.Sprintf(openaiBody, "claude-cheap", true), 200, true},
		{"anthropic stream", "anthropic", hardRoutes[1], fmt.Sprintf(anthropicBody, "claude-cheap", true), 200, true},
		{"gemini stream", "gemini", geminiStream, geminiBody, 200, true},
		{"gemini array stream", "gemini", func() hardRoute {
			r := geminiStream
			r.path = "/v1beta/models/gemini-cheap:streamGenerateContent"
			return r
		}(), geminiBody, 200, true},
		// Last: a 429 cools the channel's only key down.
		{"anthropic 429", "anthropic", hardRoutes[1], fmt.Sprintf(anthropicBody, "claude-cheap", false), 429, false},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if c.stream {
				ups[c.upstream].SetHandler(leakyStream(c.upstream))
			} else {
				ups[c.upstream].SetHandler(leakyError(c.upstream, c.status))
			}
			status, b := hardPost(t, f.n, c.rt, testKey, c.body)
			if !c.stream && status < 400 || c.stream && status != 200 {
				t.Fatalf("status %d: %s", status, b)
			}
			if !strings.Contains(string(b), "invalid key") && !strings.Contains(string(b), "error") {
				t.Fatalf("the upstream's error did not reach the client: %s", b)
			}
			if s := leaks(string(b)); s != "" {
				t.Errorf("client saw %q: %s", s, b)
			}
		})
	}
	recs, err := f.n.app.store.ListUsage(t.Context(), gateway.LedgerFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if s := leaks(r.ErrorMessage); s != "" {
			t.Errorf("ledger error of %s holds %q: %s", r.RequestID, s, r.ErrorMessage)
		}
	}
}

// Redirects were followed with credentials: a 307 re-posted the body with
// the upstream key to wherever it pointed, and a 302 to an internal URL
// returned that URL's content as the answer. Now a 3xx is a failed attempt
// that fails over, like a 5xx.
func TestHardRedirectsAreNeverFollowed(t *testing.T) {
	faultNoLeaks(t)
	thief := gatewaytest.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"internal","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"INTERNAL METADATA"},"finish_reason":"stop"}]}`)
	})
	redirector := gatewaytest.NewUpstream(t, nil)
	backup := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{Text: "answer from backup", PromptTokens: 3, CompletionTokens: 2}.Handler())
	f := newHardFixture(t, hostileChannel(redirector.URL, "    priority: 10\n")+fmt.Sprintf(`  - name: backup
    type: openai
    base_url: %s
    api_keys: [sk-backup-0123456789]
    models: [hostile]
`, backup.URL))
	for _, status := range []int{307, 302, 308, 301} {
		redirector.SetHandler(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, thief.URL+"/latest/meta-data", status)
		})
		for _, stream := range []bool{false, true} {
			status, b := hardPost(t, f.n, hardRoutes[0], testKey, fmt.Sprintf(`{"model":"hostile","stream":%v,"messages":[{"role":"user","content":"secret prompt"}]}`, stream))
			if status != http.StatusOK || !strings.Contains(string(b), "backup") || strings.Contains(string(b), "INTERNAL") {
				t.Fatalf("%d stream=%v: %d %s", status, stream, status, b)
			}
		}
	}
	if n := thief.Count(); n != 0 {
		t.Fatalf("the redirect target received %d requests (key %q)", n, thief.Last(t).Header.Get("Authorization"))
	}
	if redirector.Count() == 0 || backup.Count() == 0 {
		t.Fatalf("redirector %d calls, backup %d", redirector.Count(), backup.Count())
	}
}

// Nodes without a shared SWITCHBOARD_SECRET failed open: each sealed
// channels with its own key, and one kept serving a stale set. Now a node
// whose key does not open the database refuses to start, naming the
// variable; one whose stored channels stop opening serves none of them.
func TestHardNodesMustShareTheSecret(t *testing.T) {
	faultNoLeaks(t)
	dir := t.TempDir()
	up := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{Text: "hi", PromptTokens: 1, CompletionTokens: 1}.Handler())
	text := fmt.Sprintf(`
storage:
  database: sqlite://%s/shared.db
channels:
  - name: c
    type: openai
    base_url: %s
    api_keys: [sk-upstream-0123456789]
    models: [gpt-4o-mini]
    headers: {X-Org-Token: org-token-secret-value}
keys:
  - name: alice
    key: %s
`, dir, up.URL, testKey)
	cfg, err := config.Parse("test.yaml", []byte(text), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	start := func(secretValue string) (*app, error) {
		return newApp(context.Background(), cfg, appOptions{DataDir: t.TempDir(), Out: io.Discard, Getenv: func(k string) (string, bool) {
			if k == "SWITCHBOARD_SECRET" {
				return secretValue, true
			}
			return "", false
		}})
	}
	first, err := start("the-deployment-secret-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close(context.Background())
	if _, err := start("another-nodes-secret-0123456789"); err == nil || !strings.Contains(err.Error(), "SWITCHBOARD_SECRET") {
		t.Fatalf("a node with another secret started (or did not say why): %v", err)
	}
	// The header value is sealed at rest, like the key.
	var raw []byte
	for _, f := range []string{"/shared.db", "/shared.db-wal"} {
		b, err := os.ReadFile(dir + f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		raw = append(raw, b...)
	}
	if !strings.Contains(string(raw), "gpt-4o-mini") {
		t.Fatal("the database files do not hold the channel: the check reads the wrong place")
	}
	if strings.Contains(string(raw), "org-token-secret-value") || strings.Contains(string(raw), "sk-upstream-0123456789") {
		t.Fatal("a channel credential is stored in plain text")
	}
	// A row this node cannot open (sealed elsewhere): it serves nothing
	// rather than its stale set.
	if _, err := first.store.UpdateChannel(context.Background(), gateway.Channel{ID: 1, Name: "c", Type: gateway.ChannelOpenAI, BaseURL: up.URL, APIKeys: []string{"k"}, Models: []string{"gpt-4o-mini"}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	moveSealed(t, first, dir+"/shared.db")
	if err := first.reloadChannels(context.Background()); err == nil {
		t.Fatal("reload of unreadable channels succeeded")
	}
	if first.router.HasModel("gpt-4o-mini") {
		t.Fatal("the node kept serving channels it cannot read")
	}
}

// moveSealed corrupts channel 1's binding the way a node with another key
// would: it copies a value sealed for another row over its api_keys.
func moveSealed(t *testing.T, a *app, path string) {
	t.Helper()
	ctx := context.Background()
	other, err := a.store.UpsertChannel(ctx, gateway.Channel{Name: "other", Type: gateway.ChannelOpenAI, APIKeys: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE channels SET api_keys = (SELECT api_keys FROM channels WHERE id = ?) WHERE id = 1`, other.ID); err != nil {
		t.Fatal(err)
	}
}

// writeSelfSigned writes a certificate for 127.0.0.1 and its key.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "switchboard test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = dir+"/cert.pem", dir+"/key.pem"
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// serveInBackground runs serve until the test ends and returns its address.
func serveInBackground(t *testing.T, yamlCfg string) string {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse("test.yaml", []byte(yamlCfg+fmt.Sprintf("\nstorage:\n  database: sqlite://%s/sb.db\n", dir)), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	out := &e2eBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, appOptions{DataDir: dir, Out: out, Getenv: func(k string) (string, bool) {
			return "serve-test-secret-0123456789", k == "SWITCHBOARD_SECRET"
		}})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, rest, ok := strings.Cut(out.String(), "listening on "); ok {
			addr, _, _ := strings.Cut(rest, " ")
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TLS: server.tls_cert_file / tls_key_file serve HTTPS; on the plain port,
// a TLS client gets a TLS alert it reports clearly instead of garbage.
func TestHardTLS(t *testing.T) {
	t.Run("https", func(t *testing.T) {
		faultNoLeaks(t)
		cert, key := writeSelfSigned(t, t.TempDir())
		addr := serveInBackground(t, fmt.Sprintf("server:\n  addr: 127.0.0.1:0\n  tls_cert_file: %s\n  tls_key_file: %s\n", cert, key))
		if !strings.HasPrefix(addr, "https://") {
			t.Fatalf("address %q", addr)
		}
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		defer client.CloseIdleConnections()
		resp, err := client.Get(addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.TLS == nil {
			t.Fatalf("healthz over TLS: %d", resp.StatusCode)
		}
		// Plain HTTP to the TLS port: Go's server says so in plain text.
		resp, err = http.Get("http://" + strings.TrimPrefix(addr, "https://") + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), "HTTPS server") {
			t.Fatalf("plain HTTP to the TLS port: %d %s", resp.StatusCode, b)
		}
	})
	t.Run("tls client on the plain port", func(t *testing.T) {
		faultNoLeaks(t)
		addr := serveInBackground(t, "server:\n  addr: 127.0.0.1:0\n")
		host := strings.TrimPrefix(addr, "http://")
		_, err := tls.Dial("tcp", host, &tls.Config{InsecureSkipVerify: true})
		if err == nil || !strings.Contains(err.Error(), "protocol version not supported") {
			t.Fatalf("TLS client on the plain port saw %v", err)
		}
		resp, err := http.Get(addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("plain healthz: %d", resp.StatusCode)
		}
	})
	t.Run("bad certificate refuses to start", func(t *testing.T) {
		dir := t.TempDir()
		cfg, err := config.Parse("t.yaml", []byte(fmt.Sprintf("server:\n  addr: 127.0.0.1:0\n  tls_cert_file: %s/none.pem\n  tls_key_file: %s/none.key\nstorage:\n  database: sqlite://%s/sb.db\n", dir, dir, dir)), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		err = serve(context.Background(), cfg, appOptions{DataDir: dir, Out: io.Discard})
		if err == nil || !strings.Contains(err.Error(), "server.tls_cert_file") {
			t.Fatalf("serve with a missing certificate: %v", err)
		}
	})
}

// A client that stops reading its stream (TCP window full, connection
// kept open) parked the handler, the upstream stream and the call's slots
// forever: server.write_timeout is 0 so streams can run long. Now a write
// that makes no progress for write_stall_timeout ends the call.
func TestHardStuckReaderIsDisconnected(t *testing.T) {
	faultNoLeaks(t)
	up := gatewaytest.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		chunk := []byte(strings.Repeat(hostileChunk, 64))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	addr := serveInBackground(t, fmt.Sprintf(`server:
  addr: 127.0.0.1:0
  write_stall_timeout: 300ms
channels:
  - name: c
    type: openai
    base_url: %s
    api_keys: [sk-upstream-0123456789]
    models: [gpt-4o-mini]
    timeout: 1m
keys:
  - name: alice
    key: %s
`, up.URL, testKey))
	c, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
	body := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", testKey, len(body), body)
	// Never read: the gateway must give up on this client and hang up on
	// the upstream.
	gatewaytest.WaitFor(t, 10*time.Second, "the upstream stream to be cancelled", func() bool { return up.Canceled() == 1 })
}

// peakRSS reads a process's peak resident set (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// bigBodies sends n chat calls of size bytes at once and returns their
// statuses and one error body.
func bigBodies(t *testing.T, url string, n, size int) ([]int, string) {
	t.Helper()
	prefix := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"`
	suffix := `"}]}`
	body := []byte(prefix + strings.Repeat("a", size-len(prefix)-len(suffix)) + suffix)
	statuses := make([]int, n)
	var mu sync.Mutex
	var errBody string
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+testKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			mu.Lock()
			statuses[i] = resp.StatusCode
			if resp.StatusCode != 200 {
				errBody = resp.Header.Get("Retry-After") + " " + string(b)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return statuses, errBody
}

// Memory: a valid 32 MiB body costs several times its size in flight, and
// several at once exhausted memory. server.max_inflight_body_mb bounds the
// body bytes held at once across the process; calls beyond it wait
// (overload_wait) and are then shed with 503 (529 for Anthropic) and
// Retry-After. Measured as the gateway process's peak RSS.
func TestHardInflightBodiesBoundMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 32 MiB bodies to two processes")
	}
	up := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{Text: "ok", PromptTokens: 5, CompletionTokens: 1}.Handler())
	// Twelve bodies against a bound of two: the gap between the two runs is
	// wide enough that a loaded machine's lagging GC cannot close it.
	const n, size = 12, 32<<20 - 1024
	cfg := func(inflight int, wait string) string {
		return fmt.Sprintf(`server:
  addr: "{{addr}}"
  max_inflight_body_mb: %d
  overload_wait: %s
channels:
  - name: c
    type: openai
    base_url: %s
    api_keys: [sk-upstream-0123456789]
    models: [gpt-4o-mini]
keys:
  - name: alice
    key: %s
`, inflight, wait, up.URL, testKey)
	}
	// measure returns how far the process's peak RSS rose above its start.
	measure := func(name, yaml string) (int64, []int, string) {
		p := startE2EProc(t, name, t.TempDir(), yaml)
		before := peakRSS(t, p.cmd.Process.Pid)
		statuses, errBody := bigBodies(t, p.URL(), n, size)
		peak := peakRSS(t, p.cmd.Process.Pid)
		p.kill()
		t.Logf("%s: peak RSS %d MiB (%d MiB at start) for %d concurrent %d MiB bodies; statuses %v", name, peak>>20, before>>20, n, size>>20, statuses)
		return peak - before, statuses, errBody
	}
	unbounded, st, _ := measure("unbounded", cfg(0, "1s"))
	for _, s := range st {
		if s != 200 {
			t.Fatalf("unbounded: statuses %v", st)
		}
	}
	// A bound of two bodies: all eight are served, two at a time.
	bounded, st, _ := measure("bounded", cfg(64, "2m"))
	for _, s := range st {
		if s != 200 {
			t.Fatalf("bounded with a long wait: statuses %v", st)
		}
	}
	if bounded*10 > unbounded*6 {
		t.Errorf("peak RSS rose %d MiB bounded vs %d MiB unbounded: the bound does not hold memory down", bounded>>20, unbounded>>20)
	}
	// No wait: what does not fit is shed at once, in the caller's shape.
	_, st, errBody := measure("shedding", cfg(64, "0s"))
	shed := 0
	for _, s := range st {
		if s == http.StatusServiceUnavailable {
			shed++
		}
	}
	if shed == 0 || !strings.HasPrefix(errBody, "2 ") || gjson.Get(errBody[2:], "error.code").Str != "overloaded" {
		t.Fatalf("shedding: statuses %v, error %s", st, errBody)
	}
}

// Options operators expect: a channel's max_output_tokens caps every
// call's output limit (lowered, or set when the client sent none), on
// pass-through and translated calls; max_stream_duration ends a stream
// that lasts longer, bills what was produced, and does not count against
// the channel's health.
func TestHardChannelCaps(t *testing.T) {
	faultNoLeaks(t)
	capOA := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{Text: "capped", PromptTokens: 3, CompletionTokens: 2}.Handler())
	capAN := gatewaytest.NewUpstream(t, gatewaytest.Anthropic{Text: "capped", InputTokens: 3, OutputTokens: 2}.Handler())
	slow := gatewaytest.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		for r.Context().Err() == nil {
			_, _ = io.WriteString(w, hostileChunk)
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
		}
	})
	f := newHardFixture(t, fmt.Sprintf(`  - name: capped-openai
    type: openai
    base_url: %s
    api_keys: [sk-capped-0123456789]
    models: [capped-openai]
    max_output_tokens: 64
  - name: capped-anthropic
    type: anthropic
    base_url: %s
    api_keys: [sk-ant-capped-0123456789]
    models: [capped-anthropic]
    max_output_tokens: 64
  - name: slow
    type: openai
    base_url: %s
    api_keys: [sk-slow-0123456789]
    models: [slow]
    max_stream_duration: 500ms
`, capOA.URL, capAN.URL, slow.URL))
	f.n.skipSchemaCheck("the test's slow upstream sends minimal chunks, which the pass-through path relays byte for byte")
	for _, tc := range []struct {
		rt    hardRoute
		body  string
		up    *gatewaytest.Upstream
		field string
	}{
		{hardRoutes[0], `{"model":"capped-openai","max_tokens":100000,"messages":[{"role":"user","content":"hi"}]}`, capOA, "max_tokens"},
		{hardRoutes[0], `{"model":"capped-openai","messages":[{"role":"user","content":"hi"}]}`, capOA, "max_completion_tokens"},
		{hardRoutes[1], `{"model":"capped-anthropic","max_tokens":100000,"messages":[{"role":"user","content":"hi"}]}`, capAN, "max_tokens"},
		{hardRoutes[0], `{"model":"capped-anthropic","max_completion_tokens":100000,"messages":[{"role":"user","content":"hi"}]}`, capAN, "max_tokens"},
		{hardRoutes[3], `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":100000}}`, capAN, "max_tokens"},
	} {
		rt := tc.rt
		if strings.HasPrefix(rt.path, "/v1beta") {
			rt.path = "/v1beta/models/capped-anthropic:generateContent"
		}
		status, b := hardPost(t, f.n, rt, testKey, tc.body)
		if status != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.body, status, b)
		}
		if got := gjson.GetBytes(tc.up.Last(t).Body, tc.field).Int(); got != 64 {
			t.Errorf("%s: upstream %s = %d, want the channel's cap 64", tc.body, tc.field, got)
		}
	}

	start := time.Now()
	status, b := hardPost(t, f.n, hardRoutes[0], testKey, `{"model":"slow","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if d := time.Since(start); status != http.StatusOK || d > 5*time.Second {
		t.Fatalf("slow stream: %d after %s", status, d)
	}
	if !strings.Contains(string(b), `"hi"`) || !strings.Contains(string(b), "maximum duration") {
		t.Fatalf("the stream did not end on its duration limit: %.400s", b)
	}
	rec := f.n.usage(t, func(r gateway.UsageRecord) bool { return r.Model == "slow" })
	if rec.Status != http.StatusGatewayTimeout || rec.Usage.OutputTokens == 0 {
		t.Fatalf("ledger %+v", rec)
	}
	for _, ch := range f.n.app.health.Snapshot() {
		if ch.ChannelID == rec.ChannelID && ch.Failures > 0 {
			t.Fatalf("a stream cut by the operator's limit counted as a channel failure: %+v", ch)
		}
	}
}

// One tenant used to take a shared upstream key out of service for
// everyone with one 401/403 it provoked (an image at a file it does not
// own, a bogus organisation header), and a shared channel out with three
// poisoned requests. Now a caller's failures count once, a 401/403 only
// makes the key suspect until the gateway's own check (GET models)
// confirms it, and a key the upstream really refuses is still taken out.
func TestHardOneTenantCannotDisableSharedKeys(t *testing.T) {
	faultNoLeaks(t)
	answer := gatewaytest.OpenAIChat{Text: "hello from shared", PromptTokens: 3, CompletionTokens: 2}.Handler()
	shared := gatewaytest.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/v1/models":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"object":"list","data":[]}`)
		case bytes.Contains(body, []byte("file-of-another-org")):
			gatewaytest.OpenAIError(403, "You do not have access to this file", nil)(w, r)
		case bytes.Contains(body, []byte("poison")):
			gatewaytest.OpenAIError(500, "The server had an error while processing your request", nil)(w, r)
		default:
			answer(w, r)
		}
	})
	revoked := gatewaytest.NewUpstream(t, gatewaytest.OpenAIError(401, "Incorrect API key provided", nil))
	f := newHardFixture(t, fmt.Sprintf(`  - name: shared
    type: openai
    base_url: %s
    api_keys: [sk-shared-0123456789]
    models: [shared-model]
  - name: revoked
    type: openai
    base_url: %s
    api_keys: [sk-revoked-0123456789]
    models: [revoked-model]
`, shared.URL, revoked.URL))
	call := func(key, model, content string) int {
		status, _ := hardPost(t, f.n, hardRoutes[0], key, fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%q}]}`, model, content))
		return status
	}
	const chID, revokedID = 4, 5 // after hardConfig's three channels
	// One tenant: ten provoked 403s and ten poisoned 500s of its own.
	for range 10 {
		if s := call(testKey, "shared-model", "look at file-of-another-org"); s != http.StatusBadGateway {
			t.Fatalf("provoked 403: %d", s)
		}
		if s := call(testKey, "shared-model", "poison"); s != 500 {
			t.Fatalf("poisoned request: %d", s)
		}
	}
	// The gateway checked the key itself and found it good.
	gatewaytest.WaitFor(t, 5*time.Second, "the key check", func() bool {
		for _, r := range shared.Requests() {
			if r.Method == http.MethodGet {
				return true
			}
		}
		return false
	})
	time.Sleep(50 * time.Millisecond)
	if !f.n.app.health.Available(chID, 0, time.Now()) {
		t.Fatalf("one tenant disabled the shared key or opened the channel: %+v", f.n.app.health.Snapshot())
	}
	if s := call(testKeyLimit, "shared-model", "an honest question"); s != 200 {
		t.Fatalf("the shared channel is out of service after one tenant's attack: %d", s)
	}
	// A key the upstream really revoked: the check confirms and disables it.
	if s := call(testKey, "revoked-model", "hi"); s != http.StatusBadGateway {
		t.Fatalf("revoked key: %d", s)
	}
	gatewaytest.WaitFor(t, 5*time.Second, "the revoked key disabled", func() bool { return !f.n.app.health.Available(revokedID, 0, time.Now()) })
	for _, ch := range f.n.app.health.Snapshot() {
		if ch.ChannelID == revokedID && (len(ch.Keys) == 0 || ch.Keys[0].State != gateway.KeyStateDisabled || !strings.Contains(ch.Keys[0].Reason, "own check")) {
			t.Fatalf("revoked key state %+v", ch)
		}
	}
}
