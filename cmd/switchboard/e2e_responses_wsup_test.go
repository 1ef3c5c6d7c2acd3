package main

// The Responses WebSocket mode passed through over the upstream's own
// WebSocket (settings.responses_ws): openai-go's Responses socket against
// the gateway, a fake OpenAI serving GET /v1/responses as a WebSocket, and
// a flagged channel whose upstream refuses the handshake (reached by POST).

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
)

const respWSUpConfig = `
channels:
  - name: up-ws
    type: openai
    base_url: %s
    api_keys: [sk-upstream-ws]
    models: [gpt-5]
    model_map: {gpt-5: gpt-5-upstream}
    settings: {responses_ws: "true"}
  - name: up-refuses
    type: openai-compatible
    base_url: %s
    api_keys: [sk-upstream-refuses]
    models: [grok-4]
    settings: {responses: native, responses_ws: "true"}
keys:
  - name: alice
    key: ` + testKey + `
    models: ["*"]
prices:
  gpt-5-upstream: {input_per_mtok: 1, output_per_mtok: 10}
  grok-4: {input_per_mtok: 1, output_per_mtok: 10}
`

func TestResponsesWebSocketUpstream(t *testing.T) {
	t.Parallel()
	script := gatewaytest.OpenAIResponses{Text: "Hello over the socket.", InputTokens: 12, OutputTokens: 7, CachedTokens: 4, ReasoningTokens: 3}
	wsFrames, refusedFrames := &gatewaytest.Frames{}, &gatewaytest.Frames{}
	wsUp := gatewaytest.NewUpstream(t, gatewaytest.OpenAIResponsesWS{OpenAIResponses: script, Frames: wsFrames}.Handler())
	refusing := gatewaytest.NewUpstream(t, gatewaytest.OpenAIResponsesWS{OpenAIResponses: script, Frames: refusedFrames, Refuse: http.StatusUpgradeRequired}.Handler())
	n := startNode(t, respWSUpConfig, wsUp.URL, refusing.URL)
	c := n.client(testKey, "/v1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := connectResponses(ctx, t, c)

	var prev string
	var ids []string
	for i, model := range []string{"gpt-5", "gpt-5", "grok-4"} {
		p := responses.ResponsesClientEventResponseCreateParam{Model: model, Instructions: openai.String("Be brief."),
			Input: responses.ResponsesClientEventResponseCreateInputUnionParam{OfString: openai.String("turn " + string(rune('1'+i)))}}
		if prev != "" {
			p.PreviousResponseID = openai.String(prev)
		}
		if err := conn.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		final, types := recvCompleted(ctx, t, conn, i+1)
		if final.OutputText() != script.Text || types[0] != "response.created" || final.Usage.TotalTokens != 19 {
			t.Errorf("turn %d: %q usage %+v, events %v", i+1, final.OutputText(), final.Usage, types)
		}
		prev = final.ID
		ids = append(ids, final.ID)
	}

	// Both gpt-5 turns went over one upstream socket, as response.create
	// frames with the mapped model and the conversation expanded.
	frames := wsFrames.All()
	if len(frames) != 2 || wsFrames.Conns() != 1 {
		t.Fatalf("upstream socket got %d frames on %d sockets", len(frames), wsFrames.Conns())
	}
	for i, f := range frames {
		g := gjson.ParseBytes(f)
		if g.Get("type").Str != "response.create" || g.Get("model").Str != "gpt-5-upstream" || g.Get("stream").Exists() ||
			g.Get("previous_response_id").Exists() || g.Get("instructions").Str != "Be brief." {
			t.Errorf("frame %d: %s", i+1, f)
		}
	}
	if in := gjson.GetBytes(frames[1], "input"); in.Get("#").Int() != 3 || in.Get("0.content").Str != "turn 1" || in.Get("1.role").Str != "assistant" || in.Get("2.content").Str != "turn 2" {
		t.Errorf("turn 2's input: %s", in.Raw)
	}
	for _, r := range wsUp.Requests() {
		if r.Method != http.MethodGet || r.Path != "/v1/responses" || r.Header.Get("Authorization") != "Bearer sk-upstream-ws" {
			t.Errorf("ws upstream got %s %s (auth %q)", r.Method, r.Path, r.Header.Get("Authorization"))
		}
	}
	if wsUp.Count() != 1 {
		t.Errorf("ws upstream got %d requests, want the one handshake", wsUp.Count())
	}
	// The refusing upstream was asked once, then served by POST.
	if refusedFrames.Conns() != 0 {
		t.Errorf("refusing upstream accepted %d sockets", refusedFrames.Conns())
	}
	reqs := refusing.Requests()
	if len(reqs) != 2 || reqs[0].Method != http.MethodGet || reqs[1].Method != http.MethodPost || reqs[1].Path != "/v1/responses" ||
		!gjson.GetBytes(reqs[1].Body, "stream").Bool() || gjson.GetBytes(reqs[1].Body, "input.#").Int() < 5 {
		for _, r := range reqs {
			t.Logf("%s %s %s", r.Method, r.Path, r.Body)
		}
		t.Errorf("refusing upstream got %d requests", len(reqs))
	}

	// The ledger is the same either way: upstream usage, priced.
	for _, tc := range []struct{ model, channel, upstreamModel string }{{"gpt-5", "up-ws", "gpt-5-upstream"}, {"grok-4", "up-refuses", "grok-4"}} {
		rec := n.usage(t, func(r gateway.UsageRecord) bool { return r.Endpoint == "responses" && r.Model == tc.model })
		u := rec.Usage
		if rec.ChannelName != tc.channel || rec.UpstreamModel != tc.upstreamModel || !rec.Stream || rec.Status != 200 ||
			u.InputTokens != 12 || u.OutputTokens != 7 || u.CachedInputTokens != 4 || rec.UsageSource != gateway.UsageFromUpstream ||
			rec.CostNanoUSD != 12*1000+7*10000 {
			t.Errorf("%s ledger %+v", tc.model, rec)
		}
	}
	// The client leaving ends the session's upstream socket.
	conn.Close()
	for deadline := time.Now().Add(10 * time.Second); wsFrames.Closed() != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the upstream socket outlived the client's")
		}
	}
	// Each answer was recorded for GET, whichever way it came.
	for _, id := range ids {
		if status, b := n.do(t, http.MethodGet, "/v1/responses/"+id, testKey, ""); status != 200 || gjson.GetBytes(b, "status").Str != "completed" {
			t.Errorf("GET %s: %d %s", id, status, b)
		}
	}
}

const respWSUpFaultsConfig = `
channels:
  - name: up-closes
    type: openai
    base_url: %s
    api_keys: [sk-upstream-closes]
    models: [gpt-5]
    settings: {responses_ws: "true"}
  - name: up-fails
    type: openai
    base_url: %s
    api_keys: [sk-upstream-fails]
    models: [gpt-5-mini]
    settings: {responses_ws: "true"}
keys:
  - name: alice
    key: ` + testKey + `
    models: ["*"]
prices:
  gpt-5: {input_per_mtok: 1, output_per_mtok: 10}
  gpt-5-mini: {input_per_mtok: 1, output_per_mtok: 10}
`

func TestResponsesWebSocketUpstreamFaults(t *testing.T) {
	t.Parallel()
	script := gatewaytest.OpenAIResponses{Text: "Hello again.", InputTokens: 5, OutputTokens: 2}
	closing, failing := &gatewaytest.Frames{}, &gatewaytest.Frames{}
	closesUp := gatewaytest.NewUpstream(t, gatewaytest.OpenAIResponsesWS{OpenAIResponses: script, Frames: closing, CloseAfter: true}.Handler())
	failsUp := gatewaytest.NewUpstream(t, gatewaytest.OpenAIResponsesWS{OpenAIResponses: script, Frames: failing,
		FailStatus: http.StatusBadRequest, FailCode: "context_length_exceeded"}.Handler())
	n := startNode(t, respWSUpFaultsConfig, closesUp.URL, failsUp.URL)
	c := n.client(testKey, "/v1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := connectResponses(ctx, t, c)
	turn := func(model string) (last []byte) {
		t.Helper()
		if err := conn.Create(ctx, responses.ResponsesClientEventResponseCreateParam{Model: model,
			Input: responses.ResponsesClientEventResponseCreateInputUnionParam{OfString: openai.String("hi")}}); err != nil {
			t.Fatal(err)
		}
		for {
			ev, err := conn.RecvRaw(ctx)
			if err != nil {
				t.Fatal(err)
			}
			switch gjson.GetBytes(ev, "type").Str {
			case "response.completed", "response.failed", "error":
				return ev
			}
		}
	}

	// An upstream that drops its socket after each response: the next
	// turn dials again and is answered.
	for i := range 2 {
		if ev := turn("gpt-5"); gjson.GetBytes(ev, "response.output.0.content.0.text").Str != script.Text {
			t.Fatalf("turn %d: %s", i+1, ev)
		}
	}
	if closing.Conns() != 2 || len(closing.All()) != 2 || closesUp.Count() != 2 {
		t.Errorf("closing upstream: %d sockets, %d frames, %d requests", closing.Conns(), len(closing.All()), closesUp.Count())
	}

	// An error frame before any event is the attempt's error: the client
	// gets it in the socket's error shape, the ledger the status.
	ev := turn("gpt-5-mini")
	if gjson.GetBytes(ev, "type").Str != "error" || gjson.GetBytes(ev, "status").Int() != 400 || gjson.GetBytes(ev, "error.code").Str != "context_length_exceeded" {
		t.Errorf("error event %s", ev)
	}
	rec := n.usage(t, func(r gateway.UsageRecord) bool { return r.Model == "gpt-5-mini" })
	if rec.Status != 400 || rec.CostNanoUSD != 0 || rec.ChannelName != "up-fails" {
		t.Errorf("ledger %+v", rec)
	}
	// The socket still serves the next turn.
	if ev := turn("gpt-5"); gjson.GetBytes(ev, "type").Str != "response.completed" {
		t.Errorf("after the error: %s", ev)
	}
	if len(failing.All()) != 1 || failsUp.Count() != 1 {
		t.Errorf("failing upstream: %d frames, %d requests", len(failing.All()), failsUp.Count())
	}
}

// connectResponses opens openai-go's Responses WebSocket to the gateway;
// the test's end closes it.
func connectResponses(ctx context.Context, t *testing.T, c openai.Client) *responses.ResponseConnection {
	t.Helper()
	conn, err := c.Responses.Connect(ctx, responses.ResponseConnectionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// recvCompleted reads turn's events up to response.completed, failing the
// test on an error or a failed response.
func recvCompleted(ctx context.Context, t *testing.T, conn *responses.ResponseConnection, turn int) (*responses.Response, []string) {
	t.Helper()
	var types []string
	for {
		ev, err := conn.Recv(ctx)
		if err != nil {
			t.Fatalf("turn %d: %v (events %v)", turn, err, types)
		}
		types = append(types, ev.Type)
		switch ev.Type {
		case "response.completed":
			r := ev.AsResponseCompleted().Response
			return &r, types
		case "error", "response.failed":
			t.Fatalf("turn %d: %s", turn, ev.RawJSON())
		}
	}
}
