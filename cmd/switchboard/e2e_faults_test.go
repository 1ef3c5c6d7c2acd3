package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/tidwall/gjson"
	"go.uber.org/goleak"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
)

// The fault suite runs the real app against gatewaytest.Faulty upstreams:
// a "primary" channel that misbehaves and a "backup" that answers, and
// checks what the client sees, what each upstream received and what the
// ledger says.

const faultConfig = `
channels:
  - name: primary
    type: openai
    base_url: %s
    api_keys: [%s]
    models: [gpt-4o-mini]
    priority: 10
    timeout: %s
%s
  - name: backup
    type: openai
    base_url: %s
    api_keys: [sk-backup-1]
    models: [gpt-4o-mini]
    priority: %d
    timeout: %s
keys:
  - name: alice
    key: ` + testKey + `
    models: ["*"]
  - name: rpm2
    key: ` + faultKeyRPM2 + `
    rpm: 2
  - name: conc1
    key: ` + faultKeyConc1 + `
    max_concurrent: 1
  - name: tpm10
    key: ` + faultKeyTPM10 + `
    tpm: 10
`

const (
	faultKeyRPM2  = "sk-test-rpm2-0123456789ab"
	faultKeyConc1 = "sk-test-conc1-0123456789a"
	faultKeyTPM10 = "sk-test-tpm10-0123456789a"

	faultPrimaryText = "answer from primary"
	faultBackupText  = "answer from backup"
)

// faultFixture is a node with a primary and a backup channel.
type faultFixture struct {
	n               *node
	primary, backup *gatewaytest.Upstream
	pf, bf          *gatewaytest.Faulty
}

type faultOpts struct {
	backupPriority int    // 0: a lower tier than the primary's 10
	primaryKeys    string // default "sk-primary-1"
	timeout        string // both channels; default 300ms
	primaryExtra   string // more YAML lines for the primary channel
}

func newFaultFixture(t *testing.T, primary, backup gatewaytest.Fault, o faultOpts) *faultFixture {
	t.Helper()
	if o.primaryKeys == "" {
		o.primaryKeys = "sk-primary-1"
	}
	if o.timeout == "" {
		o.timeout = "300ms"
	}
	f := &faultFixture{
		pf: gatewaytest.NewFaulty(primary, gatewaytest.OpenAIChat{Text: faultPrimaryText, PromptTokens: 12, CompletionTokens: 3}),
		bf: gatewaytest.NewFaulty(backup, gatewaytest.OpenAIChat{Text: faultBackupText, PromptTokens: 12, CompletionTokens: 3}),
	}
	f.pf.ChunkDelay, f.bf.ChunkDelay = 100*time.Millisecond, 100*time.Millisecond
	f.pf.HugeBytes, f.bf.HugeBytes = 100<<20, 100<<20
	f.primary = gatewaytest.NewFaultyUpstream(t, f.pf)
	f.backup = gatewaytest.NewFaultyUpstream(t, f.bf)
	f.n = startNode(t, faultConfig, f.primary.URL, o.primaryKeys, o.timeout, o.primaryExtra, f.backup.URL, o.backupPriority, o.timeout)
	return f
}

// faultNoLeaks fails t when goroutines started during t outlive it. Call it
// first in a (sub)test: its cleanup then runs after every other cleanup
// (node, upstreams) has closed what it owns.
func faultNoLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		goleak.VerifyNone(t, ignore)
	})
}

// faultReply is a raw HTTP answer of the gateway.
type faultReply struct {
	status int
	header http.Header
	body   string
}

func (r faultReply) requestID() string { return r.header.Get("X-Request-Id") }

const faultChatBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello there"}]%s}`

// faultChat sends one chat completion with a raw client and reads it all.
func faultChat(t *testing.T, n *node, key string, stream bool) faultReply {
	t.Helper()
	extra := ""
	if stream {
		extra = `,"stream":true`
	}
	resp := n.post(t, "/v1/chat/completions", key, fmt.Sprintf(faultChatBody, extra), nil)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return faultReply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// faultStreamText joins the content deltas of an OpenAI SSE body.
func faultStreamText(body string) string {
	var sb strings.Builder
	for line := range strings.SplitSeq(body, "\n") {
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			sb.WriteString(gjson.Get(data, "choices.0.delta.content").Str)
		}
	}
	return sb.String()
}

func faultRecord(t *testing.T, n *node, requestID string) gateway.UsageRecord {
	t.Helper()
	if requestID == "" {
		t.Fatal("answer carried no X-Request-Id")
	}
	return n.usage(t, func(r gateway.UsageRecord) bool { return r.RequestID == requestID })
}

// faultAuthSeen lists the upstream keys an upstream's calls came with, in
// order (the gateway's own key checks, GET models, are not calls).
func faultAuthSeen(u *gatewaytest.Upstream) []string {
	var out []string
	for _, r := range u.Requests() {
		if r.Method == http.MethodPost {
			out = append(out, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		}
	}
	return out
}

// faultCalls counts an upstream's calls, without the gateway's key checks.
func faultCalls(u *gatewaytest.Upstream) int { return len(faultAuthSeen(u)) }

// TestFaults runs the fault scenarios in parallel: they mostly wait on
// timeouts and scripted delays, so running them side by side keeps the
// suite fast. Goroutine leaks are checked once for the whole group (a
// per-scenario check would see its siblings' goroutines); the heap
// measurements of TestFaultHugeResponse need the process to themselves
// and stay out of the group.
func TestFaults(t *testing.T) {
	faultNoLeaks(t)
	for _, sc := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"FailoverBeforeFirstByte", faultFailoverBeforeFirstByte},
		{"SameTierFailover", faultSameTierFailover},
		{"CallerErrorNotRetried", faultCallerErrorNotRetried},
		{"AfterFirstByte", faultAfterFirstByte},
		{"NoHealthyChannel", faultNoHealthyChannel},
		{"BreakerSkipsFailingChannel", faultBreakerSkipsFailingChannel},
		{"RetryAfterCoolsOnlyThatKey", faultRetryAfterCoolsOnlyThatKey},
		{"PerKeyLimits", faultPerKeyLimits},
		{"ChannelTimeouts", faultChannelTimeouts},
		{"StreamDeadBeforeFirstEvent", faultStreamDeadBeforeFirstEvent},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.run(t)
		})
	}
}

// faultFailoverBeforeFirstByte: every failure before the first byte
// moves the call to the healthy backup, once, and bills the call once
// with the backup and attempts = 2.
func faultFailoverBeforeFirstByte(t *testing.T) {
	for _, tc := range []struct {
		fault   gatewaytest.Fault
		streams []bool
		bug     string
	}{
		{fault: gatewaytest.Status500, streams: []bool{false, true}},
		{fault: gatewaytest.Status502, streams: []bool{false, true}},
		{fault: gatewaytest.Status503, streams: []bool{false, true}},
		{fault: gatewaytest.RateLimited, streams: []bool{false, true}},
		{fault: gatewaytest.ConnReset, streams: []bool{false, true}},
		{fault: gatewaytest.HangBeforeHeaders, streams: []bool{false, true}},
		{fault: gatewaytest.Unauthorized, streams: []bool{false}},
		{fault: gatewaytest.MalformedJSON, streams: []bool{false}},
		{fault: gatewaytest.Huge, streams: []bool{false}},
	} {
		for _, stream := range tc.streams {
			t.Run(fmt.Sprintf("%s/stream=%v", tc.fault, stream), func(t *testing.T) {
				if tc.bug != "" {
					t.Skip(tc.bug)
				}
				f := newFaultFixture(t, tc.fault, gatewaytest.Healthy, faultOpts{})
				start := time.Now()
				r := faultChat(t, f.n, testKey, stream)
				took := time.Since(start)
				if r.status != http.StatusOK {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				got := gjson.Get(r.body, "choices.0.message.content").Str
				if stream {
					got = faultStreamText(r.body)
				}
				if got != faultBackupText {
					t.Errorf("client got %q, want the backup's answer; body %.300s", got, r.body)
				}
				if c := faultCalls(f.primary); c != 1 {
					t.Errorf("failed primary received %d requests, want 1 (never retried in the same call)", c)
				}
				if c := f.backup.Count(); c != 1 {
					t.Errorf("backup received %d requests, want 1", c)
				}
				if tc.fault == gatewaytest.HangBeforeHeaders && took > 2*time.Second {
					t.Errorf("failover after a hang took %s with a 300ms channel timeout", took)
				}
				rec := faultRecord(t, f.n, r.requestID())
				if rec.ChannelName != "backup" || rec.Attempts != 2 || rec.Status != 200 {
					t.Errorf("ledger: channel %q attempts %d status %d, want backup/2/200", rec.ChannelName, rec.Attempts, rec.Status)
				}
				if rec.CostNanoUSD <= 0 || rec.Usage.InputTokens != 12 || rec.Usage.OutputTokens != 3 {
					t.Errorf("ledger billed %d nano-USD for %+v, want the backup's usage 12/3", rec.CostNanoUSD, rec.Usage)
				}
				recs, err := f.n.app.store.ListUsage(context.Background(), gateway.LedgerFilter{Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				if len(recs) != 1 {
					t.Errorf("ledger has %d records for one call, want 1", len(recs))
				}
			})
		}
	}
}

// faultSameTierFailover: with both channels in one tier the order is
// random, but a failing channel is still tried at most once per call.
func faultSameTierFailover(t *testing.T) {
	f := newFaultFixture(t, gatewaytest.Status503, gatewaytest.Healthy, faultOpts{backupPriority: 10})
	for i := range 6 {
		before := f.primary.Count()
		r := faultChat(t, f.n, testKey, false)
		if r.status != 200 || gjson.Get(r.body, "choices.0.message.content").Str != faultBackupText {
			t.Fatalf("call %d: %d %s", i, r.status, r.body)
		}
		if d := f.primary.Count() - before; d > 1 {
			t.Fatalf("call %d: failing primary tried %d times", i, d)
		}
		rec := faultRecord(t, f.n, r.requestID())
		if want := 1 + f.primary.Count() - before; rec.Attempts != want {
			t.Errorf("call %d: attempts %d, want %d", i, rec.Attempts, want)
		}
	}
}

// faultCallerErrorNotRetried: a 400 is the caller's mistake; it reaches
// the caller as is and no other channel is bothered.
func faultCallerErrorNotRetried(t *testing.T) {
	f := newFaultFixture(t, gatewaytest.BadRequest, gatewaytest.Healthy, faultOpts{})
	c := f.n.client(testKey, "/v1")
	_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
		t.Fatalf("SDK error %v, want a 400 APIError", err)
	}
	if !strings.Contains(apiErr.Message, "the request is wrong") {
		t.Errorf("upstream message not relayed: %q", apiErr.Message)
	}
	if f.primary.Count() != 1 || f.backup.Count() != 0 {
		t.Errorf("primary %d / backup %d requests, want 1/0", f.primary.Count(), f.backup.Count())
	}
	rec := f.n.usage(t, func(r gateway.UsageRecord) bool { return r.Status == 400 })
	if rec.Attempts != 1 || rec.CostNanoUSD != 0 || rec.ErrorMessage == "" {
		t.Errorf("ledger %+v, want 1 attempt, cost 0 and an error message", rec)
	}
	// A caller mistake says nothing about the channel: it stays in use.
	f.pf.Set(gatewaytest.Healthy)
	for range 3 {
		if r := faultChat(t, f.n, testKey, false); gjson.Get(r.body, "choices.0.message.content").Str != faultPrimaryText {
			t.Fatalf("after 400s the primary is not used: %d %s", r.status, r.body)
		}
	}
}

// faultAfterFirstByte: once bytes reached the client nothing is
// retried; the stream ends with an OpenAI error chunk, the SDK returns an
// error, and the ledger bills what was streamed.
func faultAfterFirstByte(t *testing.T) {
	for _, fault := range []gatewaytest.Fault{gatewaytest.StreamCut, gatewaytest.MalformedSSE} {
		t.Run(string(fault), func(t *testing.T) {
			f := newFaultFixture(t, fault, gatewaytest.Healthy, faultOpts{})
			if fault == gatewaytest.MalformedSSE {
				f.n.skipSchemaCheck("the pass-through path relays the upstream's malformed event byte for byte")
			}
			f.pf.Answer.Text = "one two three four five six seven eight"
			r := faultChat(t, f.n, testKey, true)
			if r.status != 200 {
				t.Fatalf("status %d", r.status)
			}
			if !strings.Contains(r.body, `data: {"error":`) || strings.Contains(r.body, "[DONE]") {
				t.Errorf("stream does not end on an OpenAI error chunk:\n%s", r.body)
			}
			if f.backup.Count() != 0 || f.primary.Count() != 1 {
				t.Errorf("primary %d / backup %d requests, want 1/0: nothing is retried after the first byte", f.primary.Count(), f.backup.Count())
			}
			rec := faultRecord(t, f.n, r.requestID())
			if rec.Status != http.StatusBadGateway || rec.ErrorMessage == "" || rec.Attempts != 1 || rec.ChannelName != "primary" {
				t.Errorf("ledger %+v", rec)
			}
			if fault == gatewaytest.StreamCut {
				if got := faultStreamText(r.body); got != "one two three " {
					t.Errorf("client got %q before the cut", got)
				}
				if rec.UsageSource != gateway.UsageEstimated || rec.Usage.OutputTokens < 3 || rec.Usage.OutputTokens > 6 || rec.CostNanoUSD <= 0 {
					t.Errorf("cut stream billed %+v (%s, %d nano-USD), want ~3 estimated output tokens", rec.Usage, rec.UsageSource, rec.CostNanoUSD)
				}
			}

			// The official SDK surfaces the error chunk as an error.
			c := f.n.client(testKey, "/v1")
			stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
				Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
			})
			for stream.Next() {
			}
			if stream.Err() == nil {
				t.Errorf("SDK stream ended without an error")
			}
			_ = stream.Close()
		})
	}
}

// faultNoHealthyChannel: when every channel fails the caller gets one
// clean error in its own format with a status that says why.
func faultNoHealthyChannel(t *testing.T) {
	for _, tc := range []struct {
		fault      gatewaytest.Fault
		status     int
		retryAfter string
	}{
		{gatewaytest.Status500, 500, ""},
		{gatewaytest.Status502, 502, ""},
		{gatewaytest.Status503, 503, ""},
		{gatewaytest.ConnReset, 502, ""},
		{gatewaytest.HangBeforeHeaders, 504, ""},
		{gatewaytest.RateLimited, 429, "30"},
		{gatewaytest.Unauthorized, 502, ""},
	} {
		t.Run(string(tc.fault), func(t *testing.T) {
			f := newFaultFixture(t, tc.fault, tc.fault, faultOpts{})
			r := faultChat(t, f.n, testKey, false)
			if r.status != tc.status {
				t.Errorf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if got := r.header.Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			e := gjson.Get(r.body, "error")
			if !e.IsObject() || e.Get("message").Str == "" || e.Get("type").Str == "" || !strings.Contains(e.Get("message").Str, r.requestID()) {
				t.Errorf("not an OpenAI error body with the request id: %s", r.body)
			}
			if strings.Contains(r.body, "127.0.0.1") || strings.Contains(r.body, "sk-primary") || strings.Contains(r.body, "sk-backup") {
				t.Errorf("error leaks upstream details: %s", r.body)
			}
			if faultCalls(f.primary) != 1 || faultCalls(f.backup) != 1 {
				t.Errorf("primary %d / backup %d requests, want 1/1", faultCalls(f.primary), faultCalls(f.backup))
			}
			rec := faultRecord(t, f.n, r.requestID())
			if rec.Status != tc.status || rec.ErrorMessage == "" || rec.CostNanoUSD != 0 || rec.Attempts != 2 || !rec.Usage.IsZero() {
				t.Errorf("ledger %+v, want status %d, an error message, cost 0, 2 attempts", rec, tc.status)
			}
		})
	}

	t.Run("anthropic-and-gemini-shapes", func(t *testing.T) {
		f := newFaultFixture(t, gatewaytest.Status503, gatewaytest.Status503, faultOpts{})
		resp := f.n.post(t, "/v1/messages", "", `{"model":"gpt-4o-mini","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"x-api-key": testKey, "anthropic-version": "2023-06-01"})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 || gjson.GetBytes(b, "type").Str != "error" || gjson.GetBytes(b, "error.type").Str == "" || gjson.GetBytes(b, "error.message").Str == "" {
			t.Errorf("anthropic: %d %s", resp.StatusCode, b)
		}
		resp = f.n.post(t, "/v1beta/models/gpt-4o-mini:generateContent", "", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`,
			map[string]string{"x-goog-api-key": testKey})
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 || gjson.GetBytes(b, "error.code").Int() != 503 || gjson.GetBytes(b, "error.status").Str != "UNAVAILABLE" || gjson.GetBytes(b, "error.message").Str == "" {
			t.Errorf("gemini: %d %s", resp.StatusCode, b)
		}
	})
}

// faultBreakerSkipsFailingChannel: after three consecutive failures (of
// three callers: one caller's count once) the primary's breaker opens and
// calls go straight to the backup.
func faultBreakerSkipsFailingChannel(t *testing.T) {
	f := newFaultFixture(t, gatewaytest.Status500, gatewaytest.Healthy, faultOpts{})
	for i, key := range []string{testKey, faultKeyConc1, faultKeyRPM2} {
		r := faultChat(t, f.n, key, false)
		if r.status != 200 {
			t.Fatalf("call %d: %d %s", i, r.status, r.body)
		}
	}
	if c := f.primary.Count(); c != 3 {
		t.Fatalf("primary received %d requests in 3 calls, want 3", c)
	}
	for i := range 3 {
		r := faultChat(t, f.n, testKey, false)
		if r.status != 200 {
			t.Fatalf("call %d: %d %s", i, r.status, r.body)
		}
		if rec := faultRecord(t, f.n, r.requestID()); rec.Attempts != 1 || rec.ChannelName != "backup" {
			t.Errorf("with the breaker open: attempts %d channel %q, want 1 backup", rec.Attempts, rec.ChannelName)
		}
	}
	if c := f.primary.Count(); c != 3 {
		t.Errorf("open breaker: primary received %d requests, want still 3", c)
	}
}

// faultRetryAfterCoolsOnlyThatKey: a 429 on one upstream key rests that
// key only; the channel keeps serving with its other key.
func faultRetryAfterCoolsOnlyThatKey(t *testing.T) {
	for _, tc := range []struct {
		fault gatewaytest.Fault
		what  string
	}{
		{gatewaytest.RateLimited, "429 with Retry-After cools key 1"},
		{gatewaytest.Unauthorized, "401 takes key 1 out of rotation"},
	} {
		t.Run(string(tc.fault), func(t *testing.T) {
			f := newFaultFixture(t, gatewaytest.Healthy, gatewaytest.Healthy, faultOpts{primaryKeys: "sk-primary-1, sk-primary-2"})
			f.pf.SetForKey("sk-primary-1", tc.fault)
			var texts []string
			for i := range 4 {
				r := faultChat(t, f.n, testKey, false)
				if r.status != 200 {
					t.Fatalf("%d %s", r.status, r.body)
				}
				texts = append(texts, gjson.Get(r.body, "choices.0.message.content").Str)
				if i == 0 && tc.fault == gatewaytest.Unauthorized {
					// A 401 makes the key suspect; the gateway's own check
					// of it (GET models, also refused) takes it out.
					gatewaytest.WaitFor(t, 5*time.Second, "the key check to disable key 1", func() bool {
						return !f.n.app.health.Available(1, 0, time.Now())
					})
				}
			}
			want := []string{"sk-primary-1", "sk-primary-2", "sk-primary-2", "sk-primary-2"}
			if got := faultAuthSeen(f.primary); !slices.Equal(got, want) {
				t.Errorf("%s: primary saw keys %v, want %v", tc.what, got, want)
			}
			if wantTexts := []string{faultBackupText, faultPrimaryText, faultPrimaryText, faultPrimaryText}; !slices.Equal(texts, wantTexts) {
				t.Errorf("answers %q, want %q", texts, wantTexts)
			}
		})
	}
}

// faultPerKeyLimits: the gateway's own limits answer 429 in OpenAI's
// shape with Retry-After, before any upstream is called.
func faultPerKeyLimits(t *testing.T) {
	t.Run("rpm", func(t *testing.T) {
		f := newFaultFixture(t, gatewaytest.Healthy, gatewaytest.Healthy, faultOpts{})
		for i := range 2 {
			if r := faultChat(t, f.n, faultKeyRPM2, false); r.status != 200 {
				t.Fatalf("call %d: %d %s", i, r.status, r.body)
			}
		}
		r := faultChat(t, f.n, faultKeyRPM2, false)
		faultAssertLimited(t, r)
		if c := f.primary.Count() + f.backup.Count(); c != 2 {
			t.Errorf("upstreams received %d requests, want 2", c)
		}
	})
	t.Run("max_concurrent", func(t *testing.T) {
		f := newFaultFixture(t, gatewaytest.SlowStream, gatewaytest.Healthy, faultOpts{})
		f.pf.Answer.Text = "slow words keep the stream open for a while"
		resp := f.n.post(t, "/v1/chat/completions", faultKeyConc1, fmt.Sprintf(faultChatBody, `,"stream":true`), nil)
		defer resp.Body.Close()
		buf := make([]byte, 1)
		if _, err := resp.Body.Read(buf); err != nil {
			t.Fatalf("first stream: %v", err)
		}
		faultAssertLimited(t, faultChat(t, f.n, faultKeyConc1, false))
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		// The slot is free once the stream ended.
		gatewaytest.WaitFor(t, 2*time.Second, "concurrency slot released", func() bool {
			return faultChat(t, f.n, faultKeyConc1, false).status == 200
		})
	})
	t.Run("tpm", func(t *testing.T) {
		f := newFaultFixture(t, gatewaytest.Healthy, gatewaytest.Healthy, faultOpts{})
		// One call of 12+3 tokens spends the 10 tokens of the minute.
		if r := faultChat(t, f.n, faultKeyTPM10, false); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		faultAssertLimited(t, faultChat(t, f.n, faultKeyTPM10, false))
		if c := f.primary.Count(); c != 1 {
			t.Errorf("primary received %d requests, want 1", c)
		}
	})
}

func faultAssertLimited(t *testing.T, r faultReply) {
	t.Helper()
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429: %s", r.status, r.body)
	}
	if gjson.Get(r.body, "error.code").Str != "rate_limit_exceeded" || gjson.Get(r.body, "error.type").Str == "" {
		t.Errorf("not an OpenAI rate limit error: %s", r.body)
	}
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}
}

// faultChannelTimeouts covers the channel's timeout (until the first
// byte, then between events) and the first_byte_timeout and idle_timeout
// extensions.
func faultChannelTimeouts(t *testing.T) {
	t.Run("timeout-is-per-event-for-streams", func(t *testing.T) {
		// 100ms gaps under a 300ms timeout: a stream longer than the
		// timeout lives as long as it makes progress.
		f := newFaultFixture(t, gatewaytest.SlowStream, gatewaytest.Healthy, faultOpts{})
		f.pf.Answer.Text = "a b c d e f"
		r := faultChat(t, f.n, testKey, true)
		if got := faultStreamText(r.body); got != "a b c d e f" || !strings.Contains(r.body, "[DONE]") {
			t.Errorf("slow stream: %q\n%s", got, r.body)
		}
	})
	t.Run("timeout-cuts-a-stalled-stream", func(t *testing.T) {
		f := newFaultFixture(t, gatewaytest.SlowStream, gatewaytest.Healthy, faultOpts{})
		f.pf.ChunkDelay = 700 * time.Millisecond
		f.pf.Answer.Text = "a b c"
		start := time.Now()
		r := faultChat(t, f.n, testKey, true)
		if took := time.Since(start); took > 1500*time.Millisecond {
			t.Errorf("stalled stream ended after %s with a 300ms timeout", took)
		}
		if !strings.Contains(r.body, `data: {"error":`) {
			t.Errorf("stalled stream not ended with an error chunk:\n%s", r.body)
		}
		gatewaytest.WaitFor(t, 2*time.Second, "upstream request canceled", func() bool { return f.primary.Canceled() == 1 })
		if rec := faultRecord(t, f.n, r.requestID()); rec.Status != http.StatusBadGateway {
			t.Errorf("ledger status %d", rec.Status)
		}
	})
	t.Run("first_byte_timeout", func(t *testing.T) {
		f := newFaultFixture(t, gatewaytest.HangBeforeHeaders, gatewaytest.Healthy, faultOpts{timeout: "10s", primaryExtra: "    first_byte_timeout: 300ms"})
		start := time.Now()
		r := faultChat(t, f.n, testKey, false)
		if took := time.Since(start); took > 2*time.Second || gjson.Get(r.body, "choices.0.message.content").Str != faultBackupText {
			t.Errorf("after %s: %d %s", took, r.status, r.body)
		}
	})
	t.Run("connect_timeout", func(t *testing.T) {
		addr := faultHangingConnectAddr(t)
		bf := gatewaytest.NewFaulty(gatewaytest.Healthy, gatewaytest.OpenAIChat{Text: faultBackupText, PromptTokens: 12, CompletionTokens: 3})
		backup := gatewaytest.NewFaultyUpstream(t, bf)
		// Without connect_timeout the dial would wait out the transport's
		// 10 s; the channel's own 10 s timeout is not what ends it either.
		n := startNode(t, faultConfig, "http://"+addr, "sk-primary-1", "10s", "    connect_timeout: 300ms", backup.URL, 0, "10s")
		start := time.Now()
		r := faultChat(t, n, testKey, false)
		took := time.Since(start)
		if r.status != http.StatusOK || gjson.Get(r.body, "choices.0.message.content").Str != faultBackupText {
			t.Fatalf("after %s: %d %s", took, r.status, r.body)
		}
		if took < 250*time.Millisecond || took > 2*time.Second {
			t.Errorf("failover after a hanging connect took %s, want about the 300ms connect_timeout", took)
		}
		if rec := faultRecord(t, n, r.requestID()); rec.Attempts != 2 || rec.ChannelName != "backup" {
			t.Errorf("ledger: attempts %d, channel %q; want 2 attempts served by backup", rec.Attempts, rec.ChannelName)
		}
	})
	t.Run("idle_timeout", func(t *testing.T) {
		f := newFaultFixture(t, gatewaytest.SlowStream, gatewaytest.Healthy, faultOpts{timeout: "10s", primaryExtra: "    idle_timeout: 300ms"})
		f.pf.ChunkDelay = 2 * time.Second
		start := time.Now()
		r := faultChat(t, f.n, testKey, true)
		if took := time.Since(start); took > 1500*time.Millisecond || !strings.Contains(r.body, `data: {"error":`) {
			t.Errorf("after %s: %s", took, r.body)
		}
	})
}

// TestFaultHugeResponse: a huge answer must not be held in memory. A
// non-streaming one ends in a clean error past the 64 MiB limit; a
// streaming one flows through with a small, flat heap.
func TestFaultHugeResponse(t *testing.T) {
	const nonStream = 100 << 20
	t.Run("non-stream-clean-error", func(t *testing.T) {
		faultNoLeaks(t)
		f := newFaultFixture(t, gatewaytest.Huge, gatewaytest.Huge, faultOpts{timeout: "20s"})
		r := faultChatDiscard(t, f.n, false)
		if r.status != http.StatusBadGateway || !strings.Contains(r.body, "size limit") || gjson.Get(r.body, "error.message").Str == "" {
			t.Errorf("status %d: %.300s", r.status, r.body)
		}
		rec := faultRecord(t, f.n, r.requestID)
		if rec.CostNanoUSD != 0 || rec.Status != http.StatusBadGateway || rec.ErrorMessage == "" {
			t.Errorf("ledger %+v", rec)
		}
	})
	t.Run("non-stream-bounded-heap", func(t *testing.T) {
		faultNoLeaks(t)
		f := newFaultFixture(t, gatewaytest.Huge, gatewaytest.Huge, faultOpts{timeout: "20s"})
		peak := faultWatchHeap(t)
		r := faultChatDiscard(t, f.n, false)
		grew := peak()
		if r.status != http.StatusBadGateway {
			t.Errorf("status %d", r.status)
		}
		// The limit itself (64 MiB) may be buffered, not more.
		if grew > nonStream*3/4 {
			t.Errorf("heap grew by %d MiB for a %d MiB answer", grew>>20, nonStream>>20)
		}
	})
	t.Run("stream-bounded-heap", func(t *testing.T) {
		faultNoLeaks(t)
		// 32 MiB: the upstream reports no usage, so the gateway tokenizes
		// all of it, which sets the pace (several MiB/s on two cores).
		const size = 32 << 20
		f := newFaultFixture(t, gatewaytest.Huge, gatewaytest.Huge, faultOpts{timeout: "20s"})
		f.n.skipSchemaCheck("teeing a 32 MiB stream would defeat the heap measurement")
		// Warm up first: the tokenizer loads its vocabulary (several MiB)
		// on first use, which is not buffering.
		f.pf.HugeBytes, f.bf.HugeBytes = 64<<10, 64<<10
		if r := faultChatDiscard(t, f.n, true); r.status != 200 {
			t.Fatalf("warm-up: %d %s", r.status, r.body)
		}
		f.pf.HugeBytes, f.bf.HugeBytes = size, size
		live := func() int64 {
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			return int64(ms.HeapAlloc)
		}
		base := live()
		resp := f.n.post(t, "/v1/chat/completions", testKey, fmt.Sprintf(faultChatBody, `,"stream":true`), nil)
		defer resp.Body.Close()
		// The live heap, measured while the stream is half way through,
		// would hold everything relayed so far if the gateway buffered it.
		var n, grew int64
		buf := make([]byte, 64<<10)
		next := int64(size / 4)
		for {
			k, err := resp.Body.Read(buf)
			n += int64(k)
			if n >= next && next < size {
				grew = max(grew, live()-base)
				next += size / 4
			}
			if err != nil {
				break
			}
		}
		t.Logf("live heap grew by at most %d KiB while relaying a %d MiB stream", grew>>10, size>>20)
		if resp.StatusCode != 200 || n < size {
			t.Errorf("stream: status %d, %d bytes relayed of %d", resp.StatusCode, n, size)
		}
		// Buffering would hold at least 24 MiB at the last checkpoint;
		// in-flight buffers and tokenizer scratch measure up to ~7 MiB.
		if grew > size/2 {
			t.Errorf("live heap grew by %d KiB while relaying a %d MiB stream", grew>>10, size>>20)
		}
		rec := faultRecord(t, f.n, resp.Header.Get("X-Request-Id"))
		if rec.Status != 200 || rec.UsageSource != gateway.UsageEstimated || rec.Usage.OutputTokens < size/8 {
			t.Errorf("ledger %+v", rec)
		}
	})
}

type faultDiscarded struct {
	status    int
	n         int64
	body      string // the first KiB
	requestID string
}

func faultChatDiscard(t *testing.T, n *node, stream bool) faultDiscarded {
	t.Helper()
	extra := ""
	if stream {
		extra = `,"stream":true`
	}
	resp := n.post(t, "/v1/chat/completions", testKey, fmt.Sprintf(faultChatBody, extra), nil)
	defer resp.Body.Close()
	head := make([]byte, 1024)
	k, _ := io.ReadFull(resp.Body, head)
	rest, _ := io.Copy(io.Discard, resp.Body)
	return faultDiscarded{status: resp.StatusCode, n: int64(k) + rest, body: string(head[:k]), requestID: resp.Header.Get("X-Request-Id")}
}

// faultWatchHeap samples the live heap until the returned func is called, which
// reports the peak growth over the heap at the start.
func faultWatchHeap(t *testing.T) func() int64 {
	t.Helper()
	// A low GC target keeps HeapAlloc close to the live heap, so garbage
	// waiting for collection does not count as buffering.
	old := debug.SetGCPercent(10)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := int64(ms.HeapAlloc)
	var mu sync.Mutex
	peak := base
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				mu.Lock()
				peak = max(peak, int64(m.HeapAlloc))
				mu.Unlock()
			}
		}
	}()
	return func() int64 {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return peak - base
	}
}

// faultStreamDeadBeforeFirstEvent: an upstream that answers a stream
// with 200 and then nothing (or an error event first) has sent the client
// nothing yet, so the call fails over instead of ending in an error.
func faultStreamDeadBeforeFirstEvent(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
	}{
		{"empty", ""},
		{"keepalive then eof", ": ping\n\n"},
		{"error event first", `data: {"error":{"message":"overloaded","type":"server_error","code":"503"}}` + "\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFaultFixture(t, gatewaytest.Healthy, gatewaytest.Healthy, faultOpts{})
			f.primary.SetHandler(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.WriteHeader(http.StatusOK)
				_, _ = io.WriteString(w, tc.body)
			})
			r := faultChat(t, f.n, testKey, true)
			if r.status != http.StatusOK || faultStreamText(r.body) != faultBackupText {
				t.Fatalf("status %d, text %q: %.300s", r.status, faultStreamText(r.body), r.body)
			}
			rec := faultRecord(t, f.n, r.header.Get("X-Request-Id"))
			if rec.ChannelName != "backup" || rec.Attempts != 2 {
				t.Errorf("ledger %+v", rec)
			}
		})
	}
}
