package safefetch

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPost(t *testing.T) {
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		if r.Header.Get("X-Sig") != "s" || r.Method != http.MethodPost {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	ctx := context.Background()

	// Loopback is refused by default, before anything is sent.
	if _, err := New(Options{}).Post(ctx, srv.URL, nil, []byte(`{}`)); !errors.Is(err, ErrRefused) {
		t.Fatalf("loopback hook: %v, want ErrRefused", err)
	}
	if got != nil {
		t.Fatal("the refused hook reached the receiver")
	}
	status, err := New(Options{AllowPrivate: true}).Post(ctx, srv.URL, http.Header{"X-Sig": {"s"}}, []byte(`{"a":1}`))
	if err != nil || status != http.StatusAccepted || string(got) != `{"a":1}` {
		t.Fatalf("allowed hook: %d %v %q", status, err, got)
	}
	for _, bad := range []string{"ftp://x/y", "http://u:p@example.com/", "/relative", "http://"} {
		if err := CheckURL(bad); !errors.Is(err, ErrRefused) {
			t.Errorf("CheckURL(%q) = %v, want ErrRefused", bad, err)
		}
	}
}
