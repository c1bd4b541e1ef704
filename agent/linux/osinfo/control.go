package osinfo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// stanza is the fields of one deb822 paragraph that a reader asked for.
type stanza map[string]string

// maxControlLine bounds one line of a control file: a Packages index's
// longest lines (Description, Provides of meta-packages) are a few KiB.
const maxControlLine = 1 << 20

// scanControl reads deb822 paragraphs ("Field: value" lines, continuation
// lines starting with a space or tab, blank lines between paragraphs) as
// dpkg's status file, apt's Packages indexes and Release files use them.
// Only fields in keep are collected (nil keeps all). When only is not nil,
// a paragraph whose first field is "Package" with a name not in only is
// skipped without collecting anything: a Packages index holds tens of
// thousands of paragraphs of which a host has a few hundred installed, and
// dpkg and apt always write Package first. fn gets each paragraph that has
// at least one kept field.
func scanControl(r io.Reader, keep, only map[string]bool, fn func(stanza) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var cur stanza
	var last string // the field continuation lines belong to, "" when not kept
	skipping := false
	first := true
	flush := func() error {
		var err error
		if len(cur) > 0 {
			err = fn(cur)
		}
		cur, last, skipping, first = nil, "", false, true
		return err
	}
	var long []byte
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
				if len(long) > maxControlLine {
					return fmt.Errorf("control line longer than %d bytes", maxControlLine)
				}
			}
			line = long
		}
		if len(line) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return flush()
			}
			return err
		}
		t := bytes.TrimRight(line, "\r\n")
		switch {
		case len(bytes.TrimSpace(t)) == 0:
			if ferr := flush(); ferr != nil {
				return ferr
			}
		case skipping:
		case t[0] == ' ' || t[0] == '\t':
			if last != "" {
				cur[last] += "\n" + string(bytes.TrimSpace(t))
			}
		default:
			k, v, ok := bytes.Cut(t, []byte(":"))
			if !ok {
				last = ""
				break
			}
			if first && only != nil && string(k) == "Package" && !only[string(bytes.TrimSpace(v))] {
				skipping = true
				break
			}
			first = false
			if keep != nil && !keep[string(k)] {
				last = ""
				break
			}
			if cur == nil {
				cur = stanza{}
			}
			last = string(k)
			cur[last] = string(bytes.TrimSpace(v))
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return flush()
			}
			return err
		}
	}
}
