// Package mediainfo measures uploaded audio without decoding it: the
// duration of WAV, MP3, FLAC, Ogg (Opus, Vorbis) and MP4/M4A files, read
// from their headers (and, for Ogg and CBR MP3, from the file's size), so
// that an audio minute can be billed when an upstream's answer does not
// say how long the audio was. It reads a few KiB of a file at most and
// imports nothing of ours.
package mediainfo

import (
	"bytes"
	"encoding/binary"
	"io"
	"time"
)

// maxDuration bounds what a header may claim: nothing uploaded to a
// transcription API lasts a day.
const maxDuration = 24 * time.Hour

// Duration measures the audio in r (size bytes long). ok is false when the
// format is not recognised or its header is inconsistent.
func Duration(r io.ReaderAt, size int64) (time.Duration, bool) {
	head := make([]byte, 12)
	if n, _ := r.ReadAt(head, 0); n < len(head) {
		return 0, false
	}
	var d time.Duration
	var ok bool
	switch {
	case string(head[:4]) == "RIFF" && string(head[8:12]) == "WAVE":
		d, ok = wavDuration(r, size)
	case string(head[:4]) == "fLaC":
		d, ok = flacDuration(r)
	case string(head[:4]) == "OggS":
		d, ok = oggDuration(r, size)
	case string(head[4:8]) == "ftyp":
		d, ok = mp4Duration(r, size)
	default:
		d, ok = mp3Duration(r, size)
	}
	if !ok || d <= 0 || d > maxDuration {
		return 0, false
	}
	return d, true
}

func read(r io.ReaderAt, off int64, n int) []byte {
	if off < 0 || n <= 0 {
		return nil
	}
	b := make([]byte, n)
	m, _ := r.ReadAt(b, off)
	return b[:m]
}

func seconds(num, den uint64) time.Duration {
	if den == 0 {
		return 0
	}
	s := float64(num) / float64(den)
	if s > maxDuration.Seconds() {
		return maxDuration + 1
	}
	return time.Duration(s * float64(time.Second))
}

// wavDuration reads the fmt chunk's byte rate and the data chunk's size.
func wavDuration(r io.ReaderAt, size int64) (time.Duration, bool) {
	var byteRate uint32
	off := int64(12)
	for i := 0; i < 64 && off+8 <= size; i++ {
		h := read(r, off, 8)
		if len(h) < 8 {
			return 0, false
		}
		id, n := string(h[:4]), int64(binary.LittleEndian.Uint32(h[4:]))
		switch id {
		case "fmt ":
			f := read(r, off+8, 12)
			if len(f) < 12 {
				return 0, false
			}
			byteRate = binary.LittleEndian.Uint32(f[8:12])
		case "data":
			if byteRate == 0 {
				return 0, false
			}
			if n == 0xFFFFFFFF || off+8+n > size {
				n = size - off - 8 // streamed or truncated: what is there
			}
			return seconds(uint64(n), uint64(byteRate)), true
		}
		off += 8 + n + n%2
	}
	return 0, false
}

// flacDuration reads STREAMINFO's sample rate and total samples.
func flacDuration(r io.ReaderAt) (time.Duration, bool) {
	b := read(r, 4, 4+18)
	if len(b) < 22 || b[0]&0x7F != 0 {
		return 0, false
	}
	si := b[4:]
	rate := uint64(si[10])<<12 | uint64(si[11])<<4 | uint64(si[12])>>4
	total := uint64(si[13]&0x0F)<<32 | uint64(binary.BigEndian.Uint32(si[14:18]))
	if rate == 0 || total == 0 {
		return 0, false
	}
	return seconds(total, rate), true
}

// oggDuration reads the sample rate from the first page (Opus is always
// 48 kHz) and the granule position of the last page.
func oggDuration(r io.ReaderAt, size int64) (time.Duration, bool) {
	first := read(r, 0, 128)
	var rate uint64
	var preSkip uint64
	switch {
	case bytes.Contains(first, []byte("OpusHead")):
		i := bytes.Index(first, []byte("OpusHead"))
		if i+12 > len(first) {
			return 0, false
		}
		rate, preSkip = 48000, uint64(binary.LittleEndian.Uint16(first[i+10:]))
	case bytes.Contains(first, []byte("\x01vorbis")):
		i := bytes.Index(first, []byte("\x01vorbis"))
		if i+16 > len(first) {
			return 0, false
		}
		rate = uint64(binary.LittleEndian.Uint32(first[i+12:]))
	default:
		return 0, false
	}
	const tail = 64 << 10
	start := max(size-tail, 0)
	t := read(r, start, int(size-start))
	i := bytes.LastIndex(t, []byte("OggS"))
	if i < 0 || i+14 > len(t) {
		return 0, false
	}
	granule := binary.LittleEndian.Uint64(t[i+6:])
	if granule == ^uint64(0) || granule <= preSkip || rate == 0 {
		return 0, false
	}
	return seconds(granule-preSkip, rate), true
}

// mp4Duration reads the movie header (moov/mvhd) of an MP4 or M4A file.
func mp4Duration(r io.ReaderAt, size int64) (time.Duration, bool) {
	moov, moovSize, ok := findBox(r, 0, size, "moov")
	if !ok {
		return 0, false
	}
	mvhd, _, ok := findBox(r, moov, moov+moovSize, "mvhd")
	if !ok {
		return 0, false
	}
	b := read(r, mvhd, 32)
	if len(b) < 20 {
		return 0, false
	}
	if b[0] == 1 {
		if len(b) < 32 {
			return 0, false
		}
		return seconds(binary.BigEndian.Uint64(b[24:32]), uint64(binary.BigEndian.Uint32(b[20:24]))), true
	}
	return seconds(uint64(binary.BigEndian.Uint32(b[16:20])), uint64(binary.BigEndian.Uint32(b[12:16]))), true
}

// findBox finds a box of kind among the boxes in [off, end) and returns
// the offset and size of its content.
func findBox(r io.ReaderAt, off, end int64, kind string) (int64, int64, bool) {
	for i := 0; i < 256 && off+8 <= end; i++ {
		h := read(r, off, 16)
		if len(h) < 8 {
			return 0, 0, false
		}
		n, hdr := int64(binary.BigEndian.Uint32(h[:4])), int64(8)
		switch n {
		case 0:
			n = end - off
		case 1:
			if len(h) < 16 {
				return 0, 0, false
			}
			n, hdr = int64(binary.BigEndian.Uint64(h[8:16])), 16
		}
		if n < hdr || off+n > end {
			return 0, 0, false
		}
		if string(h[4:8]) == kind {
			return off + hdr, n - hdr, true
		}
		off += n
	}
	return 0, 0, false
}

// MP3 frame header tables (MPEG-1, MPEG-2/2.5; Layer III, II, I).
var (
	mp3Rates  = [4][3]uint32{{11025, 12000, 8000}, {}, {22050, 24000, 16000}, {44100, 48000, 32000}} // by version bits
	mp3KbpsV1 = [3][16]uint32{
		{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0},     // layer III
		{0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 0},    // layer II
		{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 0}, // layer I
	}
	mp3KbpsV2 = [3][16]uint32{
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
		{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256, 0},
	}
)

// mp3Duration skips an ID3v2 tag, reads the first frame's header and
// takes the frame count of a Xing/Info or VBRI header, else assumes a
// constant bit rate over the rest of the file.
func mp3Duration(r io.ReaderAt, size int64) (time.Duration, bool) {
	var off int64
	if h := read(r, 0, 10); len(h) == 10 && string(h[:3]) == "ID3" {
		off = 10 + (int64(h[6]&0x7F)<<21 | int64(h[7]&0x7F)<<14 | int64(h[8]&0x7F)<<7 | int64(h[9]&0x7F))
	}
	b := read(r, off, 4096)
	i := 0
	for ; i+4 <= len(b); i++ {
		if b[i] == 0xFF && b[i+1]&0xE0 == 0xE0 {
			break
		}
	}
	if i+4 > len(b) {
		return 0, false
	}
	h := b[i:]
	ver, layerBits := (h[1]>>3)&3, (h[1]>>1)&3
	brIdx, srIdx := h[2]>>4, (h[2]>>2)&3
	if ver == 1 || layerBits == 0 || srIdx == 3 || brIdx == 0 || brIdx == 15 {
		return 0, false
	}
	layer := int(layerBits) - 1 // 0: layer III, 1: II, 2: I
	rate := mp3Rates[ver][srIdx]
	kbps := mp3KbpsV1[layer][brIdx]
	if ver != 3 {
		kbps = mp3KbpsV2[layer][brIdx]
	}
	samples := uint64(1152)
	switch {
	case layer == 2:
		samples = 384
	case layer == 0 && ver != 3:
		samples = 576
	}
	mono := h[3]>>6 == 3
	side := 32
	switch {
	case ver == 3 && mono:
		side = 17
	case ver != 3 && mono:
		side = 9
	case ver != 3:
		side = 17
	}
	if x := 4 + side; i+x+12 <= len(b) {
		if tag := string(b[i+x : i+x+4]); (tag == "Xing" || tag == "Info") && b[i+x+7]&1 == 1 {
			frames := uint64(binary.BigEndian.Uint32(b[i+x+8:]))
			return seconds(frames*samples, uint64(rate)), frames > 0
		}
	}
	if i+36+18 <= len(b) && string(b[i+36:i+40]) == "VBRI" {
		frames := uint64(binary.BigEndian.Uint32(b[i+36+14:]))
		return seconds(frames*samples, uint64(rate)), frames > 0
	}
	audio := size - off - int64(i)
	return seconds(uint64(audio)*8, uint64(kbps)*1000), audio > 0
}
