package gatewaytest

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/tidwall/gjson"

	"switchboard/internal/sse"
)

// The providers' published response schemas (JSON Schema 2020-12), copied
// from the project's shared reference folder; see schemas/README.md.
//
//go:embed schemas/*.json
var schemaFiles embed.FS

// API names a wire API whose answers the schema checker knows.
type API string

const (
	APIOpenAIChat        API = "openai.chat"        // POST /v1/chat/completions
	APIAnthropicMessages API = "anthropic.messages" // POST /v1/messages
	APIGeminiGenerate    API = "gemini.generate"    // :generateContent / :streamGenerateContent
	APIOpenAIResponses   API = "openai.responses"   // POST /v1/responses
)

// apiSchemas says which $defs of which file describe an API's answers.
var apiSchemas = map[API]struct{ file, answer, event, error string }{
	APIOpenAIChat:        {"openai.json", "CreateChatCompletionResponse", "CreateChatCompletionStreamResponse", "ErrorResponse"},
	APIAnthropicMessages: {"anthropic.json", "Message", "MessageStreamEvent", "ErrorResponse"},
	APIGeminiGenerate:    {"gemini.json", "GenerateContentResponse", "GenerateContentResponse", "ErrorResponse"},
	APIOpenAIResponses:   {"openai.json", "Response", "ResponseStreamEvent", "ErrorResponse"},
}

const schemaBase = "https://switchboard.invalid/schemas/"

var schemas struct {
	once     sync.Once
	err      error
	mu       sync.Mutex
	compiler *jsonschema.Compiler
	compiled map[string]*jsonschema.Schema
}

func loadSchemas() error {
	schemas.once.Do(func() {
		c := jsonschema.NewCompiler()
		for _, name := range []string{"openai.json", "anthropic.json", "gemini.json"} {
			b, err := schemaFiles.ReadFile("schemas/" + name)
			if err != nil {
				schemas.err = err
				return
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			if err != nil {
				schemas.err = fmt.Errorf("%s: %w", name, err)
				return
			}
			if err := c.AddResource(schemaBase+name, allowNullable(doc)); err != nil {
				schemas.err = fmt.Errorf("%s: %w", name, err)
				return
			}
		}
		schemas.compiler = c
		schemas.compiled = make(map[string]*jsonschema.Schema)
	})
	return schemas.err
}

// allowNullable rewrites an OpenAPI 3.0 `nullable: true` left in a 3.1
// document into JSON Schema ("null is allowed too", as the shared
// schemas' README prescribes for validators).
func allowNullable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			x[k] = allowNullable(c)
		}
		if n, ok := x["nullable"].(bool); ok {
			delete(x, "nullable")
			if n {
				inner := make(map[string]any, len(x))
				for k, c := range x {
					inner[k] = c
				}
				return map[string]any{"anyOf": []any{inner, map[string]any{"type": "null"}}}
			}
		}
	case []any:
		for i, c := range x {
			x[i] = allowNullable(c)
		}
	}
	return v
}

func schemaFor(file, def string) (*jsonschema.Schema, error) {
	if err := loadSchemas(); err != nil {
		return nil, err
	}
	loc := schemaBase + file + "#/$defs/" + def
	schemas.mu.Lock()
	defer schemas.mu.Unlock()
	if s, ok := schemas.compiled[loc]; ok {
		return s, nil
	}
	s, err := schemas.compiler.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", loc, err)
	}
	schemas.compiled[loc] = s
	return s, nil
}

// CheckSchema validates one JSON document against $defs/def of a schema
// file ("openai.json", "anthropic.json", "gemini.json").
func CheckSchema(file, def string, doc []byte) error {
	s, err := schemaFor(file, def)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not JSON: %w: %.200s", err, doc)
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("%s#/$defs/%s: %v\n  document: %.2000s", file, def, err, doc)
	}
	return nil
}

// CheckAnswer validates a non-stream answer of api: the response schema for
// a success, the error envelope for a status of 400 or more.
func CheckAnswer(api API, status int, body []byte) error {
	s, ok := apiSchemas[api]
	if !ok {
		return fmt.Errorf("no schemas for API %q", api)
	}
	def := s.answer
	if status >= 400 {
		def = s.error
	}
	return CheckSchema(s.file, def, body)
}

// CheckStream validates every event of a streamed answer of api: each SSE
// data payload (or, for a Gemini stream without alt=sse, each element of
// the JSON array) against the stream event schema, and error payloads
// against the error envelope. OpenAI's [DONE] is skipped; an Anthropic
// frame's `event:` name must equal its data's type.
func CheckStream(api API, body []byte) error {
	s, ok := apiSchemas[api]
	if !ok {
		return fmt.Errorf("no schemas for API %q", api)
	}
	check := func(i int, data []byte) error {
		def := s.event
		if api != APIAnthropicMessages && api != APIOpenAIResponses && gjson.GetBytes(data, "error").Exists() {
			def = s.error
		}
		if err := CheckSchema(s.file, def, data); err != nil {
			return fmt.Errorf("stream event %d: %w", i, err)
		}
		return nil
	}
	var errs []error
	if api == APIGeminiGenerate && bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) {
		arr := gjson.ParseBytes(body)
		if !arr.IsArray() {
			return fmt.Errorf("gemini JSON-array stream is not valid JSON: %.300s", body)
		}
		for i, el := range arr.Array() {
			if err := check(i, []byte(el.Raw)); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	r := sse.NewReader(bytes.NewReader(body), 0)
	defer r.Release()
	lastSeq := int64(-1)
	for i := 0; ; i++ {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("stream event %d: %w", i, err))...)
		}
		data := bytes.TrimSpace(ev.Data)
		if len(data) == 0 || api == APIOpenAIChat && string(data) == "[DONE]" {
			continue
		}
		if api == APIAnthropicMessages || api == APIOpenAIResponses {
			if typ := gjson.GetBytes(data, "type").Str; string(ev.Event) != typ {
				errs = append(errs, fmt.Errorf("stream event %d: event name %q but data type %q", i, ev.Event, typ))
			}
		}
		if api == APIOpenAIResponses {
			// Every Responses event carries a sequence number, rising by
			// one; clients resume and de-duplicate by it.
			seq := gjson.GetBytes(data, "sequence_number")
			if seq.Type != gjson.Number || seq.Int() != lastSeq+1 {
				errs = append(errs, fmt.Errorf("stream event %d: sequence_number %s after %d", i, seq.Raw, lastSeq))
			}
			lastSeq = seq.Int()
		}
		if err := check(i, data); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// APIForPath names the chat API a gateway path serves, or "" for paths
// the checker does not cover.
func APIForPath(path string) API {
	switch {
	case path == "/v1/chat/completions" || path == "/chat/completions":
		return APIOpenAIChat
	case path == "/v1/messages" || path == "/messages":
		return APIAnthropicMessages
	case path == "/v1/responses" || path == "/responses":
		return APIOpenAIResponses
	case strings.Contains(path, "/models/") && (strings.HasSuffix(path, ":generateContent") || strings.HasSuffix(path, ":streamGenerateContent")):
		return APIGeminiGenerate
	}
	return ""
}

// CheckGatewayResponse validates what the gateway answered on path: chat
// answers, stream events and errors of the three chat APIs, and the
// Anthropic token count. Other paths pass unchecked.
func CheckGatewayResponse(path string, status int, contentType string, body []byte) error {
	if status == 101 {
		return nil // a WebSocket handshake: its frames are not HTTP answers
	}
	if path == "/v1/messages/count_tokens" || path == "/messages/count_tokens" {
		if status >= 400 {
			return CheckSchema("anthropic.json", "ErrorResponse", body)
		}
		return CheckSchema("anthropic.json", "MessageTokensCount", body)
	}
	if ok, err := checkOtherResponse(path, status, body); ok {
		return err
	}
	api := APIForPath(path)
	if api == "" {
		return nil
	}
	stream := strings.HasPrefix(contentType, "text/event-stream") ||
		status < 400 && strings.HasSuffix(path, ":streamGenerateContent")
	if stream {
		return CheckStream(api, body)
	}
	return CheckAnswer(api, status, body)
}

// checkOtherResponse validates the answers of the non-chat paths the
// checker knows (embeddings in both formats, model lists); ok is false for
// paths it does not cover.
func checkOtherResponse(path string, status int, body []byte) (ok bool, err error) {
	openaiPath := func(p string) bool { return path == "/v1"+p || path == p }
	switch {
	case openaiPath("/embeddings"):
		if status >= 400 {
			return true, CheckSchema("openai.json", "ErrorResponse", body)
		}
		// The published schema types vectors as numbers only; base64
		// vectors (encoding_format: base64) are strings.
		if gjson.GetBytes(body, "data.0.embedding").Type == gjson.String {
			return true, nil
		}
		return true, CheckSchema("openai.json", "CreateEmbeddingResponse", body)
	case strings.Contains(path, "/models/") && strings.HasSuffix(path, ":embedContent"):
		if status >= 400 {
			return true, CheckSchema("gemini.json", "ErrorResponse", body)
		}
		return true, CheckSchema("gemini.json", "EmbedContentResponse", body)
	case strings.Contains(path, "/models/") && strings.HasSuffix(path, ":batchEmbedContents"):
		if status >= 400 {
			return true, CheckSchema("gemini.json", "ErrorResponse", body)
		}
		return true, CheckSchema("gemini.json", "BatchEmbedContentsResponse", body)
	}
	return false, nil
}
