package relay

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"switchboard/internal/endpoint"
	"switchboard/internal/format/openai"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/payload"
	"switchboard/internal/pricing"
	"switchboard/internal/route"
)

// grantingBudget is a gateway.Holder that grants at most grant (0: all
// asked) and remembers what it was asked.
type grantingBudget struct {
	nopBudget
	grant int64
	mu    sync.Mutex
	asked []gateway.HoldRequest
}

func (b *grantingBudget) Hold(_ context.Context, req gateway.HoldRequest) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.asked = append(b.asked, req)
	if b.grant == 0 {
		return req.Amount, nil
	}
	if b.grant < req.Min {
		return 0, gateway.ErrBudgetExceeded
	}
	return min(req.Amount, b.grant), nil
}

// holdEngine routes "alias" to gpt-4o-mini on one channel and gpt-4o on
// another, "claude" to an Anthropic channel, and "mystery" (unpriced) to
// the first; every upstream answer is okChat, and bodies are kept.
func holdEngine(t *testing.T, b *grantingBudget) (*Engine, *testUpstream, *[]string) {
	t.Helper()
	var (
		mu     sync.Mutex
		bodies []string
	)
	up := newTestUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(body))
		mu.Unlock()
		okChatHandler(w, r)
	})
	rt := route.New(nil)
	rt.SetChannels([]gateway.Channel{
		{ID: 1, Name: "cheap", Type: gateway.ChannelOpenAI, BaseURL: up.URL, APIKeys: []string{"k"}, Models: []string{"alias", "mystery", "gpt-4o-mini"},
			ModelMap: map[string]string{"alias": "gpt-4o-mini"}, Priority: 10, Weight: 1, Enabled: true},
		{ID: 2, Name: "dear", Type: gateway.ChannelOpenAI, BaseURL: up.URL, APIKeys: []string{"k"}, Models: []string{"alias"},
			ModelMap: map[string]string{"alias": "gpt-4o"}, Priority: 5, Weight: 1, Enabled: true},
	})
	e := &Engine{
		Router: rt, Budget: b, Prices: pricing.Builtin(), Ledger: &nopLedger{}, Specs: testSpecs,
		Client: &http.Client{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	return e, up, &bodies
}

var budgetKey = &gateway.Key{ID: 7, Name: "budget", Enabled: true, BudgetNanoUSD: 1_000_000_000}

func serveKey(e *Engine, key *gateway.Key, body string) (*httptest.ResponseRecorder, error) {
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
	b := payload.Body{JSON: []byte(body)}
	p, err := openai.Chat.Peek(req, b)
	if err != nil {
		return nil, err
	}
	w := httptest.NewRecorder()
	call := &Call{Spec: openai.Chat, Key: key, RequestID: "req_hold", Start: time.Now(), Peek: p, Body: b, Header: http.Header{}}
	return w, e.Serve(req.Context(), w, call)
}

// The hold is priced at the dearest candidate's upstream model (an alias
// served by gpt-4o-mini and gpt-4o holds gpt-4o), with output at the
// request's limit times n.
func TestHoldPricesTheDearestRoute(t *testing.T) {
	t.Parallel()
	b := &grantingBudget{}
	e, _, _ := holdEngine(t, b)
	if _, err := serveKey(e, budgetKey, `{"model":"alias","n":4,"max_tokens":1000,"messages":[{"role":"user","content":"hi"}]}`); err != nil {
		t.Fatal(err)
	}
	if len(b.asked) != 1 {
		t.Fatalf("%d holds asked, want 1", len(b.asked))
	}
	body := `{"model":"alias","n":4,"max_tokens":1000,"messages":[{"role":"user","content":"hi"}]}`
	dear := pricing.Builtin().Hold(pricing.Call{ClientModel: "gpt-4o", Prompt: pricing.Prompt{TextBytes: int64(len(body))}, MaxOutput: 1000, N: 4})
	if got := b.asked[0].Amount; got != dear.Amount {
		t.Errorf("held %d, want gpt-4o's worst case %d", got, dear.Amount)
	}
	// 4 choices of 1,000 tokens at gpt-4o's $10/Mtok output alone.
	if b.asked[0].Amount < 4*1000*10_000 {
		t.Errorf("held %d, less than the output of 4 choices", b.asked[0].Amount)
	}
}

// When the budget affords less than the worst case, the output limit sent
// upstream is lowered to what it affords and the client told so; when it
// affords not even the minimal answer, the call is refused before any
// upstream call.
func TestHoldLowersTheOutputLimit(t *testing.T) {
	t.Parallel()
	full := pricing.Builtin().Hold(pricing.Call{ClientModel: "gpt-4o-mini", Prompt: pricing.Prompt{TextBytes: 100}})
	b := &grantingBudget{grant: full.Amount / 4}
	e, up, bodies := holdEngine(t, b)
	w, err := serveKey(e, budgetKey, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	lowered, perr := strconv.ParseInt(w.Header().Get(HeaderMaxTokensLowered), 10, 64)
	if perr != nil || lowered <= 0 || lowered >= full.OutputLimit {
		t.Fatalf("%s = %q, want a limit below the model's %d", HeaderMaxTokensLowered, w.Header().Get(HeaderMaxTokensLowered), full.OutputLimit)
	}
	if len(*bodies) != 1 {
		t.Fatalf("%d upstream calls", len(*bodies))
	}
	if sent := gjson.Get((*bodies)[0], "max_completion_tokens").Int(); sent != lowered {
		t.Errorf("upstream got max_completion_tokens %d, header says %d: %s", sent, lowered, (*bodies)[0])
	}

	b.grant = 1 // not even min_output_tokens fit
	w, err = serveKey(e, budgetKey, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	var gerr *gateway.Error
	if !errors.As(err, &gerr) || gerr.Kind != gateway.KindInsufficientQuota {
		t.Fatalf("err %v, want insufficient quota", err)
	}
	if up.calls.Load() != 1 {
		t.Errorf("a refused call reached the upstream (%d calls)", up.calls.Load())
	}
	_ = w
}

// A budget key calling a model without a price is refused before any
// upstream call under the default policy; warn lets it through; a key
// without a budget goes through either way.
func TestHoldRefusesUnpriced(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		policy pricing.UnpricedPolicy
		key    *gateway.Key
		refuse bool
	}{
		{"default refuses a budget key", "", budgetKey, true},
		{"refuse", pricing.UnpricedRefuse, budgetKey, true},
		{"warn", pricing.UnpricedWarn, budgetKey, false},
		{"free", pricing.UnpricedFree, budgetKey, false},
		{"no budget", pricing.UnpricedRefuse, benchKey, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, up, _ := holdEngine(t, &grantingBudget{})
			e.Unpriced = tc.policy
			_, err := serveKey(e, tc.key, `{"model":"mystery","messages":[{"role":"user","content":"hi"}]}`)
			var gerr *gateway.Error
			refused := errors.As(err, &gerr) && gerr.Code == "model_not_priced"
			if refused != tc.refuse {
				t.Fatalf("refused %v (err %v), want %v", refused, err, tc.refuse)
			}
			if want := int32(0); !tc.refuse {
				want = 1
				if up.calls.Load() != want {
					t.Errorf("%d upstream calls, want %d", up.calls.Load(), want)
				}
			} else if up.calls.Load() != want {
				t.Errorf("a refused call reached the upstream")
			}
		})
	}
}

// The prompt is bounded by its parts in every wire format: text by bytes
// without inline payloads, images and other media counted per part, and
// cache markers noticed.
func TestJSONPromptParts(t *testing.T) {
	t.Parallel()
	b64 := strings.Repeat("QUJD", 1000) // 4,000 bytes of base64
	for _, tc := range []struct {
		name string
		body string
		want pricing.Prompt
	}{
		{"text", `{"messages":[{"role":"user","content":"hello"}]}`, pricing.Prompt{}},
		{"openai images", `{"messages":[{"role":"user","content":[{"type":"text","text":"what"},{"type":"image_url","image_url":{"url":"data:image/png;base64,` + b64 + `"}},{"type":"image_url","image_url":{"url":"https://x.test/a.png"}}]}]}`,
			pricing.Prompt{Images: 2}},
		{"openai audio and file", `{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"` + b64 + `","format":"wav"}},{"type":"file","file":{"file_data":"data:application/pdf;base64,` + b64 + `"}}]}]}`,
			pricing.Prompt{OtherMedia: 2}},
		{"anthropic image and cache", `{"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + b64 + `"}},{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"url","url":"https://x.test/b.png"}}]}]}]}`,
			pricing.Prompt{Images: 2, CacheWrites: true}},
		{"gemini inline and file data", `{"contents":[{"role":"user","parts":[{"text":"hi"},{"inlineData":{"mimeType":"image/jpeg","data":"` + b64 + `"}},{"fileData":{"mimeType":"video/mp4","fileUri":"gs://b/v.mp4"}}]}]}`,
			pricing.Prompt{Images: 1, OtherMedia: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := jsonPrompt([]byte(tc.body))
			inline := int64(strings.Count(tc.body, b64) * (len(b64) + 2))
			if strings.Contains(tc.body, "data:") {
				inline += int64(strings.Count(tc.body, `"data:`) * len("data:application/pdf;base64,"))
			}
			text := got.TextBytes
			got.TextBytes = 0
			if got != tc.want {
				t.Errorf("parts %+v, want %+v", got, tc.want)
			}
			// Text is the body without its inline payloads (give or take
			// a data: URL's prefix, which is counted as text or not).
			if max := int64(len(tc.body)) - int64(strings.Count(tc.body, b64)*len(b64)) + 64; text > max || text < int64(len(tc.body))-inline {
				t.Errorf("text bytes %d, body %d with %d of inline payload", text, len(tc.body), inline)
			}
		})
	}
}

// An Anthropic web_search tool holds its searches and one model pass per
// search; a Gemini search tool grounds every candidate.
func TestServerToolsBound(t *testing.T) {
	t.Parallel()
	units, passes := serverTools([]byte(`{"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":3},{"name":"f","input_schema":{}}]}`), 1)
	if passes != 4 || len(units) != 1 || units[0].Unit != gateway.UnitWebSearch || units[0].Count != 3 {
		t.Errorf("anthropic: units %+v passes %d", units, passes)
	}
	units, passes = serverTools([]byte(`{"tools":[{"googleSearch":{}}]}`), 2)
	if passes != 1 || len(units) != 1 || units[0].Unit != gateway.UnitGroundedPrompt || units[0].Count != 2 {
		t.Errorf("gemini: units %+v passes %d", units, passes)
	}
}

// boundedChat is a chat spec that bounds its worst case itself.
type boundedChat struct{ endpoint.Spec }

func (boundedChat) Worst(p endpoint.Peek, _ payload.Body) endpoint.Worst {
	return endpoint.Worst{InputTokens: 100, OutputTokens: 10, Units: []gateway.Metered{{Unit: gateway.UnitImage, Count: int64(p.Choices())}}}
}

// A spec that bounds its worst case itself has its units in the hold.
func TestHoldCoversStatedUnits(t *testing.T) {
	t.Parallel()
	b := &grantingBudget{}
	e, _, _ := holdEngine(t, b)
	const perImage = 40_000_000 // $0.04
	e.Prices = pricing.New(map[string]gateway.Price{"gpt-4o-mini": {InputPerMTok: 1000, OutputPerMTok: 1000,
		Units: []gateway.UnitPrice{{Unit: gateway.UnitImage, PerMUnits: perImage * 1_000_000}}}})
	body := `{"model":"gpt-4o-mini","n":3,"max_tokens":10,"messages":[{"role":"user","content":"draw"}]}`
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
	pb := payload.Body{JSON: []byte(body)}
	p, err := openai.Chat.Peek(req, pb)
	if err != nil {
		t.Fatal(err)
	}
	c := &Call{Spec: boundedChat{openai.Chat}, Key: budgetKey, RequestID: "req_units", Start: time.Now(), Peek: p, Body: pb, Header: http.Header{}}
	h := e.Prices.Hold(e.holdCall(c))
	if h.Amount < 3*perImage {
		t.Errorf("held %d, less than the 3 images asked for (%d)", h.Amount, 3*perImage)
	}
	plain := e.Prices.Hold(e.holdCall(&Call{Spec: openai.Chat, Key: budgetKey, Peek: p, Body: pb}))
	if plain.Amount >= perImage {
		t.Errorf("without stated units the hold is %d", plain.Amount)
	}
}

// A Go caller's request is described by its parts like a body.
func TestHubPromptParts(t *testing.T) {
	t.Parallel()
	data := strings.Repeat("QUJD", 1000)
	r := &llm.Request{
		System: []llm.Part{{Type: llm.PartText, Text: "be brief", CacheControl: &llm.CacheControl{}}},
		Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{
			{Type: llm.PartText, Text: "what is this"},
			{Type: llm.PartImage, MediaType: "image/png", Data: data},
			{Type: llm.PartToolResult, Content: []llm.Part{{Type: llm.PartImage, URL: "https://x.test/a.png"}}},
			{Type: llm.PartAudio, MediaType: "audio/wav", Data: data},
		}}},
	}
	p := hubPrompt(r)
	if p.Images != 2 || p.OtherMedia != 1 || !p.CacheWrites {
		t.Errorf("parts %+v", p)
	}
	if p.TextBytes <= 0 || p.TextBytes > 2000 {
		t.Errorf("text bytes %d: the inline payloads (%d bytes each) must not count", p.TextBytes, len(data))
	}
}

// Any body, however malformed or deep, describes a prompt no larger than
// itself, and server tools never hold a negative count.
func FuzzJSONPrompt(f *testing.F) {
	for _, s := range []string{
		`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}`,
		`{"contents":[{"parts":[{"inlineData":{"mimeType":"audio/wav","data":"AAAA"}}]}],"tools":[{"googleSearch":{}}]}`,
		`{"tools":[{"type":"web_search_20250305","max_uses":-3}],"system":[{"cache_control":{}}]}`,
		`{"tools":[{"type":"web_search","max_uses":9223372036854775807},{"type":"web_search","max_uses":9223372036854775807}]}`,
		`[[[[[[[[[[]]]]]]]]]]`, `{"type":"image"`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p := jsonPrompt(body)
		if p.TextBytes < 0 || p.TextBytes > int64(len(body)) || p.Images < 0 || p.OtherMedia < 0 {
			t.Fatalf("prompt %+v of a %d-byte body", p, len(body))
		}
		units, passes := serverTools(body, 1)
		if passes < 1 {
			t.Fatalf("passes %d", passes)
		}
		for _, u := range units {
			if u.Count <= 0 {
				t.Fatalf("units %+v", units)
			}
		}
	})
}
