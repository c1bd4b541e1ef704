package linuxpkg

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/config"
)

// agentBuilds caches one agent binary per version for the test binary's
// life: building it is the slow part of every test here.
var agentBuilds sync.Map // version → func() (string, error)

// buildAgent compiles roster-agent for linux/GOARCH as `make cross` does,
// with main.version set, into a directory removed when the tests end.
func buildAgent(t *testing.T, version string) string {
	t.Helper()
	f, _ := agentBuilds.LoadOrStore(version, sync.OnceValues(func() (string, error) {
		dir, err := os.MkdirTemp("", "roster-agent-build-")
		if err != nil {
			return "", err
		}
		bin := filepath.Join(dir, "roster-agent-linux-"+runtime.GOARCH)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", bin, "github.com/rosterhq/roster/cmd/roster-agent")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", &buildError{err: err, out: out}
		}
		return bin, nil
	}))
	bin, err := f.(func() (string, error))()
	if err != nil {
		t.Fatalf("build roster-agent: %v", err)
	}
	return bin
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + string(e.out) }

func TestMain(m *testing.M) {
	code := m.Run()
	agentBuilds.Range(func(_, f any) bool {
		if bin, err := f.(func() (string, error))(); err == nil {
			os.RemoveAll(filepath.Dir(bin))
		}
		return true
	})
	os.Exit(code)
}

// buildPackages builds both formats for this machine's architecture.
func buildPackages(t *testing.T, describe string) (debPath, rpmPath string) {
	t.Helper()
	bin := buildAgent(t, describe)
	out := t.TempDir()
	paths, err := Build(Options{Binaries: map[string]string{runtime.GOARCH: bin}, Describe: describe, OutDir: out,
		MTime: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		switch filepath.Ext(p) {
		case ".deb":
			debPath = p
		case ".rpm":
			rpmPath = p
		}
	}
	if debPath == "" || rpmPath == "" {
		t.Fatalf("Build wrote %v, want a .deb and an .rpm", paths)
	}
	return debPath, rpmPath
}

// command runs a tool with a timeout and keeps stderr in the error.
func command(t *testing.T, name string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

var wantFiles = []string{
	"/etc/roster/agent.yaml.example",
	"/lib/systemd/system/roster-agent.service",
	"/usr/bin/roster-agent",
	"/usr/share/doc/roster-agent/copyright",
	"/usr/share/roster-agent/install-method",
}

func TestDeb(t *testing.T) {
	t.Parallel()
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("packages are built for amd64 and arm64")
	}
	debPath, _ := buildPackages(t, "v0.9.0-3-gabc1234")
	if got, want := filepath.Base(debPath), "roster-agent_0.9.0+git3.abc1234_"+runtime.GOARCH+".deb"; got != want {
		t.Errorf("file name %s, want %s", got, want)
	}
	info := command(t, "dpkg-deb", "-I", debPath)
	for _, want := range []string{"Package: roster-agent", "Version: 0.9.0+git3.abc1234", "Architecture: " + runtime.GOARCH,
		"Section: admin", "Maintainer: ", "Homepage: https://github.com/rosterhq/roster", "Description: Roster agent",
		"postinst", "prerm", "postrm", "conffiles"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb -I lacks %q:\n%s", want, info)
		}
	}
	if strings.Contains(info, "Depends:") {
		t.Errorf("the static agent depends on nothing, dpkg-deb -I:\n%s", info)
	}
	if got := command(t, "dpkg-deb", "-f", debPath, "Version"); strings.TrimSpace(got) != "0.9.0+git3.abc1234" {
		t.Errorf("Version %q", got)
	}

	// The file list, with modes and owners.
	var files []string
	for _, line := range strings.Split(strings.TrimSpace(command(t, "dpkg-deb", "-c", debPath)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || strings.HasPrefix(f[0], "d") {
			continue
		}
		path := strings.TrimPrefix(f[5], ".")
		files = append(files, path)
		wantMode := "-rw-r--r--"
		if path == "/usr/bin/roster-agent" {
			wantMode = "-rwxr-xr-x"
		}
		if f[0] != wantMode || f[1] != "root/root" {
			t.Errorf("%s: %s %s, want %s root/root", path, f[0], f[1], wantMode)
		}
	}
	want := append(slices.Clone(wantFiles), "/usr/share/doc/roster-agent/changelog.gz", "/usr/share/lintian/overrides/roster-agent")
	slices.Sort(want)
	if !slices.Equal(files, want) {
		t.Errorf("files\n%v\nwant\n%v", files, want)
	}

	dir := t.TempDir()
	command(t, "dpkg-deb", "-R", debPath, dir)
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read("DEBIAN/conffiles"); got != "/etc/roster/agent.yaml.example\n" {
		t.Errorf("conffiles %q, want only the example (agent.yaml is the administrator's)", got)
	}
	if got := read("usr/share/roster-agent/install-method"); got != "deb\n" {
		t.Errorf("install-method marker %q, want deb", got)
	}
	unit := read("lib/systemd/system/roster-agent.service")
	for _, want := range []string{
		"ExecStart=/usr/bin/roster-agent run --state-dir /var/lib/roster-agent --config /etc/roster/agent.yaml\n",
		"ConditionFileIsExecutable=/usr/bin/roster-agent\n",
		"ReadWritePaths=/var/lib/roster-agent\n",
		"# Installed by the roster-agent package",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	if strings.Contains(unit, "@") {
		t.Errorf("unit has an unfilled placeholder:\n%s", unit)
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		// The unit names the installed binary, so check a copy naming
		// the extracted one.
		u := filepath.Join(t.TempDir(), "roster-agent.service")
		if err := os.WriteFile(u, []byte(strings.ReplaceAll(unit, "/usr/bin/roster-agent", filepath.Join(dir, "usr/bin/roster-agent"))), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("systemd-analyze", "verify", u).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}
	// The example is a valid (all commented) config file.
	cfg := config.Defaults("linux")
	if err := cfg.LoadFile(filepath.Join(dir, "etc/roster/agent.yaml.example"), true); err != nil {
		t.Errorf("agent.yaml.example: %v", err)
	}
	// Its commented enroll section is valid once uncommented.
	var uncommented []string
	for _, l := range strings.Split(read("etc/roster/agent.yaml.example"), "\n") {
		rest, _ := strings.CutPrefix(l, "# ")
		if rest == "enroll:" || len(uncommented) > 0 && strings.HasPrefix(rest, "  ") {
			uncommented = append(uncommented, rest)
		} else if len(uncommented) > 0 {
			break
		}
	}
	ex := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(ex, []byte(strings.Join(uncommented, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg = config.Defaults("linux")
	if err := cfg.LoadFile(ex, true); err != nil || cfg.Validate() != nil || cfg.Enroll == nil || cfg.Enroll.SecretFile != "/etc/roster/enroll-secret" {
		t.Errorf("the example's enroll section (%q): %v, %v, %+v", uncommented, err, cfg.Validate(), cfg.Enroll)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		if got := read("DEBIAN/" + s); !strings.HasPrefix(got, "#!/bin/sh\n") {
			t.Errorf("%s does not start with #!/bin/sh", s)
		}
	}
}

// TestLintian: no errors; the warnings left are listed in docs/agent.md.
func TestLintian(t *testing.T) {
	t.Parallel()
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("packages are built for amd64 and arm64")
	}
	debPath, _ := buildPackages(t, "v0.9.0")
	if _, err := exec.LookPath("lintian"); err != nil {
		t.Skip("lintian not installed")
	}
	out, _ := exec.Command("lintian", "--allow-root", "--fail-on", "none", debPath).CombinedOutput()
	allowed := []string{"maintainer-script-calls-systemctl", "no-manual-page", "uses-dpkg-database-directly"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		switch {
		case strings.HasPrefix(line, "E: "):
			t.Errorf("lintian error: %s", line)
		case strings.HasPrefix(line, "W: ") && !slices.ContainsFunc(allowed, func(tag string) bool { return strings.Contains(line, ": "+tag+" ") }):
			t.Errorf("lintian warning not listed in docs/agent.md: %s", line)
		}
	}
	t.Logf("lintian:\n%s", out)
}

func TestRPM(t *testing.T) {
	t.Parallel()
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("packages are built for amd64 and arm64")
	}
	_, rpmPath := buildPackages(t, "v0.9.0-3-gabc1234")
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	if got, want := filepath.Base(rpmPath), "roster-agent-0.9.0-1.git3.abc1234."+arch+".rpm"; got != want {
		t.Errorf("file name %s, want %s", got, want)
	}
	info := command(t, "rpm", "-qpi", rpmPath)
	for _, want := range []string{"Name        : roster-agent", "Version     : 0.9.0", "Release     : 1.git3.abc1234",
		"Architecture: " + arch, "License     : Apache-2.0", "URL         : https://github.com/rosterhq/roster"} {
		if !strings.Contains(info, want) {
			t.Errorf("rpm -qpi lacks %q:\n%s", want, info)
		}
	}
	list := strings.Fields(command(t, "rpm", "-qpl", rpmPath))
	want := slices.Clone(wantFiles)
	slices.Sort(want)
	if !slices.Equal(list, want) {
		t.Errorf("rpm -qpl\n%v\nwant\n%v", list, want)
	}
	conf := strings.Fields(command(t, "rpm", "-qpc", rpmPath))
	if !slices.Equal(conf, []string{"/etc/roster/agent.yaml.example"}) {
		t.Errorf("rpm -qpc %v, want the example only", conf)
	}
	scripts := command(t, "rpm", "-qp", "--scripts", rpmPath)
	for _, want := range []string{"postinstall scriptlet (using /bin/sh)", "preuninstall scriptlet", "postuninstall scriptlet", "systemctl restart"} {
		if !strings.Contains(scripts, want) {
			t.Errorf("rpm --scripts lacks %q:\n%s", want, scripts)
		}
	}

	// Installed into a throwaway root: the files land where they should.
	// The scriptlets would run chrooted into it, which has no /bin/sh, so
	// they are left out here; the .deb test runs them for real.
	root := t.TempDir()
	command(t, "rpm", "--root", root, "-i", "--nodeps", "--noscripts", rpmPath)
	for _, f := range wantFiles {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("after rpm -i: %v", err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, MarkerPath)); err != nil || string(b) != "rpm\n" {
		t.Errorf("install-method marker %q, %v; want rpm", b, err)
	}
	if st, err := os.Stat(filepath.Join(root, BinaryPath)); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("binary: %v, %v; want mode 0755", st, err)
	}
	if got := command(t, "rpm", "--root", root, "-q", "roster-agent"); !strings.HasPrefix(got, "roster-agent-0.9.0-1.git3.abc1234") {
		t.Errorf("rpm -q in the root: %q", got)
	}
	command(t, "rpm", "--root", root, "-e", "--noscripts", "roster-agent")
	if _, err := os.Stat(filepath.Join(root, BinaryPath)); err == nil {
		t.Errorf("rpm -e left %s", BinaryPath)
	}
}

func TestScriptsShellcheck(t *testing.T) {
	t.Parallel()
	scripts, err := filepath.Glob("scripts/*.sh")
	if err != nil || len(scripts) != 3 {
		t.Fatalf("scripts %v, %v; want 3", scripts, err)
	}
	command(t, "shellcheck", append([]string{"-s", "sh", "-S", "style"}, scripts...)...)
	command(t, "shellcheck", "-S", "style", "../build/10-linux.sh")
}

// TestReproducible: one commit's packages are byte-identical.
func TestReproducible(t *testing.T) {
	t.Parallel()
	bin := buildAgent(t, "v0.9.0")
	var got [][]byte
	for range 2 {
		out := t.TempDir()
		paths, err := Build(Options{Binaries: map[string]string{"amd64": bin}, Describe: "v0.9.0", OutDir: out, MTime: time.Unix(1764590400, 0)})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, b)
		}
	}
	for i := range len(got) / 2 {
		if !bytes.Equal(got[i], got[i+len(got)/2]) {
			t.Errorf("package %d differs between two builds of one version", i)
		}
	}
}
