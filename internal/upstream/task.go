package upstream

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"switchboard/internal/gateway"
)

// TaskRequest builds a request for an asynchronous task's operation
// (submit, fetch, download) on ch: method and path under the channel's
// base URL, with the channel's credentials and extra headers. version is
// the API version segment appended to a base URL without a path ("v1" for
// OpenAI-format video, "v1beta" for Gemini; "" for Midjourney, whose paths
// carry their own /mj prefix). The path may hold a query string.
func TaskRequest(ctx context.Context, ch *gateway.Channel, apiKey, method, version, path string, body []byte, contentType string) (*http.Request, error) {
	base := ch.BaseURL
	if base == "" {
		base = DefaultBaseURL(ch.Type)
	}
	if base == "" {
		return nil, fmt.Errorf("channel %q has no base_url", ch.Name)
	}
	if version != "" {
		base = baseWithVersion(base, version)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+path, rd)
	if err != nil {
		return nil, fmt.Errorf("build task request for channel %q: %w", ch.Name, err)
	}
	if body != nil {
		if contentType == "" {
			contentType = "application/json"
		}
		req.Header.Set("Content-Type", contentType)
	}
	h := req.Header
	switch ch.Type {
	case gateway.ChannelMidjourney:
		// midjourney-proxy reads mj-api-secret; relays in front of it
		// (new-api and its kin) read the Bearer token.
		if apiKey != "" {
			h.Set("Mj-Api-Secret", apiKey)
			h.Set("Authorization", "Bearer "+apiKey)
		}
	case gateway.ChannelAzure:
		h.Set("Api-Key", apiKey)
	case gateway.ChannelGemini:
		h.Set("X-Goog-Api-Key", apiKey)
	default:
		if apiKey != "" {
			h.Set("Authorization", "Bearer "+apiKey)
		}
	}
	for k, v := range ch.Headers {
		h.Set(k, v)
	}
	return req, nil
}
