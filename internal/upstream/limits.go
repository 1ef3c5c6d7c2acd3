package upstream

import (
	"errors"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"switchboard/internal/gateway"
)

// Channel settings that cap a call (config extensions max_output_tokens
// and max_stream_duration travel in Settings, like the timeouts).
const (
	SettingMaxOutputTokens   = "max_output_tokens"
	SettingMaxStreamDuration = "max_stream_duration"
)

// MaxOutputTokens is ch's cap on a call's output tokens (0: none).
func MaxOutputTokens(ch *gateway.Channel) int64 {
	n, err := strconv.ParseInt(ch.Settings[SettingMaxOutputTokens], 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// MaxStreamDuration is how long a stream of ch may last (0: no limit).
func MaxStreamDuration(ch *gateway.Channel) time.Duration {
	d, err := time.ParseDuration(ch.Settings[SettingMaxStreamDuration])
	if err != nil || d < 0 {
		return 0
	}
	return d
}

// CapOutput makes the output limit of body, a request in ch's wire format,
// at most limit tokens: a larger limit is lowered and a missing one is set,
// so the provider enforces the cap. Bodies within the cap come back as
// they are, without a copy.
func CapOutput(ch *gateway.Channel, body []byte, limit int64) ([]byte, error) {
	if limit <= 0 {
		return body, nil
	}
	switch FormatOf(ch.Type) {
	case FormatAnthropic:
		out, err := capField(body, []string{"max_tokens"}, "max_tokens", limit)
		if err != nil {
			return nil, err
		}
		// Extended thinking needs max_tokens above its budget.
		if b := gjson.GetBytes(out, "thinking.budget_tokens"); b.Exists() && b.Int() >= limit && limit > 1024 {
			return sjson.SetBytes(out, "thinking.budget_tokens", limit-1)
		}
		return out, nil
	case FormatGemini:
		obj := "generationConfig"
		if !gjson.GetBytes(body, obj).Exists() && gjson.GetBytes(body, "generation_config").Exists() {
			obj = "generation_config"
		}
		return capField(body, []string{obj + ".maxOutputTokens", obj + ".max_output_tokens"}, obj+".maxOutputTokens", limit)
	case FormatOpenAI:
		// Older OpenAI-compatible servers know only max_tokens; OpenAI's
		// reasoning models only max_completion_tokens.
		set := "max_completion_tokens"
		if ch.Type == gateway.ChannelOpenAICompatible || ch.Type == gateway.ChannelSimulator {
			set = "max_tokens"
		}
		return capField(body, []string{"max_tokens", "max_completion_tokens"}, set, limit)
	}
	return body, nil
}

// capField lowers every present path of paths above limit, and sets
// missing when none is present.
func capField(body []byte, paths []string, missing string, limit int64) ([]byte, error) {
	present := false
	for _, p := range paths {
		v := gjson.GetBytes(body, p)
		if !v.Exists() || v.Type == gjson.Null {
			continue
		}
		present = true
		if v.Type == gjson.Number && v.Int() > 0 && v.Int() <= limit {
			continue
		}
		var err error
		if body, err = sjson.SetBytes(body, p, limit); err != nil {
			return nil, err
		}
	}
	if present {
		return body, nil
	}
	return sjson.SetBytes(body, missing, limit)
}

// ErrMaxStreamDuration ends a stream that outlived its channel's
// max_stream_duration.
var ErrMaxStreamDuration = errors.New("the stream reached the channel's max_stream_duration")

// LimitDuration returns body cut off d after now: reads then fail with
// ErrMaxStreamDuration, and stop (the attempt's cancel) interrupts a read
// that is blocked. Closing it stops the clock.
func LimitDuration(body io.ReadCloser, d time.Duration, stop func()) io.ReadCloser {
	l := &durationLimited{body: body}
	l.timer = time.AfterFunc(d, func() {
		l.mu.Lock()
		l.expired = true
		l.mu.Unlock()
		stop()
	})
	return l
}

type durationLimited struct {
	body    io.ReadCloser
	timer   *time.Timer
	mu      sync.Mutex
	expired bool
}

func (l *durationLimited) isExpired() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expired
}

func (l *durationLimited) Read(p []byte) (int, error) {
	if l.isExpired() {
		return 0, ErrMaxStreamDuration
	}
	n, err := l.body.Read(p)
	if err != nil && l.isExpired() {
		err = ErrMaxStreamDuration
	}
	return n, err
}

func (l *durationLimited) Close() error {
	l.timer.Stop()
	return l.body.Close()
}
