package macpkg

import (
	"bytes"
	"encoding/binary"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func testXar(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	err := writeXar(&b, []*xarEntry{
		{Name: "a.txt", Data: []byte("hello, xar\n"), Compress: true},
		{Name: "d", Dir: true, Children: []*xarEntry{
			{Name: "raw", Data: bytes.Repeat([]byte{0, 1, 2, 255}, 1000)},
			{Name: "empty", Data: nil},
		}},
	}, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestXarRoundTrip(t *testing.T) {
	t.Parallel()
	files, err := ReadXar(testXar(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{"a.txt": []byte("hello, xar\n"), "d": nil,
		"d/raw": bytes.Repeat([]byte{0, 1, 2, 255}, 1000), "d/empty": {}}
	for name, w := range want {
		if got, ok := files[name]; !ok || !bytes.Equal(got, w) || (w == nil) != (got == nil) {
			t.Errorf("%s: got %q, want %q", name, got, w)
		}
	}
	if len(files) != len(want) {
		t.Errorf("got %d entries, want %d", len(files), len(want))
	}
}

// TestXarTampered flips one byte in each region: header lengths, TOC,
// TOC checksum, stored data. ReadXar must refuse every one; bsdtar must
// refuse a changed TOC checksum and changed data too (libarchive checks
// both).
func TestXarTampered(t *testing.T) {
	t.Parallel()
	good := testXar(t)
	last := len(good) - 1
	heap := xarHeaderSize + int(binary.BigEndian.Uint64(good[8:]))
	for name, at := range map[string]int{"toc length": 15, "toc": 40, "toc checksum": heap + 5, "raw data": last - 100} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bad := slices.Clone(good)
			bad[at] ^= 0x40
			if _, err := ReadXar(bad); err == nil {
				t.Fatalf("flipping byte %d: got no error", at)
			}
		})
	}
	if _, err := exec.LookPath("bsdtar"); err != nil {
		return
	}
	for name, at := range map[string]int{"toc checksum": heap + 5, "raw data": last - 100} {
		bad := slices.Clone(good)
		bad[at] ^= 0x40
		cmd := exec.Command("bsdtar", "-xOf", "-", "d/raw")
		cmd.Stdin = bytes.NewReader(bad)
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("bsdtar read an archive with a changed %s without complaint", name)
		}
		t.Logf("bsdtar, changed %s: %s", name, strings.Join(strings.Fields(string(out)), " "))
	}
}

func FuzzReadXar(f *testing.F) {
	f.Add(testXar(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ReadXar(b)
	})
}
