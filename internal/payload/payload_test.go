package payload

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"os"
	"runtime"
	"strings"
	"testing"
)

type field struct{ name, file, ctype, value string }

func buildForm(t testing.TB, fields []field) (*bytes.Buffer, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range fields {
		if f.file == "" {
			if err := mw.WriteField(f.name, f.value); err != nil {
				t.Fatal(err)
			}
			continue
		}
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{`form-data; name="` + f.name + `"; filename="` + f.file + `"`}
		if f.ctype != "" {
			h["Content-Type"] = []string{f.ctype}
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(w, f.value)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &b, mw.Boundary()
}

func readBack(t *testing.T, enc *Encoded) []field {
	t.Helper()
	boundary, err := ContentTypeBoundary(enc.ContentType)
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	n, _ := io.Copy(&all, enc.Open())
	if n != enc.Length {
		t.Fatalf("encoded %d bytes, Length says %d", n, enc.Length)
	}
	mr := multipart.NewReader(&all, boundary)
	var out []field
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		v, _ := io.ReadAll(p)
		out = append(out, field{p.FormName(), p.FileName(), p.Header.Get("Content-Type"), string(v)})
	}
	return out
}

func TestFormRoundTrip(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("0123456789abcdef", 8<<10) // 128 KiB, spooled
	in := []field{
		{name: "model", value: "whisper-1"},
		{name: "image[]", file: "a.png", ctype: "image/png", value: "PNGDATA-A"},
		{name: "image[]", file: "b.png", ctype: "image/png", value: big},
		{name: "prompt", value: "a cat"},
		{name: "secret", value: "drop me"},
	}
	body, boundary := buildForm(t, in)
	size := int64(body.Len())
	f, err := ReadForm(body, boundary, Limits{MemBytes: 1024, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if f.spool == nil || f.size != size {
		t.Fatalf("spooled %v, size %d of %d", f.spool != nil, f.size, size)
	}
	if v, ok := f.Value("model"); !ok || v != "whisper-1" {
		t.Errorf("model %q %v", v, ok)
	}
	if files := f.Files("image[]"); len(files) != 2 || files[1].Size() != int64(len(big)) || files[0].ContentType != "image/png" {
		t.Errorf("files %+v", files)
	}
	// Two encodings at once, each readable (failover re-sends).
	for range 2 {
		enc, err := f.Encode(map[string]string{"model": "whisper-large"}, "secret")
		if err != nil {
			t.Fatal(err)
		}
		got := readBack(t, enc)
		want := []field{in[0], in[1], in[2], in[3]}
		want[0].value = "whisper-large"
		if len(got) != len(want) {
			t.Fatalf("got %d parts", len(got))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("part %d: %q/%q/%q (%d bytes), want %q/%q/%q (%d bytes)", i, got[i].name, got[i].file, got[i].ctype, len(got[i].value),
					want[i].name, want[i].file, want[i].ctype, len(want[i].value))
			}
		}
	}
	name := f.spool.Name()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Errorf("spool file left behind: %v", err)
	}
}

func TestFormLimits(t *testing.T) {
	t.Parallel()
	body, boundary := buildForm(t, []field{{name: "file", file: "x.wav", value: strings.Repeat("x", 4096)}})
	if _, err := ReadForm(body, boundary, Limits{MaxBytes: 1024, Dir: t.TempDir()}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the byte limit: %v", err)
	}
	var many []field
	for range 20 {
		many = append(many, field{name: "f", value: "v"})
	}
	body, boundary = buildForm(t, many)
	if _, err := ReadForm(body, boundary, Limits{MaxParts: 10}); err == nil || !strings.Contains(err.Error(), "more than 10 parts") {
		t.Errorf("over the part limit: %v", err)
	}
	if _, err := ContentTypeBoundary("application/json"); err == nil {
		t.Error("a JSON content type has no boundary")
	}
	if _, err := ContentTypeBoundary("multipart/form-data"); err == nil {
		t.Error("a form without a boundary must be refused")
	}
}

// A 25 MiB upload costs the heap about its memory bound, not its size:
// the rest is on disk, and re-encoding reads it from there.
func TestFormMemoryBounded(t *testing.T) {
	file := bytes.Repeat([]byte("audio-bytes-"), (25<<20)/12)
	body, boundary := buildForm(t, []field{{name: "model", value: "whisper-1"}, {name: "file", file: "talk.mp3", ctype: "audio/mpeg", value: string(file)}})
	raw := body.Bytes()
	file = nil
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f, err := ReadForm(bytes.NewReader(raw), boundary, Limits{MaxBytes: 64 << 20, MemBytes: 1 << 20, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc, err := f.Encode(map[string]string{"model": "whisper-large"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, enc.Open())
	if err != nil || n != enc.Length {
		t.Fatalf("copied %d of %d: %v", n, enc.Length, err)
	}
	runtime.ReadMemStats(&after)
	// About 4 MiB normally, 8 under the race detector: either is far
	// below the upload, which a whole-body read would allocate at least once.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 12<<20 {
		t.Errorf("reading and re-encoding a 25 MiB upload allocated %d MiB", grew>>20)
	}
}

func FuzzReadForm(f *testing.F) {
	body, boundary := buildForm(f, []field{{name: "model", value: "m"}, {name: "file", file: "a.bin", value: "xyz"}})
	f.Add(body.Bytes(), boundary)
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--b--\r\n"), "b")
	f.Fuzz(func(t *testing.T, data []byte, boundary string) {
		if boundary == "" || len(boundary) > 70 {
			return
		}
		form, err := ReadForm(bytes.NewReader(data), boundary, Limits{MaxBytes: 1 << 16, MemBytes: 64})
		if err != nil {
			return
		}
		defer form.Close()
		enc, err := form.Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		// What was read must re-read the same way.
		var re bytes.Buffer
		if _, err := io.Copy(&re, enc.Open()); err != nil {
			t.Fatal(err)
		}
		b2, _ := ContentTypeBoundary(enc.ContentType)
		form2, err := ReadForm(&re, b2, Limits{MaxBytes: 1 << 20})
		if err != nil {
			t.Fatalf("re-encoded form does not parse: %v", err)
		}
		defer form2.Close()
		if len(form2.Parts) != len(form.Parts) {
			t.Fatalf("%d parts became %d", len(form.Parts), len(form2.Parts))
		}
		for i, p := range form.Parts {
			q := form2.Parts[i]
			a, _ := io.ReadAll(p.Open())
			b, _ := io.ReadAll(q.Open())
			if p.Name != q.Name || p.FileName != q.FileName || !bytes.Equal(a, b) {
				t.Fatalf("part %d changed: %q %q %q → %q %q %q", i, p.Name, p.FileName, a, q.Name, q.FileName, b)
			}
		}
	})
}

func TestFormEncodeAddsMissingFields(t *testing.T) {
	t.Parallel()
	in := []field{
		{name: "image", file: "a.png", ctype: "image/png", value: "PNG"},
		{name: "prompt", value: "a cat"},
	}
	body, boundary := buildForm(t, in)
	f, err := ReadForm(body, boundary, Limits{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc, err := f.Encode(map[string]string{"prompt": "a dog", "model": "dall-e-2", "n": "2"}, "n")
	if err != nil {
		t.Fatal(err)
	}
	got := readBack(t, enc)
	want := []field{in[0], {name: "prompt", value: "a dog"}, {name: "model", value: "dall-e-2"}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("part %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestNewForm(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("IMG"), 100_000)
	cases := []struct {
		name   string
		fields []FormField
		files  []FormFile
		want   []field
	}{
		{"fields only", []FormField{{"model", "gpt-image-1"}, {"prompt", "a \"quoted\" cat"}}, nil,
			[]field{{name: "model", value: "gpt-image-1"}, {name: "prompt", value: "a \"quoted\" cat"}}},
		{"files after fields", []FormField{{"prompt", "p"}},
			[]FormFile{{Name: "image[]", FileName: "image-1.png", ContentType: "image/png", Data: []byte("PNG")}, {Name: "image[]", FileName: "image-2.webp", ContentType: "image/webp", Data: big}},
			[]field{{name: "prompt", value: "p"}, {"image[]", "image-1.png", "image/png", "PNG"}, {"image[]", "image-2.webp", "image/webp", string(big)}}},
		{"no content type", nil, []FormFile{{Name: "image", FileName: "x", Data: []byte{}}},
			[]field{{"image", "x", "application/octet-stream", ""}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			enc, err := NewForm(tc.fields, tc.files)
			if err != nil {
				t.Fatal(err)
			}
			// Opened twice (a failover's second attempt): the same form.
			for range 2 {
				got := readBack(t, enc)
				if len(got) != len(tc.want) {
					t.Fatalf("got %d parts, want %d", len(got), len(tc.want))
				}
				for i := range tc.want {
					if got[i] != tc.want[i] {
						t.Errorf("part %d = %.80v, want %.80v", i, got[i], tc.want[i])
					}
				}
			}
		})
	}
}

// NewForm frames the files without copying them.
func TestNewFormDoesNotCopyFiles(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 8<<20)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	enc, err := NewForm([]FormField{{"prompt", "p"}}, []FormFile{{Name: "image", FileName: "a.png", ContentType: "image/png", Data: data}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, enc.Open())
	runtime.ReadMemStats(&after)
	if err != nil || n != enc.Length || n < int64(len(data)) {
		t.Fatalf("read %d of %d: %v", n, enc.Length, err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > uint64(len(data))/4 {
		t.Errorf("encoding and reading an 8 MiB file allocated %d bytes", grew)
	}
}
