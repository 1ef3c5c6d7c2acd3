package upstream

import "switchboard/internal/gateway"

// SettingResponses marks an OpenAI-compatible channel whose server speaks
// the Responses API itself (xAI, OpenRouter, Groq, DeepSeek): "native"
// passes /v1/responses calls through to it; without it they are
// translated to chat completions.
const SettingResponses = "responses"

// ResponsesNative is the SettingResponses value for pass-through.
const ResponsesNative = "native"

// ServesResponses reports whether ch serves POST /v1/responses natively:
// OpenAI and Azure always, an OpenAI-compatible server when flagged.
func ServesResponses(ch *gateway.Channel) bool {
	switch ch.Type {
	case gateway.ChannelOpenAI, gateway.ChannelAzure:
		return true
	case gateway.ChannelOpenAICompatible:
		return ch.Settings[SettingResponses] == ResponsesNative
	}
	return false
}
