package main

import (
	"errors"
	"io"
	"strings"
)

// readLine reads one line from r a byte at a time (so nothing after the
// line is consumed) without its line ending.
func readLine(r io.Reader) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := r.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				return strings.TrimSuffix(b.String(), "\r"), nil
			}
			if b.Len() >= 64<<10 {
				return "", errors.New("line too long")
			}
			b.WriteByte(buf[0])
		}
		if errors.Is(err, io.EOF) && b.Len() > 0 {
			return strings.TrimSuffix(b.String(), "\r"), nil
		}
		if err != nil {
			return "", err
		}
	}
}
