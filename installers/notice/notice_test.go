package notice

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoticeUpToDate fails when a module the binaries link is missing from
// NOTICE (or listed there no more), or carries a licence not recognised.
// UPDATE_GOLDEN=1 rewrites NOTICE.
func TestNoticeUpToDate(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	mods, err := Modules(t.Context(), repo)
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) < 10 {
		t.Fatalf("only %d modules found: %+v", len(mods), mods)
	}
	for _, m := range mods {
		if m.License == "" {
			t.Errorf("%s %s: no licence recognised in %s (file %q): read it and extend Classify", m.Path, m.Version, m.Dir, m.File)
		}
		if m.License == "GPL" || strings.HasPrefix(m.License, "GPL-") || strings.HasPrefix(m.License, "AGPL") {
			t.Errorf("%s: %s cannot be linked into Apache-2.0 binaries shipped as they are", m.Path, m.License)
		}
	}
	want := Render(mods)
	path := filepath.Join(repo, "NOTICE")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (UPDATE_GOLDEN=1 go test ./installers/notice writes it)", err)
	}
	if string(got) != want {
		t.Errorf("NOTICE is out of date with the modules the binaries link; run UPDATE_GOLDEN=1 go test ./installers/notice and review the diff")
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../LICENSE")
	if err != nil {
		t.Fatal(err)
	}
	if got := Classify(string(b)); got != "Apache-2.0" {
		t.Errorf("LICENSE classified %q, want Apache-2.0", got)
	}
	if got := Classify("All rights reserved."); got != "" {
		t.Errorf("a file with no licence classified %q", got)
	}
}
