package llm

import "encoding/json"

// EmbedRequest is one embeddings call in canonical form: OpenAI's
// /v1/embeddings and Gemini's embedContent / batchEmbedContents.
type EmbedRequest struct {
	Model  string
	Inputs []EmbedInput
	// Dimensions asks for vectors of this size (OpenAI dimensions, Gemini
	// outputDimensionality); 0 leaves the model's default.
	Dimensions int
	// Base64 is an OpenAI client's encoding_format: "base64": vectors are
	// sent back as little-endian float32 bytes in base64.
	Base64 bool
	User   string

	// Extra and SourceFormat work as in Request: fields without a hub slot,
	// re-emitted only to their own format.
	Extra        map[string]json.RawMessage
	SourceFormat string
}

// EmbedInput is one text (or, from OpenAI clients, one pre-tokenised
// input) to embed.
type EmbedInput struct {
	Text string
	// Tokens is set for OpenAI token-array inputs; Text is empty then.
	Tokens []int64
	// TaskType and Title are Gemini's retrieval hints (taskType,
	// title); other formats have no slot for them.
	TaskType string
	Title    string
}

// IsTokens reports whether the input was sent as token ids.
func (in EmbedInput) IsTokens() bool { return in.Tokens != nil }

// EmbedResponse is the vectors, in input order, and the call's usage.
type EmbedResponse struct {
	Model   string
	Vectors [][]float64
	Usage   Usage
}
