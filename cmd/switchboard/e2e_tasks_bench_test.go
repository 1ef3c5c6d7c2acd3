package main

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"switchboard/internal/gatewaytest"
)

// BenchmarkMidjourneyFetch compares a client's fetch of a task through the
// gateway (owner check, store read, render; a finished task needs no
// upstream call) with the same fetch straight from the upstream, in the
// same run.
func BenchmarkMidjourneyFetch(b *testing.B) {
	up := gatewaytest.NewMidjourney(b, "mj-upstream-secret", time.Millisecond)
	n := startTaskNode(b, b.TempDir(), fmt.Sprintf(mjConfig, up.URL))
	sub := mjSubmit(b, n, "/mj/submit/imagine", testKey, `{"prompt":"bench"}`)
	if sub.Result == nil {
		b.Fatalf("submit: %+v", sub)
	}
	mjWait(b, n, *sub.Result, testKey)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	fetch := func(b *testing.B, url, header, key string) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set(header, key)
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
	}
	b.Run("bare", func(b *testing.B) {
		fetch(b, up.URL+"/mj/task/"+up.TaskIDs()[0]+"/fetch", "mj-api-secret", "mj-upstream-secret")
	})
	b.Run("gateway", func(b *testing.B) {
		fetch(b, n.srv.URL+"/mj/task/"+*sub.Result+"/fetch", "mj-api-secret", testKey)
	})
}
