package admin

import (
	"context"
	"errors"
	"net/http"
)

// ChannelTest is the outcome of one real minimal call to a channel.
type ChannelTest struct {
	ChannelID    int64   `json:"channel_id"`
	Channel      string  `json:"channel"`
	Model        string  `json:"model"`
	OK           bool    `json:"ok"`
	LatencyMS    float64 `json:"latency_ms"`
	TTFTMS       float64 `json:"ttft_ms"`
	Answer       string  `json:"answer"`
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	Error        string  `json:"error,omitempty"`
}

// ErrChannelTest is a test that could not start (a disabled channel, no
// model to ask); its message is the caller's to read.
var ErrChannelTest = errors.New("channel test")

type testRequest struct {
	Model string `json:"model"`
}

// testChannel serves POST /admin/api/channels/{id}/test: a real call of a
// few tokens through the engine, pinned to the channel, recorded in the
// ledger under the key name "admin:test". A failed call is a 200 with
// ok false and the error: the test ran.
func (a *API) testChannel(w http.ResponseWriter, r *http.Request) {
	if a.d.TestChannel == nil {
		a.fail(w, r, errorf(http.StatusNotImplemented, "channel tests are not available on this node"))
		return
	}
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req testRequest
	if r.ContentLength != 0 {
		if err := a.readJSON(w, r, &req); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	res, err := a.d.TestChannel(r.Context(), id, req.Model)
	if errors.Is(err, ErrChannelTest) {
		a.fail(w, r, badRequest("%s", err.Error()))
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// TestChannelFunc runs a channel test (Deps.TestChannel).
type TestChannelFunc func(ctx context.Context, channelID int64, model string) (ChannelTest, error)
