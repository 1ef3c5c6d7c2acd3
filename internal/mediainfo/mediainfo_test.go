package mediainfo

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// WAV builds a PCM WAV file of d at rate Hz, 16-bit mono.
func WAV(d time.Duration, rate int) []byte {
	n := int(d.Seconds() * float64(rate) * 2)
	var b bytes.Buffer
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(36+n))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(rate), uint32(rate * 2), uint16(2), uint16(16)} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, uint32(n))
	b.Write(make([]byte, n))
	return b.Bytes()
}

// mp3CBR is frames of MPEG-1 Layer III at 128 kbps, 44.1 kHz, after an
// ID3v2 tag.
func mp3CBR(frames int, xing bool) []byte {
	var b bytes.Buffer
	b.Write([]byte{'I', 'D', '3', 4, 0, 0, 0, 0, 0x01, 0x00}) // 128-byte tag
	b.Write(make([]byte, 128))
	frame := make([]byte, 417) // 144 × 128000 / 44100
	copy(frame, []byte{0xFF, 0xFB, 0x90, 0x44})
	if xing {
		f := append([]byte(nil), frame...)
		copy(f[4+32:], "Xing")
		binary.BigEndian.PutUint32(f[4+32+4:], 1)
		binary.BigEndian.PutUint32(f[4+32+8:], uint32(frames))
		b.Write(f)
		frames = 3 // what follows does not matter
	}
	for range frames {
		b.Write(frame)
	}
	return b.Bytes()
}

func flac(samples uint64, rate uint32) []byte {
	b := []byte("fLaC")
	b = append(b, 0x80, 0, 0, 34)
	si := make([]byte, 34)
	si[10] = byte(rate >> 12)
	si[11] = byte(rate >> 4)
	si[12] = byte(rate<<4) | 0x01<<1 // mono
	si[13] = 0xF0 | byte(samples>>32)
	binary.BigEndian.PutUint32(si[14:], uint32(samples))
	return append(b, si...)
}

func oggPage(granule uint64, payload []byte) []byte {
	p := []byte("OggS\x00\x00")
	p = binary.LittleEndian.AppendUint64(p, granule)
	p = append(p, make([]byte, 12)...)
	p = append(p, 1, byte(len(payload)))
	return append(p, payload...)
}

func opus(d time.Duration) []byte {
	head := append([]byte("OpusHead\x01\x01"), 0x38, 0x01) // pre-skip 312
	head = append(head, 0x80, 0xBB, 0, 0, 0, 0, 0)
	out := oggPage(0, head)
	out = append(out, oggPage(0, make([]byte, 200))...)
	return append(out, oggPage(uint64(d.Seconds()*48000)+312, make([]byte, 100))...)
}

func box(kind string, content ...[]byte) []byte {
	c := bytes.Join(content, nil)
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(c)))
	return append(append(b, kind...), c...)
}

func m4a(scale, dur uint32) []byte {
	mvhd := make([]byte, 100)
	binary.BigEndian.PutUint32(mvhd[12:], scale)
	binary.BigEndian.PutUint32(mvhd[16:], dur)
	return append(box("ftyp", []byte("M4A \x00\x00\x00\x00")), box("moov", box("mvhd", mvhd))...)
}

func TestDuration(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		data []byte
		want time.Duration
		ok   bool
	}{
		{"wav", WAV(3*time.Second, 16000), 3 * time.Second, true},
		{"mp3 cbr", mp3CBR(100, false), 2606 * time.Millisecond, true},
		{"mp3 xing", mp3CBR(1000, true), 26122 * time.Millisecond, true},
		{"flac", flac(441000, 44100), 10 * time.Second, true},
		{"opus", opus(7 * time.Second), 7 * time.Second, true},
		{"m4a", m4a(1000, 61500), 61500 * time.Millisecond, true},
		{"text", []byte("just some text, not audio"), 0, false},
		{"short", []byte("RIFF"), 0, false},
		{"wav without fmt", append([]byte("RIFF\x00\x00\x00\x00WAVEdata\x04\x00\x00\x00"), 1, 2, 3, 4), 0, false},
		{"m4a claiming a year", m4a(1, 365*24*3600), 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Duration(bytes.NewReader(tc.data), int64(len(tc.data)))
			if ok != tc.ok || (ok && (got-tc.want).Abs() > 5*time.Millisecond) {
				t.Errorf("Duration = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func FuzzDuration(f *testing.F) {
	for _, s := range [][]byte{WAV(time.Second, 8000)[:200], mp3CBR(3, true), mp3CBR(2, false), flac(10, 8000), opus(time.Second), m4a(600, 6000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, ok := Duration(bytes.NewReader(b), int64(len(b)))
		if ok && (d <= 0 || d > maxDuration) {
			t.Fatalf("duration %v", d)
		}
	})
}
