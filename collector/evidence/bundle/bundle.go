// Package bundle is the evidence bundle's format, apart from what goes in
// it: a zip whose files are hashed as they are written (Writer), a
// manifest.json listing every file with its SHA-256 and size, a
// manifest.sig holding the collector's Ed25519 signature over the
// manifest's exact bytes, and the offline check of all of it (Verify) that
// names each file found changed, missing or extra. It imports only the
// standard library and shared/wire, so rosterctl verifies a bundle without
// linking the collector.
package bundle

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"strings"
	"time"
)

// Names of the bundle's own files.
const (
	ManifestName  = "manifest.json"
	SignatureName = "manifest.sig"
	// Format is Manifest.Format of this version of the bundle.
	Format = "roster-evidence-v1"
	// SignatureAlgorithm is Signature.Algorithm.
	SignatureAlgorithm = "ed25519"
	// signatureContext is prefixed to the manifest bytes before signing,
	// so a manifest signature can never pass for a command's or a
	// certificate's made with the same key.
	signatureContext = "roster-evidence-manifest-v1\n"
)

// Manifest says what the bundle holds and for which period.
type Manifest struct {
	Format string `json:"format"`
	// From and To are the period, [From, To).
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Collector names the collector that built the bundle; KeyID is the
	// command-signing key that signed it.
	Collector  string    `json:"collector"`
	KeyID      string    `json:"key_id"`
	ExportedAt time.Time `json:"exported_at"`
	// Exporter is the principal who asked for the bundle.
	Exporter   string `json:"exporter"`
	ExporterID string `json:"exporter_id"`
	Files      []File `json:"files"`
}

// File is one file of the bundle, by its slash-separated path.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Signature is manifest.sig.
type Signature struct {
	Algorithm string `json:"algorithm"`
	KeyID     string `json:"key_id"`
	// Signature is base64 Ed25519 over SignedBytes of manifest.json.
	Signature string `json:"signature"`
}

// SignedBytes is what the signature covers: a fixed context line, then
// the manifest's bytes exactly as the bundle holds them.
func SignedBytes(manifest []byte) []byte {
	return append([]byte(signatureContext), manifest...)
}

// Writer writes a bundle into a zip stream, one file at a time, hashing
// each as it goes so nothing is held in memory; Close writes the manifest
// and its signature last.
type Writer struct {
	zw      *zip.Writer
	modTime time.Time
	files   []File
	names   map[string]bool
	cur     *entry
}

type entry struct {
	w    io.Writer
	h    hash.Hash
	n    int64
	name string
}

func (e *entry) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	e.h.Write(p[:n])
	e.n += int64(n)
	return n, err
}

// NewWriter starts a bundle on w; every entry carries modTime.
func NewWriter(w io.Writer, modTime time.Time) *Writer {
	return &Writer{zw: zip.NewWriter(w), modTime: modTime.UTC(), names: map[string]bool{}}
}

// ValidName reports whether name may be a file of a bundle: a clean,
// relative, slash-separated path (fs.ValidPath) without backslashes, and
// not one of the bundle's own files.
func ValidName(name string) bool {
	return fs.ValidPath(name) && name != "." && !strings.Contains(name, `\`) && name != ManifestName && name != SignatureName
}

// Create starts the next file; what was written to the previous one is
// final from now on.
func (w *Writer) Create(name string) (io.Writer, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("bundle file %q: not a valid name", name)
	}
	if w.names[name] {
		return nil, fmt.Errorf("bundle file %q: written twice", name)
	}
	w.finish()
	zf, err := w.zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: w.modTime})
	if err != nil {
		return nil, fmt.Errorf("bundle file %s: %w", name, err)
	}
	w.names[name] = true
	w.cur = &entry{w: zf, h: sha256.New(), name: name}
	return w.cur, nil
}

func (w *Writer) finish() {
	if w.cur == nil {
		return
	}
	w.files = append(w.files, File{Name: w.cur.name, Size: w.cur.n, SHA256: hex.EncodeToString(w.cur.h.Sum(nil))})
	w.cur = nil
}

// Files is what has been written so far, the file being written excluded.
func (w *Writer) Files() []File { return append([]File(nil), w.files...) }

// Close writes manifest.json (m with the files written) and manifest.sig
// (sign returns the base64 signature of its argument, made with the key
// m.KeyID names) and ends the zip. It returns the manifest's bytes.
func (w *Writer) Close(m Manifest, sign func([]byte) string) ([]byte, error) {
	w.finish()
	m.Format = Format
	m.Files = w.files
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	body = append(body, '\n')
	sig, err := json.MarshalIndent(Signature{Algorithm: SignatureAlgorithm, KeyID: m.KeyID, Signature: sign(SignedBytes(body))}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest signature: %w", err)
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{{ManifestName, body}, {SignatureName, append(sig, '\n')}} {
		zf, err := w.zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: w.modTime})
		if err != nil {
			return nil, fmt.Errorf("write %s: %w", f.name, err)
		}
		if _, err := zf.Write(f.b); err != nil {
			return nil, fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	if err := w.zw.Close(); err != nil {
		return nil, fmt.Errorf("finish the bundle: %w", err)
	}
	return body, nil
}

// errNotBundle is what reading a file that is not a bundle says.
var errNotBundle = errors.New("not an evidence bundle")
