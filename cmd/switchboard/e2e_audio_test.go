package main

// Audio end to end with openai-go: transcriptions and translations
// (multipart, every response_format, streaming with usage), speech relayed
// as produced (bytes, or SSE), prices per audio second (from the answer or
// measured from the upload), per character and per token, chat audio
// output billed by its audio tokens, and a 25 MiB upload that never sits
// whole in the heap.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
)

const audioConfig = `
channels:
  - name: audio-openai
    type: openai
    base_url: %s
    api_keys: [sk-upstream-audio]
    models: [whisper-1, gpt-4o-transcribe, tts-1, gpt-4o-mini-tts, gpt-4o-audio-preview, ears]
    model_map: {ears: whisper-1}
  - name: audio-azure
    type: azure
    base_url: %s
    api_keys: [azure-audio-key]
    models: [azure-whisper]
    model_map: {azure-whisper: whisper-deploy}
keys:
  - name: alice
    key: ` + testKey + `
    models: ["*"]
prices:
  whisper-deploy: {same_as: whisper-1}
`

type audioEnv struct {
	n         *node
	up, azure *gatewaytest.Upstream
}

func startAudio(t *testing.T, fake gatewaytest.OpenAIAudio) *audioEnv {
	t.Helper()
	e := &audioEnv{up: gatewaytest.NewUpstream(t, fake.Handler()), azure: gatewaytest.NewUpstream(t, fake.Handler())}
	e.n = startNode(t, audioConfig, e.up.URL, e.azure.URL)
	e.n.skipSchemaCheck("audio answers are not chat answers")
	return e
}

func multipartBody(t *testing.T, fields map[string]string, file []byte, name string) (string, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write(file)
	_ = mw.Close()
	return b.String(), mw.FormDataContentType()
}

func TestAudioTranscriptions(t *testing.T) {
	t.Parallel()
	e := startAudio(t, gatewaytest.OpenAIAudio{Seconds: 62.4})
	c := e.n.client(testKey, "/v1")
	ctx := context.Background()

	t.Run("whisper priced by the seconds the answer states", func(t *testing.T) {
		resp, err := c.Audio.Transcriptions.New(ctx, openai.AudioTranscriptionNewParams{
			Model: "whisper-1", File: openai.File(bytes.NewReader(gatewaytest.WAV(2)), "speech.wav", "audio/wav"),
			Language: openai.String("en"), TimestampGranularities: []string{"word", "segment"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Text != gatewaytest.Transcript {
			t.Errorf("text %q", resp.Text)
		}
		parts, err := gatewaytest.ParseForm(e.up.Last(t))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range parts {
			if p.FileName != "" {
				got = append(got, p.Name+"="+p.FileName+"("+p.ContentType+")")
			} else {
				got = append(got, p.Name+"="+string(p.Content))
			}
		}
		if s := strings.Join(got, ","); !strings.Contains(s, "file=speech.wav(audio/wav)") || !strings.Contains(s, "timestamp_granularities[]=word") ||
			!strings.Contains(s, "language=en") {
			t.Errorf("upstream form %s", s)
		}
		rec := e.n.usage(t, func(r gateway.UsageRecord) bool {
			return r.Endpoint == "audio.transcriptions" && r.Model == "whisper-1"
		})
		// 62.4 s, billed as 63 seconds at $0.0001.
		if rec.CostNanoUSD != 63*100_000 || len(rec.Units) != 1 || rec.Units[0].Count != 63 {
			t.Errorf("ledger %+v", rec)
		}
	})

	t.Run("gpt-4o-transcribe priced by tokens", func(t *testing.T) {
		resp, err := c.Audio.Transcriptions.New(ctx, openai.AudioTranscriptionNewParams{
			Model: "gpt-4o-transcribe", File: openai.File(bytes.NewReader(gatewaytest.WAV(1)), "a.wav", "audio/wav"),
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Usage.InputTokens != 120 {
			t.Errorf("usage %+v", resp.Usage)
		}
		rec := e.n.usage(t, func(r gateway.UsageRecord) bool { return r.Model == "gpt-4o-transcribe" && !r.Stream })
		// 20 text tokens at $2.50, 100 audio at $6, 11 output at $10 per million.
		if want := int64(20*2500 + 100*6000 + 11*10000); rec.CostNanoUSD != want || rec.Usage.AudioInputTokens != 100 {
			t.Errorf("ledger cost %d want %d: %+v", rec.CostNanoUSD, want, rec)
		}
	})

	t.Run("stream with usage", func(t *testing.T) {
		st := c.Audio.Transcriptions.NewStreaming(ctx, openai.AudioTranscriptionNewParams{
			Model: "gpt-4o-transcribe", File: openai.File(bytes.NewReader(gatewaytest.WAV(1)), "a.wav", "audio/wav"),
		})
		var text strings.Builder
		var done bool
		for st.Next() {
			ev := st.Current()
			switch ev.Type {
			case "transcript.text.delta":
				text.WriteString(ev.Delta)
			case "transcript.text.done":
				done = ev.Text == gatewaytest.Transcript
			}
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		if text.String() != gatewaytest.Transcript || !done {
			t.Errorf("deltas %q, done %v", text.String(), done)
		}
		if gjson.Get(formFields(t, e.up.Last(t)), "stream").Str != "true" {
			t.Error("the upstream was not asked to stream")
		}
		rec := e.n.usage(t, func(r gateway.UsageRecord) bool { return r.Model == "gpt-4o-transcribe" && r.Stream })
		if rec.Usage.InputTokens != 120 || rec.UsageSource != gateway.UsageFromUpstream || rec.Status != 200 {
			t.Errorf("ledger %+v", rec)
		}
	})

	for _, tc := range []struct{ format, ctype, want string }{
		{"text", "text/plain", gatewaytest.Transcript + "\n"},
		{"srt", "application/x-subrip", "00:00:00,000 --> 00:00:02,500"},
		{"vtt", "text/vtt", "WEBVTT"},
	} {
		t.Run("raw "+tc.format+" measured from the upload", func(t *testing.T) {
			body, ct := multipartBody(t, map[string]string{"model": "ears", "response_format": tc.format}, gatewaytest.WAV(3), "clip.wav")
			resp := e.n.post(t, "/v1/audio/transcriptions", testKey, body, map[string]string{"Content-Type": ct})
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(string(b), tc.want) {
				t.Fatalf("%d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			if m := gjson.Get(formFields(t, e.up.Last(t)), "model").Str; m != "whisper-1" {
				t.Errorf("upstream model %q", m)
			}
			rec := e.n.usage(t, func(r gateway.UsageRecord) bool { return r.RequestID == resp.Header.Get("X-Request-Id") })
			if len(rec.Units) != 1 || rec.Units[0].Count != 3 || rec.CostNanoUSD != 3*100_000 {
				t.Errorf("ledger %+v", rec)
			}
		})
	}

	// An upload the gateway cannot measure, answered as subtitles, is billed
	// up to the last cue's end (the fake's srt ends at 2.5 s).
	for _, format := range []string{"srt", "vtt"} {
		t.Run("raw "+format+" from an unmeasurable upload", func(t *testing.T) {
			body, ct := multipartBody(t, map[string]string{"model": "ears", "response_format": format}, bytes.Repeat([]byte{0x1a, 0x45, 0xdf, 0xa3}, 4096), "clip.webm")
			resp := e.n.post(t, "/v1/audio/transcriptions", testKey, body, map[string]string{"Content-Type": ct})
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			rec := e.n.usage(t, func(r gateway.UsageRecord) bool { return r.RequestID == resp.Header.Get("X-Request-Id") })
			if len(rec.Units) != 1 || rec.Units[0].Count != 3 || rec.CostNanoUSD != 3*100_000 {
				t.Errorf("ledger %+v", rec)
			}
		})
	}

	t.Run("translation on azure", func(t *testing.T) {
		//lint:ignore SA1019 deprecated by OpenAI, still served by the platform and its clients
		resp, err := c.Audio.Translations.New(ctx, openai.AudioTranslationNewParams{
			Model: "azure-whisper", File: openai.File(bytes.NewReader(gatewaytest.WAV(1)), "de.wav", "audio/wav"),
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Text != gatewaytest.Transcript {
			t.Errorf("text %q", resp.Text)
		}
		got := e.azure.Last(t)
		if got.Path != "/openai/deployments/whisper-deploy/audio/translations" || got.Header.Get("Api-Key") != "azure-audio-key" {
			t.Errorf("azure got %s %v", got.Path, got.Header)
		}
	})

	t.Run("caller mistakes", func(t *testing.T) {
		for _, tc := range []struct {
			fields map[string]string
			param  string
		}{
			{map[string]string{"response_format": "json"}, "model"},
			{map[string]string{"model": "whisper-1", "response_format": "mp3"}, "response_format"},
			{map[string]string{"model": "whisper-1", "stream": "maybe"}, "stream"},
		} {
			body, ct := multipartBody(t, tc.fields, gatewaytest.WAV(1), "a.wav")
			resp := e.n.post(t, "/v1/audio/transcriptions", testKey, body, map[string]string{"Content-Type": ct})
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || gjson.GetBytes(b, "error.param").Str != tc.param {
				t.Errorf("%v → %d %s", tc.fields, resp.StatusCode, b)
			}
		}
	})

	t.Run("upload over 26 MiB is a 413", func(t *testing.T) {
		body, ct := multipartBody(t, map[string]string{"model": "whisper-1"}, make([]byte, 27<<20), "big.wav")
		resp := e.n.post(t, "/v1/audio/transcriptions", testKey, body, map[string]string{"Content-Type": ct})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 413 || gjson.GetBytes(b, "error.type").Str != "invalid_request_error" {
			t.Errorf("%d %s", resp.StatusCode, b)
		}
	})
}

// formFields is a recorded form's text fields as a JSON object.
func formFields(t *testing.T, rec gatewaytest.Recorded) string {
	t.Helper()
	parts, err := gatewaytest.ParseForm(rec)
	if err != nil {
		t.Fatal(err)
	}
	out := "{}"
	for _, p := range parts {
		if p.FileName == "" {
			out = strings.TrimSuffix(out, "}")
			if out != "{" {
				out += ","
			}
			out += fmt.Sprintf("%q:%q}", p.Name, p.Content)
		}
	}
	return out
}

func TestAudioSpeech(t *testing.T) {
	t.Parallel()
	e := startAudio(t, gatewaytest.OpenAIAudio{SpeechChunks: 5})
	c := e.n.client(testKey, "/v1")
	ctx := context.Background()

	t.Run("tts-1 bytes with the upstream's type, per character", func(t *testing.T) {
		resp, err := c.Audio.Speech.New(ctx, openai.AudioSpeechNewParams{
			Model: "tts-1", Input: "Hello, wörld!", Voice: openai.AudioSpeechNewParamsVoiceUnion{OfString: openai.String("alloy")},
			ResponseFormat: "wav",
		})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var want []byte
		for i := range 5 {
			want = append(want, gatewaytest.SpeechBytes(i)...)
		}
		if !bytes.Equal(b, want) || resp.Header.Get("Content-Type") != "audio/wav" {
			t.Errorf("%d bytes of %s", len(b), resp.Header.Get("Content-Type"))
		}
		rec := e.n.usage(t, func(r gateway.UsageRecord) bool { return r.Model == "tts-1" })
		// 13 characters at $15 per million.
		if rec.CostNanoUSD != 13*15_000 || len(rec.Units) != 1 || rec.Units[0] != (gateway.Metered{Unit: gateway.UnitCharacter, Count: 13}) {
			t.Errorf("ledger %+v", rec)
		}
	})

	t.Run("sse stream with usage", func(t *testing.T) {
		resp := e.n.post(t, "/v1/audio/speech", testKey, `{"model":"gpt-4o-mini-tts","input":"Hi there","voice":"coral","instructions":"cheerful","stream_format":"sse"}`, nil)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		if n := strings.Count(string(b), `"speech.audio.delta"`); n != 5 || !strings.Contains(string(b), `"speech.audio.done"`) {
			t.Errorf("stream %s", b)
		}
		if gjson.GetBytes(e.up.Last(t).Body, "instructions").Str != "cheerful" {
			t.Error("instructions did not pass through")
		}
		rec := e.n.usage(t, func(r gateway.UsageRecord) bool { return r.Model == "gpt-4o-mini-tts" && r.Stream })
		// 14 input tokens at $0.60, 300 output at $12 per million.
		if rec.CostNanoUSD != 14*600+300*12000 || rec.UsageSource != gateway.UsageFromUpstream {
			t.Errorf("ledger %+v", rec)
		}
	})

	// The raw answer of a token-priced model carries no usage: the gateway
	// asks for the SSE form, relays its audio as bytes and bills its tokens.
	t.Run("gpt-4o-mini-tts bytes billed by tokens", func(t *testing.T) {
		resp, err := c.Audio.Speech.New(ctx, openai.AudioSpeechNewParams{
			Model: "gpt-4o-mini-tts", Input: "Hi there", Voice: openai.AudioSpeechNewParamsVoiceUnion{OfString: openai.String("coral")},
			ResponseFormat: "flac",
		})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var want []byte
		for i := range 5 {
			want = append(want, gatewaytest.SpeechBytes(i)...)
		}
		if !bytes.Equal(b, want) || resp.Header.Get("Content-Type") != "audio/flac" {
			t.Errorf("%d bytes of %s", len(b), resp.Header.Get("Content-Type"))
		}
		if sf := gjson.GetBytes(e.up.Last(t).Body, "stream_format").Str; sf != "sse" {
			t.Errorf("upstream stream_format %q", sf)
		}
		rec := e.n.usage(t, func(r gateway.UsageRecord) bool {
			return r.RequestID == resp.Header.Get("X-Request-Id")
		})
		if rec.CostNanoUSD != 14*600+300*12000 || rec.UsageSource != gateway.UsageFromUpstream || rec.Status != 200 {
			t.Errorf("ledger %+v", rec)
		}
	})

	t.Run("bytes arrive as produced", func(t *testing.T) {
		// The upstream writes a chunk and waits for the client to have it.
		got := make(chan struct{})
		slow := gatewaytest.NewUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "audio/mpeg")
			for i := range 3 {
				_, _ = w.Write(gatewaytest.SpeechBytes(i))
				w.(http.Flusher).Flush()
				select {
				case <-got:
				case <-time.After(10 * time.Second):
					return
				}
			}
		})
		n := startNode(t, `
channels:
  - name: slow
    type: openai
    base_url: %s
    api_keys: [k]
    models: [tts-1]
keys:
  - name: alice
    key: `+testKey+`
    models: ["*"]
`, slow.URL)
		n.skipSchemaCheck("audio")
		resp := n.post(t, "/v1/audio/speech", testKey, `{"model":"tts-1","input":"abc","voice":"alloy"}`, nil)
		defer resp.Body.Close()
		// Chunk 0 is held until chunk 1 arrives (the last one waits for the
		// ledger), so the client sees chunk 0 while the upstream still
		// waits to send chunk 2.
		buf := make([]byte, 1024)
		for i := range 2 {
			got <- struct{}{}
			if _, err := io.ReadFull(resp.Body, buf); err != nil || !bytes.Equal(buf, gatewaytest.SpeechBytes(i)) {
				t.Fatalf("chunk %d: %v", i, err)
			}
		}
		got <- struct{}{}
		rest, _ := io.ReadAll(resp.Body)
		if !bytes.Equal(rest, gatewaytest.SpeechBytes(2)) {
			t.Errorf("last chunk %d bytes", len(rest))
		}
	})

	t.Run("caller mistakes", func(t *testing.T) {
		for _, tc := range []struct{ body, param string }{
			{`{"model":"tts-1","voice":"alloy"}`, "input"},
			{`{"model":"tts-1","input":"x"}`, "voice"},
			{`{"model":"tts-1","input":"x","voice":"alloy","speed":9}`, "speed"},
			{`{"model":"tts-1","input":"x","voice":"alloy","response_format":"ogg"}`, "response_format"},
			{`{"model":"tts-1","input":"` + strings.Repeat("a", 4097) + `","voice":"alloy"}`, "input"},
		} {
			resp := e.n.post(t, "/v1/audio/speech", testKey, tc.body, nil)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || gjson.GetBytes(b, "error.param").Str != tc.param {
				t.Errorf("%.80s → %d %s", tc.body, resp.StatusCode, b)
			}
		}
	})
}

// Chat audio output (modalities text+audio) passes through, and its audio
// tokens are billed at the audio rate.
func TestChatAudioOutput(t *testing.T) {
	t.Parallel()
	up := gatewaytest.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-audio-preview-2024-12-17",
"choices":[{"index":0,"finish_reason":"stop","logprobs":null,"message":{"role":"assistant","content":null,"refusal":null,
"audio":{"id":"audio_1","data":"UklGRg==","expires_at":1751892430,"transcript":"yes"}}}],
"usage":{"prompt_tokens":27,"completion_tokens":67,"total_tokens":94,
"completion_tokens_details":{"audio_tokens":50,"reasoning_tokens":0,"text_tokens":17},
"prompt_tokens_details":{"audio_tokens":0,"cached_tokens":0,"text_tokens":27}}}`)
	})
	n := startNode(t, audioConfig, up.URL, up.URL)
	c := n.client(testKey, "/v1")
	resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:      "gpt-4o-audio-preview",
		Modalities: []string{"text", "audio"},
		Audio:      openai.ChatCompletionAudioParam{Voice: openai.ChatCompletionAudioParamVoiceUnion{OfString: openai.String("alloy")}, Format: "wav"},
		Messages:   []openai.ChatCompletionMessageParamUnion{openai.UserMessage("can you hear me?")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Audio.Data != "UklGRg==" || resp.Choices[0].Message.Audio.Transcript != "yes" {
		t.Errorf("audio %+v", resp.Choices[0].Message.Audio)
	}
	body := up.Last(t).Body
	if gjson.GetBytes(body, "audio.voice").Str != "alloy" || gjson.GetBytes(body, "modalities.1").Str != "audio" {
		t.Errorf("upstream got %s", body)
	}
	rec := n.usage(t, func(r gateway.UsageRecord) bool { return r.Model == "gpt-4o-audio-preview" })
	// 27 input at $2.50, 17 text output at $10, 50 audio output at $80 per million.
	if want := int64(27*2500 + 17*10000 + 50*80000); rec.CostNanoUSD != want || rec.Usage.AudioOutputTokens != 50 {
		t.Errorf("ledger cost %d want %d: %+v", rec.CostNanoUSD, want, rec)
	}
}

// zeroReader yields n zero bytes without holding them.
type zeroReader struct{ n int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	m := min(int64(len(p)), z.n)
	clear(p[:m])
	z.n -= m
	return int(m), nil
}

// uploadAllocs sends a transcription of a WAV with n data bytes, streamed
// from a generator, and returns the bytes the process allocated meanwhile.
func uploadAllocs(t *testing.T, gw *node, n int64) uint64 {
	t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		_ = mw.WriteField("model", "whisper-1")
		fw, _ := mw.CreateFormFile("file", "long.wav")
		_, _ = fw.Write(gatewaytest.WAVHeader(int(n)))
		_, _ = io.Copy(fw, &zeroReader{n: n})
		_ = pw.CloseWithError(mw.Close())
	}()
	req, _ := http.NewRequest(http.MethodPost, gw.srv.URL+"/v1/audio/transcriptions", pr)
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	runtime.ReadMemStats(&after)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	return after.TotalAlloc - before.TotalAlloc
}

// TestAudioUploadMemory: a 25 MiB upload is relayed (and measured for
// billing) without sitting whole in the heap. Not parallel: it reads the
// process's allocation counter.
func TestAudioUploadMemory(t *testing.T) {
	var received int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"text":"ok"}`)
	}))
	defer up.Close()
	n := startNode(t, audioConfig, up.URL, up.URL)
	n.skipSchemaCheck("memory test")
	uploadAllocs(t, n, 1<<10) // warm up: the first call of a node allocates its caches
	base := uploadAllocs(t, n, 1<<10)
	const size = 25 << 20
	big := uploadAllocs(t, n, size)
	t.Logf("allocated %d KiB for a 1 KiB upload, %d KiB for 25 MiB (upstream received %d bytes)", base>>10, big>>10, received)
	if received < size {
		t.Fatalf("upstream received %d bytes", received)
	}
	if big > base+size/3 {
		t.Errorf("a 25 MiB upload allocated %d MiB more than a 1 KiB one: it sat in the heap", (big-base)>>20)
	}
	rec := n.usage(t, func(r gateway.UsageRecord) bool { return len(r.Units) == 1 && r.Units[0].Count > 100 })
	// 25 MiB of 16 kHz 16-bit mono is 819.2 s.
	if rec.Units[0].Count != 820 {
		t.Errorf("measured %d seconds", rec.Units[0].Count)
	}
}
