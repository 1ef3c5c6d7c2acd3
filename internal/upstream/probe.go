package upstream

import (
	"context"
	"io"
	"net/http"

	"switchboard/internal/gateway"
)

// Verdict is what an upstream said of a key the gateway checked itself.
type Verdict int

const (
	VerdictUnknown  Verdict = iota // no answer, or one that says nothing of the key
	VerdictAccepted                // 2xx
	VerdictRejected                // 401 or 403
)

// ProbeKey asks ch's upstream, with a request of the gateway's own (the
// models list: no client input, nothing billed), whether it accepts
// apiKey. A 401/403 a client's request got may come from that request (a
// header it may not send, a file it does not own); this answer cannot. It
// returns the verdict and the status seen (0 when none).
func ProbeKey(ctx context.Context, client *http.Client, ch *gateway.Channel, apiKey string) (Verdict, int) {
	req, err := NewRequest(ctx, &Call{Channel: ch, APIKey: apiKey, Op: OpModels})
	if err != nil {
		return VerdictUnknown, 0
	}
	resp, err := client.Do(req)
	if err != nil {
		return VerdictUnknown, 0
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return VerdictAccepted, resp.StatusCode
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return VerdictRejected, resp.StatusCode
	}
	return VerdictUnknown, resp.StatusCode
}
