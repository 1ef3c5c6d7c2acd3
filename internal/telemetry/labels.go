package telemetry

import (
	"strconv"
	"strings"
	"sync"

	"switchboard/internal/gateway"
)

// OtherLabel replaces label values past a label's cap.
const OtherLabel = "_other"

// boundedLabel admits up to max distinct values of one label; later new
// values read as OtherLabel, so no client can grow a metric without bound.
//
// Values are kept as copies and value returns the copy: a model name
// peeked from a request body shares that body's memory, and keeping it in
// a map (or a metric's labels) would keep the whole body alive.
type boundedLabel struct {
	max  int
	mu   sync.RWMutex
	seen map[string]string
}

func newBoundedLabel(max int) *boundedLabel {
	return &boundedLabel{max: max, seen: make(map[string]string)}
}

func (b *boundedLabel) value(v string) string {
	b.mu.RLock()
	kept, ok := b.seen[v]
	n := len(b.seen)
	b.mu.RUnlock()
	if ok {
		return kept
	}
	if n >= b.max {
		return OtherLabel
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if kept, ok := b.seen[v]; ok {
		return kept
	}
	if len(b.seen) >= b.max {
		return OtherLabel
	}
	kept = strings.Clone(v)
	b.seen[kept] = kept
	return kept
}

// OperationName is the gen_ai.operation.name of an endpoint label.
func OperationName(endpoint string) string {
	switch endpoint {
	case "chat.completions", "messages", "responses", "hub.chat":
		return "chat"
	case "generateContent", "streamGenerateContent":
		return "generate_content"
	case "embeddings", "embedContent", "batchEmbedContents":
		return "embeddings"
	case "completions":
		return "text_completion"
	}
	if strings.HasPrefix(endpoint, "hub.") {
		return "chat"
	}
	return endpoint
}

// ProviderName is the gen_ai.provider.name of a channel type: the
// semantic conventions' well-known values where one fits, else the type.
func ProviderName(t gateway.ChannelType) string {
	switch t {
	case gateway.ChannelOpenAI:
		return "openai"
	case gateway.ChannelAzure:
		return "azure.ai.openai"
	case gateway.ChannelAnthropic:
		return "anthropic"
	case gateway.ChannelGemini:
		return "gcp.gemini"
	case "":
		return "switchboard"
	}
	return string(t)
}

// errorType is the error.type label of a finished call: "" on success,
// else the HTTP status the client got (a low-cardinality, stable value).
func errorType(status int) string {
	if status < 400 {
		return ""
	}
	return strconv.Itoa(status)
}
