package config

import (
	"fmt"
	"slices"
	"strings"

	"switchboard/internal/gateway"
	"switchboard/internal/rules"
)

// Default model lists of the channels FromEnv creates. Globs cover dated
// and preview variants; the concrete names are what /v1/models can list.
var (
	OpenAIModels = []string{
		"gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-5*",
		"gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4.1*",
		"gpt-4o", "gpt-4o-mini", "gpt-4o*", "chatgpt-4o-latest",
		"o1", "o1*", "o3", "o3-mini", "o3*", "o4-mini", "o4-mini*",
		"text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002",
		"whisper-1", "tts-1", "tts-1-hd",
		"dall-e-2", "dall-e-3", "gpt-image-1", "gpt-image-1*",
		"omni-moderation-latest",
	}
	AnthropicModels = []string{
		"claude-opus-4-5", "claude-opus-4-1", "claude-opus-4-0",
		"claude-sonnet-4-5", "claude-sonnet-4-0", "claude-haiku-4-5",
		"claude-3-7-sonnet-latest", "claude-3-5-haiku-latest",
		"claude-*",
	}
	GeminiModels = []string{
		"gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite",
		"gemini-2.0-flash", "gemini-2.0-flash-lite", "gemini-2.5-flash-image-preview",
		"gemini-embedding-001",
		"gemini-*",
	}
)

// envProviders are the providers a key in the environment can enable.
var envProviders = []struct {
	name    string
	typ     gateway.ChannelType
	keyVar  string
	baseVar string
	models  []string
}{
	{"openai", gateway.ChannelOpenAI, "OPENAI_API_KEY", "OPENAI_BASE_URL", OpenAIModels},
	{"anthropic", gateway.ChannelAnthropic, "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", AnthropicModels},
	{"gemini", gateway.ChannelGemini, "GEMINI_API_KEY", "GEMINI_BASE_URL", GeminiModels},
}

// FromEnv applies the environment to c, for starting without a file and
// for containers:
//
//   - OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY each add a channel
//     named openai, anthropic or gemini (comma-separated keys rotate), unless
//     the file already has a channel of that name; OPENAI_BASE_URL,
//     ANTHROPIC_BASE_URL and GEMINI_BASE_URL replace the default base URLs;
//   - SWITCHBOARD_ADDR, SWITCHBOARD_DATABASE, SWITCHBOARD_REDIS and
//     SWITCHBOARD_ADMIN_TOKEN override server.addr, storage.database,
//     storage.redis and admin.token.
//
// getenv nil means no environment. Invalid values are reported together.
func (c *Config) FromEnv(getenv Getenv) error {
	if getenv == nil {
		return nil
	}
	conv := &converter{file: "environment"}
	for _, o := range []struct {
		name  string
		dst   *string
		check func(string) string
	}{
		{"SWITCHBOARD_ADDR", &c.Server.Addr, addrProblem},
		{"SWITCHBOARD_DATABASE", &c.Storage.Database, databaseProblem},
		{"SWITCHBOARD_REDIS", &c.Storage.Redis, redisProblem},
		{"SWITCHBOARD_REDIS_PREFIX", &c.Storage.RedisPrefix, redisPrefixProblem},
		{"SWITCHBOARD_ADMIN_TOKEN", &c.Admin.Token, func(s string) string {
			if err := rules.AdminToken(s); err != nil {
				return err.Error()
			}
			return ""
		}},
	} {
		v, ok := getenv(o.name)
		if !ok || v == "" {
			continue
		}
		if msg := o.check(v); msg != "" {
			conv.fail(o.name, 0, "%s", msg)
			continue
		}
		*o.dst = v
	}

	for _, p := range envProviders {
		v, ok := getenv(p.keyVar)
		if !ok || strings.TrimSpace(v) == "" {
			continue
		}
		if slices.ContainsFunc(c.Upstreams, func(ch Channel) bool { return ch.Name == p.name }) {
			continue
		}
		var keys []string
		for _, k := range strings.Split(v, ",") {
			if k = strings.TrimSpace(k); k != "" {
				keys = append(keys, k)
			}
		}
		b, _ := getenv(p.baseVar)
		base, err := rules.BaseURL(p.typ, b)
		if err != nil {
			conv.fail(p.baseVar, 0, "%v", err)
			continue
		}
		c.Upstreams = append(c.Upstreams, Channel{
			Name:           p.name,
			Type:           p.typ,
			BaseURL:        base,
			APIKeys:        keys,
			Models:         slices.Clone(p.models),
			Weight:         DefaultWeight,
			Timeout:        DefaultChannelTimeout,
			ConnectTimeout: DefaultConnectTimeout,
			Enabled:        true,
			Source:         "env",
		})
	}
	if len(conv.errs) > 0 {
		return fmt.Errorf("config from environment: %w", conv.joined())
	}
	return nil
}
