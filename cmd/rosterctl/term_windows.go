package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/windows"
)

// passwordReader reads a line from the console in with echo off,
// prompting on out; nil when in is not a console.
func passwordReader(in *os.File, out io.Writer) func(string) (string, error) {
	h := windows.Handle(in.Fd())
	var mode uint32
	if err := windows.GetConsoleMode(h, &mode); err != nil {
		return nil
	}
	return func(prompt string) (string, error) {
		var old uint32
		if err := windows.GetConsoleMode(h, &old); err != nil {
			return "", fmt.Errorf("read console mode: %w", err)
		}
		quiet := old&^windows.ENABLE_ECHO_INPUT | windows.ENABLE_PROCESSED_INPUT | windows.ENABLE_LINE_INPUT
		if err := windows.SetConsoleMode(h, quiet); err != nil {
			return "", fmt.Errorf("turn console echo off: %w", err)
		}
		defer windows.SetConsoleMode(h, old)
		fmt.Fprint(out, prompt)
		line, err := readLine(in)
		fmt.Fprintln(out)
		return line, err
	}
}

// isTerminal reports whether f is a console.
func isTerminal(f *os.File) bool {
	var mode uint32
	return windows.GetConsoleMode(windows.Handle(f.Fd()), &mode) == nil
}
