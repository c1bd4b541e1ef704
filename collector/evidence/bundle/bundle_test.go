package bundle

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/shared/wire"
)

func TestValidName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"index.html": true, "audit/log.jsonl": true, "sanitisation/certificates/w-1.json": true,
		"": false, ".": false, "../x": false, "a/../b": false, "/etc/passwd": false, `a\b`: false, "a//b": false, "a/": false,
		ManifestName: false, SignatureName: false,
	} {
		if got := ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestWriterRefusesBadAndRepeatedNames(t *testing.T) {
	t.Parallel()
	w := NewWriter(&bytes.Buffer{}, time.Now())
	if _, err := w.Create("a.csv"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.csv", "../a.csv", ManifestName} {
		if _, err := w.Create(name); err == nil {
			t.Errorf("Create(%q) accepted", name)
		}
	}
}

// TestExtractRefusesEscapingNames: a zip whose entry climbs out of the
// target (zip slip) or repeats a name is refused before anything of it is
// written outside.
func TestExtractRefusesEscapingNames(t *testing.T) {
	t.Parallel()
	for _, names := range [][]string{{"../evil.txt"}, {"ok.txt", "ok.txt"}, {`a\..\..\evil.txt`}} {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, n := range names {
			f, err := zw.CreateHeader(&zip.FileHeader{Name: n})
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("x"))
		}
		zw.Close()
		zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil && !strings.Contains(err.Error(), "insecure") {
			t.Fatal(err)
		}
		parent := t.TempDir()
		dir := filepath.Join(parent, "out")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := Extract(zr, dir); err == nil {
			t.Errorf("Extract of %q succeeded", names)
		}
		if _, err := os.Stat(filepath.Join(parent, "evil.txt")); err == nil {
			t.Errorf("Extract of %q wrote outside its directory", names)
		}
	}
}

// TestWriteThenVerify: what Writer makes, Verify accepts with the key it
// was signed with and only with it.
func TestWriteThenVerify(t *testing.T) {
	t.Parallel()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	var buf bytes.Buffer
	w := NewWriter(&buf, time.Now())
	for _, name := range []string{"a.csv", "dir/b.json"} {
		f, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte(strings.Repeat(name, 1000)))
	}
	sign := func(m []byte) string { return base64.StdEncoding.EncodeToString(ed25519.Sign(priv, m)) }
	if _, err := w.Close(Manifest{KeyID: wire.KeyID(pub), Collector: "c"}, sign); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	res, err := VerifyZip(zr, pub)
	if err != nil || !res.OK || res.Checked != 2 || res.Manifest.Files[1].Size != int64(len("dir/b.json")*1000) {
		t.Fatalf("verify: %v %+v", err, res)
	}
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	if res, _ := VerifyZip(zr, other); res.OK || res.Problems[0].File != SignatureName {
		t.Errorf("verified with another key: %+v", res)
	}
}
