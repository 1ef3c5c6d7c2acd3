package gatewaytest

import (
	"fmt"
	"strings"

	"github.com/tidwall/gjson"
)

// The fakes refuse the request histories their providers refuse, with the
// providers' own messages, so a translation that breaks a conversation
// fails end to end instead of passing against a lenient fake.

// Signatures lists the opaque reasoning tokens an upstream fake issued:
// token → the thinking text it signs ("" signs any text). A fake with a
// non-nil Signatures refuses every other token in a request, as the
// providers do ("Invalid signature in thinking block").
type Signatures map[string]string

// openAIHistoryError checks the tool-call pairing OpenAI enforces: every
// assistant tool call is answered by a tool message before the next other
// message, and every tool message answers a pending call.
func openAIHistoryError(body []byte) string {
	pending := map[string]bool{}
	var problem string
	gjson.GetBytes(body, "messages").ForEach(func(_, m gjson.Result) bool {
		role := m.Get("role").Str
		if role == "tool" {
			id := m.Get("tool_call_id").Str
			if !pending[id] {
				problem = fmt.Sprintf("Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls' (tool_call_id %q)", id)
				return false
			}
			delete(pending, id)
			return true
		}
		if len(pending) > 0 {
			var ids []string
			for id := range pending {
				ids = append(ids, id)
			}
			problem = "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: " + strings.Join(ids, ", ")
			return false
		}
		if role == "assistant" {
			m.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
				pending[tc.Get("id").Str] = true
				return true
			})
		}
		return true
	})
	return problem
}

// anthropicHistoryError checks what the Messages API enforces about tool
// use and thinking: each tool_use is answered by a tool_result at the
// start of the next user turn; with thinking on, the last assistant turn
// that uses tools starts with a thinking or redacted_thinking block; and,
// when sigs is set, every signature is one the fake issued, for its text.
func anthropicHistoryError(body []byte, sigs Signatures) string {
	msgs := gjson.GetBytes(body, "messages").Array()
	for i, m := range msgs {
		if m.Get("role").Str != "assistant" {
			continue
		}
		var uses []string
		m.Get("content").ForEach(func(_, b gjson.Result) bool {
			if b.Get("type").Str == "tool_use" {
				uses = append(uses, b.Get("id").Str)
			}
			return true
		})
		if len(uses) == 0 {
			continue
		}
		answered := map[string]bool{}
		if i+1 < len(msgs) && msgs[i+1].Get("role").Str == "user" {
			msgs[i+1].Get("content").ForEach(func(_, b gjson.Result) bool {
				if b.Get("type").Str != "tool_result" {
					return false // results must come first
				}
				answered[b.Get("tool_use_id").Str] = true
				return true
			})
		}
		for _, id := range uses {
			if !answered[id] && i+1 < len(msgs) {
				return fmt.Sprintf("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", i, id)
			}
		}
	}
	for i, m := range msgs {
		if m.Get("role").Str != "user" {
			continue
		}
		var prev map[string]bool
		if i > 0 {
			prev = map[string]bool{}
			msgs[i-1].Get("content").ForEach(func(_, b gjson.Result) bool {
				if b.Get("type").Str == "tool_use" {
					prev[b.Get("id").Str] = true
				}
				return true
			})
		}
		var problem string
		m.Get("content").ForEach(func(_, b gjson.Result) bool {
			if id := b.Get("tool_use_id").Str; b.Get("type").Str == "tool_result" && !prev[id] {
				problem = fmt.Sprintf("messages.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", i, id)
				return false
			}
			return true
		})
		if problem != "" {
			return problem
		}
	}
	if t := gjson.GetBytes(body, "thinking.type").Str; t == "enabled" || t == "adaptive" {
		for i := len(msgs) - 1; i >= 0; i-- {
			m := msgs[i]
			if m.Get("role").Str != "assistant" {
				continue
			}
			if !m.Get(`content.#(type=="tool_use")`).Exists() {
				break
			}
			if first := m.Get("content.0.type").Str; first != "thinking" && first != "redacted_thinking" {
				return fmt.Sprintf("messages.%d.content.0.type: Expected `thinking` or `redacted_thinking`, but found `%s`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks).", i, first)
			}
			break
		}
	}
	if sigs != nil {
		for i, m := range msgs {
			var problem string
			m.Get("content").ForEach(func(_, b gjson.Result) bool {
				switch b.Get("type").Str {
				case "thinking":
					text, ok := sigs[b.Get("signature").Str]
					if !ok || text != "" && text != b.Get("thinking").Str {
						problem = fmt.Sprintf("messages.%d.content: Invalid `signature` in `thinking` block", i)
					}
				case "redacted_thinking":
					if _, ok := sigs[b.Get("data").Str]; !ok {
						problem = fmt.Sprintf("messages.%d.content: Invalid `data` in `redacted_thinking` block", i)
					}
				}
				return problem == ""
			})
			if problem != "" {
				return problem
			}
		}
	}
	return ""
}

// geminiHistoryError checks what generateContent enforces: a model turn's
// function calls are answered by as many function responses, with the
// same names, in the next turn; and, when sigs is set, every
// thoughtSignature is one the fake issued (or Google's documented
// validator-skip value).
func geminiHistoryError(body []byte, sigs Signatures) string {
	contents := gjson.GetBytes(body, "contents").Array()
	for i, c := range contents {
		var calls []string
		c.Get("parts").ForEach(func(_, p gjson.Result) bool {
			if fc := p.Get("functionCall"); fc.Exists() {
				calls = append(calls, fc.Get("name").Str)
			}
			return true
		})
		if len(calls) == 0 || i+1 >= len(contents) {
			continue
		}
		var resps []string
		contents[i+1].Get("parts").ForEach(func(_, p gjson.Result) bool {
			if fr := p.Get("functionResponse"); fr.Exists() {
				resps = append(resps, fr.Get("name").Str)
			}
			return true
		})
		if len(resps) != len(calls) {
			return "Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn."
		}
		for k := range calls {
			if calls[k] != resps[k] {
				return fmt.Sprintf("function response %q does not answer function call %q", resps[k], calls[k])
			}
		}
	}
	if sigs == nil {
		return ""
	}
	for i, c := range contents {
		var problem string
		c.Get("parts").ForEach(func(_, p gjson.Result) bool {
			s := p.Get("thoughtSignature")
			if !s.Exists() || s.Str == "skip_thought_signature_validator" {
				return true
			}
			if _, ok := sigs[s.Str]; !ok {
				problem = fmt.Sprintf("contents[%d]: Thought signature is not valid.", i)
				return false
			}
			return true
		})
		if problem != "" {
			return problem
		}
	}
	return ""
}
