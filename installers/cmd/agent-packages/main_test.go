package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	// A stand-in binary: this test checks the command line, not the agent
	// (installers/linuxpkg's tests package the real one).
	if err := os.WriteFile(filepath.Join(bin, "roster-agent-linux-amd64"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	getenv := func(k string) string {
		if k == "SOURCE_DATE_EPOCH" {
			return "1764590400"
		}
		return ""
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"no version", []string{"-bin", bin}, 2, "", "-describe VERSION is required"},
		{"bad version", []string{"-bin", bin, "-arch", "amd64", "-describe", "main", "-out", out}, 1, "", "is not git describe output"},
		{"missing binary", []string{"-bin", bin, "-describe", "v1.0.0", "-out", out}, 1, "", "run make cross first"},
		{"amd64", []string{"-bin", bin, "-arch", "amd64", "-describe", "v1.0.0-2-gabcdef0", "-out", out}, 0,
			filepath.Join(out, "roster-agent_1.0.0+git2.abcdef0_amd64.deb") + "\n" + filepath.Join(out, "roster-agent-1.0.0-1.git2.abcdef0.x86_64.rpm") + "\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, getenv, &stdout, &stderr)
			if code != tt.wantCode || stdout.String() != tt.wantOut || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout.String(), stderr.String(), tt.wantCode, tt.wantOut, tt.wantErr)
			}
		})
	}
}
