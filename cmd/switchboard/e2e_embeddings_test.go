package main

// Embeddings end to end, in both client formats: openai-go's
// /v1/embeddings and genai's batchEmbedContents (plus embedContent over
// plain HTTP) against OpenAI-compatible, Azure and Gemini fakes, passed
// through and translated, priced, budgeted and in the ledger.

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/tidwall/gjson"
	"google.golang.org/genai"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
)

const embConfig = `
channels:
  - name: up-compat
    type: openai-compatible
    base_url: %s
    api_keys: [sk-upstream-compat]
    models: [text-embedding-3-small]
  - name: up-azure
    type: azure
    base_url: %s
    api_keys: [azure-upstream-key]
    models: [azure-embed]
    model_map: {azure-embed: emb-deploy}
  - name: up-gemini
    type: gemini
    base_url: %s
    api_keys: [gemini-upstream-key]
    models: [gemini-embedding-001, embed-alias]
    model_map: {embed-alias: gemini-embedding-001}
keys:
  - name: alice
    key: ` + testKey + `
    models: ["*"]
  - name: carol
    key: ` + testKeyBudget + `
    models: ["*"]
    budget_usd: 0.000001
prices:
  text-embedding-3-small: {input_per_mtok: 0.02}
  emb-deploy: {input_per_mtok: 0.02}
  gemini-embedding-001: {input_per_mtok: 0.15}
`

type embEnv struct {
	n                  *node
	compat, az, gemini *gatewaytest.Upstream
}

func startEmbeddings(t *testing.T) *embEnv {
	t.Helper()
	e := &embEnv{
		compat: gatewaytest.NewUpstream(t, gatewaytest.OpenAIEmbeddings{}.Handler()),
		az:     gatewaytest.NewUpstream(t, gatewaytest.OpenAIEmbeddings{}.Handler()),
		gemini: gatewaytest.NewUpstream(t, gatewaytest.GeminiEmbeddings()),
	}
	e.n = startNode(t, embConfig, e.compat.URL, e.az.URL, e.gemini.URL)
	return e
}

func embVectorsEqual(t *testing.T, got [][]float64, texts []string, dims int) {
	t.Helper()
	if len(got) != len(texts) {
		t.Fatalf("%d vectors for %d inputs", len(got), len(texts))
	}
	for i, text := range texts {
		if want := gatewaytest.EmbeddingVector(text, i, dims); !slices.Equal(got[i], want) {
			t.Errorf("vector %d = %v, want %v", i, got[i], want)
		}
	}
}

func openAIVectors(resp *openai.CreateEmbeddingResponse) [][]float64 {
	var out [][]float64
	for _, d := range resp.Data {
		out = append(out, d.Embedding)
	}
	return out
}

func decodeF32Base64(t *testing.T, s string) []float64 {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64 vector: %v", err)
	}
	out := make([]float64, len(raw)/4)
	for i := range out {
		out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
	}
	return out
}

func TestEmbeddingsOpenAIClient(t *testing.T) {
	t.Parallel()
	e := startEmbeddings(t)
	c := e.n.client(testKey, "/v1")
	texts := []string{"hello world", "a second, longer input"}

	t.Run("pass-through", func(t *testing.T) {
		resp, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
			Model: "text-embedding-3-small", Dimensions: openai.Int(4), User: openai.String("u-1"),
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: texts},
		})
		if err != nil {
			t.Fatal(err)
		}
		embVectorsEqual(t, openAIVectors(resp), texts, 4)
		if resp.Usage.PromptTokens != 6 {
			t.Errorf("usage %+v", resp.Usage)
		}
		got := e.compat.Last(t)
		if got.Path != "/v1/embeddings" || got.Header.Get("Authorization") != "Bearer sk-upstream-compat" ||
			gjson.GetBytes(got.Body, "dimensions").Int() != 4 || gjson.GetBytes(got.Body, "user").Str != "u-1" {
			t.Errorf("upstream got %s %v %s", got.Path, got.Header, got.Body)
		}
		rec := e.n.usage(t, func(r gateway.UsageRecord) bool { return r.ChannelName == "up-compat" })
		if rec.Endpoint != "embeddings" || rec.Usage.InputTokens != 6 || rec.UsageSource != gateway.UsageFromUpstream || rec.CostNanoUSD != 6*20 {
			t.Errorf("ledger %+v", rec)
		}
	})

	t.Run("base64 passes through untouched", func(t *testing.T) {
		resp := e.n.post(t, "/v1/embeddings", testKey, `{"model":"text-embedding-3-small","input":"hello world","encoding_format":"base64"}`, nil)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if gjson.GetBytes(e.compat.Last(t).Body, "encoding_format").Str != "base64" {
			t.Errorf("upstream was not asked for base64: %s", e.compat.Last(t).Body)
		}
		want := gatewaytest.Float32Base64(gatewaytest.EmbeddingVector("hello world", 0, 8))
		if got := gjson.GetBytes(body, "data.0.embedding").Str; got != want {
			t.Errorf("vector %q, want the upstream's %q", got, want)
		}
	})

	t.Run("azure", func(t *testing.T) {
		resp, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
			Model: "azure-embed", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello world")},
		})
		if err != nil {
			t.Fatal(err)
		}
		embVectorsEqual(t, openAIVectors(resp), texts[:1], 8)
		got := e.az.Last(t)
		if got.Path != "/openai/deployments/emb-deploy/embeddings" || !strings.Contains(got.RawQuery, "api-version=") ||
			got.Header.Get("Api-Key") != "azure-upstream-key" || gjson.GetBytes(got.Body, "model").Str != "emb-deploy" {
			t.Errorf("azure got %s?%s %v %s", got.Path, got.RawQuery, got.Header, got.Body)
		}
	})

	t.Run("translated to gemini", func(t *testing.T) {
		resp, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
			Model: "gemini-embedding-001", Dimensions: openai.Int(6),
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: texts},
		})
		if err != nil {
			t.Fatal(err)
		}
		embVectorsEqual(t, openAIVectors(resp), texts, 6)
		got := e.gemini.Last(t)
		if got.Path != "/v1beta/models/gemini-embedding-001:batchEmbedContents" || got.Header.Get("X-Goog-Api-Key") != "gemini-upstream-key" {
			t.Errorf("gemini got %s %v", got.Path, got.Header)
		}
		reqs := gjson.GetBytes(got.Body, "requests").Array()
		if len(reqs) != 2 || reqs[1].Get("content.parts.0.text").Str != texts[1] || reqs[0].Get("outputDimensionality").Int() != 6 ||
			reqs[0].Get("model").Str != "models/gemini-embedding-001" {
			t.Errorf("gemini body %s", got.Body)
		}
		// Gemini reports no usage: the gateway counts, and the client sees the count.
		if resp.Usage.PromptTokens <= 0 || resp.Model != "gemini-embedding-001" {
			t.Errorf("usage %+v model %q", resp.Usage, resp.Model)
		}
		rec := e.n.usage(t, func(r gateway.UsageRecord) bool { return r.ChannelName == "up-gemini" && r.Endpoint == "embeddings" })
		if rec.UsageSource != gateway.UsageEstimated || rec.Usage.InputTokens != resp.Usage.PromptTokens || rec.CostNanoUSD != rec.Usage.InputTokens*150 {
			t.Errorf("ledger %+v", rec)
		}
	})

	t.Run("translated to gemini, base64 encoded by the gateway", func(t *testing.T) {
		resp := e.n.post(t, "/v1/embeddings", testKey, `{"model":"embed-alias","input":["hello world"],"encoding_format":"base64"}`, nil)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if got, want := decodeF32Base64(t, gjson.GetBytes(body, "data.0.embedding").Str), gatewaytest.EmbeddingVector("hello world", 0, 8); !slices.Equal(got, want) {
			t.Errorf("vector %v, want %v", got, want)
		}
		if m := gjson.GetBytes(e.gemini.Last(t).Body, "requests.0.model").Str; m != "models/gemini-embedding-001" {
			t.Errorf("alias not mapped: %s", m)
		}
	})

	t.Run("errors in the OpenAI shape", func(t *testing.T) {
		for _, tc := range []struct {
			name, body string
			status     int
			param      string
		}{
			{"token ids to gemini", `{"model":"gemini-embedding-001","input":[[1,2,3]]}`, 400, "input"},
			{"no input", `{"model":"text-embedding-3-small"}`, 400, "input"},
			{"bad encoding", `{"model":"text-embedding-3-small","input":"x","encoding_format":"int8"}`, 400, "encoding_format"},
			{"bad dimensions", `{"model":"text-embedding-3-small","input":"x","dimensions":0}`, 400, "dimensions"},
			{"unknown model", `{"model":"no-such-embedder","input":"x"}`, 404, "model"},
		} {
			resp := e.n.post(t, "/v1/embeddings", testKey, tc.body, nil)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || gjson.GetBytes(body, "error.param").Str != tc.param || gjson.GetBytes(body, "error.message").Str == "" {
				t.Errorf("%s: %d %s", tc.name, resp.StatusCode, body)
			}
		}
	})

	t.Run("budget", func(t *testing.T) {
		// carol's budget covers one tiny call at most.
		var refused bool
		for range 5 {
			resp := e.n.post(t, "/v1/embeddings", testKeyBudget, `{"model":"text-embedding-3-small","input":"hello world"}`, nil)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 429 {
				refused = gjson.GetBytes(body, "error.code").Str == "insufficient_quota"
				break
			}
		}
		if !refused {
			t.Fatal("a budget key was never refused")
		}
	})
}

func TestEmbeddingsGeminiClient(t *testing.T) {
	t.Parallel()
	e := startEmbeddings(t)
	c := mxGeminiClient(t, e.n, http.DefaultTransport)
	texts := []string{"hello world", "a second, longer input"}
	contents := []*genai.Content{genai.NewContentFromText(texts[0], genai.RoleUser), genai.NewContentFromText(texts[1], genai.RoleUser)}
	dims := int32(5)

	geminiVectors := func(resp *genai.EmbedContentResponse) [][]float64 {
		var out [][]float64
		for _, emb := range resp.Embeddings {
			v := make([]float64, len(emb.Values))
			for i, f := range emb.Values {
				v[i] = float64(f)
			}
			out = append(out, v)
		}
		return out
	}

	t.Run("pass-through", func(t *testing.T) {
		resp, err := c.Models.EmbedContent(context.Background(), "gemini-embedding-001", contents,
			&genai.EmbedContentConfig{TaskType: "RETRIEVAL_QUERY", OutputDimensionality: &dims})
		if err != nil {
			t.Fatal(err)
		}
		embVectorsEqual(t, geminiVectors(resp), texts, 5)
		got := e.gemini.Last(t)
		if got.Path != "/v1beta/models/gemini-embedding-001:batchEmbedContents" || gjson.GetBytes(got.Body, "requests.0.taskType").Str != "RETRIEVAL_QUERY" {
			t.Errorf("gemini got %s %s", got.Path, got.Body)
		}
		rec := e.n.usage(t, func(r gateway.UsageRecord) bool {
			return r.Endpoint == "batchEmbedContents" && r.ChannelName == "up-gemini"
		})
		if rec.UsageSource != gateway.UsageEstimated || rec.Usage.InputTokens <= 0 || rec.CostNanoUSD <= 0 {
			t.Errorf("ledger %+v", rec)
		}
	})

	t.Run("alias mapped in every request of the batch", func(t *testing.T) {
		if _, err := c.Models.EmbedContent(context.Background(), "embed-alias", contents, nil); err != nil {
			t.Fatal(err)
		}
		got := e.gemini.Last(t)
		if got.Path != "/v1beta/models/gemini-embedding-001:batchEmbedContents" {
			t.Errorf("path %s", got.Path)
		}
		for _, rq := range gjson.GetBytes(got.Body, "requests").Array() {
			if rq.Get("model").Str != "models/gemini-embedding-001" {
				t.Errorf("request model %s", rq.Get("model").Str)
			}
		}
	})

	t.Run("translated to openai", func(t *testing.T) {
		resp, err := c.Models.EmbedContent(context.Background(), "text-embedding-3-small", contents,
			&genai.EmbedContentConfig{TaskType: "RETRIEVAL_DOCUMENT", OutputDimensionality: &dims})
		if err != nil {
			t.Fatal(err)
		}
		embVectorsEqual(t, geminiVectors(resp), texts, 5)
		got := e.compat.Last(t)
		in := gjson.GetBytes(got.Body, "input").Array()
		if got.Path != "/v1/embeddings" || len(in) != 2 || in[1].Str != texts[1] || gjson.GetBytes(got.Body, "dimensions").Int() != 5 ||
			gjson.GetBytes(got.Body, "encoding_format").Str != "float" {
			t.Errorf("openai got %s %s", got.Path, got.Body)
		}
		rec := e.n.usage(t, func(r gateway.UsageRecord) bool {
			return r.Endpoint == "batchEmbedContents" && r.ChannelName == "up-compat"
		})
		if rec.UsageSource != gateway.UsageFromUpstream || rec.Usage.InputTokens != 6 || rec.CostNanoUSD != 6*20 {
			t.Errorf("ledger %+v", rec)
		}
	})

	t.Run("embedContent, both ways", func(t *testing.T) {
		for _, model := range []string{"gemini-embedding-001", "text-embedding-3-small"} {
			resp := e.n.post(t, "/v1beta/models/"+model+":embedContent?key="+testKey, "",
				`{"content":{"parts":[{"text":"hello world"}]},"outputDimensionality":3}`, nil)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d %s", model, resp.StatusCode, body)
			}
			var got []float64
			for _, v := range gjson.GetBytes(body, "embedding.values").Array() {
				got = append(got, v.Num)
			}
			embVectorsEqual(t, [][]float64{got}, []string{"hello world"}, 3)
		}
		if p := e.gemini.Last(t).Path; p != "/v1beta/models/gemini-embedding-001:embedContent" {
			t.Errorf("gemini pass-through path %s", p)
		}
	})

	t.Run("errors in the Gemini shape", func(t *testing.T) {
		for _, tc := range []struct{ name, path, body string }{
			{"no requests", "gemini-embedding-001:batchEmbedContents", `{"requests":[]}`},
			{"model mismatch", "gemini-embedding-001:batchEmbedContents", `{"requests":[{"model":"models/other","content":{"parts":[{"text":"x"}]}}]}`},
			{"no content", "gemini-embedding-001:embedContent", `{}`},
		} {
			resp := e.n.post(t, "/v1beta/models/"+tc.path+"?key="+testKey, "", tc.body, nil)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || gjson.GetBytes(body, "error.status").Str != "INVALID_ARGUMENT" || gjson.GetBytes(body, "error.code").Int() != 400 {
				t.Errorf("%s: %d %s", tc.name, resp.StatusCode, body)
			}
		}
	})
}
