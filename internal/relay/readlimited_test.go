package relay

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
	"testing/iotest"
)

func TestReadLimited(t *testing.T) {
	payload := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + i%26)
		}
		return b
	}
	const limit = 1 << 20
	cases := []struct {
		name     string
		size     int
		declared bool
		oneByte  bool // the body yields one byte per Read
		wantErr  error
	}{
		{name: "empty", size: 0},
		{name: "small-undeclared", size: 100},
		{name: "small-declared", size: 100, declared: true},
		{name: "first-chunk-exactly", size: 16 << 10},
		{name: "several-chunks", size: 700 << 10},
		{name: "at-limit", size: limit},
		{name: "at-limit-trickled", size: limit, oneByte: true},
		{name: "over-limit", size: limit + 1, wantErr: errTooLarge},
		{name: "over-limit-declared", size: limit + 1, declared: true, wantErr: errTooLarge},
		{name: "far-over-limit", size: 5 * limit, wantErr: errTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := payload(tc.size)
			var body io.Reader = bytes.NewReader(want)
			if tc.oneByte {
				body = iotest.OneByteReader(body)
			}
			resp := &http.Response{Body: io.NopCloser(body), ContentLength: -1}
			if tc.declared {
				resp.ContentLength = int64(tc.size)
			}
			got, err := readLimited(resp, limit)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d (content differs: %v)", len(got), len(want), len(got) == len(want))
			}
		})
	}
	t.Run("read-error", func(t *testing.T) {
		boom := errors.New("boom")
		resp := &http.Response{Body: io.NopCloser(io.MultiReader(bytes.NewReader(payload(300<<10)), iotest.ErrReader(boom))), ContentLength: -1}
		if _, err := readLimited(resp, limit); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want boom", err)
		}
	})
}
