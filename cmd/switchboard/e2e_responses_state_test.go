package main

// Conversation state of the Responses API: previous_response_id on every
// upstream (and across them), the stored answer read back, listed and
// deleted, store:false honoured, and one key blind to another's responses.

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
)

func (n *node) do(t *testing.T, method, path, key, body string) (int, []byte) {
	t.Helper()
	var resp *http.Response
	if method == http.MethodPost {
		resp = n.post(t, path, key, body, nil)
	} else {
		req, err := http.NewRequest(method, n.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		if resp, err = http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, b
}

func TestResponsesState(t *testing.T) {
	t.Parallel()
	e := startResponsesTranslate(t)
	c := e.n.client(testKey, "/v1")
	ctx := context.Background()

	// Turn one on a chat upstream, turn two on Claude, turn three passed
	// through to OpenAI: each continues by previous_response_id only.
	first, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "llama-3", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("My name is Ada.")}})
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "claude-sonnet-4", PreviousResponseID: openai.String(first.ID),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("What is my name?")}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := gjson.GetBytes(e.claude.Last(t).Body, "messages")
	if msgs.Get("#").Int() != 3 || msgs.Get("0.content.0.text").Str != "My name is Ada." || msgs.Get("1.role").Str != "assistant" ||
		msgs.Get("1.content.0.text").Str != "Hello from chat." || msgs.Get("2.content.0.text").Str != "What is my name?" {
		t.Errorf("Claude got %s", msgs.Raw)
	}
	stream := c.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: "gpt-5", PreviousResponseID: openai.String(second.ID),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("And again?")}})
	var third responses.Response
	for stream.Next() {
		if ev := stream.Current(); ev.Type == "response.completed" {
			third = ev.Response
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	up := e.openai.Last(t).Body
	if gjson.GetBytes(up, "previous_response_id").Exists() || gjson.GetBytes(up, "input.#").Int() != 5 ||
		gjson.GetBytes(up, "input.3.content.0.text").Str != "Hello from Claude." || gjson.GetBytes(up, "input.4.content").Str != "And again?" {
		t.Errorf("OpenAI got %s", up)
	}

	t.Run("read back", func(t *testing.T) {
		got, err := c.Responses.Get(ctx, second.ID, responses.ResponseGetParams{})
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != second.ID || got.OutputText() != "Hello from Claude." {
			t.Errorf("got %s", got.RawJSON())
		}
		// The pass-through answer is kept under the upstream's id.
		if third.ID != "resp_fake" {
			t.Fatalf("third id %q", third.ID)
		}
		if _, err := c.Responses.Get(ctx, third.ID, responses.ResponseGetParams{}); err != nil {
			t.Error(err)
		}
		items, err := c.Responses.InputItems.List(ctx, second.ID, responses.InputItemListParams{Order: responses.InputItemListParamsOrderAsc})
		if err != nil {
			t.Fatal(err)
		}
		if len(items.Data) != 3 || items.Data[0].ID == "" || gjson.Get(items.RawJSON(), "data.2.content").Str != "What is my name?" {
			t.Errorf("input items %s", items.RawJSON())
		}
		status, b := e.n.do(t, http.MethodGet, "/v1/responses/"+second.ID+"/input_items?limit=1", testKey, "")
		if status != 200 || gjson.GetBytes(b, "data.#").Int() != 1 || !gjson.GetBytes(b, "has_more").Bool() || gjson.GetBytes(b, "data.0.content").Str != "What is my name?" {
			t.Errorf("%d %s", status, b)
		}
	})

	t.Run("another key sees nothing", func(t *testing.T) {
		for _, path := range []string{"/v1/responses/" + second.ID, "/v1/responses/" + second.ID + "/input_items"} {
			if status, b := e.n.do(t, http.MethodGet, path, testKeyLimit, ""); status != 404 || gjson.GetBytes(b, "error.message").Str == "" {
				t.Errorf("GET %s: %d %s", path, status, b)
			}
		}
		if status, _ := e.n.do(t, http.MethodDelete, "/v1/responses/"+second.ID, testKeyLimit, ""); status != 404 {
			t.Errorf("DELETE: %d", status)
		}
		status, b := e.n.do(t, http.MethodPost, "/v1/responses", testKeyLimit, `{"model":"claude-sonnet-4","previous_response_id":"`+second.ID+`","input":"hi"}`)
		if status != 400 || gjson.GetBytes(b, "error.code").Str != "previous_response_not_found" || gjson.GetBytes(b, "error.param").Str != "previous_response_id" {
			t.Errorf("continuation by another key: %d %s", status, b)
		}
	})

	t.Run("previous_response_id given twice", func(t *testing.T) {
		status, b := e.n.do(t, http.MethodPost, "/v1/responses", testKey, `{"model":"gpt-5","previous_response_id":"`+second.ID+`","previous_response_id":"resp_someone_elses","input":"x"}`)
		if status != 400 || gjson.GetBytes(b, "error.code").Str != "duplicate_field" {
			t.Errorf("%d %s", status, b)
		}
	})

	t.Run("store false keeps nothing", func(t *testing.T) {
		status, b := e.n.do(t, http.MethodPost, "/v1/responses", testKey, `{"model":"llama-3","store":false,"input":"hi"}`)
		if status != 200 || gjson.GetBytes(b, "store").Bool() {
			t.Fatalf("%d %s", status, b)
		}
		id := gjson.GetBytes(b, "id").Str
		if status, _ := e.n.do(t, http.MethodGet, "/v1/responses/"+id, testKey, ""); status != 404 {
			t.Errorf("GET a store:false response: %d", status)
		}
		if status, _ := e.n.do(t, http.MethodPost, "/v1/responses", testKey, `{"model":"llama-3","previous_response_id":"`+id+`","input":"hi"}`); status != 400 {
			t.Errorf("continue a store:false response: %d", status)
		}
	})

	t.Run("cancel and delete", func(t *testing.T) {
		if status, b := e.n.do(t, http.MethodPost, "/v1/responses/"+first.ID+"/cancel", testKey, ""); status != 400 || gjson.GetBytes(b, "error.message").Str == "" {
			t.Errorf("cancel: %d %s", status, b)
		}
		if status, _ := e.n.do(t, http.MethodPost, "/v1/responses/resp_nope/cancel", testKey, ""); status != 404 {
			t.Errorf("cancel unknown: %d", status)
		}
		if err := c.Responses.Delete(ctx, first.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Responses.Get(ctx, first.ID, responses.ResponseGetParams{}); err == nil {
			t.Error("deleted response still readable")
		}
	})
}

// A tool call continued by previous_response_id with only the call's
// output: Anthropic must get the tool_use and its tool_result paired.
func TestResponsesStateToolTurn(t *testing.T) {
	t.Parallel()
	e := startResponsesTranslate(t)
	e.claude.SetHandler(gatewaytest.Anthropic{ToolCalls: []gatewaytest.ToolCall{{ID: "toolu_9", Name: "get_weather", Arguments: `{"city":"Oslo"}`}}, InputTokens: 5, OutputTokens: 3}.Handler())
	tools := `"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}}]`
	status, b := e.n.do(t, http.MethodPost, "/v1/responses", testKey, `{"model":"claude-sonnet-4","input":"Weather?",`+tools+`}`)
	if status != 200 {
		t.Fatalf("%d %s", status, b)
	}
	id, callID := gjson.GetBytes(b, "id").Str, gjson.GetBytes(b, `output.#(type=="function_call").call_id`).Str
	e.claude.SetHandler(gatewaytest.Anthropic{Text: "Cold.", InputTokens: 9, OutputTokens: 2}.Handler())
	status, b = e.n.do(t, http.MethodPost, "/v1/responses", testKey, `{"model":"claude-sonnet-4","previous_response_id":"`+id+`",`+tools+
		`,"input":[{"type":"function_call_output","call_id":"`+callID+`","output":"-5C"}]}`)
	if status != 200 || gjson.GetBytes(b, "output.0.content.0.text").Str != "Cold." {
		t.Fatalf("%d %s", status, b)
	}
	msgs := gjson.GetBytes(e.claude.Last(t).Body, "messages")
	if msgs.Get("1.content.0.type").Str != "tool_use" || msgs.Get("2.content.0.type").Str != "tool_result" || msgs.Get("2.content.0.tool_use_id").Str != callID {
		t.Errorf("Claude got %s", msgs.Raw)
	}
}

// input_tokens is relayed where a channel serves the Responses API and
// counted by the gateway elsewhere; compact only where it is served.
func TestResponsesInputTokensAndCompact(t *testing.T) {
	t.Parallel()
	e := startResponsesTranslate(t)
	e.openai.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/responses/input_tokens":
			_, _ = io.WriteString(w, `{"object":"response.input_tokens","input_tokens":42}`)
		case "/v1/responses/compact":
			_, _ = io.WriteString(w, `{"id":"cmp_1","object":"response.compaction","created_at":1,"output":[{"type":"compaction","id":"cmp_1","encrypted_content":"gAAA"}],"usage":{"input_tokens":30,"output_tokens":5,"total_tokens":35}}`)
		default:
			w.WriteHeader(404)
		}
	})
	status, b := e.n.do(t, http.MethodPost, "/v1/responses/input_tokens", testKey, `{"model":"gpt-5","input":"hello"}`)
	if status != 200 || gjson.GetBytes(b, "input_tokens").Int() != 42 {
		t.Errorf("relayed count: %d %s", status, b)
	}
	status, b = e.n.do(t, http.MethodPost, "/v1/responses/input_tokens", testKey, `{"model":"claude-sonnet-4","instructions":"Be brief.","input":"hello there, how are you today?"}`)
	if status != 200 || gjson.GetBytes(b, "object").Str != "response.input_tokens" || gjson.GetBytes(b, "input_tokens").Int() < 5 {
		t.Errorf("local count: %d %s", status, b)
	}
	if n := e.claude.Count(); n != 0 {
		t.Errorf("a count reached Anthropic %d times", n)
	}
	status, b = e.n.do(t, http.MethodPost, "/v1/responses/compact", testKey, `{"model":"gpt-5","input":[{"role":"user","content":"long history"}]}`)
	if status != 200 || gjson.GetBytes(b, "output.0.type").Str != "compaction" {
		t.Errorf("compact: %d %s", status, b)
	}
	// Elsewhere the model itself summarises the history, which comes back
	// as one user message every upstream can read.
	status, b = e.n.do(t, http.MethodPost, "/v1/responses/compact", testKey, `{"model":"claude-sonnet-4","instructions":"You are Codex.",
		"tools":[{"type":"function","name":"shell","parameters":{"type":"object","properties":{}}}],
		"input":[{"role":"user","content":"fix the bug"},{"type":"function_call","call_id":"c1","name":"shell","arguments":"{}"},
		{"type":"function_call_output","call_id":"c1","output":"ok"}]}`)
	if status != 200 || gjson.GetBytes(b, "object").Str != "response.compaction" || gjson.GetBytes(b, "output.#").Int() != 1 ||
		gjson.GetBytes(b, "output.0.type").Str != "message" || gjson.GetBytes(b, "output.0.role").Str != "user" ||
		!strings.HasSuffix(gjson.GetBytes(b, "output.0.content.0.text").Str, "Hello from Claude.") ||
		gjson.GetBytes(b, "usage.input_tokens").Int() == 0 {
		t.Fatalf("compact on a translated model: %d %s", status, b)
	}
	got := e.claude.Last(t).Body
	last := gjson.GetBytes(got, "messages.@reverse.0")
	if last.Get("role").Str != "user" || !strings.Contains(last.Raw, "compacting this conversation") ||
		gjson.GetBytes(got, "tool_choice.type").Str != "none" || gjson.GetBytes(got, "tools.0.name").Str != "shell" ||
		!strings.Contains(string(got), "tool_result") || gjson.GetBytes(got, "stream").Bool() {
		t.Errorf("Anthropic received %s", got)
	}
	rec := e.n.usage(t, func(r gateway.UsageRecord) bool {
		return r.Endpoint == "responses.compact" && r.Model == "claude-sonnet-4"
	})
	if rec.Status != 200 || rec.Usage.InputTokens == 0 || rec.UsageSource != gateway.UsageFromUpstream {
		t.Errorf("ledger %+v", rec)
	}
	// A compacted history continues on any upstream.
	status, b = e.n.do(t, http.MethodPost, "/v1/responses", testKey, `{"model":"gemini-2.5-pro","input":[`+gjson.GetBytes(b, "output.0").Raw+`,{"role":"user","content":"go on"}]}`)
	if status != 200 || gjson.GetBytes(b, "status").Str != "completed" {
		t.Errorf("turn after compaction: %d %s", status, b)
	}
}
