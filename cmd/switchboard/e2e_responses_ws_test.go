package main

// The Responses API's WebSocket mode with openai-go's WebSocket client:
// response.create frames answered with the event sequence on any upstream,
// previous_response_id continued on the socket even with store:false, one
// response in flight, the key in the subprotocol, 426 for a plain GET.

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"
)

func TestResponsesWebSocket(t *testing.T) {
	t.Parallel()
	e := startResponsesTranslate(t)
	c := e.n.client(testKey, "/v1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := connectResponses(ctx, t, c)

	// Turn one on Claude with store:false, turn two on Gemini continuing
	// it on the socket, turn three on OpenAI (passed through).
	var prev string
	for i, tc := range []struct{ model, want string }{{"claude-sonnet-4", "Hello from Claude."}, {"gemini-2.5-pro", "Hello from Gemini."}, {"gpt-5", "Hello from OpenAI."}} {
		p := responses.ResponsesClientEventResponseCreateParam{Model: tc.model, Store: openai.Bool(false),
			Input: responses.ResponsesClientEventResponseCreateInputUnionParam{OfString: openai.String("turn " + string(rune('1'+i)))}}
		if prev != "" {
			p.PreviousResponseID = openai.String(prev)
		}
		if err := conn.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		final, types := recvCompleted(ctx, t, conn, i+1)
		if final.OutputText() != tc.want || types[0] != "response.created" {
			t.Errorf("turn %d: %q, events %v", i+1, final.OutputText(), types)
		}
		prev = final.ID
	}
	gem := gjson.GetBytes(e.gemini.Last(t).Body, "contents")
	if gem.Get("#").Int() != 3 || gem.Get("0.parts.0.text").Str != "turn 1" || gem.Get("1.role").Str != "model" || gem.Get("2.parts.0.text").Str != "turn 2" {
		t.Errorf("Gemini got %s", gem.Raw)
	}
	up := e.openai.Last(t).Body
	if gjson.GetBytes(up, "previous_response_id").Exists() || gjson.GetBytes(up, "input.#").Int() < 5 || gjson.GetBytes(up, "stream").Type != gjson.True {
		t.Errorf("OpenAI got %s", up)
	}
	// store:false on the socket: nothing readable over HTTP.
	if status, _ := e.n.do(t, http.MethodGet, "/v1/responses/"+prev, testKey, ""); status != 404 {
		t.Errorf("GET a store:false response: %d", status)
	}

	t.Run("unknown previous response", func(t *testing.T) {
		if err := conn.Create(ctx, responses.ResponsesClientEventResponseCreateParam{Model: "llama-3", PreviousResponseID: openai.String("resp_nope"),
			Input: responses.ResponsesClientEventResponseCreateInputUnionParam{OfString: openai.String("x")}}); err != nil {
			t.Fatal(err)
		}
		ev, err := conn.RecvRaw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if gjson.GetBytes(ev, "type").Str != "error" || gjson.GetBytes(ev, "error.code").Str != "previous_response_not_found" {
			t.Errorf("event %s", ev)
		}
	})
}

func TestResponsesWebSocketRaw(t *testing.T) {
	t.Parallel()
	e := startResponsesTranslate(t)
	wsURL := "ws" + strings.TrimPrefix(e.n.srv.URL, "http") + "/v1/responses"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("plain GET is 426", func(t *testing.T) {
		status, b := e.n.do(t, http.MethodGet, "/v1/responses", testKey, "")
		if status != http.StatusUpgradeRequired || gjson.GetBytes(b, "error.message").Str == "" {
			t.Errorf("%d %s", status, b)
		}
	})
	t.Run("bad key refused at the handshake", func(t *testing.T) {
		_, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer sk-wrong"}}})
		if err == nil || resp == nil || resp.StatusCode != 401 {
			t.Errorf("err %v resp %v", err, resp)
		}
	})
	t.Run("key in the subprotocol; one response in flight", func(t *testing.T) {
		proto := "openai-insecure-api-key." + testKey
		conn, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Subprotocols: []string{"realtime", proto}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseNow()
		if conn.Subprotocol() != proto {
			t.Errorf("subprotocol %q", conn.Subprotocol())
		}
		create := `{"type":"response.create","model":"llama-3","input":"hi"}`
		for range 2 {
			if err := conn.Write(ctx, websocket.MessageText, []byte(create)); err != nil {
				t.Fatal(err)
			}
		}
		var types []string
		inFlight := false
		for completed := false; !completed; {
			_, msg, err := conn.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			typ := gjson.GetBytes(msg, "type").Str
			types = append(types, typ)
			if typ == "error" && gjson.GetBytes(msg, "error.code").Str == "response_already_in_flight" {
				inFlight = true
			}
			completed = typ == "response.completed"
		}
		// The second create may have been read after the first finished on
		// a fast machine; then it is answered in full instead.
		if !inFlight {
			for {
				_, msg, err := conn.Read(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if typ := gjson.GetBytes(msg, "type").Str; typ == "response.completed" {
					break
				} else if typ == "error" {
					t.Fatalf("unexpected error %s", msg)
				}
			}
		}
		if !inFlight && types[0] != "response.created" {
			t.Errorf("events %v", types)
		}
		// A warm-up (generate:false) makes no model call and can be continued.
		before := e.chat.Count()
		if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"response.create","model":"llama-3","generate":false,"input":"context","stream_id":"lane-1"}`)); err != nil {
			t.Fatal(err)
		}
		var warm []byte
		for gjson.GetBytes(warm, "type").Str != "response.completed" {
			if _, warm, err = conn.Read(ctx); err != nil {
				t.Fatal(err)
			}
			if gjson.GetBytes(warm, "type").Str == "error" {
				t.Fatalf("warm-up: %s", warm)
			}
		}
		if e.chat.Count() != before || gjson.GetBytes(warm, "stream_id").Str != "lane-1" {
			t.Errorf("warm-up: %d calls, %s", e.chat.Count()-before, warm)
		}
		next := `{"type":"response.create","model":"llama-3","input":"go","previous_response_id":"` + gjson.GetBytes(warm, "response.id").Str + `"}`
		if err := conn.Write(ctx, websocket.MessageText, []byte(next)); err != nil {
			t.Fatal(err)
		}
		for {
			_, msg, err := conn.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if gjson.GetBytes(msg, "type").Str == "response.completed" {
				break
			}
		}
		msgs := gjson.GetBytes(e.chat.Last(t).Body, "messages")
		if msgs.Get("#").Int() != 2 || msgs.Get("0.content").Str != "context" || msgs.Get("1.content").Str != "go" {
			t.Errorf("chat got %s", msgs.Raw)
		}
	})
}
