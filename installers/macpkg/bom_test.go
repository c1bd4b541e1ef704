package macpkg

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// parseLsbom reads lsbom's listing format, which mkbom -i takes:
// path, octal mode, uid/gid, mtime[, size, checksum[, link target]].
func parseLsbom(t testing.TB, text string) []BomFile {
	t.Helper()
	var out []BomFile
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		f := strings.Split(line, "\t")
		num := func(s string, base int) uint32 {
			n, err := strconv.ParseUint(s, base, 32)
			if err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			return uint32(n)
		}
		uid, gid, _ := strings.Cut(f[2], "/")
		b := BomFile{Path: f[0], Mode: uint16(num(f[1], 8)), UID: num(uid, 10), GID: num(gid, 10), ModTime: num(f[3], 10)}
		switch b.Mode & 0o170000 {
		case 0o040000:
			b.Type = bomTypeDir
		case 0o100000:
			b.Type, b.Size, b.Checksum = bomTypeFile, num(f[4], 10), num(f[5], 10)
		case 0o120000:
			b.Type, b.Size, b.Checksum, b.LinkName = bomTypeLink, num(f[4], 10), num(f[5], 10), f[6]
		default:
			t.Fatalf("line %q: unexpected type", line)
		}
		out = append(out, b)
	}
	return out
}

func TestBomWriteMatchesMkbom(t *testing.T) {
	t.Parallel()
	list, err := os.ReadFile("testdata/mkbom/tree-315.list")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/mkbom/tree-315.bom")
	if err != nil {
		t.Fatal(err)
	}
	files := parseLsbom(t, string(list))
	got, err := bomWrite(files)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("bomWrite differs from mkbom's Bom at byte %d (got %d bytes, want %d)", i, len(got), len(want))
	}

	// And it reads back, in mkbom's breadth-first order, as the listing.
	back, err := ReadBom(want)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]BomFile{}
	for _, f := range files {
		byPath[f.Path] = f
	}
	if len(back) != len(files) {
		t.Fatalf("got %d paths, want %d", len(back), len(files))
	}
	for _, f := range back {
		if f != byPath[f.Path] {
			t.Errorf("got %+v, want %+v", f, byPath[f.Path])
		}
	}
}

func TestBomWriteRefuses(t *testing.T) {
	t.Parallel()
	root := BomFile{Path: ".", Type: bomTypeDir, Mode: 0o40755}
	for name, files := range map[string][]BomFile{
		"no root":        {{Path: "./a", Type: bomTypeFile, Mode: 0o100644}},
		"missing parent": {root, {Path: "./a/b", Type: bomTypeFile, Mode: 0o100644}},
		"dot dot":        {root, {Path: "./../a", Type: bomTypeFile, Mode: 0o100644}},
		"unclean":        {root, {Path: "./a//b", Type: bomTypeFile, Mode: 0o100644}},
		"twice":          {root, root},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := bomWrite(files); err == nil {
				t.Fatalf("got no error for %v", files)
			}
		})
	}
}

// TestCksum compares with coreutils' cksum, the algorithm bomutils and
// Apple's Boms use.
func TestCksum(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("cksum"); err != nil {
		t.Skip("cksum not installed")
	}
	big := bytes.Repeat([]byte("roster\x00\xff"), 40000)
	for _, in := range [][]byte{{}, []byte("a"), []byte("pkg\n"), big} {
		cmd := exec.Command("cksum")
		cmd.Stdin = bytes.NewReader(in)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		want, err := strconv.ParseUint(strings.Fields(string(out))[0], 10, 32)
		if err != nil {
			t.Fatal(err)
		}
		if got := cksum(in); got != uint32(want) {
			t.Errorf("cksum of %d bytes: got %d, want %d", len(in), got, want)
		}
	}
}

// TestReadBomApple reads a Bom written by Apple's tools when one is
// given: ROSTER_APPLE_BOM=path/to/file.bom (for instance
// apple-bom/src/testdata/python-applications.bom of
// indygreg/apple-platform-rs, or any /var/db/receipts/*.bom of a Mac);
// ROSTER_APPLE_BOM_LSBOM may name its `lsbom` listing to compare with.
func TestReadBomApple(t *testing.T) {
	t.Parallel()
	p := os.Getenv("ROSTER_APPLE_BOM")
	if p == "" {
		t.Skip("ROSTER_APPLE_BOM not set")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	files, err := ReadBom(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d paths", filepath.Base(p), len(files))
	if len(files) == 0 || files[0].Path != "." {
		t.Fatalf("got %d paths starting with %+v, want the root first", len(files), files)
	}
	l := os.Getenv("ROSTER_APPLE_BOM_LSBOM")
	if l == "" {
		return
	}
	text, err := os.ReadFile(l)
	if err != nil {
		t.Fatal(err)
	}
	// lsbom prints no size or checksum for directories and may order
	// differently: compare path, mode and owner.
	want := map[string]string{}
	for _, line := range strings.Split(strings.TrimRight(string(text), "\n"), "\n") {
		f := strings.Split(line, "\t")
		want[f[0]] = f[1] + " " + f[2]
	}
	if len(want) != len(files) {
		t.Errorf("got %d paths, lsbom lists %d", len(files), len(want))
	}
	for _, f := range files {
		got := strconv.FormatUint(uint64(f.Mode), 8) + " " + strconv.Itoa(int(f.UID)) + "/" + strconv.Itoa(int(f.GID))
		if want[f.Path] != got {
			t.Errorf("%s: got %s, want %s", f.Path, got, want[f.Path])
		}
	}
}

func FuzzReadBom(f *testing.F) {
	seed, err := os.ReadFile("testdata/mkbom/tree-315.bom")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	small, err := bomWrite([]BomFile{{Path: ".", Type: bomTypeDir, Mode: 0o40755}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(small)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ReadBom(b)
	})
}
