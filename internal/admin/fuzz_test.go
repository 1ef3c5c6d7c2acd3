package admin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzBodies sends body to every create and patch route that decodes it
// and checks the API answers with a client error or success, never a 5xx
// or a non-JSON body. The store is real, so the fuzzer also checks that
// validation keeps the store from ever refusing what the API let through.
func fuzzBodies(f *testing.F, seeds []string, targets []struct{ method, path string }, setup []string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	h := &harness{store: openStore(f), health: &fakeHealth{}, mux: http.NewServeMux()}
	New(Deps{Store: h.store, Health: h.health, AdminTokenHash: hashHex(adminToken), HashKey: hashHex}).Register(h.mux)
	for i, body := range setup {
		rec := serve(h.mux, targets[0].method, targets[0].path, body)
		if rec.Code != http.StatusCreated {
			f.Fatalf("setup %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, tg := range targets {
			rec := serve(h.mux, tg.method, tg.path, string(body))
			if rec.Code >= 500 {
				t.Fatalf("%s %s: status %d: %s", tg.method, tg.path, rec.Code, rec.Body)
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s %s: answer is not JSON: %q", tg.method, tg.path, rec.Body)
			}
		}
	})
}

func serve(mux *http.ServeMux, method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec
}

func FuzzKeyBody(f *testing.F) {
	fuzzBodies(f, []string{
		`{"name":"alice","models":["gpt-4o*"],"budget_usd":25,"rpm":600,"tpm":200000,"max_concurrent":4,"enabled":true}`,
		`{"name":"bob","key":"sk-bob-0123456789abcdef"}`,
		`{"budget_nano_usd":1,"models":null}`,
		`{"name":"x","budget_usd":-1e308}`,
		`{"rpm":2147483648}`,
		`{"name":"\u0000"}`,
		`{"models":["[","\ud800"]}`,
		`{"enabled":false} trailing`,
		``,
	}, []struct{ method, path string }{
		{"POST", "/admin/api/keys"},
		{"PATCH", "/admin/api/keys/1"},
	}, []string{`{"name":"seed-key"}`})
}

func FuzzChannelBody(f *testing.F) {
	fuzzBodies(f, []string{
		`{"name":"openai-main","type":"openai","base_url":"https://api.openai.com","api_keys":["sk-1"],` +
			`"models":["gpt-4o"],"model_map":{"gpt-4o":"gpt-4o-2024-11-20"},"priority":10,"weight":1,` +
			`"headers":{"X-A":"b"},"timeout":"120s","enabled":true,"settings":{"api_version":"2024-10-21"}}`,
		`{"name":"sim","type":"simulator","models":["*"],"settings":{"latency":"10ms","tokens_per_second":"50"}}`,
		`{"type":"azure","base_url":""}`,
		`{"timeout":"9223372036854775807ns"}`,
		`{"priority":-2147483649}`,
		`{"headers":{"Authorization":"****"}}`,
		`{"model_map":{"":"x"},"models":["\u0000"]}`,
		`{"base_url":"http://[::1]:namedport"}`,
		`null`,
	}, []struct{ method, path string }{
		{"POST", "/admin/api/channels"},
		{"PATCH", "/admin/api/channels/1"},
	}, []string{`{"name":"seed","type":"simulator","models":["*"]}`})
}
