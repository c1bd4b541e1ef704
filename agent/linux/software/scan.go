package software

import (
	"bufio"
	"io"
)

// newScanner reads lines up to 16 MiB long, so one odd line cannot stop
// a listing.
func newScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	return sc
}
