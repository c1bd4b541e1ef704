//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd && !windows

package main

import (
	"io"
	"os"
)

// passwordReader: no terminal support here, so passwords come from a file
// or standard input.
func passwordReader(*os.File, io.Writer) func(string) (string, error) { return nil }

// isTerminal: no terminal support here.
func isTerminal(*os.File) bool { return false }
