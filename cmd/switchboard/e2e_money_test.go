package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"
	"google.golang.org/genai"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
	"switchboard/internal/pricing"
	"switchboard/internal/relay"
)

const e2eMoneyKey = "sk-e2e-money-0123456789abcd"

// fairProvider is an OpenAI chat upstream that bills as a real provider
// would at its dearest: it writes answers of `answer` tokens unless the
// request's output limit (or else the model's own maximum) stops it
// sooner, one per choice; it bills half a token per byte of the request
// (providers bill about a quarter) and every image at the model's
// published worst case.
type fairProvider struct {
	answer int64
	calls  atomic.Int64
}

func (f *fairProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	model := gjson.GetBytes(body, "model").Str
	lim, _ := pricing.Builtin().Limits(model)
	limit := lim.MaxOutput
	for _, k := range []string{"max_completion_tokens", "max_tokens"} {
		if v := gjson.GetBytes(body, k); v.Exists() && (limit == 0 || v.Int() < limit) {
			limit = v.Int()
		}
	}
	n := max(gjson.GetBytes(body, "n").Int(), 1)
	out := min(f.answer, limit)
	images := int64(bytes.Count(body, []byte(`:"image_url"`)))
	prompt := int64(len(body))/2 + images*lim.ImageTokens
	usage := map[string]any{"prompt_tokens": prompt, "completion_tokens": out * n, "total_tokens": prompt + out*n}
	finish := "stop"
	if out == limit {
		finish = "length"
	}
	if !gjson.GetBytes(body, "stream").Bool() {
		var choices []any
		for i := range n {
			choices = append(choices, map[string]any{"index": i, "message": map[string]any{"role": "assistant", "content": "a long answer", "refusal": nil}, "logprobs": nil, "finish_reason": finish})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "chatcmpl-fair", "object": "chat.completion", "created": 1700000000,
			"model": model, "choices": choices, "usage": usage, "system_fingerprint": "fp_fair"})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	send := func(v any) {
		b, _ := json.Marshal(v)
		_, _ = fmt.Fprintf(w, "data: %s\n\n", b)
	}
	chunk := func(i int64, delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": "chatcmpl-fair", "object": "chat.completion.chunk", "created": 1700000000, "model": model,
			"choices": []any{map[string]any{"index": i, "delta": delta, "logprobs": nil, "finish_reason": finish}}}
	}
	for i := range n {
		send(chunk(i, map[string]any{"role": "assistant", "content": ""}, nil))
		send(chunk(i, map[string]any{"content": "a long answer"}, nil))
		send(chunk(i, map[string]any{}, finish))
	}
	if gjson.GetBytes(body, "stream_options.include_usage").Bool() {
		send(map[string]any{"id": "chatcmpl-fair", "object": "chat.completion.chunk", "created": 1700000000, "model": model, "choices": []any{}, "usage": usage})
	}
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
}

// e2eMoneyConfig is a node config with the given channels (all pointing
// at upstream) and one budget key.
func e2eMoneyConfig(upstream, storage, channels, budgetUSD string) string {
	return `server:
  addr: {{addr}}
  shutdown_timeout: 20s
storage:
` + storage + `
admin:
  token: ` + e2eAdminToken + `
log:
  level: warn
channels:
` + strings.ReplaceAll(channels, "{{upstream}}", upstream) + `
keys:
  - name: money
    key: ` + e2eMoneyKey + `
    models: ["*"]
    budget_usd: ` + budgetUSD + `
`
}

// moneyClass is one input class fired at a budget key.
type moneyClass struct {
	name     string
	channels string
	budget   string
	answer   int64 // the fair provider's answer length when unbounded
	// call sends call i to the node at base and returns its status, the
	// answer's headers and any failure other than an error status.
	call func(base string, i int) (int, http.Header, error)
	// wantLowered: some calls must have had their output limit lowered.
	wantLowered bool
}

func moneyChannel(name, models, modelMap string) string {
	s := "  - name: " + name + "\n    type: openai\n    base_url: {{upstream}}\n    api_keys: [sk-upstream-e2e]\n    models: " + models + "\n"
	if modelMap != "" {
		s += "    model_map: " + modelMap + "\n"
	}
	return s
}

func moneyUser(parts ...openai.ChatCompletionContentPartUnionParam) []openai.ChatCompletionMessageParamUnion {
	return []openai.ChatCompletionMessageParamUnion{openai.UserMessage(parts)}
}

var moneyClasses = []moneyClass{
	{
		// No output limit and an answer longer than the model's maximum:
		// the hold is the model's maximum output (16,384 for gpt-4o-mini),
		// and a budget of three such holds lowers the later calls.
		name: "no max_tokens, long answer", answer: 1 << 30, budget: "0.03", wantLowered: true,
		channels: moneyChannel("oa", "[gpt-4o-mini]", ""),
		call: openAIMoneyCall(func() openai.ChatCompletionNewParams {
			return openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: moneyUser(openai.TextContentPart("write a very long story"))}
		}),
	},
	{
		// A client-facing alias served as gpt-4o-mini by one channel and
		// as gpt-4o (17× dearer) by another: holds price gpt-4o.
		name: "alias to priced upstream models", answer: 1 << 30, budget: "0.02",
		channels: moneyChannel("cheap", "[house-model]", "{house-model: gpt-4o-mini}") + moneyChannel("dear", "[house-model]", "{house-model: gpt-4o}"),
		call: openAIMoneyCall(func() openai.ChatCompletionNewParams {
			return openai.ChatCompletionNewParams{Model: "house-model", MaxCompletionTokens: openai.Int(1000),
				Messages: moneyUser(openai.TextContentPart("hello"))}
		}),
	},
	{
		name: "n: 4", answer: 1 << 30, budget: "0.01",
		channels: moneyChannel("oa", "[gpt-4o-mini]", ""),
		call: openAIMoneyCall(func() openai.ChatCompletionNewParams {
			return openai.ChatCompletionNewParams{Model: "gpt-4o-mini", N: openai.Int(4), MaxCompletionTokens: openai.Int(800),
				Messages: moneyUser(openai.TextContentPart("four stories"))}
		}),
	},
	{
		// Twenty small images each billed at gpt-4o's published worst
		// case: the prompt costs far more than its bytes.
		name: "image-heavy prompt", answer: 50, budget: "0.5",
		channels: moneyChannel("oa", "[gpt-4o]", ""),
		call: openAIMoneyCall(func() openai.ChatCompletionNewParams {
			parts := []openai.ChatCompletionContentPartUnionParam{openai.TextContentPart("compare these")}
			for range 20 {
				parts = append(parts, openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64," + mxPngB64, Detail: "high"}))
			}
			return openai.ChatCompletionNewParams{Model: "gpt-4o", MaxCompletionTokens: openai.Int(100), Messages: moneyUser(parts...)}
		}),
	},
	{
		// A Gemini client asking for 4 candidates without an output limit,
		// translated to an OpenAI upstream: held at 4 × the model's
		// maximum output, lowered in the upstream's own field.
		name: "gemini client, candidateCount 4, no limit", answer: 1 << 30, budget: "0.05", wantLowered: true,
		channels: moneyChannel("oa", "[gpt-4o-mini]", ""),
		call: func(base string, i int) (int, http.Header, error) {
			c, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: e2eMoneyKey, Backend: genai.BackendGeminiAPI,
				HTTPOptions: genai.HTTPOptions{BaseURL: base, APIVersion: "v1beta"}})
			if err != nil {
				return 0, nil, err
			}
			resp, err := c.Models.GenerateContent(context.Background(), "gpt-4o-mini", genai.Text("four long stories"),
				&genai.GenerateContentConfig{CandidateCount: 4})
			var apiErr genai.APIError
			switch {
			case errors.As(err, &apiErr):
				return apiErr.Code, nil, nil
			case err != nil:
				return 0, nil, err
			case resp.SDKHTTPResponse == nil:
				return http.StatusOK, nil, nil
			}
			return http.StatusOK, resp.SDKHTTPResponse.Headers, nil
		},
	},
}

// openAIMoneyCall sends params with the OpenAI SDK, streaming every other
// call.
func openAIMoneyCall(params func() openai.ChatCompletionNewParams) func(base string, i int) (int, http.Header, error) {
	return func(base string, i int) (int, http.Header, error) {
		c := openai.NewClient(option.WithBaseURL(base+"/v1"), option.WithAPIKey(e2eMoneyKey), option.WithMaxRetries(0))
		var resp *http.Response
		var err error
		if i%2 == 0 {
			_, err = c.Chat.Completions.New(context.Background(), params(), option.WithResponseInto(&resp))
		} else {
			s := c.Chat.Completions.NewStreaming(context.Background(), params(), option.WithResponseInto(&resp))
			for s.Next() {
			}
			err = s.Err()
			_ = s.Close()
		}
		var apiErr *openai.Error
		if errors.As(err, &apiErr) {
			return apiErr.StatusCode, nil, nil
		}
		if err != nil || resp == nil {
			return 0, nil, err
		}
		return http.StatusOK, resp.Header, nil
	}
}

// TestBudgetNeverOverdrawn fires 60 concurrent calls of each input class
// at a budget key, on SQLite with one node and on PostgreSQL + Redis with
// two: the key's spend never passes its budget, what it spent is exactly
// what the ledger priced, and nothing stays reserved.
func TestBudgetNeverOverdrawn(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping process end-to-end test in -short mode")
	}
	for _, mc := range moneyClasses {
		for _, nodes := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s on %s", mc.name, map[int]string{1: "sqlite", 2: "postgres+redis"}[nodes]), func(t *testing.T) {
				up := &fairProvider{answer: mc.answer}
				srv := httptest.NewServer(up)
				t.Cleanup(srv.Close)
				procs, dsn := e2eMoneyNodes(t, nodes, e2eMoneyConfig(srv.URL, "{{storage}}", mc.channels, mc.budget))
				const calls = 60
				var (
					mu       sync.Mutex
					wg       sync.WaitGroup
					statuses = map[int]int{}
					lowered  int
				)
				start := make(chan struct{})
				for i := range calls {
					wg.Go(func() {
						<-start
						status, hdr, err := mc.call(procs[i%len(procs)].URL(), i)
						if err != nil {
							status = -1
							t.Errorf("call %d: %v", i, err)
						}
						mu.Lock()
						defer mu.Unlock()
						statuses[status]++
						if h := hdr.Get(relay.HeaderMaxTokensLowered); status == http.StatusOK && h != "" {
							if v, err := strconv.Atoi(h); err != nil || v < pricing.DefaultMinOutput {
								t.Errorf("call %d: %s: %q", i, relay.HeaderMaxTokensLowered, h)
							}
							lowered++
						}
					})
				}
				close(start)
				wg.Wait()
				t.Logf("statuses %v, %d lowered, upstream calls %d", statuses, lowered, up.calls.Load())
				for st, k := range statuses {
					if st != http.StatusOK && st != http.StatusTooManyRequests {
						t.Errorf("%d calls answered %d; want only 200, or 429 when the budget cannot cover a minimal answer", k, st)
					}
				}
				if statuses[http.StatusOK] == 0 {
					t.Fatal("no call succeeded")
				}
				if statuses[http.StatusTooManyRequests] == 0 {
					t.Error("the budget refused nothing: it does not bind this class")
				}
				if mc.wantLowered && lowered == 0 {
					t.Error("no call had its output limit lowered to what the budget affords")
				}
				for _, p := range procs {
					p.terminate(30 * time.Second)
				}
				key, recs := e2eMoneyKeyAndLedger(t, dsn)
				var priced, okRecs int64
				for _, r := range recs {
					priced += r.PriceNanoUSD
					if r.Status == http.StatusOK {
						okRecs++
						if r.Unpriced || r.PriceNanoUSD <= 0 {
							t.Errorf("request %s: priced %d (unpriced %v)", r.RequestID, r.PriceNanoUSD, r.Unpriced)
						}
					}
				}
				t.Logf("budget %d, spent %d, reserved %d", key.BudgetNanoUSD, key.SpentNanoUSD, key.ReservedNanoUSD)
				if key.SpentNanoUSD > key.BudgetNanoUSD {
					t.Errorf("spent %d: the budget %d is overdrawn by %d", key.SpentNanoUSD, key.BudgetNanoUSD, key.SpentNanoUSD-key.BudgetNanoUSD)
				}
				if key.ReservedNanoUSD != 0 {
					t.Errorf("%d nano-USD still reserved after every call ended", key.ReservedNanoUSD)
				}
				if priced != key.SpentNanoUSD {
					t.Errorf("the ledger priced %d, the key spent %d", priced, key.SpentNanoUSD)
				}
				if okRecs != int64(statuses[http.StatusOK]) || up.calls.Load() != okRecs {
					t.Errorf("ledger: %d successful calls; clients saw %d; upstream served %d", okRecs, statuses[http.StatusOK], up.calls.Load())
				}
			})
		}
	}
}

// TestUnpricedModelRefusedOnBudgetKey sends 60 concurrent calls of a model
// without a price to a budget key, in each client format: every one is
// refused before any upstream call, in the caller's error shape, and
// nothing is spent.
func TestUnpricedModelRefusedOnBudgetKey(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping process end-to-end test in -short mode")
	}
	for _, nodes := range []int{1, 2} {
		t.Run(map[int]string{1: "sqlite", 2: "postgres+redis"}[nodes], func(t *testing.T) {
			up := &fairProvider{answer: 10}
			srv := httptest.NewServer(up)
			t.Cleanup(srv.Close)
			procs, dsn := e2eMoneyNodes(t, nodes, e2eMoneyConfig(srv.URL, "{{storage}}", moneyChannel("oa", "[mystery-model-1]", ""), "10"))
			const calls = 60
			var wg sync.WaitGroup
			for i := range calls {
				wg.Go(func() {
					base := procs[i%len(procs)].URL()
					switch i % 3 {
					case 0:
						c := openai.NewClient(option.WithBaseURL(base+"/v1"), option.WithAPIKey(e2eMoneyKey), option.WithMaxRetries(0))
						_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "mystery-model-1",
							Messages: moneyUser(openai.TextContentPart("hi"))})
						var e *openai.Error
						if !errors.As(err, &e) || e.StatusCode != http.StatusForbidden || e.Code != "model_not_priced" {
							t.Errorf("openai: %v, want 403 model_not_priced", err)
						}
					case 1:
						c := anthropic.NewClient(aoption.WithoutEnvironmentDefaults(), aoption.WithBaseURL(base), aoption.WithAPIKey(e2eMoneyKey), aoption.WithMaxRetries(0))
						_, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{Model: "mystery-model-1", MaxTokens: 10,
							Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
						var e *anthropic.Error
						if !errors.As(err, &e) || e.StatusCode != http.StatusForbidden || gjson.Get(e.RawJSON(), "error.type").Str != "permission_error" ||
							!strings.Contains(gjson.Get(e.RawJSON(), "error.message").Str, "no price") {
							t.Errorf("anthropic: %v, want a 403 permission_error saying the model has no price", err)
						}
					case 2:
						c, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: e2eMoneyKey, Backend: genai.BackendGeminiAPI,
							HTTPOptions: genai.HTTPOptions{BaseURL: base, APIVersion: "v1beta"}})
						if err != nil {
							t.Error(err)
							return
						}
						_, err = c.Models.GenerateContent(context.Background(), "mystery-model-1", genai.Text("hi"), nil)
						var e genai.APIError
						if !errors.As(err, &e) || e.Code != http.StatusForbidden || e.Status != "PERMISSION_DENIED" || !strings.Contains(e.Message, "no price") {
							t.Errorf("gemini: %v, want 403 PERMISSION_DENIED saying the model has no price", err)
						}
					}
				})
			}
			wg.Wait()
			if n := up.calls.Load(); n != 0 {
				t.Errorf("%d unpriced calls reached the upstream", n)
			}
			for _, p := range procs {
				p.terminate(30 * time.Second)
			}
			key, _ := e2eMoneyKeyAndLedger(t, dsn)
			if key.SpentNanoUSD != 0 || key.ReservedNanoUSD != 0 {
				t.Errorf("spent %d, reserved %d; want nothing", key.SpentNanoUSD, key.ReservedNanoUSD)
			}
		})
	}
}

// e2eMoneyNodes starts nodes processes on one store: SQLite for one node,
// PostgreSQL + Redis for more (skipped without the servers). cfg's
// {{storage}} is replaced by the storage block. It returns the processes
// and the database's DSN.
func e2eMoneyNodes(t *testing.T, nodes int, cfg string) ([]*e2eProc, string) {
	t.Helper()
	dir := t.TempDir()
	var dsn, storage string
	if nodes == 1 {
		dsn = "sqlite://" + filepath.Join(dir, "sb.db")
		storage = "  database: " + dsn
	} else {
		dsn = e2ePostgresDB(t)
		storage = "  database: " + dsn + "\n" + e2eRedisStorage(t)
	}
	e2eBinary(t)
	cfg = strings.Replace(cfg, "{{storage}}", storage, 1)
	var procs []*e2eProc
	for i := range nodes {
		procs = append(procs, startE2EProc(t, fmt.Sprintf("node%d", i), e2eMkdir(t, filepath.Join(dir, fmt.Sprintf("node%d", i))), cfg))
	}
	return procs, dsn
}

// e2eMoneyKeyAndLedger reads the budget key and its ledger.
func e2eMoneyKeyAndLedger(t *testing.T, dsn string) (gateway.Key, []gateway.UsageRecord) {
	t.Helper()
	st := e2eOpenStore(t, dsn)
	keys, err := st.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Name == "money" {
			recs, err := st.ListUsage(context.Background(), gateway.LedgerFilter{KeyID: k.ID})
			if err != nil {
				t.Fatal(err)
			}
			return k, recs
		}
	}
	t.Fatal("key money not in the database")
	return gateway.Key{}, nil
}

// At start the gateway warns once about every routable model without a
// price, and about none that has one.
func TestUnpricedModelsWarnedAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping process end-to-end test in -short mode")
	}
	e2eBinary(t)
	dir := t.TempDir()
	cfg := e2eMoneyConfig("http://127.0.0.1:9", "  database: sqlite://"+filepath.Join(dir, "sb.db"),
		moneyChannel("oa", "[gpt-4o-mini, mystery-model-2, house]", "{house: mystery-upstream}"), "1")
	p := startE2EProc(t, "node", e2eMkdir(t, filepath.Join(dir, "node")), cfg)
	p.terminate(30 * time.Second)
	out := p.out.String()
	for _, want := range []string{` model=mystery-model-2 `, ` upstream_model=mystery-upstream `} {
		if strings.Count(out, want) != 1 {
			t.Errorf("start log has %d warnings with %s, want 1:\n%s", strings.Count(out, want), want, out)
		}
	}
	if strings.Contains(out, "model=gpt-4o-mini") {
		t.Errorf("a priced model was warned about:\n%s", out)
	}
}

// The ledger keeps cost and price apart: cost is the upstream model's list
// price times the channel's multiplier, price is the operator's price for
// the client-facing alias, and the key's budget is charged the price.
func TestAliasPriceIsWhatTheKeyPays(t *testing.T) {
	t.Parallel()
	up := &fairProvider{answer: 1000}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	n := startNode(t, `
prices:
  house: {input_per_mtok: 5, output_per_mtok: 20}
channels:
  - name: oa
    type: openai
    base_url: %s
    api_keys: [sk-upstream]
    models: [house]
    model_map: {house: gpt-4o-mini}
    price_multiplier: 0.5
keys:
  - name: money
    key: `+e2eMoneyKey+`
    budget_usd: 10
`, srv.URL)
	c := n.client(e2eMoneyKey, "/v1")
	resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "house", MaxCompletionTokens: openai.Int(2000),
		Messages: moneyUser(openai.TextContentPart("hello"))})
	if err != nil {
		t.Fatal(err)
	}
	in, out := resp.Usage.PromptTokens, resp.Usage.CompletionTokens
	rec := n.usage(t, func(r gateway.UsageRecord) bool { return r.Model == "house" })
	wantCost := (in*150 + out*600) / 2 // gpt-4o-mini's list price, halved
	wantPrice := in*5000 + out*20000
	if rec.UpstreamModel != "gpt-4o-mini" || rec.CostNanoUSD != wantCost || rec.PriceNanoUSD != wantPrice {
		t.Errorf("%s as %s: cost %d, price %d; want %d and %d", rec.Model, rec.UpstreamModel, rec.CostNanoUSD, rec.PriceNanoUSD, wantCost, wantPrice)
	}
	gatewaytest.WaitFor(t, 5*time.Second, "spend settled", func() bool {
		k, err := n.app.store.KeyByHash(context.Background(), hashOf(e2eMoneyKey))
		return err == nil && k.SpentNanoUSD == wantPrice && k.ReservedNanoUSD == 0
	})
}
