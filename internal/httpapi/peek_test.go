package httpapi

import (
	"strings"
	"testing"
)

func TestCheckJSONFields(t *testing.T) {
	s := &Server{JSON: RoutingGuard(0)}
	got := map[string]string{}
	body := []byte(`{"mod\u0065l":"m","messages":[` + strings.Repeat(`{"role":"user","content":"x"},`, 5000) + `{}],"stream":true}`)
	if gerr := s.checkJSON(body, func(k string, raw []byte) { got[k] = field(raw).Raw }); gerr != nil {
		t.Fatal(gerr)
	}
	if got["model"] != `"m"` || got["messages"] != "[" || got["stream"] != "true" {
		t.Fatalf("fields %q", got)
	}
	for in, code := range map[string]string{
		`{"model":`:                 "invalid_json",
		`{"model":"a","model":"b"}`: "duplicate_field",
		`{"a":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`: "json_too_deep",
	} {
		if gerr := s.checkJSON([]byte(in), nil); gerr == nil || gerr.Code != code || gerr.HTTPStatus() != 400 {
			t.Errorf("checkJSON(%.30s) = %v", in, gerr)
		}
	}
}

func TestNonEmptyArray(t *testing.T) {
	for in, want := range map[string]bool{`[1]`: true, `[ {} ]`: true, `[]`: false, "[ \n ]": false, `{}`: false, ``: false, `"[1]"`: false} {
		if nonEmptyArray([]byte(in)) != want {
			t.Errorf("nonEmptyArray(%q) = %v", in, !want)
		}
	}
}
