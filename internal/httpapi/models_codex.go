package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
)

// codexBaseInstructions is the base prompt Codex uses for a model the
// catalogue lists and its own bundled catalogue does not describe. It is
// deliberately short and generic: Codex adds its own tool and sandbox
// guidance around it.
const codexBaseInstructions = "You are a coding agent running in a terminal on the user's computer. " +
	"Work in the user's workspace with the tools you are given, keep the user informed, " +
	"and make precise, minimal changes."

// codexReasoningLevels are the efforts the gateway can map for every
// upstream (Anthropic thinking budgets, Gemini thinkingConfig, OpenAI
// reasoning.effort).
var codexReasoningLevels = []map[string]string{
	{"effort": "low", "description": "Fast responses with lighter reasoning"},
	{"effort": "medium", "description": "Balances speed and reasoning depth"},
	{"effort": "high", "description": "Greater reasoning depth for complex problems"},
}

// codexModels answers GET /v1/models?client_version=… in the shape Codex
// decodes ({"models":[ModelInfo…]}, codex-rs protocol openai_models.rs),
// with an ETag of the list: a standard {"data":[…]} list fails to decode
// there and Codex silently falls back to its bundled catalogue. Tools are
// advertised as functions (apply_patch included), which every upstream
// the gateway translates to can express.
func (s *Server) codexModels(w http.ResponseWriter, ids []string, contextWindow func(string) int64) error {
	models := make([]map[string]any, 0, len(ids))
	for i, id := range ids {
		m := map[string]any{
			"slug": id, "display_name": id, "description": nil,
			"default_reasoning_level":      "medium",
			"supported_reasoning_levels":   codexReasoningLevels,
			"shell_type":                   "shell_command",
			"visibility":                   "list",
			"supported_in_api":             true,
			"priority":                     i,
			"upgrade":                      nil,
			"base_instructions":            codexBaseInstructions,
			"supports_reasoning_summaries": true,
			"support_verbosity":            false,
			"default_verbosity":            nil,
			"apply_patch_tool_type":        "function",
			"truncation_policy":            map[string]any{"mode": "bytes", "limit": 10000},
			"supports_parallel_tool_calls": true,
			"experimental_supported_tools": []string{},
			"input_modalities":             []string{"text", "image"},
		}
		if n := contextWindow(id); n > 0 {
			m["context_window"] = n
		}
		models = append(models, m)
	}
	b, err := json.Marshal(map[string]any{"models": models})
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
	return nil
}
