package main

import (
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadLine(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want, rest string }{
		{"secret\nnext", "secret", "next"},
		{"secret\r\n", "secret", ""},
		{"no newline", "no newline", ""},
		{"\n", "", ""},
	} {
		r := strings.NewReader(tt.in)
		got, err := readLine(iotest.OneByteReader(r))
		if err != nil || got != tt.want {
			t.Errorf("readLine(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if rest := tt.in[len(tt.in)-r.Len():]; rest != tt.rest {
			t.Errorf("readLine(%q) left %q, want %q", tt.in, rest, tt.rest)
		}
	}
	if _, err := readLine(strings.NewReader("")); err == nil {
		t.Error("empty input: no error")
	}
}
