package collector

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// builtPackages builds the real binaries once and packages them.
var built struct {
	once     sync.Once
	dir      string
	deb, rpm string
	err      error
}

func packages(t *testing.T) (debPath, rpmPath string) {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "roster-collector-pkg-test-")
		if built.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		// As make build does: stripped, as packages ship them.
		bin, ctl := filepath.Join(built.dir, "roster-collector"), filepath.Join(built.dir, "rosterctl")
		for _, b := range []struct{ out, pkg, cgo string }{
			{bin, "github.com/rosterhq/roster/cmd/roster-collector", "CGO_ENABLED=1"},
			{ctl, "github.com/rosterhq/roster/cmd/rosterctl", "CGO_ENABLED=0"},
		} {
			cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", b.out, b.pkg)
			cmd.Env = append(os.Environ(), b.cgo)
			if out, err := cmd.CombinedOutput(); err != nil {
				built.err = fmt.Errorf("go build %s: %w\n%s", b.pkg, err, out)
				return
			}
		}
		built.deb, built.rpm, built.err = Packages(built.dir, Options{
			Collector: bin, Rosterctl: ctl, Describe: "v1.4.0", Arch: "amd64", LibcVersion: "2.34",
			MTime: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		})
	})
	if built.err != nil {
		t.Fatalf("build packages: %v", built.err)
	}
	return built.deb, built.rpm
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make deps)", tool)
		}
	}
}

func output(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.String())
	}
	return string(out)
}

func TestNames(t *testing.T) {
	t.Parallel()
	debPath, rpmPath := packages(t)
	if got, want := filepath.Base(debPath), "roster-collector_1.4.0_amd64.deb"; got != want {
		t.Errorf("deb name %s, want %s", got, want)
	}
	if got, want := filepath.Base(rpmPath), "roster-collector-1.4.0-1.x86_64.rpm"; got != want {
		t.Errorf("rpm name %s, want %s", got, want)
	}
}

func TestDebContents(t *testing.T) {
	t.Parallel()
	need(t, "dpkg-deb")
	debPath, _ := packages(t)
	// "-rwxr-xr-x root/root  31363184 2026-12-01 00:00 ./usr/bin/roster-collector"
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(output(t, "dpkg-deb", "-c", debPath)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb -c line %q", line)
		}
		got[strings.TrimPrefix(f[5], ".")] = f[0] + " " + f[1]
	}
	for path, want := range map[string]string{
		"/usr/bin/roster-collector": "-rwxr-xr-x root/root",
		"/usr/bin/rosterctl":        "-rwxr-xr-x root/root",
		UnitPath:                    "-rw-r--r-- root/root",
		ConfigPath:                  "-rw-r----- root/root",
		"/usr/share/doc/roster-collector/copyright":     "-rw-r--r-- root/root",
		"/usr/share/doc/roster-collector/changelog.gz":  "-rw-r--r-- root/root",
		"/usr/share/lintian/overrides/roster-collector": "-rw-r--r-- root/root",
	} {
		if got[path] != want {
			t.Errorf("%s: %q, want %q", path, got[path], want)
		}
	}
	fields := output(t, "dpkg-deb", "-f", debPath, "Package", "Version", "Architecture", "Depends")
	for _, want := range []string{"Package: roster-collector", "Version: 1.4.0", "Architecture: amd64", "Depends: passwd, libc6 (>= 2.34)"} {
		if !strings.Contains(fields, want+"\n") {
			t.Errorf("control lacks %q:\n%s", want, fields)
		}
	}
	ctrl := t.TempDir()
	output(t, "dpkg-deb", "-e", debPath, ctrl)
	if b, _ := os.ReadFile(filepath.Join(ctrl, "conffiles")); strings.TrimSpace(string(b)) != ConfigPath {
		t.Errorf("conffiles %q, want %s", b, ConfigPath)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		if _, err := os.Stat(filepath.Join(ctrl, s)); err != nil {
			t.Errorf("no %s: %v", s, err)
		}
	}
}

func TestLintian(t *testing.T) {
	t.Parallel()
	need(t, "lintian")
	debPath, _ := packages(t)
	cmd := exec.Command("lintian", "--tag-display-limit", "0", debPath)
	out, _ := cmd.CombinedOutput() // exit 2 on errors; the E: lines say which
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "E: ") {
			t.Errorf("lintian: %s", line)
		}
	}
	if t.Failed() {
		t.Logf("lintian output:\n%s", out)
	}
}

func TestRPMContents(t *testing.T) {
	t.Parallel()
	need(t, "rpm")
	_, rpmPath := packages(t)
	files := strings.Fields(output(t, "rpm", "-qpl", rpmPath))
	for _, want := range []string{"/usr/bin/roster-collector", "/usr/bin/rosterctl", UnitPath, ConfigPath} {
		if !slices.Contains(files, want) {
			t.Errorf("rpm -qpl lacks %s: %v", want, files)
		}
	}
	if got := strings.TrimSpace(output(t, "rpm", "-qpc", rpmPath)); got != ConfigPath {
		t.Errorf("rpm config files %q, want %s", got, ConfigPath)
	}
	if got := output(t, "rpm", "-qp", "--qf", "%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{LICENSE}\n", rpmPath); got != "roster-collector 1.4.0 1 x86_64 Apache-2.0\n" {
		t.Errorf("rpm header %q", got)
	}
	// %config(noreplace): file flag bit 4 (RPMFILE_NOREPLACE = 1<<4).
	flags := output(t, "rpm", "-qp", "--qf", "[%{FILENAMES} %{FILEFLAGS}\n]", rpmPath)
	if !regexp.MustCompile(`(?m)^` + ConfigPath + ` (17|19|25)$`).MatchString(flags) {
		t.Errorf("collector.yaml is not %%config(noreplace):\n%s", flags)
	}
	scripts := output(t, "rpm", "-qp", "--scripts", rpmPath)
	for _, want := range []string{"postinstall scriptlet", "useradd --system", "preuninstall scriptlet", "postuninstall scriptlet"} {
		if !strings.Contains(scripts, want) {
			t.Errorf("rpm scripts lack %q", want)
		}
	}
}

// TestUnitVerify has systemd check the unit: every directive parses and no
// warning is printed (unknown keys only warn).
func TestUnitVerify(t *testing.T) {
	t.Parallel()
	need(t, "systemd-analyze")
	dir := t.TempDir()
	exe := filepath.Join(dir, "roster-collector")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit := strings.ReplaceAll(string(Unit), "/usr/bin/roster-collector ", exe+" ")
	path := filepath.Join(dir, "roster-collector.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestUnitHardening pins the directives docs/installers.md promises.
func TestUnitHardening(t *testing.T) {
	t.Parallel()
	lines := strings.Split(string(Unit), "\n")
	for _, want := range []string{
		"User=roster", "Group=roster", "StateDirectory=roster", "StateDirectoryMode=0700", "UMask=0077",
		"CapabilityBoundingSet=", "AmbientCapabilities=", "NoNewPrivileges=yes", "ProtectSystem=strict",
		"ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes", "ProtectKernelTunables=yes",
		"ProtectControlGroups=yes", "RestrictSUIDSGID=yes", "LockPersonality=yes",
		"ExecStart=/usr/bin/roster-collector serve --config /etc/roster/collector.yaml --log-format json",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
}

// TestScriptsWithoutSystemd runs the maintainer scripts as dpkg and rpm
// call them, on a machine where systemd is not PID 1 (this one, a
// container) and with the account tools replaced by recorders: none may
// fail, and the postinst creates the system user.
func TestScriptsWithoutSystemd(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd runs here: the scripts would call systemctl")
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	for _, tool := range []string{"getent", "groupadd", "useradd", "chgrp", "chmod", "systemctl"} {
		body := "#!/bin/sh\necho \"" + tool + " $*\" >>" + log + "\n"
		if tool == "getent" {
			body += "exit 2\n" // no such user or group
		}
		if err := os.WriteFile(filepath.Join(dir, tool), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		script string
		args   []string
	}{
		{"postinstall.sh", []string{"configure"}},
		{"postinstall.sh", []string{"configure", "1.3.0"}},
		{"postinstall.sh", []string{"1"}},
		{"postinstall.sh", []string{"2"}},
		{"preremove.sh", []string{"remove"}},
		{"preremove.sh", []string{"upgrade", "1.5.0"}},
		{"preremove.sh", []string{"0"}},
		{"postremove.sh", []string{"purge"}},
		{"postremove.sh", []string{"remove"}},
		{"postremove.sh", []string{"0"}},
	} {
		b, err := scripts.ReadFile("scripts/" + tc.script)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sh", append([]string{"-c", string(b), tc.script}, tc.args...)...)
		cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s %v: %v\n%s", tc.script, tc.args, err, out)
		}
	}
	calls, _ := os.ReadFile(log)
	for _, want := range []string{"groupadd --system roster", "useradd --system --gid roster --home-dir /var/lib/roster"} {
		if !strings.Contains(string(calls), want) {
			t.Errorf("postinst did not run %q; calls:\n%s", want, calls)
		}
	}
	if strings.Contains(string(calls), "systemctl") {
		t.Errorf("a script called systemctl without systemd:\n%s", calls)
	}
}

func TestScriptsShellcheck(t *testing.T) {
	t.Parallel()
	need(t, "shellcheck")
	paths, _ := filepath.Glob("scripts/*.sh")
	out, err := exec.Command("shellcheck", append([]string{"--shell=sh"}, paths...)...).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}
