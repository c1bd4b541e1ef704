package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func TestGlibcVersion(t *testing.T) {
	t.Parallel()
	// /bin/sh links glibc on every machine these packages are built on.
	v, err := glibcVersion("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^2\.[0-9]+(\.[0-9]+)?$`).MatchString(v) {
		t.Errorf("glibc version of /bin/sh %q", v)
	}
	if _, err := glibcVersion("main.go"); err == nil {
		t.Error("a Go source file read as an ELF binary")
	}
}

func TestGreater(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b []int
		want bool
	}{
		{[]int{2, 34}, []int{2, 33}, true},
		{[]int{2, 4}, []int{2, 34}, false},
		{[]int{2, 3, 4}, []int{2, 3}, true},
		{[]int{2, 3}, []int{2, 3, 4}, false},
		{[]int{2, 3}, []int{2, 3}, false},
		{[]int{2, 2, 5}, nil, true},
	} {
		if got := greater(tc.a, tc.b); got != tc.want {
			t.Errorf("greater(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	if code := run(nil, &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), "--version is required") {
		t.Errorf("no flags: exit %d, %q", code, stderr.String())
	}
}
