package macpkg

import (
	"bytes"
	"compress/gzip"
	"encoding/xml"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/config"
)

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

func run(t *testing.T, dir string, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	z, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func lines(b []byte) []string { return strings.Split(strings.TrimRight(string(b), "\n"), "\n") }

// crossAgent builds the darwin agent the way make cross does.
func crossAgent(t *testing.T, arch string) []byte {
	t.Helper()
	need(t, "go")
	out := filepath.Join(t.TempDir(), "roster-agent-darwin-"+arch)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=test", "-o", out, "./cmd/roster-agent")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=darwin", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cross-compile the darwin agent: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBuild builds a pkg from a freshly cross-compiled darwin agent and
// reads it back with bsdtar (libarchive's xar reader, which verifies the
// checksums too), GNU cpio and cksum, then with ReadXar and ReadBom.
func TestBuild(t *testing.T) {
	need(t, "bsdtar", "cpio", "cksum")
	agent := crossAgent(t, "arm64")
	dir := t.TempDir()
	pkgPath := filepath.Join(dir, "roster-agent-1.2.3-arm64.pkg")
	f, err := os.Create(pkgPath)
	if err != nil {
		t.Fatal(err)
	}
	mtime := time.Unix(1700000000, 0)
	st, err := Build(f, Package{Version: "1.2.3", Arch: "arm64", Agent: agent, ModTime: mtime})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(pkgPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("figure: %s is %d bytes (agent %d bytes, %d paths, %d KB installed)",
		filepath.Base(pkgPath), fi.Size(), len(agent), st.NumberOfFiles, st.InstallKBytes)

	// The product archive, as libarchive lists it.
	wantXar := []string{"Distribution", "roster-agent.pkg", "roster-agent.pkg/Bom",
		"roster-agent.pkg/PackageInfo", "roster-agent.pkg/Payload", "roster-agent.pkg/Scripts"}
	got := lines(run(t, dir, nil, "bsdtar", "-tf", pkgPath))
	for i := range got {
		got[i] = strings.TrimSuffix(got[i], "/")
	}
	slices.Sort(got)
	if !slices.Equal(got, wantXar) {
		t.Fatalf("bsdtar -tf: got %q, want %q", got, wantXar)
	}
	x := filepath.Join(dir, "x")
	if err := os.Mkdir(x, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, x, nil, "bsdtar", "-xf", pkgPath)
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(x, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	// Our own reader verifies the TOC checksum and every file's checksums
	// and agrees with libarchive byte for byte.
	raw, err := os.ReadFile(pkgPath)
	if err != nil {
		t.Fatal(err)
	}
	files, err := ReadXar(raw)
	if err != nil {
		t.Fatalf("ReadXar: %v", err)
	}
	for _, name := range wantXar {
		if name == "roster-agent.pkg" {
			continue
		}
		if !bytes.Equal(files[name], read(name)) {
			t.Errorf("%s: ReadXar and bsdtar disagree", name)
		}
	}

	// Payload: a gzip odc cpio archive of the install tree.
	payload := gunzip(t, read("roster-agent.pkg/Payload"))
	if string(payload[:6]) != "070707" {
		t.Fatalf("payload magic %q, want odc 070707", payload[:6])
	}
	wantTree := []struct {
		path, mode string
	}{
		{".", "drwxr-xr-x"},
		{"./Library", "drwxr-xr-x"},
		{"./Library/Application Support", "drwxr-xr-x"},
		{"./Library/Application Support/Roster", "drwx------"},
		{"./Library/Application Support/Roster/agent.yaml.example", "-rw-r--r--"},
		{"./usr", "drwxr-xr-x"},
		{"./usr/local", "drwxr-xr-x"},
		{"./usr/local/bin", "drwxr-xr-x"},
		{"./usr/local/bin/roster-agent", "-rwxr-xr-x"},
		{"./usr/local/share", "drwxr-xr-x"},
		{"./usr/local/share/roster-agent", "drwxr-xr-x"},
		{"./usr/local/share/roster-agent/install-method", "-rw-r--r--"},
	}
	names := lines(run(t, dir, payload, "cpio", "-it", "--quiet"))
	long := lines(run(t, dir, payload, "cpio", "-itv", "--quiet", "--numeric-uid-gid"))
	if len(names) != len(wantTree) || len(long) != len(wantTree) {
		t.Fatalf("cpio -it: got %q, want %d paths", names, len(wantTree))
	}
	for i, w := range wantTree {
		fields := strings.Fields(long[i])
		if names[i] != w.path || fields[0] != w.mode || fields[2] != "0" || fields[3] != "80" {
			t.Errorf("cpio entry %d: got %s %s %s:%s, want %s %s 0:80", i, names[i], fields[0], fields[2], fields[3], w.path, w.mode)
		}
	}
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, root, payload, "cpio", "-idm", "--quiet", "--no-preserve-owner")
	bin, err := os.ReadFile(filepath.Join(root, "usr/local/bin/roster-agent"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bin, agent) {
		t.Error("the installed roster-agent differs from the cross-compiled one")
	}
	if m, err := os.ReadFile(filepath.Join(root, "usr/local/share/roster-agent/install-method")); err != nil || strings.TrimSpace(string(m)) != "pkg" {
		t.Errorf("install-method: got %q, %v, want pkg", m, err)
	}

	// Bom: the same paths, modes, owners and sizes, and cksum's CRCs.
	bom, err := ReadBom(read("roster-agent.pkg/Bom"))
	if err != nil {
		t.Fatalf("ReadBom: %v", err)
	}
	if len(bom) != len(wantTree) {
		t.Fatalf("Bom: got %d paths, want %d", len(bom), len(wantTree))
	}
	for _, b := range bom {
		i := slices.IndexFunc(wantTree, func(w struct{ path, mode string }) bool { return w.path == b.Path })
		if i < 0 {
			t.Errorf("Bom lists %s, the payload does not", b.Path)
			continue
		}
		if got := fs.FileMode(b.Mode & 0o777).String()[1:]; got != wantTree[i].mode[1:] || (b.Type == bomTypeDir) != (wantTree[i].mode[0] == 'd') {
			t.Errorf("Bom %s: got type %d mode %s, want %s", b.Path, b.Type, got, wantTree[i].mode)
		}
		if b.UID != 0 || b.GID != 80 || b.ModTime != uint32(mtime.Unix()) {
			t.Errorf("Bom %s: got %d:%d mtime %d, want 0:80 %d", b.Path, b.UID, b.GID, b.ModTime, mtime.Unix())
		}
		if b.Type != bomTypeFile {
			continue
		}
		onDisk := filepath.Join(root, filepath.FromSlash(b.Path))
		sum := strings.Fields(string(run(t, dir, nil, "cksum", onDisk)))
		if sum[0] != strconv.FormatUint(uint64(b.Checksum), 10) || sum[1] != strconv.FormatUint(uint64(b.Size), 10) {
			t.Errorf("Bom %s: got size %d crc %d, cksum says %s %s", b.Path, b.Size, b.Checksum, sum[1], sum[0])
		}
	}

	// bomutils' mkbom, given the extracted tree, writes the same Bom
	// (skipped unless mkbom is installed: Debian does not package it).
	if mkbom, err := exec.LookPath("mkbom"); err == nil {
		err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Chtimes(p, mtime, mtime)
		})
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "mkbom.bom")
		run(t, dir, nil, mkbom, "-u", "0", "-g", "80", root, out)
		if b, err := os.ReadFile(out); err != nil || !bytes.Equal(b, read("roster-agent.pkg/Bom")) {
			t.Errorf("mkbom wrote a different Bom for the payload (%v)", err)
		}
	} else {
		t.Log("mkbom not installed: the payload's Bom is not compared with bomutils'")
	}

	// Scripts: executable preinstall and postinstall.
	scripts := gunzip(t, read("roster-agent.pkg/Scripts"))
	sdir := filepath.Join(dir, "scripts")
	if err := os.Mkdir(sdir, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, sdir, scripts, "cpio", "-idm", "--quiet", "--no-preserve-owner")
	for _, s := range []string{"preinstall", "postinstall"} {
		fi, err := os.Stat(filepath.Join(sdir, s))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: mode %v, want 0755", s, fi.Mode())
		}
		run(t, sdir, nil, "sh", "-n", s)
	}

	// PackageInfo and Distribution.
	var info struct {
		Identifier      string `xml:"identifier,attr"`
		Overwrite       string `xml:"overwrite-permissions,attr"`
		Version         string `xml:"version,attr"`
		InstallLocation string `xml:"install-location,attr"`
		Payload         struct {
			NumberOfFiles int   `xml:"numberOfFiles,attr"`
			InstallKBytes int64 `xml:"installKBytes,attr"`
		} `xml:"payload"`
		Scripts struct {
			Pre struct {
				File string `xml:"file,attr"`
			} `xml:"preinstall"`
			Post struct {
				File string `xml:"file,attr"`
			} `xml:"postinstall"`
		} `xml:"scripts"`
	}
	if err := xml.Unmarshal(read("roster-agent.pkg/PackageInfo"), &info); err != nil {
		t.Fatal(err)
	}
	wantKB := int64(0)
	for _, e := range InstallTree(agent) {
		wantKB += (int64(len(e.Data)) + 1023) / 1024
	}
	if info.Identifier != Identifier || info.Version != "1.2.3" || info.InstallLocation != "/" || info.Overwrite != "false" ||
		info.Payload.NumberOfFiles != len(names) || info.Payload.InstallKBytes != wantKB ||
		info.Scripts.Pre.File != "./preinstall" || info.Scripts.Post.File != "./postinstall" {
		t.Errorf("PackageInfo: got %+v, want %s 1.2.3 at /, permissions kept, with %d files, %d KB and both scripts", info, Identifier, len(names), wantKB)
	}
	var dist struct {
		Options struct {
			HostArchitectures string `xml:"hostArchitectures,attr"`
		} `xml:"options"`
		Choices []struct {
			ID     string `xml:"id,attr"`
			PkgRef []struct {
				ID string `xml:"id,attr"`
			} `xml:"pkg-ref"`
		} `xml:"choice"`
		PkgRefs []struct {
			ID      string `xml:"id,attr"`
			Version string `xml:"version,attr"`
			Path    string `xml:",chardata"`
		} `xml:"pkg-ref"`
	}
	if err := xml.Unmarshal(read("Distribution"), &dist); err != nil {
		t.Fatal(err)
	}
	choice := slices.IndexFunc(dist.Choices, func(c struct {
		ID     string `xml:"id,attr"`
		PkgRef []struct {
			ID string `xml:"id,attr"`
		} `xml:"pkg-ref"`
	}) bool {
		return c.ID == Identifier && len(c.PkgRef) == 1 && c.PkgRef[0].ID == Identifier
	})
	if dist.Options.HostArchitectures != "arm64" || choice < 0 || len(dist.PkgRefs) != 1 ||
		dist.PkgRefs[0].Path != "#roster-agent.pkg" || dist.PkgRefs[0].Version != "1.2.3" {
		t.Errorf("Distribution: got %+v, want arm64 and a choice installing #roster-agent.pkg", dist)
	}

	// The same inputs give the same bytes.
	var again bytes.Buffer
	if _, err := Build(&again, Package{Version: "1.2.3", Arch: "arm64", Agent: agent, ModTime: mtime}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), raw) {
		t.Error("two builds from the same inputs differ")
	}
}

func TestScriptsShellcheck(t *testing.T) {
	t.Parallel()
	need(t, "shellcheck")
	run(t, ".", nil, "shellcheck", "-s", "sh", "scripts/preinstall", "scripts/postinstall")
}

func TestBuildRefuses(t *testing.T) {
	t.Parallel()
	ok := Package{Version: "1.0", Arch: "amd64", Agent: []byte("x"), ModTime: time.Unix(1700000000, 0)}
	for name, mutate := range map[string]func(*Package){
		"arch 386":       func(p *Package) { p.Arch = "386" },
		"no version":     func(p *Package) { p.Version = "" },
		"xml in version": func(p *Package) { p.Version = `1"/><x a="` },
		"no agent":       func(p *Package) { p.Agent = nil },
		"before 1970":    func(p *Package) { p.ModTime = time.Unix(-1, 0) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := ok
			mutate(&p)
			if _, err := Build(io.Discard, p); err == nil {
				t.Fatalf("got no error for %+v", p)
			}
		})
	}
	if _, err := Build(io.Discard, ok); err != nil {
		t.Fatalf("the valid package: %v", err)
	}
}

// TestAgentYAMLExample loads the example the pkg installs with the
// agent's own configuration code: copied to agent.yaml it must be valid.
func TestAgentYAMLExample(t *testing.T) {
	t.Parallel()
	cfg := config.Defaults("darwin")
	if err := cfg.LoadFile("agent.yaml.example", true); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Enroll == nil || len(cfg.Enroll.URLs()) != 1 || cfg.Enroll.SecretFile == "" || len(cfg.Enroll.Tags) == 0 {
		t.Errorf("got enroll %+v, want a collector, a secret file and tags", cfg.Enroll)
	}
}
