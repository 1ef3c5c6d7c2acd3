package upstream

import "switchboard/internal/gateway"

// SettingResponses marks an OpenAI-compatible channel whose server speaks
// the Responses API itself (xAI, OpenRouter, Groq, DeepSeek): "native"
// passes /v1/responses calls through to it; without it they are
// translated to chat completions.
const SettingResponses = "responses"

// SettingResponses values: "native" — the server speaks the Responses
// API besides chat completions; "only" — the channel's models are
// reachable only through it (codex models), so chat completions and
// other formats' calls are translated to Responses for it.
const (
	ResponsesNative = "native"
	ResponsesOnly   = "only"
)

// OnlyResponses reports whether ch serves its models through the
// Responses API alone.
func OnlyResponses(ch *gateway.Channel) bool {
	return ch.Settings[SettingResponses] == ResponsesOnly && FormatOf(ch.Type) == FormatOpenAI
}

// ServesResponses reports whether ch serves POST /v1/responses natively:
// OpenAI and Azure always, an OpenAI-compatible server when flagged.
func ServesResponses(ch *gateway.Channel) bool {
	switch ch.Type {
	case gateway.ChannelOpenAI, gateway.ChannelAzure:
		return true
	case gateway.ChannelOpenAICompatible:
		v := ch.Settings[SettingResponses]
		return v == ResponsesNative || v == ResponsesOnly
	}
	return false
}

// SettingResponsesWS ("true") lets the gateway's Responses WebSocket mode
// hold a WebSocket of its own to the channel's GET /v1/responses and relay
// each response.create over it, instead of a POST per turn. Only for
// channels that serve the Responses API natively.
const SettingResponsesWS = "responses_ws"

// ResponsesOverWS reports whether ch is to be reached over the Responses
// WebSocket.
func ResponsesOverWS(ch *gateway.Channel) bool {
	return ch.Settings[SettingResponsesWS] == "true" && ServesResponses(ch)
}
