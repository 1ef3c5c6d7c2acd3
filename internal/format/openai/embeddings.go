package openai

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/payload"
	"switchboard/internal/upstream"
)

// Embeddings is POST /v1/embeddings.
var Embeddings endpoint.Spec = embeddingsSpec{}

var (
	_ endpoint.Passer     = embeddingsSpec{}
	_ endpoint.EmbedCodec = embeddingsSpec{}
)

// MaxEmbeddingInputs is OpenAI's limit of inputs per call.
const MaxEmbeddingInputs = 2048

type embeddingsSpec struct{ wire }

func (embeddingsSpec) Endpoint() string { return "embeddings" }
func (embeddingsSpec) Op() upstream.Op  { return upstream.OpEmbeddings }

func (embeddingsSpec) Peek(_ *http.Request, body payload.Body) (endpoint.Peek, error) {
	var p endpoint.Peek
	if body.JSON == nil {
		return p, gateway.Errorf(gateway.KindInvalidRequest, "the request body must be JSON")
	}
	var model, input, format, dims gjson.Result
	endpoint.ParseJSON(body.JSON).ForEach(func(key, v gjson.Result) bool {
		switch key.Str {
		case "model":
			model = v
		case "input":
			input = v
		case "encoding_format":
			format = v
		case "dimensions":
			dims = v
		}
		return true
	})
	if model.Type != gjson.String || model.Str == "" {
		return p, gateway.Errorf(gateway.KindInvalidRequest, "you must provide a model parameter").WithParam("model").WithCode("missing_required_parameter")
	}
	n, err := countInputs(input)
	if err != nil {
		return p, err
	}
	if format.Exists() && format.Str != "float" && format.Str != "base64" {
		return p, gateway.Errorf(gateway.KindInvalidRequest, "'encoding_format' must be 'float' or 'base64'").WithParam("encoding_format")
	}
	if dims.Exists() && (dims.Type != gjson.Number || dims.Int() < 1 || float64(dims.Int()) != dims.Float()) {
		return p, gateway.Errorf(gateway.KindInvalidRequest, "'dimensions' must be a positive integer").WithParam("dimensions")
	}
	p.Model, p.N = strings.Clone(model.Str), n
	return p, nil
}

// countInputs checks the input's shape: a string, an array of strings,
// an array of token ids, or an array of token-id arrays.
func countInputs(input gjson.Result) (int, error) {
	bad := func(msg string) (int, error) {
		return 0, gateway.Errorf(gateway.KindInvalidRequest, "%s", msg).WithParam("input")
	}
	switch {
	case !input.Exists() || input.Type == gjson.Null:
		return bad("'input' is a required property")
	case input.Type == gjson.String:
		return 1, nil
	case !input.IsArray():
		return bad("'input' must be a string or an array of strings or token ids")
	}
	arr := input.Array()
	if len(arr) == 0 {
		return bad("'input' must not be empty")
	}
	if len(arr) > MaxEmbeddingInputs {
		return bad(fmt.Sprintf("'input' has %d items; at most %d are allowed", len(arr), MaxEmbeddingInputs))
	}
	if arr[0].Type == gjson.Number {
		for _, v := range arr {
			if !isTokenID(v) {
				return bad("'input' mixes token ids with other values")
			}
		}
		return 1, nil
	}
	for _, v := range arr {
		switch {
		case v.Type == gjson.String:
		case v.IsArray():
			toks := v.Array()
			if len(toks) == 0 {
				return bad("'input' contains an empty token array")
			}
			for _, t := range toks {
				if !isTokenID(t) {
					return bad("'input' token arrays must hold non-negative integers")
				}
			}
		default:
			return bad("'input' array items must be strings or token arrays")
		}
	}
	return len(arr), nil
}

func isTokenID(v gjson.Result) bool {
	return v.Type == gjson.Number && v.Num >= 0 && v.Num == math.Trunc(v.Num) && v.Num < 1<<31
}

// PassRequest forwards the body as sent (base64 vectors pass through
// untouched) with the upstream's model name.
func (embeddingsSpec) PassRequest(p endpoint.Peek, body payload.Body, upstreamModel string) (upstream.Body, error) {
	b, err := setModel(body.JSON, p.Model, upstreamModel)
	return upstream.JSON(b), err
}

func (embeddingsSpec) ParseUsage(body []byte) (llm.Usage, bool) { return ParseUsage(body) }

// CountAnswer adds nothing: an embedding generates no tokens.
func (embeddingsSpec) CountAnswer([]byte, endpoint.TextCounter) {}

func (embeddingsSpec) DecodeEmbed(_ endpoint.Peek, body payload.Body) (*llm.EmbedRequest, error) {
	return DecodeEmbedRequest(body.JSON)
}

// DecodeEmbedRequest reads an /v1/embeddings request into the hub.
func DecodeEmbedRequest(body []byte) (*llm.EmbedRequest, error) {
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, invalid("", "request body must be a JSON object")
	}
	req := &llm.EmbedRequest{SourceFormat: SourceFormat}
	var err error
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "model":
			req.Model = v.Str
		case "input":
			req.Inputs, err = decodeEmbedInputs(v)
		case "dimensions":
			req.Dimensions = int(v.Int())
		case "encoding_format":
			req.Base64 = v.Str == "base64"
		case "user":
			req.User = v.Str
		default:
			if req.Extra == nil {
				req.Extra = map[string]json.RawMessage{}
			}
			req.Extra[k.Str] = json.RawMessage(v.Raw)
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if len(req.Inputs) == 0 {
		return nil, invalid("input", "'input' is a required property")
	}
	return req, nil
}

func decodeEmbedInputs(v gjson.Result) ([]llm.EmbedInput, error) {
	if v.Type == gjson.String {
		return []llm.EmbedInput{{Text: v.Str}}, nil
	}
	arr := v.Array()
	if len(arr) > 0 && arr[0].Type == gjson.Number {
		return []llm.EmbedInput{{Tokens: tokenIDs(arr)}}, nil
	}
	out := make([]llm.EmbedInput, 0, len(arr))
	for _, e := range arr {
		if e.IsArray() {
			out = append(out, llm.EmbedInput{Tokens: tokenIDs(e.Array())})
			continue
		}
		if e.Type != gjson.String {
			return nil, invalid("input", "'input' array items must be strings or token arrays")
		}
		out = append(out, llm.EmbedInput{Text: e.Str})
	}
	return out, nil
}

func tokenIDs(arr []gjson.Result) []int64 {
	out := make([]int64, len(arr))
	for i, t := range arr {
		out[i] = t.Int()
	}
	return out
}

// EncodeEmbed writes the hub's answer as an OpenAI embeddings list, with
// vectors as the client asked: JSON numbers, or base64 of little-endian
// float32s (what the SDKs request by default and decode themselves).
func (embeddingsSpec) EncodeEmbed(resp *llm.EmbedResponse, req *llm.EmbedRequest) ([]byte, error) {
	return EncodeEmbedResponse(resp, req.Model, req.Base64), nil
}

// EncodeEmbedResponse writes an OpenAI embeddings list for model.
func EncodeEmbedResponse(resp *llm.EmbedResponse, model string, b64 bool) []byte {
	size := 96
	for _, v := range resp.Vectors {
		size += 64 + len(v)*12
	}
	b := make([]byte, 0, size)
	b = append(b, `{"object":"list","data":[`...)
	for i, v := range resp.Vectors {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"embedding":`...)
		if b64 {
			b = append(b, '"')
			b = appendBase64Floats(b, v)
			b = append(b, '"')
		} else {
			b = appendFloats(b, v)
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = strconv.AppendQuote(b, model)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, resp.Usage.InputTokens, 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, resp.Usage.InputTokens, 10)
	b = append(b, `}}`...)
	return b
}

func appendFloats(b []byte, v []float64) []byte {
	b = append(b, '[')
	for i, f := range v {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			f = 0 // not representable in JSON; never sent by a sane model
		}
		b = strconv.AppendFloat(b, f, 'g', -1, 64)
	}
	return append(b, ']')
}

func appendBase64Floats(b []byte, v []float64) []byte {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(f)))
	}
	return base64.StdEncoding.AppendEncode(b, raw)
}

// EncodeEmbedRequest writes a hub request as /v1/embeddings, always
// asking for float vectors: the gateway re-encodes them for its client.
func (embeddingsSpec) EncodeEmbedRequest(req *llm.EmbedRequest) ([]byte, error) {
	out := map[string]any{"model": req.Model, "encoding_format": "float"}
	if len(req.Inputs) == 1 && !req.Inputs[0].IsTokens() {
		out["input"] = req.Inputs[0].Text
	} else {
		inputs := make([]any, len(req.Inputs))
		for i, in := range req.Inputs {
			if in.IsTokens() {
				inputs[i] = in.Tokens
			} else {
				inputs[i] = in.Text
			}
		}
		out["input"] = inputs
	}
	if req.Dimensions > 0 {
		out["dimensions"] = req.Dimensions
	}
	if req.User != "" {
		out["user"] = req.User
	}
	if req.SourceFormat == SourceFormat {
		for k, v := range req.Extra {
			out[k] = v
		}
	}
	return json.Marshal(out)
}

// DecodeEmbedResponse reads an OpenAI embeddings list, vectors as numbers
// or as base64 float32s, in index order.
func (embeddingsSpec) DecodeEmbedResponse(body []byte, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	root := gjson.ParseBytes(body)
	data := root.Get("data")
	if !data.IsArray() {
		return nil, fmt.Errorf("openai embeddings answer has no data array")
	}
	items := data.Array()
	out := &llm.EmbedResponse{Model: root.Get("model").Str, Vectors: make([][]float64, len(items))}
	for i, it := range items {
		idx := i
		if x := it.Get("index"); x.Exists() {
			idx = int(x.Int())
		}
		if idx < 0 || idx >= len(items) || out.Vectors[idx] != nil {
			return nil, fmt.Errorf("openai embeddings answer has a bad index %d", idx)
		}
		v, err := decodeVector(it.Get("embedding"))
		if err != nil {
			return nil, err
		}
		out.Vectors[idx] = v
	}
	if req != nil && len(items) != len(req.Inputs) {
		return nil, fmt.Errorf("openai embeddings answer has %d vectors for %d inputs", len(items), len(req.Inputs))
	}
	if u, ok := ParseUsage(body); ok {
		out.Usage = u
	}
	return out, nil
}

func decodeVector(v gjson.Result) ([]float64, error) {
	if v.Type == gjson.String {
		raw, err := base64.StdEncoding.DecodeString(v.Str)
		if err != nil || len(raw)%4 != 0 {
			return nil, fmt.Errorf("openai embeddings answer has a malformed base64 vector")
		}
		out := make([]float64, len(raw)/4)
		for i := range out {
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
		}
		return out, nil
	}
	if !v.IsArray() {
		return nil, fmt.Errorf("openai embeddings answer has a vector that is not an array")
	}
	out := make([]float64, 0, 1536)
	var bad bool
	v.ForEach(func(_, f gjson.Result) bool {
		if f.Type != gjson.Number {
			bad = true
			return false
		}
		out = append(out, f.Num)
		return true
	})
	if bad {
		return nil, fmt.Errorf("openai embeddings answer has a non-numeric vector element")
	}
	return out, nil
}
