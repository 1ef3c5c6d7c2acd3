package relay

import (
	"net/http/httptest"
	"strings"
	"testing"
	"unsafe"

	"switchboard/internal/endpoint"
	"switchboard/internal/format/anthropic"
	"switchboard/internal/format/openai"
	"switchboard/internal/payload"
)

// A spec's Peek parses the body without copying it, so a string it
// returns must be a copy: the model name lives on in ledger records and
// caches, and a name pointing into a 30 MiB prompt kept every such prompt
// alive until the ledger flushed (the in-flight body bound then did not
// bound memory).
func TestPeekDoesNotAliasTheBody(t *testing.T) {
	for _, tc := range []struct {
		spec endpoint.Spec
		body string
	}{
		{openai.Chat, `{"model":"gpt-4o","messages":[]}`},
		{openai.Embeddings, `{"model":"text-embedding-3-small","input":"x"}`},
		{anthropic.Messages, `{"model":"claude","max_tokens":5,"messages":[]}`},
		{anthropic.CountTokens, `{"model":"claude","messages":[]}`},
	} {
		b := []byte(tc.body + strings.Repeat(" ", 1024))
		p, err := tc.spec.Peek(httptest.NewRequest("POST", "/", nil), payload.Body{JSON: b})
		if err != nil {
			t.Fatal(err)
		}
		start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		at := uintptr(unsafe.Pointer(unsafe.StringData(p.Model)))
		if at >= start && at < start+uintptr(len(b)) {
			t.Errorf("%s: Peek's model %q points into the request body", tc.spec.Endpoint(), p.Model)
		}
	}
}
