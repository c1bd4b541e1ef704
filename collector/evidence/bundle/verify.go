package bundle

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rosterhq/roster/shared/wire"
)

// Limits on the bundle's own files when reading one.
const (
	maxManifest  = 32 << 20
	maxSignature = 64 << 10
)

// Problem is one thing found wrong, with the file it concerns.
type Problem struct {
	File    string `json:"file"`
	Message string `json:"message"`
}

// Result is what Verify found.
type Result struct {
	OK bool `json:"ok"`
	// KeyID names the key the manifest was checked against.
	KeyID string `json:"key_id"`
	// Manifest is the manifest as read (nil when unreadable); trust it
	// only when OK.
	Manifest *Manifest `json:"manifest,omitempty"`
	// Checked is how many listed files matched their size and SHA-256.
	Checked  int       `json:"checked"`
	Problems []Problem `json:"problems,omitempty"`
}

func (r *Result) problem(file, format string, args ...any) {
	r.OK = false
	r.Problems = append(r.Problems, Problem{File: file, Message: fmt.Sprintf(format, args...)})
}

// ErrTampered is wrapped by Result.Err when a bundle does not verify.
var ErrTampered = errors.New("evidence bundle does not verify")

// Err is nil for a bundle that verified, else ErrTampered naming every
// problem's file.
func (r Result) Err() error {
	if r.OK {
		return nil
	}
	var b strings.Builder
	for i, p := range r.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.File + ": " + p.Message)
	}
	return fmt.Errorf("%w: %s", ErrTampered, b.String())
}

// Verify checks the bundle fsys holds (a zip.Reader or a directory)
// against pub, offline: manifest.sig is pub's signature over manifest.json,
// every file the manifest lists is there with its size and SHA-256, and no
// other file is. It reads each file once, streaming. The error is for a
// bundle that could not be read at all; what is wrong with a readable one
// is in the Result.
func Verify(fsys fs.FS, pub ed25519.PublicKey) (Result, error) {
	res := Result{OK: true, KeyID: wire.KeyID(pub)}
	body, err := readFile(fsys, ManifestName, maxManifest)
	if err != nil {
		res.problem(ManifestName, "%v", err)
		return res, nil
	}
	checkSignature(&res, fsys, body, pub)
	var m Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		res.problem(ManifestName, "not a manifest: %v", err)
		return res, nil
	}
	res.Manifest = &m
	if m.Format != Format {
		res.problem(ManifestName, "format %q, want %q", m.Format, Format)
	}
	listed := map[string]bool{}
	for _, f := range m.Files {
		switch {
		case !ValidName(f.Name):
			res.problem(f.Name, "the manifest lists an invalid file name")
			continue
		case listed[f.Name]:
			res.problem(f.Name, "the manifest lists it twice")
			continue
		}
		listed[f.Name] = true
		if checkFile(&res, fsys, f) {
			res.Checked++
		}
	}
	err = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			res.problem(name, "not a regular file")
		case name == ManifestName || name == SignatureName || listed[name]:
		default:
			res.problem(name, "extra file: the manifest does not list it")
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("list the bundle's files: %w", err)
	}
	return res, nil
}

func checkSignature(res *Result, fsys fs.FS, manifest []byte, pub ed25519.PublicKey) {
	b, err := readFile(fsys, SignatureName, maxSignature)
	if err != nil {
		res.problem(SignatureName, "%v", err)
		return
	}
	var s Signature
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		res.problem(SignatureName, "not a manifest signature: %v", err)
		return
	}
	sig, err := base64.StdEncoding.DecodeString(s.Signature)
	switch {
	case s.Algorithm != SignatureAlgorithm:
		res.problem(SignatureName, "algorithm %q, want %q", s.Algorithm, SignatureAlgorithm)
	case s.KeyID != res.KeyID:
		res.problem(SignatureName, "signed by key %s, not by the given key %s", s.KeyID, res.KeyID)
	case err != nil || len(sig) != ed25519.SignatureSize:
		res.problem(SignatureName, "the signature is not a base64 Ed25519 signature")
	case !ed25519.Verify(pub, SignedBytes(manifest), sig):
		res.problem(ManifestName, "the signature does not match: the manifest was changed after it was signed")
	}
}

// checkFile hashes one listed file; it reads at most one byte more than
// the manifest says, so a grown file cannot make it read forever.
func checkFile(res *Result, fsys fs.FS, f File) bool {
	fh, err := fsys.Open(f.Name)
	if errors.Is(err, fs.ErrNotExist) {
		res.problem(f.Name, "missing: the manifest lists it but the bundle does not hold it")
		return false
	}
	if err != nil {
		res.problem(f.Name, "open: %v", err)
		return false
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(fh, f.Size+1))
	switch {
	case err != nil:
		res.problem(f.Name, "read: %v", err)
	case n != f.Size:
		res.problem(f.Name, "size differs: the manifest says %d bytes, the file has %s", f.Size, sizeSeen(n, f.Size))
	case hex.EncodeToString(h.Sum(nil)) != f.SHA256:
		res.problem(f.Name, "SHA-256 differs from the manifest's: the file was changed")
	default:
		return true
	}
	return false
}

func sizeSeen(n, want int64) string {
	if n > want {
		return "more"
	}
	return fmt.Sprint(n)
}

func readFile(fsys fs.FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errors.New("missing")
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("over the %d-byte limit", limit)
	}
	return b, nil
}

// VerifyZip is Verify for a zip, which first checks what a directory
// cannot hold: two entries of one name (a reader would see only one) and
// names that are not clean relative paths.
func VerifyZip(zr *zip.Reader, pub ed25519.PublicKey) (Result, error) {
	var bad []Problem
	seen := map[string]bool{}
	for _, f := range zr.File {
		name := f.Name
		switch {
		case strings.HasSuffix(name, "/") && f.FileInfo().IsDir():
			continue
		case seen[name]:
			bad = append(bad, Problem{name, "the zip holds two entries of this name"})
		case !ValidName(name) && name != ManifestName && name != SignatureName:
			bad = append(bad, Problem{name, "not a valid file name in a bundle"})
		}
		seen[name] = true
	}
	res, err := Verify(zr, pub)
	if len(bad) > 0 {
		res.OK = false
		res.Problems = append(bad, res.Problems...)
	}
	return res, err
}

// VerifyPath verifies the bundle at path: a zip file or a directory it
// was extracted into.
func VerifyPath(path string, pub ed25519.PublicKey) (Result, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Result{}, fmt.Errorf("open bundle: %w", err)
	}
	if st.IsDir() {
		return Verify(os.DirFS(path), pub)
	}
	zr, err := zip.OpenReader(path)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return Result{}, fmt.Errorf("open bundle %s: %w: %v", path, errNotBundle, err)
	}
	defer zr.Close()
	return VerifyZip(&zr.Reader, pub)
}

// Extract writes the zip's files under dir, which must exist and be
// empty. Names must be valid bundle names; each file is written with at
// most the size its entry declares.
func Extract(zr *zip.Reader, dir string) error {
	if ents, err := os.ReadDir(dir); err != nil {
		return fmt.Errorf("extract bundle: %w", err)
	} else if len(ents) > 0 {
		return fmt.Errorf("extract bundle: %s is not empty", dir)
	}
	seen := map[string]bool{}
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		if (!ValidName(f.Name) && f.Name != ManifestName && f.Name != SignatureName) || seen[f.Name] {
			return fmt.Errorf("extract bundle: entry %q: %w: invalid or repeated name", f.Name, errNotBundle)
		}
		seen[f.Name] = true
		if err := extractOne(f, filepath.Join(dir, filepath.FromSlash(f.Name))); err != nil {
			return fmt.Errorf("extract bundle: %s: %w", f.Name, err)
		}
	}
	return nil
}

func extractOne(f *zip.File, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, io.LimitReader(rc, int64(f.UncompressedSize64))); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
