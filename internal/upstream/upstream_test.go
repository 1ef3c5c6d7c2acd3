package upstream

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"switchboard/internal/gateway"
)

func TestURL(t *testing.T) {
	cases := []struct {
		name  string
		ch    gateway.Channel
		model string
		op    Op
		strm  bool
		query url.Values
		want  string
	}{
		{"openai default base", gateway.Channel{Type: gateway.ChannelOpenAI}, "gpt-4o", OpChat, false, nil, "https://api.openai.com/v1/chat/completions"},
		{"base with trailing slash", gateway.Channel{Type: gateway.ChannelOpenAICompatible, BaseURL: "http://h:11434/"}, "m", OpChat, false, nil, "http://h:11434/v1/chat/completions"},
		{"base with /v1", gateway.Channel{Type: gateway.ChannelOpenAICompatible, BaseURL: "https://api.deepseek.com/v1"}, "m", OpChat, false, nil, "https://api.deepseek.com/v1/chat/completions"},
		{"provider prefix kept", gateway.Channel{Type: gateway.ChannelOpenAICompatible, BaseURL: "https://api.groq.com/openai/v1"}, "m", OpChat, false, nil, "https://api.groq.com/openai/v1/chat/completions"},
		{"openai models", gateway.Channel{Type: gateway.ChannelOpenAI}, "", OpModels, false, nil, "https://api.openai.com/v1/models"},
		{"azure", gateway.Channel{Type: gateway.ChannelAzure, BaseURL: "https://r.openai.azure.com"}, "dep 1", OpChat, false, nil, "https://r.openai.azure.com/openai/deployments/dep%201/chat/completions?api-version=" + AzureAPIVersion},
		{"azure version setting", gateway.Channel{Type: gateway.ChannelAzure, BaseURL: "https://r.openai.azure.com/", Settings: map[string]string{"api_version": "2025-01-01-preview"}}, "d", OpChat, false, nil, "https://r.openai.azure.com/openai/deployments/d/chat/completions?api-version=2025-01-01-preview"},
		{"anthropic", gateway.Channel{Type: gateway.ChannelAnthropic}, "claude", OpChat, true, url.Values{"beta": {"true"}}, "https://api.anthropic.com/v1/messages?beta=true"},
		{"anthropic count", gateway.Channel{Type: gateway.ChannelAnthropic}, "claude", OpCountToken, false, nil, "https://api.anthropic.com/v1/messages/count_tokens"},
		{"gemini", gateway.Channel{Type: gateway.ChannelGemini}, "gemini-2.5-flash", OpChat, false, url.Values{"key": {"client-secret"}}, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"},
		{"gemini stream", gateway.Channel{Type: gateway.ChannelGemini}, "gemini-2.5-flash", OpChat, true, url.Values{"alt": {"json"}}, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"},
		{"simulator", gateway.Channel{Type: gateway.ChannelSimulator}, "sim-1", OpChat, false, nil, "simulator://local/v1/chat/completions"},
		{"openai responses", gateway.Channel{Type: gateway.ChannelOpenAI}, "gpt-5", OpResponses, true, nil, "https://api.openai.com/v1/responses"},
		{"compatible responses", gateway.Channel{Type: gateway.ChannelOpenAICompatible, BaseURL: "https://api.x.ai/v1"}, "grok-4", OpResponses, false, nil, "https://api.x.ai/v1/responses"},
		{"azure responses", gateway.Channel{Type: gateway.ChannelAzure, BaseURL: "https://r.openai.azure.com", Settings: map[string]string{"api_version": "2024-10-21"}}, "d", OpResponses, false, nil, "https://r.openai.azure.com/openai/responses?api-version=" + AzureResponsesAPIVersion},
		{"openai input tokens", gateway.Channel{Type: gateway.ChannelOpenAI}, "gpt-5", OpResponsesInputTokens, false, nil, "https://api.openai.com/v1/responses/input_tokens"},
		{"azure compact", gateway.Channel{Type: gateway.ChannelAzure, BaseURL: "https://r.openai.azure.com"}, "d", OpResponsesCompact, false, nil, "https://r.openai.azure.com/openai/responses/compact?api-version=" + AzureResponsesAPIVersion},
		{"azure responses version", gateway.Channel{Type: gateway.ChannelAzure, BaseURL: "https://r.openai.azure.com", Settings: map[string]string{"responses_api_version": "preview"}}, "d", OpResponses, false, nil, "https://r.openai.azure.com/openai/responses?api-version=preview"},
		{"openai images", gateway.Channel{Type: gateway.ChannelOpenAI}, "gpt-image-1", OpImageEdits, false, nil, "https://api.openai.com/v1/images/edits"},
		{"openai speech", gateway.Channel{Type: gateway.ChannelOpenAICompatible, BaseURL: "http://h/v1"}, "tts-1", OpSpeech, false, nil, "http://h/v1/audio/speech"},
		{"azure transcriptions", gateway.Channel{Type: gateway.ChannelAzure, BaseURL: "https://r.openai.azure.com"}, "whisper", OpTranscriptions, false, nil, "https://r.openai.azure.com/openai/deployments/whisper/audio/transcriptions?api-version=" + AzureAPIVersion},
		{"azure images", gateway.Channel{Type: gateway.ChannelAzure, BaseURL: "https://r.openai.azure.com"}, "dalle3", OpImageGenerations, false, nil, "https://r.openai.azure.com/openai/deployments/dalle3/images/generations?api-version=" + AzureAPIVersion},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := URL(&Call{Channel: &tc.ch, Model: tc.model, Op: tc.op, Stream: tc.strm, ClientQuery: tc.query})
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("URL = %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := URL(&Call{Channel: &gateway.Channel{Name: "x", Type: gateway.ChannelAzure}}); err == nil {
		t.Error("a channel without base_url and no default must fail")
	}
}

func TestNewRequestHeaders(t *testing.T) {
	client := http.Header{
		"Authorization":     {"Bearer client-key"},
		"X-Api-Key":         {"client-key"},
		"X-Goog-Api-Key":    {"client-key"},
		"Cookie":            {"session=1"},
		"Connection":        {"keep-alive"},
		"Accept-Encoding":   {"gzip"},
		"Anthropic-Beta":    {"prompt-caching-2024-07-31"},
		"Anthropic-Version": {"2024-10-22"},
		"User-Agent":        {"claude-cli/1.0"},
		"X-App":             {"cli"},
	}
	cases := []struct {
		typ      gateway.ChannelType
		authName string
		authVal  string
	}{
		{gateway.ChannelOpenAI, "Authorization", "Bearer up-key"},
		{gateway.ChannelAzure, "Api-Key", "up-key"},
		{gateway.ChannelAnthropic, "X-Api-Key", "up-key"},
		{gateway.ChannelGemini, "X-Goog-Api-Key", "up-key"},
	}
	for _, tc := range cases {
		t.Run(string(tc.typ), func(t *testing.T) {
			ch := &gateway.Channel{Name: "c", Type: tc.typ, BaseURL: "https://u.example", Headers: map[string]string{"X-Extra": "1"}}
			req, err := NewRequest(context.Background(), &Call{Channel: ch, APIKey: "up-key", Model: "m", Op: OpChat, Body: JSON([]byte("{}")), ClientHeader: client})
			if err != nil {
				t.Fatal(err)
			}
			h := req.Header
			if h.Get(tc.authName) != tc.authVal {
				t.Errorf("%s = %q", tc.authName, h.Get(tc.authName))
			}
			for _, k := range []string{"Cookie", "Connection", "Accept-Encoding"} {
				if h.Get(k) != "" {
					t.Errorf("%s forwarded", k)
				}
			}
			for _, k := range []string{"Authorization", "X-Api-Key", "X-Goog-Api-Key", "Api-Key"} {
				if v := h.Get(k); v != "" && v != tc.authVal {
					t.Errorf("client credential %s=%q leaked upstream", k, v)
				}
			}
			if h.Get("User-Agent") != "claude-cli/1.0" || h.Get("X-Extra") != "1" {
				t.Errorf("pass-through headers lost: %v", h)
			}
			// Anthropic's own headers pass to Anthropic only.
			if isAnthropic := tc.typ == gateway.ChannelAnthropic; (h.Get("Anthropic-Beta") != "" && h.Get("X-App") == "cli") != isAnthropic {
				t.Errorf("Anthropic headers to a %s channel: %v", tc.typ, h)
			}
			if tc.typ == gateway.ChannelAnthropic && h.Get("Anthropic-Version") != "2024-10-22" {
				t.Errorf("client's anthropic-version not kept")
			}
		})
	}
	// Translated calls carry no client headers; Anthropic still gets a version.
	req, _ := NewRequest(context.Background(), &Call{Channel: &gateway.Channel{Type: gateway.ChannelAnthropic}, APIKey: "k", Op: OpChat, Body: JSON([]byte("{}"))})
	if req.Header.Get("Anthropic-Version") != AnthropicVersion {
		t.Errorf("no default anthropic-version")
	}
}

func TestRetryable(t *testing.T) {
	for status, want := range map[int]bool{400: false, 401: false, 404: false, 408: true, 429: true, 500: true, 503: true, 529: true} {
		if Retryable(status) != want {
			t.Errorf("Retryable(%d) = %v", status, !want)
		}
	}
}
