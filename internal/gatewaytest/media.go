package gatewaytest

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// FormPart is one part of a multipart request an upstream received.
type FormPart struct {
	Name, FileName, ContentType string
	Content                     []byte
}

// ParseForm reads a recorded multipart body by its Content-Type header.
func ParseForm(rec Recorded) ([]FormPart, error) {
	ct := rec.Header.Get("Content-Type")
	_, b, ok := strings.Cut(ct, "boundary=")
	if !ok {
		return nil, fmt.Errorf("not multipart: %q", ct)
	}
	mr := multipart.NewReader(bytes.NewReader(rec.Body), strings.Trim(b, `"`))
	var out []FormPart
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		c, err := io.ReadAll(p)
		if err != nil {
			return nil, err
		}
		out = append(out, FormPart{Name: p.FormName(), FileName: p.FileName(), ContentType: p.Header.Get("Content-Type"), Content: c})
	}
}

// formValue is a field of a multipart or JSON request.
func formValue(r *http.Request, body []byte, name string) string {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
		parts, _ := ParseForm(Recorded{Header: r.Header, Body: body})
		for _, p := range parts {
			if p.Name == name && p.FileName == "" {
				return string(p.Content)
			}
		}
		return ""
	}
	return gjson.GetBytes(body, name).String()
}

// ImageBytes is the image the fake image upstreams return as image i of a
// prompt (not a real PNG: a recognisable payload of size bytes).
func ImageBytes(prompt string, i, size int) []byte {
	if size <= 0 {
		size = 64
	}
	head := fmt.Sprintf("IMG[%d]:%s:", i, prompt)
	b := make([]byte, size)
	for j := range b {
		if j < len(head) {
			b[j] = head[j]
		} else {
			b[j] = byte('a' + j%26)
		}
	}
	return b
}

// OpenAIImages scripts a fake /v1/images/* upstream.
type OpenAIImages struct {
	// Tokens: answer with gpt-image token usage (else none, like dall-e).
	Tokens bool
	// ImageSize is the size of each image in bytes (default 64); partial
	// images are as large, so a stream's events can be megabytes.
	ImageSize int
	// URLBase answers response_format url with URLBase + "/img/{i}.png".
	URLBase string
}

// ImageUsage is the usage the fake reports per call with Tokens set.
var ImageUsage = map[string]any{"input_tokens": 50, "input_tokens_details": map[string]any{"text_tokens": 10, "image_tokens": 40}, "output_tokens": 4160, "total_tokens": 4210}

// Handler answers n images (ImageBytes of the prompt), as b64_json or
// URLs, or streams partial_images partial events and one completed event
// per image when the request says stream.
func (o OpenAIImages) Handler() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body := readAll(r)
		prompt := formValue(r, body, "prompt")
		n, _ := strconv.Atoi(formValue(r, body, "n"))
		n = max(n, 1)
		edit := strings.HasSuffix(r.URL.Path, "/edits")
		if formValue(r, body, "stream") == "true" {
			partials, _ := strconv.Atoi(formValue(r, body, "partial_images"))
			prefix := "image_generation"
			if edit {
				prefix = "image_edit"
			}
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range n {
				for k := range partials {
					ev := map[string]any{"type": prefix + ".partial_image", "b64_json": base64.StdEncoding.EncodeToString(ImageBytes(prompt, i, o.ImageSize)),
						"partial_image_index": k, "size": "1024x1024", "quality": "high", "background": "opaque", "output_format": "png", "created_at": 1}
					writeEvent(w, prefix+".partial_image", ev)
				}
				ev := map[string]any{"type": prefix + ".completed", "b64_json": base64.StdEncoding.EncodeToString(ImageBytes(prompt, i, o.ImageSize)),
					"size": "1024x1024", "quality": "high", "background": "opaque", "output_format": "png", "created_at": 1}
				if o.Tokens {
					ev["usage"] = ImageUsage
				}
				writeEvent(w, prefix+".completed", ev)
			}
			return
		}
		data := make([]any, n)
		for i := range n {
			if formValue(r, body, "response_format") == "url" {
				data[i] = map[string]any{"url": fmt.Sprintf("%s/img/%d.png", o.URLBase, i)}
			} else {
				data[i] = map[string]any{"b64_json": base64.StdEncoding.EncodeToString(ImageBytes(prompt, i, o.ImageSize))}
			}
		}
		resp := map[string]any{"created": 1, "data": data}
		if o.Tokens {
			resp["usage"] = ImageUsage
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	}
}

func writeEvent(w http.ResponseWriter, name string, v any) {
	b, _ := json.Marshal(v)
	if name != "" {
		fmt.Fprintf(w, "event: %s\n", name)
	}
	fmt.Fprintf(w, "data: %s\n\n", b)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// Transcript is the text the fake transcription upstream returns.
const Transcript = "the quick brown fox jumps over the lazy dog"

// TranscriptUsage is the token usage the fake reports for gpt-4o
// transcription models.
var TranscriptUsage = map[string]any{"type": "tokens", "input_tokens": 120, "input_token_details": map[string]any{"text_tokens": 20, "audio_tokens": 100}, "output_tokens": 11, "total_tokens": 131}

// OpenAIAudio scripts a fake /v1/audio/* upstream.
type OpenAIAudio struct {
	// Seconds is the duration whisper models report in usage; 0 reports
	// none, so the gateway measures the upload.
	Seconds float64
	// SpeechChunks is how many chunks of audio speech answers are written
	// in, flushed one by one (default 4), each of 1 KiB.
	SpeechChunks int
}

// Handler answers transcriptions and translations (by response_format,
// streaming when asked) and speech (bytes or SSE).
func (o OpenAIAudio) Handler() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/audio/speech") {
			o.speech(w, r)
			return
		}
		body := readAll(r)
		model := formValue(r, body, "model")
		tokens := strings.HasPrefix(model, "gpt-")
		if formValue(r, body, "stream") == "true" {
			w.Header().Set("Content-Type", "text/event-stream")
			for _, word := range strings.SplitAfter(Transcript, " ") {
				writeEvent(w, "", map[string]any{"type": "transcript.text.delta", "delta": word})
			}
			writeEvent(w, "", map[string]any{"type": "transcript.text.done", "text": Transcript, "usage": TranscriptUsage})
			return
		}
		switch rf := formValue(r, body, "response_format"); rf {
		case "text":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, Transcript+"\n")
			return
		case "srt":
			w.Header().Set("Content-Type", "application/x-subrip")
			_, _ = io.WriteString(w, "1\n00:00:00,000 --> 00:00:02,500\n"+Transcript+"\n\n")
			return
		case "vtt":
			w.Header().Set("Content-Type", "text/vtt")
			_, _ = io.WriteString(w, "WEBVTT\n\n00:00:00.000 --> 00:00:02.500\n"+Transcript+"\n\n")
			return
		case "verbose_json":
			resp := map[string]any{"task": "transcribe", "language": "english", "duration": o.Seconds, "text": Transcript,
				"segments": []any{map[string]any{"id": 0, "start": 0, "end": o.Seconds, "text": Transcript}}}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(resp)
			return
		}
		resp := map[string]any{"text": Transcript}
		switch {
		case tokens:
			resp["usage"] = TranscriptUsage
		case o.Seconds > 0:
			resp["usage"] = map[string]any{"type": "duration", "seconds": o.Seconds}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	}
}

// SpeechBytes is chunk i of the fake's speech audio.
func SpeechBytes(i int) []byte { return bytes.Repeat([]byte{byte('A' + i%26)}, 1024) }

// SpeechUsage is what the fake's SSE speech reports.
var SpeechUsage = map[string]any{"input_tokens": 14, "output_tokens": 300, "total_tokens": 314}

func (o OpenAIAudio) speech(w http.ResponseWriter, r *http.Request) {
	body := readAll(r)
	chunks := o.SpeechChunks
	if chunks <= 0 {
		chunks = 4
	}
	fl, _ := w.(http.Flusher)
	if gjson.GetBytes(body, "stream_format").Str == "sse" {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range chunks {
			writeEvent(w, "", map[string]any{"type": "speech.audio.delta", "audio": base64.StdEncoding.EncodeToString(SpeechBytes(i))})
		}
		writeEvent(w, "", map[string]any{"type": "speech.audio.done", "usage": SpeechUsage})
		return
	}
	ct := "audio/mpeg"
	if gjson.GetBytes(body, "response_format").Str == "wav" {
		ct = "audio/wav"
	}
	w.Header().Set("Content-Type", ct)
	for i := range chunks {
		_, _ = w.Write(SpeechBytes(i))
		if fl != nil {
			fl.Flush()
		}
	}
}

// GeminiImageUsage is the usageMetadata the fake Gemini image upstream
// reports per call.
var GeminiImageUsage = map[string]any{"promptTokenCount": 12, "candidatesTokenCount": 1300, "totalTokenCount": 1312,
	"promptTokensDetails":     []any{map[string]any{"modality": "TEXT", "tokenCount": 12}},
	"candidatesTokensDetails": []any{map[string]any{"modality": "TEXT", "tokenCount": 10}, map[string]any{"modality": "IMAGE", "tokenCount": 1290}}}

// GeminiImages is a fake Gemini image model (generateContent with image
// output): for each of candidateCount candidates, a text part and an
// image part (ImageBytes of the prompt's text, with the thoughtSignature
// "sig-<i>" in base64); streamed as one SSE chunk for :streamGenerateContent.
func GeminiImages() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body := readAll(r)
		var prompt []string
		gjson.GetBytes(body, "contents.@reverse.0.parts").ForEach(func(_, p gjson.Result) bool {
			if t := p.Get("text"); t.Exists() {
				prompt = append(prompt, t.Str)
			}
			return true
		})
		n := max(int(gjson.GetBytes(body, "generationConfig.candidateCount").Int()), 1)
		cands := make([]any, n)
		for i := range n {
			cands[i] = map[string]any{"index": i, "finishReason": "STOP", "content": map[string]any{"role": "model", "parts": []any{
				map[string]any{"text": "Here is your image."},
				map[string]any{"inlineData": map[string]any{"mimeType": "image/png", "data": base64.StdEncoding.EncodeToString(ImageBytes(strings.Join(prompt, " "), i, 0))},
					"thoughtSignature": base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "sig-%d", i))},
			}}}
		}
		resp, _ := json.Marshal(map[string]any{"candidates": cands, "usageMetadata": GeminiImageUsage, "modelVersion": "gemini-2.5-flash-image"})
		if strings.Contains(r.URL.Path, ":streamGenerateContent") {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "data: %s\r\n\r\n", resp)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(resp)
	}
}

// WAVHeader is the 44-byte header of a 16 kHz 16-bit mono PCM WAV file
// whose data is n bytes.
func WAVHeader(n int) []byte {
	b := []byte("RIFF")
	b = binary.LittleEndian.AppendUint32(b, uint32(36+n))
	b = append(b, "WAVEfmt "...)
	b = binary.LittleEndian.AppendUint32(b, 16)
	b = binary.LittleEndian.AppendUint16(b, 1)     // PCM
	b = binary.LittleEndian.AppendUint16(b, 1)     // mono
	b = binary.LittleEndian.AppendUint32(b, 16000) // sample rate
	b = binary.LittleEndian.AppendUint32(b, 32000) // byte rate
	b = binary.LittleEndian.AppendUint16(b, 2)     // block align
	b = binary.LittleEndian.AppendUint16(b, 16)    // bits per sample
	b = append(b, "data"...)
	return binary.LittleEndian.AppendUint32(b, uint32(n))
}

// WAV is secs seconds of 16 kHz 16-bit mono silence.
func WAV(secs int) []byte {
	n := secs * 32000
	return append(WAVHeader(n), make([]byte, n)...)
}
