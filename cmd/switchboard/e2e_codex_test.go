package main

// A Codex CLI session replayed through the gateway, over HTTP (the full
// history every turn, store:false) and over the WebSocket mode (only the
// new items, previous_response_id), against OpenAI-compatible chat,
// Anthropic and Gemini upstreams: a reasoning turn that calls a tool, the
// tool's output as an array with text and an image, the answer, and a
// follow-up. The fakes refuse any history their provider would refuse
// (Anthropic: every tool_use answered by a tool_result first thing in the
// next user turn, thinking signatures intact; chat: every tool call
// answered), so each turn passing means each upstream got a valid history.
// Codex's model list, headers and turn state are checked on the way.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"switchboard/internal/gatewaytest"
)

// codexScript answers like a model working through the session: a tool
// call while the last input is the user's, text once a tool result came.
func codexScript(kind string) http.HandlerFunc {
	call := []gatewaytest.ToolCall{{ID: "call_shell_1", Name: "shell_command", Arguments: `{"command":"ls","workdir":"/repo"}`}}
	var withCall, withText http.HandlerFunc
	var gotResult func(body []byte) bool
	lastIs := func(path, typ string) func([]byte) bool {
		return func(b []byte) bool {
			msgs := gjson.GetBytes(b, path).Array()
			return len(msgs) > 0 && strings.Contains(msgs[len(msgs)-1].Raw, typ)
		}
	}
	switch kind {
	case "chat":
		withCall = gatewaytest.OpenAIChat{ToolCalls: call, PromptTokens: 50, CompletionTokens: 10}.Handler()
		withText = gatewaytest.OpenAIChat{Text: "Two files: a.go and b.go.", PromptTokens: 90, CompletionTokens: 8}.Handler()
		gotResult = func(b []byte) bool {
			msgs := gjson.GetBytes(b, "messages").Array()
			for i := len(msgs) - 1; i >= 0; i-- {
				switch msgs[i].Get("role").Str {
				case "tool":
					return true
				case "assistant":
					return false
				}
			}
			return false
		}
	case "anthropic":
		sigs := gatewaytest.Signatures{"sig-replay-1": "I will list the files."}
		withCall = gatewaytest.Anthropic{Thinking: "I will list the files.", Signature: "sig-replay-1", ToolCalls: []gatewaytest.ToolCall{{ID: "toolu_shell_1", Name: "shell_command", Arguments: `{"command":"ls","workdir":"/repo"}`}},
			InputTokens: 50, OutputTokens: 10, Signatures: sigs}.Handler()
		withText = gatewaytest.Anthropic{Text: "Two files: a.go and b.go.", InputTokens: 90, OutputTokens: 8, Signatures: sigs}.Handler()
		gotResult = lastIs("messages", `"tool_result"`)
	case "gemini":
		sigs := gatewaytest.Signatures{"sig-gem-1": ""}
		withCall = gatewaytest.Gemini{Thought: "Listing.", ThoughtSignature: "sig-gem-1", ToolCalls: call, PromptTokens: 50, CandidatesTokens: 10, Signatures: sigs}.Handler()
		withText = gatewaytest.Gemini{Text: "Two files: a.go and b.go.", PromptTokens: 90, CandidatesTokens: 8, Signatures: sigs}.Handler()
		gotResult = lastIs("contents", `"functionResponse"`)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if gotResult(body) {
			withText(w, r)
			return
		}
		withCall(w, r)
	}
}

var codexHeaders = map[string]string{
	"Session-Id": "019a-thread-replay", "Thread-Id": "019a-thread-replay", "Originator": "codex_exec", "Version": "0.135.0",
	"User-Agent": "codex_exec/0.135.0 (Linux; x86_64) (codex_exec; 0.135.0)", "X-Codex-Turn-Metadata": `{"turn_id":"t1"}`,
	"X-Codex-Turn-State": "ts-opaque-1", "Accept": "text/event-stream",
}

// sseResponse reads a Responses stream and returns its completed Response.
func sseResponse(t *testing.T, body io.Reader) gjson.Result {
	t.Helper()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			switch gjson.Get(d, "type").Str {
			case "response.completed":
				return gjson.Get(d, "response")
			case "response.failed", "error":
				t.Fatalf("stream failed: %s", d)
			}
		}
	}
	t.Fatal("stream ended without response.completed")
	return gjson.Result{}
}

func TestCodexSessionReplay(t *testing.T) {
	t.Parallel()
	e := startResponsesTranslate(t)
	e.chat.SetHandler(codexScript("chat"))
	e.claude.SetHandler(codexScript("anthropic"))
	e.gemini.SetHandler(codexScript("gemini"))
	tmpl, err := os.ReadFile("testdata/codex/turn1.json")
	if err != nil {
		t.Fatal(err)
	}
	toolOutput := func(callID string) string {
		return `{"type":"function_call_output","call_id":"` + callID + `","output":[{"type":"input_text","text":"a.go\nb.go"},{"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo="}]}`
	}

	t.Run("models in Codex's shape", func(t *testing.T) {
		status, b := e.n.do(t, http.MethodGet, "/v1/models?client_version=0.135.0", testKey, "")
		m := gjson.GetBytes(b, `models.#(slug=="claude-sonnet-4")`)
		if status != 200 || !m.Exists() || m.Get("supported_reasoning_levels.#").Int() == 0 || m.Get("truncation_policy.mode").Str == "" ||
			m.Get("apply_patch_tool_type").Str != "function" || m.Get("base_instructions").Str == "" || m.Get("shell_type").Str == "" {
			t.Errorf("%d %s", status, b)
		}
		if status, b := e.n.do(t, http.MethodGet, "/v1/models", testKey, ""); status != 200 || !gjson.GetBytes(b, "data").IsArray() {
			t.Errorf("standard list: %d %s", status, b)
		}
	})

	for _, model := range []string{"llama-3", "claude-sonnet-4", "gemini-2.5-pro"} {
		t.Run("http/"+model, func(t *testing.T) {
			body := fmt.Sprintf(string(tmpl), model)
			var history []string
			gjson.Get(body, "input").ForEach(func(_, it gjson.Result) bool { history = append(history, it.Raw); return true })
			send := func() gjson.Result {
				b, _ := sjson.SetRaw(body, "input", "["+strings.Join(history, ",")+"]")
				resp := e.n.post(t, "/v1/responses", testKey, b, codexHeaders)
				defer resp.Body.Close()
				if resp.StatusCode != 200 {
					msg, _ := io.ReadAll(resp.Body)
					t.Fatalf("%d %s", resp.StatusCode, msg)
				}
				if resp.Header.Get("X-Codex-Turn-State") != "ts-opaque-1" {
					t.Errorf("turn state not echoed: %v", resp.Header)
				}
				out := sseResponse(t, resp.Body)
				out.Get("output").ForEach(func(_, it gjson.Result) bool { history = append(history, it.Raw); return true })
				return out
			}
			first := send()
			callID := first.Get(`output.#(type=="function_call").call_id`).Str
			if callID == "" || first.Get(`output.#(type=="function_call").name`).Str != "shell_command" {
				t.Fatalf("turn 1: %s", first.Raw)
			}
			history = append(history, toolOutput(callID))
			if got := send().Get("output.#(type==\"message\").content.0.text").Str; got != "Two files: a.go and b.go." {
				t.Fatalf("turn 2: %q", got)
			}
			history = append(history, `{"type":"message","role":"user","content":[{"type":"input_text","text":"Thanks."}]}`)
			send() // a follow-up over the whole history, tool turn included
		})
	}

	t.Run("http/openai passes Codex through", func(t *testing.T) {
		e.openai.SetHandler(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Codex-Turn-State", "ts-from-upstream")
			gatewaytest.OpenAIResponses{Text: "ok", InputTokens: 3, OutputTokens: 1}.Handler()(w, r)
		})
		body := fmt.Sprintf(string(tmpl), "gpt-5")
		body, _ = sjson.SetRaw(body, "tools.-1", `{"type":"custom","name":"apply_patch_freeform","format":{"type":"grammar","syntax":"lark","definition":"start: /.+/"}}`)
		resp := e.n.post(t, "/v1/responses", testKey, body, codexHeaders)
		out := sseResponse(t, resp.Body)
		resp.Body.Close()
		if out.Get("id").Str == "" || resp.Header.Get("X-Codex-Turn-State") != "ts-from-upstream" {
			t.Errorf("turn state %q", resp.Header.Get("X-Codex-Turn-State"))
		}
		got := e.openai.Last(t)
		for _, h := range []string{"Session-Id", "Thread-Id", "Originator", "Version", "X-Codex-Turn-Metadata", "X-Codex-Turn-State"} {
			if got.Header.Get(h) != codexHeaders[h] {
				t.Errorf("header %s = %q upstream", h, got.Header.Get(h))
			}
		}
		if gjson.GetBytes(got.Body, "tools.3.type").Str != "custom" || gjson.GetBytes(got.Body, "client_metadata.x-codex-installation-id").Str != "inst-1" {
			t.Errorf("body changed: %s", got.Body)
		}
	})

	for _, model := range []string{"llama-3", "claude-sonnet-4", "gemini-2.5-pro"} {
		t.Run("websocket/"+model, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			hdr := http.Header{"Authorization": {"Bearer " + testKey}, "Openai-Beta": {"responses_websockets=2026-02-06"}}
			conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.n.srv.URL, "http")+"/v1/responses", &websocket.DialOptions{HTTPHeader: hdr})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.CloseNow()
			conn.SetReadLimit(8 << 20)
			create := func(frame string) gjson.Result {
				frame, _ = sjson.Set(frame, "type", "response.create")
				frame, _ = sjson.Delete(frame, "stream")
				if err := conn.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
					t.Fatal(err)
				}
				for {
					_, msg, err := conn.Read(ctx)
					if err != nil {
						t.Fatal(err)
					}
					switch gjson.GetBytes(msg, "type").Str {
					case "response.completed":
						return gjson.GetBytes(msg, "response")
					case "error", "response.failed":
						t.Fatalf("%s", msg)
					}
				}
			}
			first := create(fmt.Sprintf(string(tmpl), model))
			callID := first.Get(`output.#(type=="function_call").call_id`).Str
			if callID == "" {
				t.Fatalf("turn 1: %s", first.Raw)
			}
			next := func(prev gjson.Result, items string) gjson.Result {
				f := fmt.Sprintf(string(tmpl), model)
				f, _ = sjson.SetRaw(f, "input", items)
				f, _ = sjson.Set(f, "previous_response_id", prev.Get("id").Str)
				return create(f)
			}
			second := next(first, "["+toolOutput(callID)+"]")
			if got := second.Get("output.#(type==\"message\").content.0.text").Str; got != "Two files: a.go and b.go." {
				t.Fatalf("turn 2: %s", second.Raw)
			}
			next(second, `[{"type":"message","role":"user","content":[{"type":"input_text","text":"Thanks."}]}]`)
		})
	}
	// Claude got its own thinking back, signed, ahead of its tool call.
	if turn := gjson.GetBytes(e.claude.Last(t).Body, `messages.#(role=="assistant")`); turn.Get("content.0.signature").Str != "sig-replay-1" || turn.Get("content.1.type").Str != "tool_use" {
		t.Errorf("Claude's assistant turn: %s", turn.Raw)
	}
	// Every upstream saw the conversation in order: the last requests hold
	// the first user message, the tool turn and the follow-up.
	for _, up := range []*gatewaytest.Upstream{e.chat, e.claude, e.gemini} {
		last := string(up.Last(t).Body)
		for _, want := range []string{"List the files", "a.go", "Thanks."} {
			if !strings.Contains(last, want) {
				t.Errorf("%s lacks %q: %.400s", up.URL, want, last)
			}
		}
	}
}
