package upstream

import (
	"net/http"
	"strings"

	"switchboard/internal/gateway"
)

// What a client may pass to the upstream on the pass-through path is an
// allow-list per wire format: the headers and query parameters the real
// clients of that format send and the upstream needs (versions, betas,
// session ids for prompt-cache affinity, SDK telemetry). Anything else —
// an organisation or project header that bills another account, an
// override of the method or host, a second credential in the query — could
// steer the operator's upstream account, so it stops at the gateway.
// Operators extend a channel's lists with the pass_headers and pass_query
// settings (comma-separated; a trailing '*' matches a prefix).

// nameList is a comma-separated list of names; "X-Foo-*" matches a prefix.
// Kept as one string so that matching a channel's list allocates nothing.
type nameList string

// contains reports whether name is in l, folding case when fold is set
// (header names), exactly otherwise (query parameters).
func (l nameList) contains(name string, fold bool) bool {
	rest := string(l)
	for rest != "" {
		var item string
		item, rest, _ = strings.Cut(rest, ",")
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if prefix, ok := strings.CutSuffix(item, "*"); ok {
			if len(name) >= len(prefix) && (fold && strings.EqualFold(name[:len(prefix)], prefix) || !fold && name[:len(prefix)] == prefix) {
				return true
			}
			continue
		}
		if fold && strings.EqualFold(name, item) || !fold && name == item {
			return true
		}
	}
	return false
}

// commonHeaders pass to every format: the client's identity as its SDK
// reports it, which providers use for compatibility fixes, never for
// billing or routing.
const commonHeaders nameList = "User-Agent,X-Stainless-*"

// Per-format allow-lists. Deliberately left out: OpenAI-Organization and
// OpenAI-Project (they pick which account the operator's key bills),
// ChatGPT-Account-Id (picks a workspace of the operator's ChatGPT login:
// set it in the channel's headers), Idempotency-Key (an upstream that
// replays by key would hand one tenant's answer to another), and
// X-Goog-User-Project (bills another Google project).
var formatHeaders = map[string]nameList{
	FormatOpenAI: "OpenAI-Beta,X-Client-Request-Id,Originator,Version,Session-Id,Thread-Id," +
		"Session_id,Conversation_id,X-Codex-*,X-Openai-Subagent",
	FormatAnthropic: "Anthropic-Version,Anthropic-Beta,X-App,X-Claude-Code-Session-Id",
	FormatGemini:    "X-Goog-Api-Client",
}

// formatQuery lists client query parameters per format. Gemini's alt is
// the stream framing, which the gateway sets itself; key, access_token,
// $key, quotaUser and the like are credentials or quota steering.
var formatQuery = map[string]nameList{
	FormatAnthropic: "beta", // Claude Code's /v1/messages?beta=true
}

// Channel settings that extend the allow-lists.
const (
	SettingPassHeaders = "pass_headers"
	SettingPassQuery   = "pass_query"
)

// ForwardHeader reports whether the client header name (canonical form)
// may reach ch on the pass-through path. Hop-by-hop headers, credentials
// and headers the transport owns never pass, whatever the settings.
func ForwardHeader(ch *gateway.Channel, name string) bool {
	if dropped[http.CanonicalHeaderKey(name)] {
		return false
	}
	return commonHeaders.contains(name, true) ||
		formatHeaders[FormatOf(ch.Type)].contains(name, true) ||
		nameList(ch.Settings[SettingPassHeaders]).contains(name, true)
}

// ForwardQuery reports whether the client query parameter name may reach
// ch on the pass-through path.
func ForwardQuery(ch *gateway.Channel, name string) bool {
	switch name {
	case "key", "alt", "api-version":
		return false // credentials and framing are the gateway's to set
	}
	return formatQuery[FormatOf(ch.Type)].contains(name, false) ||
		nameList(ch.Settings[SettingPassQuery]).contains(name, false)
}
