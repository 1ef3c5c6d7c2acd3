package httpapi

import (
	"strings"
	"testing"
)

// checkJSON answers every class of bad JSON with a 400 and a code that
// says which: syntax, a duplicated routing field, nesting too deep.
func TestCheckJSON(t *testing.T) {
	s := &Server{JSON: RoutingGuard(0)}
	if gerr := s.checkJSON([]byte(`{"mod\u0065l":"m","messages":[` + strings.Repeat(`{"role":"user","content":"x"},`, 5000) + `{}],"stream":true}`)); gerr != nil {
		t.Fatal(gerr)
	}
	for in, code := range map[string]string{
		`{"model":`:                      "invalid_json",
		`{"model":"a","model":"b"}`:      "duplicate_field",
		`{"model":"a","mod\u0065l":"b"}`: "duplicate_field",
		`{"generationConfig":{"maxOutputTokens":1},"generation_config":{"max_output_tokens":9}}`: "duplicate_field",
		`{"a":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`:                      "json_too_deep",
		`[1,2]`: "invalid_json", // JSON, but not an object: the same code, its own message
	} {
		if gerr := s.checkJSON([]byte(in)); gerr == nil || gerr.Code != code || gerr.HTTPStatus() != 400 {
			t.Errorf("checkJSON(%.40s) = %v, want code %s", in, gerr, code)
		}
	}
}
