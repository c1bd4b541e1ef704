package host

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRunCached(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, root, "var/lib/dpkg/status", "Package: bash\n")
	write(t, root, "var/lib/apt/lists/main_Packages", "Package: bash\nVersion: 5.2\n")
	write(t, root, "commands/apt-get_-s.out", "Inst bash [5.1] (5.2 Debian:12/stable [amd64])\n")
	h, err := Captured("linux", root)
	if err != nil {
		t.Fatal(err)
	}
	inputs := []string{"/var/lib/dpkg/status", "/var/lib/apt/lists", "/etc/apt"}
	ctx := context.Background()
	answer := func(label string) string {
		t.Helper()
		out, err := h.RunCached(ctx, inputs, "apt-get", "-s")
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		return string(out)
	}
	setOutput := func(s string) { write(t, root, "commands/apt-get_-s.out", s) }

	// Without a cache every call runs.
	first := answer("no cache")
	setOutput("second answer\n")
	if got := answer("no cache, again"); got == first {
		t.Fatalf("without a cache the output was reused")
	}

	h.Cache = NewOutputCache()
	if got := answer("cold cache"); got != "second answer\n" {
		t.Fatalf("cold cache = %q", got)
	}
	setOutput("third answer\n")
	if got := answer("unchanged inputs"); got != "second answer\n" {
		t.Errorf("unchanged inputs: got %q, want the cached answer", got)
	}
	// A package list refreshed (new entry in the directory) invalidates.
	write(t, root, "var/lib/apt/lists/security_Packages", "Package: openssl\n")
	if got := answer("new list"); got != "third answer\n" {
		t.Errorf("after a new package list: got %q, want a fresh run", got)
	}
	// The dpkg database changed (an upgrade was installed).
	setOutput("fourth answer\n")
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(root, "var/lib/dpkg/status"), later, later); err != nil {
		t.Fatal(err)
	}
	if got := answer("dpkg changed"); got != "fourth answer\n" {
		t.Errorf("after dpkg status changed: got %q, want a fresh run", got)
	}
	// A failure is not cached: the command's missing capture is "not found".
	os.Remove(filepath.Join(root, "commands/apt-get_-s.out"))
	later = later.Add(time.Hour)
	os.Chtimes(filepath.Join(root, "var/lib/dpkg/status"), later, later)
	if _, err := h.RunCached(ctx, inputs, "apt-get", "-s"); err == nil {
		t.Error("a changed input with a failing command returned a cached answer")
	}
}
