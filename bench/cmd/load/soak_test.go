package main

import (
	"os"
	"testing"
)

func TestParseUpstreams(t *testing.T) {
	tests := []struct {
		in      string
		want    []namedURL
		wantErr bool
	}{
		{"A=http://127.0.0.1:1/,B=http://127.0.0.1:2", []namedURL{{"A", "http://127.0.0.1:1"}, {"B", "http://127.0.0.1:2"}}, false},
		{"", nil, false},
		{"A", nil, true},
		{"=http://x", nil, true},
	}
	for _, tt := range tests {
		got, err := parseUpstreams(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseUpstreams(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("parseUpstreams(%q) = %v, want %v", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("parseUpstreams(%q)[%d] = %v, want %v", tt.in, i, got[i], tt.want[i])
			}
		}
	}
}

func TestReadProcSelf(t *testing.T) {
	p, err := readProc(os.Getpid())
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if p.rss <= 0 || p.threads <= 0 || p.fds < 3 {
		t.Errorf("readProc(self) = %+v, want positive RSS and threads, at least 3 fds", p)
	}
}
