package main

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"switchboard/internal/gatewaytest"
)

// BenchmarkMultipartRelay sends a 4 MiB audio upload through the whole
// gateway (auth, form spooled past 1 MiB, peek, measured duration, hold,
// re-encoded form, ledger) and, as the baseline, through a bare
// httputil.ReverseProxy to the same upstream on loopback. B/op is the heap
// allocated per upload, MB/s the upload throughput.
func BenchmarkMultipartRelay(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"text":"ok","usage":{"type":"duration","seconds":131}}`)
	}))
	defer up.Close()
	const size = 4 << 20
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("model", "whisper-1")
	fw, _ := mw.CreateFormFile("file", "clip.wav")
	_, _ = fw.Write(gatewaytest.WAVHeader(size))
	_, _ = fw.Write(make([]byte, size))
	_ = mw.Close()
	body, ct := form.Bytes(), mw.FormDataContentType()

	target, _ := url.Parse(up.URL)
	proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	defer proxy.Close()
	gw := startNode(b, audioConfig, up.URL, up.URL)
	gw.skipSchemaCheck("benchmark")

	run := func(b *testing.B, base string) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			req, _ := http.NewRequest(http.MethodPost, base+"/v1/audio/transcriptions", bytes.NewReader(body))
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Authorization", "Bearer "+testKey)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	}
	b.Run("bare-proxy", func(b *testing.B) { run(b, proxy.URL) })
	b.Run("gateway", func(b *testing.B) { run(b, gw.srv.URL) })
}
