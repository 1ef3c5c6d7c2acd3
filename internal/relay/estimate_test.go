package relay

import (
	"strings"
	"testing"
	"time"

	"switchboard/internal/payload"
)

// The usage estimate used to walk the request recursively, re-parsing the
// rest of the body at every level: quadratic in the nesting (30,000 levels
// took seconds, 100,000 about a minute), run whenever an upstream reports
// no usage and on every client disconnect. It is one linear pass now.
func TestEstimateUsageIsLinear(t *testing.T) {
	call := func(body string) *Call { return &Call{Body: payload.Body{JSON: []byte(body)}} }
	u := estimateUsage(call(`{"model":"m","x":`+strings.Repeat("[", 5000)+`"hello"`+strings.Repeat("]", 5000)+`}`), 1)
	if u.InputTokens != 2 || u.OutputTokens != 1 {
		t.Fatalf("estimate %+v, want 2 input tokens (text + framing) and 1 output", u)
	}
	deep := call(strings.Repeat("[", 30_000) + `"x"` + strings.Repeat("]", 30_000))
	start := time.Now()
	estimateUsage(deep, 0)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("estimating 60 KB of nesting took %s", d)
	}
}
