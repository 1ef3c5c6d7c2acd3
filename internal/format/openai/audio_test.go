package openai

import (
	"bytes"
	"mime/multipart"
	"slices"
	"testing"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
	"switchboard/internal/payload"
)

func audioForm(t testing.TB, fields map[string]string, file []byte) payload.Body {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if file != nil {
		w, _ := mw.CreateFormFile("file", "a.wav")
		_, _ = w.Write(file)
	}
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	_ = mw.Close()
	f, err := payload.ReadForm(&b, mw.Boundary(), payload.Limits{MemBytes: 1024, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return payload.Body{Form: f}
}

func TestAudioPeek(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		spec      endpoint.Spec
		body      payload.Body
		stream    bool
		wantParam string
	}{
		{"transcription", Transcriptions, audioForm(t, map[string]string{"model": "whisper-1", "response_format": "srt"}, gatewaytest.WAV(1)), false, ""},
		{"transcription stream", Transcriptions, audioForm(t, map[string]string{"model": "gpt-4o-transcribe", "stream": "true"}, gatewaytest.WAV(1)), true, ""},
		{"no file", Transcriptions, audioForm(t, map[string]string{"model": "whisper-1"}, nil), false, "file"},
		{"no model", Transcriptions, audioForm(t, map[string]string{}, gatewaytest.WAV(1)), false, "model"},
		{"bad format", Transcriptions, audioForm(t, map[string]string{"model": "whisper-1", "response_format": "ogg"}, gatewaytest.WAV(1)), false, "response_format"},
		{"bad temperature", Transcriptions, audioForm(t, map[string]string{"model": "whisper-1", "temperature": "warm"}, gatewaytest.WAV(1)), false, "temperature"},
		{"json body", Transcriptions, jsonBody(`{"model":"whisper-1"}`), false, "file"},
		{"translation stream", Translations, audioForm(t, map[string]string{"model": "whisper-1", "stream": "true"}, gatewaytest.WAV(1)), false, "stream"},
		{"speech", Speech, jsonBody(`{"model":"tts-1","input":"hi","voice":"alloy","speed":1.5}`), false, ""},
		{"speech voice object", Speech, jsonBody(`{"model":"gpt-4o-mini-tts","input":"hi","voice":{"id":"voice_1"},"stream_format":"sse"}`), true, ""},
		{"speech no voice", Speech, jsonBody(`{"model":"tts-1","input":"hi"}`), false, "voice"},
		{"speech empty input", Speech, jsonBody(`{"model":"tts-1","input":"","voice":"alloy"}`), false, "input"},
		{"speech bad stream format", Speech, jsonBody(`{"model":"tts-1","input":"hi","voice":"alloy","stream_format":"chunks"}`), false, "stream_format"},
		{"speech speed as text", Speech, jsonBody(`{"model":"tts-1","input":"hi","voice":"alloy","speed":"fast"}`), false, "speed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.spec.Peek(nil, tc.body)
			if tc.wantParam != "" {
				ge, ok := err.(*gateway.Error)
				if !ok || ge.Param != tc.wantParam {
					t.Fatalf("err = %v, want a 400 on %q", err, tc.wantParam)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Stream != tc.stream {
				t.Errorf("peek %+v", p)
			}
		})
	}
}

func TestAudioMeter(t *testing.T) {
	t.Parallel()
	spec := Transcriptions.(transcribeSpec)
	body := audioForm(t, map[string]string{"model": "whisper-1"}, gatewaytest.WAV(4))
	sec := func(n int64) []gateway.Metered { return []gateway.Metered{{Unit: gateway.UnitAudioSecond, Count: n}} }
	cases := []struct {
		name   string
		answer []byte
		want   []gateway.Metered
	}{
		{"usage seconds", []byte(`{"text":"x","usage":{"type":"duration","seconds":12.2}}`), sec(13)},
		{"verbose duration", []byte(`{"text":"x","duration":7.5}`), sec(8)},
		{"measured upload", []byte(`{"text":"x"}`), sec(4)},
		{"raw answer", nil, sec(4)},
		{"tokens", []byte(`{"text":"x","usage":{"type":"tokens","input_tokens":5,"output_tokens":1}}`), nil},
	}
	for _, tc := range cases {
		if got := spec.Units(endpoint.Peek{}, body, tc.answer); !slices.Equal(got, tc.want) {
			t.Errorf("%s: units %v, want %v", tc.name, got, tc.want)
		}
	}
	u, ok := spec.ParseUsage([]byte(`{"usage":{"type":"tokens","input_tokens":120,"input_token_details":{"text_tokens":20,"audio_tokens":100},"output_tokens":11}}`))
	if !ok || u.InputTokens != 120 || u.AudioInputTokens != 100 || u.OutputTokens != 11 {
		t.Errorf("usage %+v %v", u, ok)
	}
	if w := spec.Worst(endpoint.Peek{}, body); w.Units[0].Count != 4 || w.InputTokens < 4*audioTokensPerSec {
		t.Errorf("worst %+v", w)
	}
	// An unmeasurable upload is held by its size.
	odd := audioForm(t, map[string]string{"model": "whisper-1"}, make([]byte, 50_000))
	// and billed by its subtitles' last cue when the answer has them.
	for answer, want := range map[string][]gateway.Metered{
		"1\n00:00:00,000 --> 00:00:04,200\nhello\n\n2\n00:01:02,500 --> 00:01:05,010\nbye\n": sec(66),
		"WEBVTT\n\n00:00.000 --> 00:07.250 align:start\nhello\n":                             sec(8),
		"just text, no cues":      nil,
		"00:00:01,000 --> junk\n": nil,
	} {
		if got := spec.Units(endpoint.Peek{}, odd, []byte(answer)); !slices.Equal(got, want) {
			t.Errorf("units of %q: %v, want %v", answer, got, want)
		}
	}
	if w := spec.Worst(endpoint.Peek{}, odd); w.Units[0].Count != 51 {
		t.Errorf("worst of an unknown format %+v", w)
	}
	sp := Speech.(speechSpec)
	sb := jsonBody(`{"model":"tts-1","input":"héllo","voice":"alloy"}`)
	if got := sp.Units(endpoint.Peek{Model: "tts-1"}, sb, nil); !slices.Equal(got, []gateway.Metered{{Unit: gateway.UnitCharacter, Count: 5}}) {
		t.Errorf("speech units %v", got)
	}
	if got := sp.Units(endpoint.Peek{Model: "gpt-4o-mini-tts"}, sb, nil); got != nil {
		t.Errorf("token-priced speech metered in characters: %v", got)
	}
}

func FuzzSpeechPeek(f *testing.F) {
	for _, s := range []string{`{"model":"tts-1","input":"hi","voice":"alloy"}`, `{"model":"m","input":"x","voice":{"id":1},"speed":0.1}`, `{"input":7}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		body := jsonBody(s)
		p, err := Speech.Peek(nil, body)
		if err != nil {
			return
		}
		sp := Speech.(speechSpec)
		if w := sp.Worst(p, body); w.OutputTokens <= 0 || w.Units[0].Count < 0 || w.Units[0].Count > MaxSpeechInput {
			t.Fatalf("worst %+v of %s", w, s)
		}
	})
}
