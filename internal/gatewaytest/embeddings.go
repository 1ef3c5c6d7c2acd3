package gatewaytest

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"
)

// EmbeddingVector is the vector the fake embedding upstreams return for
// input i of text: dims values, each a multiple of 1/8 so that it survives
// float32 and base64 round trips exactly.
func EmbeddingVector(text string, i, dims int) []float64 {
	if dims <= 0 {
		dims = 8
	}
	v := make([]float64, dims)
	for j := range v {
		v[j] = float64((len(text)+i+j)%8)/8 - 0.5
	}
	return v
}

// OpenAIEmbeddings scripts a fake /v1/embeddings upstream (OpenAI, Azure
// or any OpenAI-compatible server).
type OpenAIEmbeddings struct {
	// NoUsage: the upstream reports no usage.
	NoUsage bool
	// PromptTokens is the usage it reports (default: 3 per input).
	PromptTokens int
}

// Handler answers with EmbeddingVector of each input, as floats or base64
// as asked, in `dimensions` (default 8) values.
func (o OpenAIEmbeddings) Handler() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body := readAll(r)
		dims := int(gjson.GetBytes(body, "dimensions").Int())
		b64 := gjson.GetBytes(body, "encoding_format").Str == "base64"
		var texts []string
		in := gjson.GetBytes(body, "input")
		switch {
		case in.Type == gjson.String:
			texts = []string{in.Str}
		case in.IsArray() && in.Get("0").Type == gjson.Number:
			texts = []string{in.Raw}
		default:
			in.ForEach(func(_, v gjson.Result) bool { texts = append(texts, v.String()); return true })
		}
		data := make([]any, len(texts))
		for i, t := range texts {
			vec := EmbeddingVector(t, i, dims)
			var emb any = vec
			if b64 {
				emb = Float32Base64(vec)
			}
			data[i] = map[string]any{"object": "embedding", "index": i, "embedding": emb}
		}
		resp := map[string]any{"object": "list", "data": data, "model": gjson.GetBytes(body, "model").Str}
		if !o.NoUsage {
			n := o.PromptTokens
			if n == 0 {
				n = 3 * len(texts)
			}
			resp["usage"] = map[string]any{"prompt_tokens": n, "total_tokens": n}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	}
}

// Float32Base64 encodes a vector the way OpenAI's base64 encoding does:
// little-endian float32s.
func Float32Base64(v []float64) string {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(f)))
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// GeminiEmbeddings is a fake Gemini upstream for :embedContent and
// :batchEmbedContents. Like the real one, it reports no usage.
func GeminiEmbeddings() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body := readAll(r)
		w.Header().Set("Content-Type", "application/json")
		embed := func(rq gjson.Result, i int) map[string]any {
			var texts []string
			rq.Get("content.parts").ForEach(func(_, p gjson.Result) bool { texts = append(texts, p.Get("text").Str); return true })
			return map[string]any{"values": EmbeddingVector(strings.Join(texts, "\n"), i, int(rq.Get("outputDimensionality").Int()))}
		}
		if strings.HasSuffix(r.URL.Path, ":batchEmbedContents") {
			var out []any
			gjson.GetBytes(body, "requests").ForEach(func(i, rq gjson.Result) bool {
				out = append(out, embed(rq, int(i.Int())))
				return true
			})
			_ = json.NewEncoder(w).Encode(map[string]any{"embeddings": out})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"embedding": embed(gjson.ParseBytes(body), 0)})
	}
}
