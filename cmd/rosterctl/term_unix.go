//go:build linux || darwin || freebsd || netbsd || openbsd

package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// passwordReader reads a line from the terminal in with echo off,
// prompting on out; nil when in is not a terminal.
func passwordReader(in *os.File, out io.Writer) func(string) (string, error) {
	fd := int(in.Fd())
	if _, err := unix.IoctlGetTermios(fd, ioctlGetTermios); err != nil {
		return nil
	}
	return func(prompt string) (string, error) {
		old, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
		if err != nil {
			return "", fmt.Errorf("read terminal settings: %w", err)
		}
		quiet := *old
		quiet.Lflag &^= unix.ECHO
		quiet.Lflag |= unix.ICANON | unix.ISIG
		quiet.Iflag |= unix.ICRNL
		if err := unix.IoctlSetTermios(fd, ioctlSetTermios, &quiet); err != nil {
			return "", fmt.Errorf("turn terminal echo off: %w", err)
		}
		defer unix.IoctlSetTermios(fd, ioctlSetTermios, old)
		fmt.Fprint(out, prompt)
		line, err := readLine(in)
		fmt.Fprintln(out)
		return line, err
	}
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), ioctlGetTermios)
	return err == nil
}
