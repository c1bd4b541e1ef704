package host

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
)

func TestSlug(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"dmidecode", "dmidecode"},
		{"fdesetup status", "fdesetup_status"},
		{"rpm -qa --queryformat %{NAME}\\t%{VERSION}\\n", "rpm_-qa_--queryformat___NAME__t__VERSION__n"},
		{"system_profiler -xml SPHardwareDataType", "system_profiler_-xml_SPHardwareDataType"},
		{`manage-bde -status C:`, "manage-bde_-status_C_"},
	}
	for _, tt := range tests {
		if got := Slug(tt.in); got != tt.want {
			t.Errorf("Slug(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCapturedRunner(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"commands/fdesetup_status.out":      {Data: []byte("FileVault is On.\n")},
		"commands/dnf_-q_check-update.out":  {Data: []byte("bash.x86_64 5.1 baseos\n")},
		"commands/dnf_-q_check-update.exit": {Data: []byte("100\n")},
		"commands/dnf_-q_check-update.err":  {Data: []byte("warning\n")},
		"commands/bad_exit.out":             {Data: nil},
		"commands/bad_exit.exit":            {Data: []byte("x")},
	}
	r := CapturedRunner{FS: fsys, Dir: "commands"}
	ctx := context.Background()

	out, err := r.Run(ctx, "fdesetup", "status")
	if err != nil || string(out) != "FileVault is On.\n" {
		t.Errorf("fdesetup status = %q, %v; want the captured output", out, err)
	}

	out, err = r.Run(ctx, "dnf", "-q", "check-update")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 100 || string(ee.Stderr) != "warning\n" {
		t.Fatalf("dnf check-update error = %v, want exit 100 with stderr", err)
	}
	if string(out) != "bash.x86_64 5.1 baseos\n" {
		t.Errorf("dnf check-update stdout = %q, want it kept alongside the exit error", out)
	}

	if _, err := r.Run(ctx, "zypper", "list-updates"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing capture: got %v, want ErrNotFound", err)
	}
	if _, err := r.Run(ctx, "bad", "exit"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("malformed .exit: got %v, want a read error", err)
	}
}

func TestLiveRunner(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses sh")
	}
	t.Parallel()
	r := NewLiveRunner()
	ctx := context.Background()
	out, err := r.Run(ctx, "sh", "-c", "echo $LC_ALL; echo oops >&2")
	if err != nil || strings.TrimSpace(string(out)) != "C" {
		t.Errorf("sh = %q, %v; want LC_ALL=C in the environment", out, err)
	}
	_, err = r.Run(ctx, "sh", "-c", "echo failing >&2; exit 3")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 3 || !strings.Contains(err.Error(), "failing") {
		t.Errorf("exit 3: got %v, want an ExitError carrying stderr", err)
	}
	if _, err := r.Run(ctx, "roster-no-such-command"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing command: got %v, want ErrNotFound", err)
	}
	out, err = r.Run(WithCombinedOutput(ctx), "sh", "-c", "echo one; echo two >&2")
	if err != nil || string(out) != "one\ntwo\n" {
		t.Errorf("combined output = %q, %v; want stdout and stderr interleaved", out, err)
	}
	small := &LiveRunner{MaxOutput: 4}
	if _, err := small.Run(ctx, "sh", "-c", "echo 0123456789"); err == nil {
		t.Error("output over MaxOutput: got no error")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Run(cctx, "sleep", "5"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: got %v, want context.Canceled", err)
	}
}

func TestCapturedHostPaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "hostname"), []byte("box\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := Captured("linux", dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := h.ReadString("/etc/hostname"); err != nil || got != "box" {
		t.Errorf("ReadString = %q, %v; want box", got, err)
	}
	if !h.Exists("/etc") || h.Exists("/etc/shadow") {
		t.Error("Exists disagrees with the tree")
	}
	if h.Registry != nil {
		t.Error("a tree without registry/ must have no registry")
	}
	if _, err := Captured("linux", filepath.Join(dir, "etc", "hostname")); err == nil {
		t.Error("a file as host root: got no error")
	}
	for in, want := range map[string]string{"/": ".", "/etc/os-release": "etc/os-release", "sys//block/": "sys/block", "/../etc": "etc"} {
		if got := Path(in); got != want {
			t.Errorf("Path(%q) = %q, want %q", in, got, want)
		}
	}
}
