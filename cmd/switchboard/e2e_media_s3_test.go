package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"

	"switchboard/internal/gatewaytest"
)

// Media the gateway serves, kept in an S3-compatible bucket (media.s3):
// an image a Gemini channel answered as bytes to a client that asked for
// a URL is stored in the bucket under the key's prefix and served at the
// gateway's signed URL, which a tampered signature does not open.
func TestMediaOnS3(t *testing.T) {
	t.Parallel()
	s3 := gatewaytest.NewS3(t, "sb-media", "AKE2E")
	up := gatewaytest.NewUpstream(t, gatewaytest.GeminiImages())
	n := startNode(t, gemImgConfig+`media:
  s3:
    endpoint: %s
    bucket: sb-media
    region: eu-central-1
    access_key_id: AKE2E
    secret_access_key: e2e-secret
    prefix: gw/
    use_ssl: false
`, up.URL, s3.Addr)
	n.skipSchemaCheck("images answers are not chat answers")
	c := n.client(testKey, "/v1")
	resp, err := c.Images.Generate(context.Background(), openai.ImageGenerateParams{Model: "nano-banana", Prompt: "a heron", ResponseFormat: "url"})
	if err != nil {
		t.Fatal(err)
	}
	u := resp.Data[0].URL
	if !strings.HasPrefix(u, n.srv.URL+"/v1/media/") || !strings.Contains(u, "sig=") {
		t.Fatalf("url %q", u)
	}
	want := gatewaytest.ImageBytes("a heron", 0, 0)
	pu, _ := url.Parse(u)
	obj := "gw/" + strings.TrimPrefix(pu.Path, "/v1/media/")
	if data, ct, ok := s3.Object(obj); !ok || ct != "image/png" || !bytes.Equal(data, want) {
		t.Fatalf("bucket has %v, not %s", s3.Keys(), obj)
	}
	got, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if got.StatusCode != http.StatusOK || got.Header.Get("Content-Type") != "image/png" || !bytes.Equal(b, want) {
		t.Errorf("%d %s %q", got.StatusCode, got.Header.Get("Content-Type"), b)
	}
	bad, err := http.Get(strings.Replace(u, "sig=", "sig=x", 1))
	if err != nil {
		t.Fatal(err)
	}
	bad.Body.Close()
	if bad.StatusCode != http.StatusForbidden {
		t.Errorf("tampered → %d", bad.StatusCode)
	}
}
