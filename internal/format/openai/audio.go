package openai

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/mediainfo"
	"switchboard/internal/payload"
	"switchboard/internal/sse"
	"switchboard/internal/upstream"
)

// The audio endpoints: POST /v1/audio/transcriptions and
// /v1/audio/translations (multipart uploads), and /v1/audio/speech (JSON
// in, audio bytes or an SSE stream out).
var (
	Transcriptions endpoint.Spec = transcribeSpec{translate: false}
	Translations   endpoint.Spec = transcribeSpec{translate: true}
	Speech         endpoint.Spec = speechSpec{}
)

var (
	_ endpoint.Streamer    = transcribeSpec{}
	_ endpoint.RawAnswerer = transcribeSpec{}
	_ endpoint.Meter       = transcribeSpec{}
	_ endpoint.StreamMeter = transcribeSpec{}
	_ endpoint.Holder      = transcribeSpec{}
	_ endpoint.BodyLimiter = transcribeSpec{}
	_ endpoint.Streamer    = speechSpec{}
	_ endpoint.RawAnswerer = speechSpec{}
	_ endpoint.Meter       = speechSpec{}
	_ endpoint.StreamMeter = speechSpec{}
	_ endpoint.Holder      = speechSpec{}
)

// AudioUploadMaxBytes is the upload limit of the transcription routes:
// OpenAI's 25 MB file and the form around it.
const AudioUploadMaxBytes = 26 << 20

type transcribeSpec struct {
	wire
	translate bool
}

func (s transcribeSpec) Endpoint() string {
	if s.translate {
		return "audio.translations"
	}
	return "audio.transcriptions"
}

func (s transcribeSpec) Op() upstream.Op {
	if s.translate {
		return upstream.OpTranslations
	}
	return upstream.OpTranscriptions
}

func (transcribeSpec) MaxBodyBytes() int64 { return AudioUploadMaxBytes }

// Peek checks the upload: a file, a model, a known response_format; the
// rest (language, prompt, temperature, timestamp_granularities[],
// include[], chunking_strategy, known_speaker_*) passes through untouched.
func (s transcribeSpec) Peek(_ *http.Request, body payload.Body) (endpoint.Peek, error) {
	var p endpoint.Peek
	if body.Form == nil {
		return p, invalid("file", "%s takes a multipart/form-data upload", s.Endpoint())
	}
	f := fields{form: body.Form}
	model, err := f.model("")
	if err != nil {
		return p, err
	}
	if len(body.Form.Files("file")) != 1 {
		return p, invalid("file", "upload exactly one audio file as the field 'file'").WithCode("missing_required_parameter")
	}
	if _, err := f.oneOf("response_format", "json", "text", "srt", "verbose_json", "vtt", "diarized_json"); err != nil {
		return p, err
	}
	stream, err := f.boolean("stream")
	if err != nil {
		return p, err
	}
	if stream && s.translate {
		return p, invalid("stream", "audio/translations does not stream")
	}
	if _, _, err := f.number("temperature"); err != nil {
		return p, err
	}
	p.Model, p.Stream = model, stream
	return p, nil
}

func (transcribeSpec) PassRequest(p endpoint.Peek, body payload.Body, upstreamModel string) (upstream.Body, error) {
	return passMedia(p, body, upstreamModel)
}

// RawAnswer: text, srt and vtt transcripts are relayed as bytes.
func (transcribeSpec) RawAnswer(contentType string) bool { return !isJSONType(contentType) }

// speechRaw: audio is relayed as bytes; an error or SSE is not audio.
func (speechSpec) RawAnswer(contentType string) bool {
	return !isJSONType(contentType) && !strings.HasPrefix(contentType, "text/event-stream")
}

func isJSONType(ct string) bool { return strings.Contains(strings.ToLower(ct), "json") }

// ParseUsage reads a transcription's token usage ({"type":"tokens",
// "input_tokens", "input_token_details": {"audio_tokens", "text_tokens"},
// "output_tokens"}); a usage of {"type":"duration"} is not tokens and is
// billed by Units.
func (transcribeSpec) ParseUsage(body []byte) (llm.Usage, bool) {
	return audioUsage(gjson.GetBytes(body, "usage"))
}

func audioUsage(u gjson.Result) (llm.Usage, bool) {
	if !u.IsObject() || u.Get("type").Str == "duration" {
		return llm.Usage{}, false
	}
	out := UsageFromResult(u)
	if d := u.Get("input_token_details"); d.IsObject() {
		out.AudioInputTokens = d.Get("audio_tokens").Int()
		out.CachedInputTokens = d.Get("cached_tokens").Int()
	}
	return out, true
}

func (transcribeSpec) CountAnswer(body []byte, c endpoint.TextCounter) {
	if t := gjson.GetBytes(body, "text"); t.Str != "" {
		c.WriteString(t.Str)
	}
}

// Units bills whisper-style models per second of audio: the duration the
// answer states (usage.seconds, or verbose_json's duration), else the
// upload's as measured. An answer with token usage is billed by tokens.
func (transcribeSpec) Units(_ endpoint.Peek, body payload.Body, answer []byte) []gateway.Metered {
	var secs float64
	if answer != nil {
		u := gjson.GetBytes(answer, "usage")
		if _, tokens := audioUsage(u); tokens {
			return nil
		}
		switch {
		case u.Get("type").Str == "duration":
			secs = u.Get("seconds").Float()
		case gjson.GetBytes(answer, "duration").Type == gjson.Number:
			secs = gjson.GetBytes(answer, "duration").Float()
		}
	}
	if secs <= 0 {
		if d, ok := UploadDuration(body); ok {
			secs = d.Seconds()
		} else if end, ok := subtitleEnd(answer); ok {
			// An upload the gateway cannot measure (WebM, say) answered as
			// srt or vtt: the last cue's end is the audio's length but for
			// trailing silence.
			secs = end
		} else {
			return nil
		}
	}
	return []gateway.Metered{{Unit: gateway.UnitAudioSecond, Count: int64(math.Ceil(secs))}}
}

// subtitleEnd is the latest cue end of an srt or vtt answer, in seconds.
func subtitleEnd(answer []byte) (float64, bool) {
	end, found := 0.0, false
	for line := range strings.Lines(string(answer)) {
		_, after, ok := strings.Cut(line, "-->")
		if !ok {
			continue
		}
		f := strings.Fields(after)
		if len(f) == 0 {
			continue
		}
		if t, ok := cueTime(f[0]); ok {
			end, found = max(end, t), true
		}
	}
	return end, found
}

// cueTime reads a cue timestamp: [HH:]MM:SS,mmm (srt) or [HH:]MM:SS.mmm (vtt).
func cueTime(s string) (float64, bool) {
	parts := strings.Split(strings.Replace(s, ",", ".", 1), ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, false
	}
	total := 0.0
	for i, p := range parts {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || (i < len(parts)-1 && v != math.Trunc(v)) {
			return 0, false
		}
		total = total*60 + v
	}
	return total, true
}

// StreamUnits: a stream that reported tokens is billed by them.
func (s transcribeSpec) StreamUnits(p endpoint.Peek, body payload.Body, usageReported bool) []gateway.Metered {
	if usageReported {
		return nil
	}
	return s.Units(p, body, nil)
}

// UploadDuration measures the audio file of a transcription form.
func UploadDuration(body payload.Body) (time.Duration, bool) {
	if body.Form == nil {
		return 0, false
	}
	files := body.Form.Files("file")
	if len(files) == 0 {
		return 0, false
	}
	ra, ok := files[0].Open().(io.ReaderAt)
	if !ok {
		return 0, false
	}
	return mediainfo.Duration(ra, files[0].Size())
}

// Bounds of a transcription's hold when the upload cannot be measured: a
// byte a millisecond is below any speech codec's bit rate (8 kbit/s), so
// it overestimates the duration. Tokens: gpt-4o-transcribe bills about 17
// audio tokens a second and speech yields a few text tokens a second.
const (
	bytesPerSecondFloor = 1000
	audioTokensPerSec   = 25
	textTokensPerSec    = 8
)

func (transcribeSpec) Worst(_ endpoint.Peek, body payload.Body) endpoint.Worst {
	secs := int64(0)
	if d, ok := UploadDuration(body); ok {
		secs = int64(math.Ceil(d.Seconds()))
	} else if body.Form != nil {
		for _, f := range body.Form.Files("file") {
			secs += f.Size()/bytesPerSecondFloor + 1
		}
	}
	return endpoint.Worst{
		InputTokens:  formTextBytes(body) + secs*audioTokensPerSec,
		OutputTokens: secs*textTokensPerSec + 1024,
		Units:        []gateway.Metered{{Unit: gateway.UnitAudioSecond, Count: secs}},
	}
}

// Transcription stream events (stream=true on gpt-4o-transcribe models).
const (
	transcriptDelta   = "transcript.text.delta"
	transcriptSegment = "transcript.text.segment"
	transcriptDone    = "transcript.text.done"
)

func (transcribeSpec) EventError(ev sse.Event) *gateway.Error { return eventError(ev) }

func (transcribeSpec) EventUsage(ev sse.Event) (llm.Usage, bool, bool) {
	if !bytes.Contains(ev.Data, usageKey) || eventType(ev) != transcriptDone {
		return llm.Usage{}, false, false
	}
	u, ok := audioUsage(gjson.GetBytes(ev.Data, "usage"))
	return u, true, ok
}

func (transcribeSpec) EventText(ev sse.Event, c endpoint.TextCounter) bool {
	switch eventType(ev) {
	case transcriptDelta:
		if d := gjson.GetBytes(ev.Data, "delta").Str; d != "" {
			c.WriteString(d)
		}
		return true
	case transcriptSegment:
		return true
	}
	return false
}

func (transcribeSpec) Terminal(ev sse.Event) bool { return eventType(ev) == transcriptDone }
func (transcribeSpec) NeedsTerminal() bool        { return true }

func (transcribeSpec) NewStreamWriter(w http.ResponseWriter, _ endpoint.Peek) endpoint.StreamWriter {
	return &streamWriter{sw: sse.NewWriter(w)}
}

// MaxSpeechInput is OpenAI's limit of characters of speech input.
const MaxSpeechInput = 4096

type speechSpec struct{ wire }

func (speechSpec) Endpoint() string { return "audio.speech" }
func (speechSpec) Op() upstream.Op  { return upstream.OpSpeech }

var speechFields = []string{"model", "input", "voice", "response_format", "speed", "stream_format", "instructions"}

// Peek checks model, input, voice, formats and speed; stream_format sse
// makes the call a stream, audio (the default) relays bytes as produced.
func (speechSpec) Peek(_ *http.Request, body payload.Body) (endpoint.Peek, error) {
	var p endpoint.Peek
	if body.JSON == nil {
		return p, invalid("", "the request body must be JSON")
	}
	f := readFields(body, speechFields...)
	model, err := f.model("")
	if err != nil {
		return p, err
	}
	in, err := f.required("input")
	if err != nil {
		return p, err
	}
	if n := utf8.RuneCountInString(in); n > MaxSpeechInput {
		return p, invalid("input", "'input' is %d characters; at most %d are allowed", n, MaxSpeechInput)
	}
	if v, ok := f.json["voice"]; !ok || (v.Type != gjson.String && !v.IsObject()) || (v.Type == gjson.String && v.Str == "") {
		return p, invalid("voice", "'voice' is a required property: a voice name or {\"id\": ...}").WithCode("missing_required_parameter")
	}
	if _, err := f.oneOf("response_format", "mp3", "opus", "aac", "flac", "wav", "pcm"); err != nil {
		return p, err
	}
	if sp, ok, err := f.number("speed"); err != nil {
		return p, err
	} else if ok && (sp < 0.25 || sp > 4) {
		return p, invalid("speed", "'speed' must be from 0.25 to 4")
	}
	sf, err := f.oneOf("stream_format", "audio", "sse")
	if err != nil {
		return p, err
	}
	if _, _, err := f.str("instructions"); err != nil {
		return p, err
	}
	p.Model, p.Stream = model, sf == "sse"
	if !p.Stream && tokenPricedTTS(model) {
		// Token-priced speech reports its usage only in the SSE form: the
		// upstream is asked for that, and its audio relayed as bytes.
		p.Stream, p.Opts = true, p.Opts|optSpeechBytes
		rf, _, _ := f.str("response_format")
		p.Opts |= speechFormatOpt(rf)
	}
	return p, nil
}

// Speech Peek.Opts: the client asked for bytes (stream_format audio) of a
// model whose upstream is asked for SSE; the format's index sits above.
const (
	optSpeechBytes       uint64 = 1 << 8
	optSpeechFormatShift        = 9
)

// speechFormats are response_format's values, in Peek.Opts order (0: mp3,
// the default), with the Content-Type OpenAI answers them with.
var speechFormats = []struct{ name, contentType string }{
	{"mp3", "audio/mpeg"}, {"opus", "audio/opus"}, {"aac", "audio/aac"},
	{"flac", "audio/flac"}, {"wav", "audio/wav"}, {"pcm", "audio/pcm"},
}

func speechFormatOpt(name string) uint64 {
	for i, f := range speechFormats {
		if f.name == name {
			return uint64(i) << optSpeechFormatShift
		}
	}
	return 0
}

func speechContentType(opts uint64) string {
	i := int(opts>>optSpeechFormatShift) & 7
	if i >= len(speechFormats) {
		i = 0
	}
	return speechFormats[i].contentType
}

// tokenPricedTTS reports OpenAI's gpt-*-tts models, billed by tokens that
// only their SSE stream reports (the raw byte answer carries no usage).
func tokenPricedTTS(model string) bool {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	return strings.HasPrefix(m, "gpt-") && strings.Contains(m, "-tts")
}

func (speechSpec) PassRequest(p endpoint.Peek, body payload.Body, upstreamModel string) (upstream.Body, error) {
	b, err := passMedia(p, body, upstreamModel)
	if err != nil || p.Opts&optSpeechBytes == 0 {
		return b, err
	}
	out, serr := sjson.SetBytes(b.Bytes, "stream_format", "sse")
	if serr != nil {
		return upstream.Body{}, &gateway.Error{Kind: gateway.KindInternal, Message: "cannot ask for the speech stream", Err: serr}
	}
	b.Bytes = out
	return b, nil
}

// ParseUsage: a JSON answer of speech is an error or SSE; neither is here.
func (speechSpec) ParseUsage(body []byte) (llm.Usage, bool) { return ParseUsage(body) }
func (speechSpec) CountAnswer([]byte, endpoint.TextCounter) {}

// perCharacterTTS reports OpenAI's speech models priced per character
// of input (tts-1, tts-1-hd); the gpt-4o TTS models bill tokens.
func perCharacterTTS(model string) bool {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	return strings.HasPrefix(m, "tts-")
}

// Units bills the input's characters to per-character models.
func (speechSpec) Units(p endpoint.Peek, body payload.Body, _ []byte) []gateway.Metered {
	if !perCharacterTTS(p.Model) {
		return nil
	}
	in, _, _ := readFields(body, "input").str("input")
	return []gateway.Metered{{Unit: gateway.UnitCharacter, Count: int64(utf8.RuneCountInString(in))}}
}

func (s speechSpec) StreamUnits(p endpoint.Peek, body payload.Body, usageReported bool) []gateway.Metered {
	if usageReported {
		return nil
	}
	return s.Units(p, body, nil)
}

// Worst: the characters, and tokens for the token-priced models: speech
// of n characters is at most a few minutes at the slowest speed, well
// under 16 audio tokens a character.
func (s speechSpec) Worst(p endpoint.Peek, body payload.Body) endpoint.Worst {
	f := readFields(body, "input", "instructions")
	in, _, _ := f.str("input")
	instr, _, _ := f.str("instructions")
	chars := int64(utf8.RuneCountInString(in))
	return endpoint.Worst{
		InputTokens:  int64(len(in) + len(instr)),
		OutputTokens: chars*16 + 256,
		Units:        []gateway.Metered{{Unit: gateway.UnitCharacter, Count: chars}},
	}
}

// Speech stream events (stream_format sse).
const (
	speechDelta = "speech.audio.delta"
	speechDone  = "speech.audio.done"
)

func (speechSpec) EventError(ev sse.Event) *gateway.Error { return eventError(ev) }

func (speechSpec) EventUsage(ev sse.Event) (llm.Usage, bool, bool) {
	if !bytes.Contains(ev.Data, usageKey) || eventType(ev) != speechDone {
		return llm.Usage{}, false, false
	}
	u, ok := ParseUsage(ev.Data)
	return u, true, ok
}

func (speechSpec) EventText(ev sse.Event, _ endpoint.TextCounter) bool {
	return eventType(ev) == speechDelta
}

func (speechSpec) Terminal(ev sse.Event) bool { return eventType(ev) == speechDone }
func (speechSpec) NeedsTerminal() bool        { return true }

func (speechSpec) NewStreamWriter(w http.ResponseWriter, p endpoint.Peek) endpoint.StreamWriter {
	if p.Opts&optSpeechBytes != 0 {
		return &speechBytesWriter{sw: sse.NewWriter(w), contentType: speechContentType(p.Opts)}
	}
	return &streamWriter{sw: sse.NewWriter(w)}
}

// speechBytesWriter relays an SSE speech stream as the audio bytes the
// client asked for: each delta's audio, decoded, as it arrives.
type speechBytesWriter struct {
	sw          *sse.Writer // for its flushing; the bytes are not SSE
	contentType string
	buf         []byte
}

func (s *speechBytesWriter) ContentType() string { return s.contentType }

func (s *speechBytesWriter) Event(ev sse.Event, flush bool) error {
	if eventType(ev) != speechDelta {
		return nil
	}
	audio := gjson.GetBytes(ev.Data, "audio")
	n := base64.StdEncoding.DecodedLen(len(audio.Str))
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	m, err := base64.StdEncoding.Decode(s.buf[:n], []byte(audio.Str))
	if err != nil {
		return fmt.Errorf("speech delta: %w", err)
	}
	if flush {
		return s.sw.WriteRaw(s.buf[:m])
	}
	return s.sw.WriteRawNoFlush(s.buf[:m])
}

// End has nothing to write: the done event carries usage, not audio.
func (s *speechBytesWriter) End(*sse.Event) error { return s.sw.Flush() }

// Error cannot be told in a byte stream: the client sees it cut short.
func (s *speechBytesWriter) Error(*gateway.Error, string) error { return nil }
