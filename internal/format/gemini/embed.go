package gemini

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/payload"
	"switchboard/internal/upstream"
)

// Gemini's embeddings: POST /v1beta/models/{model}:embedContent (one input)
// and :batchEmbedContents (several). BatchEmbed is the one the gateway
// calls when it translates other formats' embeddings to Gemini.
var (
	EmbedContent endpoint.Spec = embedSpec{batch: false}
	BatchEmbed   endpoint.Spec = embedSpec{batch: true}
)

var (
	_ endpoint.Passer     = embedSpec{}
	_ endpoint.EmbedCodec = embedSpec{}
)

// MaxBatchEmbed bounds the requests of one batchEmbedContents call.
const MaxBatchEmbed = 2048

type embedSpec struct {
	wire
	batch bool
}

func (s embedSpec) Endpoint() string {
	if s.batch {
		return "batchEmbedContents"
	}
	return "embedContent"
}

func (s embedSpec) Op() upstream.Op {
	if s.batch {
		return upstream.OpEmbeddings
	}
	return upstream.OpEmbedContent
}

func (s embedSpec) Peek(r *http.Request, body payload.Body) (endpoint.Peek, error) {
	var p endpoint.Peek
	model, err := pathModel(r)
	if err != nil {
		return p, err
	}
	if body.JSON == nil {
		return p, gateway.Errorf(gateway.KindInvalidRequest, "Invalid JSON payload received.")
	}
	root := endpoint.ParseJSON(body.JSON)
	p.Model, p.N = model, 1
	if !s.batch {
		if !root.Get("content.parts.0").Exists() {
			return p, gateway.Errorf(gateway.KindInvalidRequest, "content is not specified").WithParam("content")
		}
		return p, nil
	}
	reqs := root.Get("requests")
	if !reqs.IsArray() || !reqs.Get("0").Exists() {
		return p, gateway.Errorf(gateway.KindInvalidRequest, "requests is not specified").WithParam("requests")
	}
	p.N = int(reqs.Get("#").Int())
	if p.N > MaxBatchEmbed {
		return p, gateway.Errorf(gateway.KindInvalidRequest, "at most %d requests are allowed in a batch, got %d", MaxBatchEmbed, p.N).WithParam("requests")
	}
	bad := ""
	reqs.ForEach(func(i, rq gjson.Result) bool {
		if !rq.Get("content.parts.0").Exists() {
			bad = fmt.Sprintf("requests[%d].content is not specified", i.Int())
			return false
		}
		if m := rq.Get("model"); m.Exists() && strings.TrimPrefix(m.Str, "models/") != model {
			bad = fmt.Sprintf("requests[%d].model %q does not match the model of the URL, %q", i.Int(), m.Str, "models/"+model)
			return false
		}
		return true
	})
	if bad != "" {
		return p, gateway.Errorf(gateway.KindInvalidRequest, "%s", bad).WithParam("requests")
	}
	return p, nil
}

// PassRequest forwards the body; a batch names its model in every
// request, which must be the upstream's when the channel maps it.
func (s embedSpec) PassRequest(p endpoint.Peek, body payload.Body, upstreamModel string) (upstream.Body, error) {
	b := body.JSON
	if !s.batch || upstreamModel == p.Model {
		return upstream.JSON(b), nil
	}
	n := int(gjson.GetBytes(b, "requests.#").Int())
	for i := range n {
		path := "requests." + strconv.Itoa(i) + ".model"
		if !gjson.GetBytes(b, path).Exists() {
			continue
		}
		var err error
		if b, err = sjson.SetBytes(b, path, "models/"+upstreamModel); err != nil {
			return upstream.Body{}, &gateway.Error{Kind: gateway.KindInvalidRequest, Message: "cannot set the model in the request body", Err: err}
		}
	}
	return upstream.JSON(b), nil
}

func (embedSpec) ParseUsage(body []byte) (llm.Usage, bool) { return ParseUsage(body) }

// CountAnswer adds nothing: an embedding generates no tokens.
func (embedSpec) CountAnswer([]byte, endpoint.TextCounter) {}

func (s embedSpec) DecodeEmbed(p endpoint.Peek, body payload.Body) (*llm.EmbedRequest, error) {
	root := endpoint.ParseJSON(body.JSON)
	req := &llm.EmbedRequest{Model: p.Model, SourceFormat: SourceFormat}
	if !s.batch {
		in, dims := embedInput(root)
		req.Inputs, req.Dimensions = []llm.EmbedInput{in}, dims
		return req, nil
	}
	var err error
	root.Get("requests").ForEach(func(i, rq gjson.Result) bool {
		in, dims := embedInput(rq)
		if i.Int() == 0 {
			req.Dimensions = dims
		} else if dims != req.Dimensions {
			err = invalid("requests", "every request of a batch must ask for the same outputDimensionality when the model is not a Gemini model")
			return false
		}
		req.Inputs = append(req.Inputs, in)
		return true
	})
	return req, err
}

// embedInput reads one EmbedContentRequest: its parts' text joined, its
// retrieval hints and its output size.
func embedInput(rq gjson.Result) (llm.EmbedInput, int) {
	var texts []string
	rq.Get("content.parts").ForEach(func(_, part gjson.Result) bool {
		if t := part.Get("text"); t.Type == gjson.String {
			texts = append(texts, t.Str)
		}
		return true
	})
	in := llm.EmbedInput{Text: strings.Join(texts, "\n"), TaskType: field(rq, "taskType").Str, Title: field(rq, "title").Str}
	return in, int(field(rq, "outputDimensionality").Int())
}

// field reads a field by its camelCase name or its snake_case one (the
// Gemini API accepts both).
func field(r gjson.Result, camelName string) gjson.Result {
	if v := r.Get(camelName); v.Exists() {
		return v
	}
	return r.Get(snake(camelName))
}

func snake(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= 'A' && c <= 'Z' {
			b.WriteByte('_')
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// EncodeEmbed writes the answer the way the client's spec returns it.
func (s embedSpec) EncodeEmbed(resp *llm.EmbedResponse, _ *llm.EmbedRequest) ([]byte, error) {
	var b []byte
	if s.batch {
		b = append(b, `{"embeddings":[`...)
		for i, v := range resp.Vectors {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValues(b, v)
		}
		b = append(b, "]}"...)
		return b, nil
	}
	if len(resp.Vectors) != 1 {
		return nil, fmt.Errorf("gemini embedContent: %d vectors for one input", len(resp.Vectors))
	}
	b = append(b, `{"embedding":`...)
	b = appendValues(b, resp.Vectors[0])
	return append(b, '}'), nil
}

func appendValues(b []byte, v []float64) []byte {
	b = append(b, `{"values":[`...)
	for i, f := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, f, 'g', -1, 64)
	}
	return append(b, "]}"...)
}

type embedContent struct {
	Model                string         `json:"model,omitempty"`
	Content              contentOfParts `json:"content"`
	TaskType             string         `json:"taskType,omitempty"`
	Title                string         `json:"title,omitempty"`
	OutputDimensionality int            `json:"outputDimensionality,omitempty"`
}

type contentOfParts struct {
	Parts []textPart `json:"parts"`
}

type textPart struct {
	Text string `json:"text"`
}

// EncodeEmbedRequest writes a hub request for Gemini. Gemini embeds text
// only: token-id inputs are refused.
func (s embedSpec) EncodeEmbedRequest(req *llm.EmbedRequest) ([]byte, error) {
	items := make([]embedContent, len(req.Inputs))
	for i, in := range req.Inputs {
		if in.IsTokens() {
			return nil, invalid("input", "Gemini models embed text only: send the input as strings, not token ids")
		}
		items[i] = embedContent{Model: "models/" + req.Model, Content: contentOfParts{Parts: []textPart{{Text: in.Text}}},
			TaskType: in.TaskType, Title: in.Title, OutputDimensionality: req.Dimensions}
	}
	if !s.batch {
		if len(items) != 1 {
			return nil, invalid("input", "embedContent takes one input")
		}
		items[0].Model = ""
		return json.Marshal(items[0])
	}
	return json.Marshal(map[string]any{"requests": items})
}

// DecodeEmbedResponse reads {embedding:{values}} or {embeddings:[{values}]}.
func (s embedSpec) DecodeEmbedResponse(body []byte, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	root := gjson.ParseBytes(body)
	out := &llm.EmbedResponse{Model: req.Model}
	read := func(v gjson.Result) error {
		vals := v.Get("values")
		if !vals.IsArray() {
			return fmt.Errorf("gemini embedding has no values array")
		}
		vec := make([]float64, 0, 768)
		var bad bool
		vals.ForEach(func(_, f gjson.Result) bool {
			if f.Type != gjson.Number {
				bad = true
				return false
			}
			vec = append(vec, f.Num)
			return true
		})
		if bad {
			return fmt.Errorf("gemini embedding has a non-numeric value")
		}
		out.Vectors = append(out.Vectors, vec)
		return nil
	}
	if s.batch {
		embs := root.Get("embeddings")
		if !embs.IsArray() {
			return nil, fmt.Errorf("gemini batchEmbedContents answer has no embeddings array")
		}
		var err error
		embs.ForEach(func(_, e gjson.Result) bool {
			err = read(e)
			return err == nil
		})
		if err != nil {
			return nil, err
		}
	} else if err := read(root.Get("embedding")); err != nil {
		return nil, err
	}
	if len(out.Vectors) != len(req.Inputs) {
		return nil, fmt.Errorf("gemini answer has %d embeddings for %d inputs", len(out.Vectors), len(req.Inputs))
	}
	if u, ok := ParseUsage(body); ok {
		out.Usage = u
	}
	return out, nil
}
