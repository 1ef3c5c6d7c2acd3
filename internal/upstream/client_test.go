package upstream

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"switchboard/internal/gateway"
)

func TestNewClientNeverFollowsRedirects(t *testing.T) {
	var elsewhere atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		_, _ = io.WriteString(w, `{"internal":"secret"}`)
	}))
	defer target.Close()
	for _, status := range []int{301, 302, 303, 307, 308} {
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/steal", status)
		}))
		ch := &gateway.Channel{Name: "c", Type: gateway.ChannelAnthropic, BaseURL: up.URL, Headers: map[string]string{"X-Custom-Secret": "s3cret"}}
		req, err := NewRequest(context.Background(), &Call{Channel: ch, APIKey: "sk-ant-key", Op: OpChat, Body: JSON([]byte(`{"secret":"body"}`))})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := NewClient(http.DefaultTransport).Do(req)
		if err != nil {
			t.Fatalf("%d: %v", status, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		up.Close()
		if resp.StatusCode != status || !IsRedirect(resp.StatusCode) {
			t.Errorf("%d answered as %d", status, resp.StatusCode)
		}
		if string(b) == `{"internal":"secret"}` {
			t.Errorf("%d: the redirect target's content came back", status)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("the redirect target received %d requests", n)
	}
}
