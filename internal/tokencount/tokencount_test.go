package tokencount

import (
	"strings"
	"testing"
)

func TestCount(t *testing.T) {
	cases := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"hello", 1},
		{"Hello, world!", 4},
	}
	for _, c := range cases {
		if got := Count(c.in); got != c.want {
			t.Errorf("Count(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestStreamMatchesWholeCount(t *testing.T) {
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. 你好，世界！ ", 200)
	whole := Count(text)
	var s Stream
	// Feed in awkward 7-byte pieces, splitting runes and words.
	for i := 0; i < len(text); i += 7 {
		end := min(i+7, len(text))
		s.WriteString(text[i:end])
	}
	got := s.Total()
	diff := got - int64(whole)
	if diff < 0 {
		diff = -diff
	}
	// Within 2% of the whole-text count.
	if diff*50 > int64(whole) {
		t.Fatalf("stream count %d, whole count %d", got, whole)
	}
	if cap(s.carry) > 4*carryLimit {
		t.Fatalf("carry grew to %d bytes", cap(s.carry))
	}
}

func TestInvalidUTF8(t *testing.T) {
	if Count("\xff\xfe\xfd") == 0 {
		t.Fatal("invalid UTF-8 counted as zero")
	}
}

func FuzzStream(f *testing.F) {
	f.Add("hello world", 3)
	f.Add("\xff日本語", 1)
	f.Fuzz(func(t *testing.T, s string, step int) {
		if step <= 0 || step > 64 {
			step = 5
		}
		var st Stream
		for i := 0; i < len(s); i += step {
			st.WriteString(s[i:min(i+step, len(s))])
		}
		if st.Total() < 0 || (len(s) > 0 && st.Total() == 0) {
			t.Fatalf("bad total %d for %q", st.Total(), s)
		}
	})
}

func BenchmarkStream(b *testing.B) {
	piece := []byte("Hello there, this is a delta ")
	b.ReportAllocs()
	var s Stream
	for b.Loop() {
		s.Write(piece)
	}
}
