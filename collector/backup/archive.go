package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
)

// Options say what Create backs up and to whom.
type Options struct {
	// DataDir holds roster.db and pki/. The unencrypted copy of the
	// database is made in a private temporary directory inside it (same
	// file system and permissions as the original) and removed whatever
	// happens.
	DataDir string
	// Out is the backup file to write (atomically, mode 0600).
	Out              string
	Recipients       []age.Recipient
	CollectorVersion string
	Now              time.Time
}

// Result is what Create wrote.
type Result struct {
	Path     string   `json:"path"`
	Size     int64    `json:"size"`
	Manifest Manifest `json:"manifest"`
}

// Create writes an encrypted backup of the data directory opt.DataDir.
func Create(ctx context.Context, opt Options) (Result, error) {
	if len(opt.Recipients) == 0 {
		return Result{}, errors.New("backup: no age recipient to encrypt to")
	}
	removeStale(opt.DataDir, opt.Now)
	tmp, err := os.MkdirTemp(opt.DataDir, tmpPrefix)
	if err != nil {
		return Result{}, fmt.Errorf("backup: make temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	snap := filepath.Join(tmp, DBName)
	if err := snapshot(ctx, filepath.Join(opt.DataDir, DBName), snap); err != nil {
		return Result{}, fmt.Errorf("backup: %w", err)
	}
	db, err := openSQLite(ctx, snap)
	if err != nil {
		return Result{}, fmt.Errorf("backup: open the copy: %w", err)
	}
	m, err := describe(ctx, db)
	db.Close()
	if err != nil {
		return Result{}, fmt.Errorf("backup: %w", err)
	}
	m.Format = FormatVersion
	m.CreatedAt = opt.Now.UTC()
	m.CollectorVersion = opt.CollectorVersion

	files := []struct{ name, path string }{{DBName, snap}}
	pkiPath := filepath.Join(opt.DataDir, PKIDir)
	entries, err := os.ReadDir(pkiPath)
	if err != nil {
		return Result{}, fmt.Errorf("backup: read the keys (%s): %w", pkiPath, err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			files = append(files, struct{ name, path string }{PKIDir + "/" + e.Name(), filepath.Join(pkiPath, e.Name())})
		}
	}
	size, err := writeAtomic(opt.Out, func(w io.Writer) error {
		enc, err := age.Encrypt(w, opt.Recipients...)
		if err != nil {
			return fmt.Errorf("encrypt: %w", err)
		}
		gz, _ := gzip.NewWriterLevel(enc, gzip.BestSpeed)
		tw := tar.NewWriter(gz)
		for _, f := range files {
			mem, err := addFile(ctx, tw, f.name, f.path, m.CreatedAt)
			if err != nil {
				return err
			}
			m.Members = append(m.Members, mem)
		}
		man, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			return fmt.Errorf("encode manifest: %w", err)
		}
		if err := addBytes(tw, ManifestName, man, m.CreatedAt); err != nil {
			return err
		}
		for _, c := range []io.Closer{tw, gz, enc} {
			if err := c.Close(); err != nil {
				return fmt.Errorf("finish archive: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("backup to %s: %w", opt.Out, err)
	}
	return Result{Path: opt.Out, Size: size, Manifest: m}, nil
}

// tmpPrefix names the private directories the unencrypted copy is made
// in; staleAfter is when one is taken for a crashed backup's (a killed
// process runs no deferred removal) rather than a running one's.
const (
	tmpPrefix  = ".backup-"
	staleAfter = 24 * time.Hour
)

// removeStale deletes unencrypted copies that crashed backups left in dir.
func removeStale(dir string, now time.Time) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > staleAfter {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

func addFile(ctx context.Context, tw *tar.Writer, name, path string, at time.Time) (Member, error) {
	f, err := os.Open(path)
	if err != nil {
		return Member{}, fmt.Errorf("add %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Member{}, fmt.Errorf("add %s: %w", name, err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Size: st.Size(), Mode: 0o600, ModTime: at, Typeflag: tar.TypeReg}); err != nil {
		return Member{}, fmt.Errorf("add %s: %w", name, err)
	}
	h := sha256.New()
	n, err := io.Copy(tw, io.TeeReader(ctxReader{ctx, f}, h))
	if err != nil {
		return Member{}, fmt.Errorf("add %s: %w", name, err)
	}
	if n != st.Size() {
		return Member{}, fmt.Errorf("add %s: size changed while reading (%d, then %d bytes)", name, st.Size(), n)
	}
	return Member{Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func addBytes(tw *tar.Writer, name string, b []byte, at time.Time) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Size: int64(len(b)), Mode: 0o600, ModTime: at, Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("add %s: %w", name, err)
	}
	if _, err := tw.Write(b); err != nil {
		return fmt.Errorf("add %s: %w", name, err)
	}
	return nil
}

// ctxReader stops a long copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// writeAtomic writes path through a temporary file in the same directory
// (mode 0600), synced and renamed over path, then syncs the directory: a
// crash leaves the old file or the new one, never half of one. The
// temporary file is removed on any error.
func writeAtomic(path string, write func(io.Writer) error) (size int64, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	cw := &countWriter{w: bw}
	if err := write(cw); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return 0, err
	}
	return cw.n, syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Keys are the identities a backup is opened with; Name says where they
// came from (the identity file) for messages.
type Keys struct {
	Identities []age.Identity
	Name       string
}

// LoadIdentities reads an age identity file (age-keygen's format, or a
// collector key file).
func LoadIdentities(path string) (Keys, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Keys{}, fmt.Errorf("read identity file: %w", err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		return Keys{}, fmt.Errorf("read identity file %s: %w", path, err)
	}
	return Keys{Identities: ids, Name: path}, nil
}

// ParseRecipients reads age recipients: the given public keys plus those
// of a recipients file (one a line, # comments), as age -r and -R do.
func ParseRecipients(keys []string, file string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, k := range keys {
		r, err := age.ParseX25519Recipient(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("recipient %q: %w", k, err)
		}
		out = append(out, r)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read recipients file: %w", err)
		}
		rs, err := age.ParseRecipients(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("read recipients file %s: %w", file, err)
		}
		out = append(out, rs...)
	}
	return out, nil
}

// Size limits of the members a backup may hold: the keys and the
// manifest are small; the database is bounded by the disk only.
const (
	maxSmallMember = 1 << 20
	maxMembers     = 64
)

// Extracted is a backup decrypted into a private temporary directory.
type Extracted struct {
	// Dir holds roster.db, pki/ and manifest.json. Remove deletes it.
	Dir      string
	Manifest Manifest
	// Members are the files found with their computed size and digest.
	Members []Member
}

// Remove deletes the extracted (unencrypted) files.
func (x *Extracted) Remove() error { return os.RemoveAll(x.Dir) }

// DBPath is the extracted database.
func (x *Extracted) DBPath() string { return filepath.Join(x.Dir, DBName) }

// PKIPath is the extracted pki/ directory.
func (x *Extracted) PKIPath() string { return filepath.Join(x.Dir, PKIDir) }

// openFailure is a backup Open could not read, with the check it failed
// ("decrypt", "archive" or "manifest").
type openFailure struct {
	check string
	err   error
}

func (e *openFailure) Error() string { return e.err.Error() }
func (e *openFailure) Unwrap() error { return e.err }

// Open decrypts file with keys and extracts it into a new directory under
// parent (the system's temporary directory when empty), private to the
// user. On error nothing is left behind.
func Open(ctx context.Context, file string, keys Keys, parent string) (x *Extracted, err error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, &openFailure{"decrypt", fmt.Errorf("open backup: %w", err)}
	}
	defer f.Close()
	dec, err := age.Decrypt(bufio.NewReaderSize(f, 1<<20), keys.Identities...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, &openFailure{"decrypt", fmt.Errorf("%s is not encrypted to any identity in %s", file, keys.Name)}
		}
		return nil, &openFailure{"decrypt", fmt.Errorf("decrypt %s: not an age-encrypted backup, or its header was altered: %w", file, err)}
	}
	dir, err := os.MkdirTemp(parent, ".restore-")
	if err != nil {
		return nil, fmt.Errorf("make temporary directory: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	src := &stickyErr{r: dec}
	gz, err := gzip.NewReader(src)
	if err != nil {
		return nil, src.explain(file, fmt.Errorf("read archive of %s: %w", file, err))
	}
	x = &Extracted{Dir: dir}
	var manifest []byte
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, src.explain(file, fmt.Errorf("read archive of %s: %w", file, err))
		}
		if len(x.Members) >= maxMembers {
			return nil, &openFailure{"archive", fmt.Errorf("%s holds more than %d members: not a collector backup", file, maxMembers)}
		}
		if err := checkMemberName(hdr, x.Members); err != nil {
			return nil, &openFailure{"archive", fmt.Errorf("%s: %w", file, err)}
		}
		if hdr.Name == ManifestName {
			if hdr.Size > maxSmallMember {
				return nil, &openFailure{"manifest", fmt.Errorf("%s: manifest.json is %d bytes, over the %d a manifest may have", file, hdr.Size, maxSmallMember)}
			}
			if manifest, err = io.ReadAll(tr); err != nil {
				return nil, src.explain(file, fmt.Errorf("read manifest.json of %s: %w", file, err))
			}
			continue
		}
		mem, err := extract(ctx, tr, hdr, dir)
		if err != nil {
			return nil, src.explain(file, err)
		}
		x.Members = append(x.Members, mem)
	}
	// age authenticates each chunk; reading to the end also checks that
	// nothing was cut off after the tar's last block.
	if _, err := io.Copy(io.Discard, src); err != nil {
		return nil, src.explain(file, fmt.Errorf("read the end of %s: %w", file, err))
	}
	if manifest == nil {
		return nil, &openFailure{"manifest", fmt.Errorf("%s has no manifest.json: not a collector backup", file)}
	}
	dec2 := json.NewDecoder(bytes.NewReader(manifest))
	dec2.DisallowUnknownFields()
	if err := dec2.Decode(&x.Manifest); err != nil {
		return nil, &openFailure{"manifest", fmt.Errorf("%s: manifest.json does not decode: %w", file, err)}
	}
	if x.Manifest.Format != FormatVersion {
		return nil, &openFailure{"manifest", fmt.Errorf("%s is backup format %d; this collector reads format %d", file, x.Manifest.Format, FormatVersion)}
	}
	return x, nil
}

// checkMemberName accepts only the members a backup holds, each once:
// no paths leaving the directory, links or devices.
func checkMemberName(hdr *tar.Header, seen []Member) error {
	if hdr.Typeflag != tar.TypeReg {
		return fmt.Errorf("member %q is not a regular file", hdr.Name)
	}
	name := hdr.Name
	ok := name == ManifestName || name == DBName
	if base, found := strings.CutPrefix(name, PKIDir+"/"); found {
		ok = base != "" && !strings.ContainsAny(base, `/\`) && !strings.HasPrefix(base, ".")
	}
	if !ok {
		return fmt.Errorf("unexpected member %q: not a collector backup", name)
	}
	if slices.ContainsFunc(seen, func(m Member) bool { return m.Name == name }) {
		return fmt.Errorf("member %q appears twice", name)
	}
	if name != DBName && hdr.Size > maxSmallMember {
		return fmt.Errorf("member %q is %d bytes, over the %d a key file may have", name, hdr.Size, maxSmallMember)
	}
	return nil
}

func extract(ctx context.Context, r io.Reader, hdr *tar.Header, dir string) (Member, error) {
	path := filepath.Join(dir, filepath.FromSlash(hdr.Name))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return Member{}, fmt.Errorf("extract %s: %w", hdr.Name, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Member{}, fmt.Errorf("extract %s: %w", hdr.Name, err)
	}
	h := sha256.New()
	bw := bufio.NewWriterSize(f, 1<<20)
	n, err := io.Copy(io.MultiWriter(bw, h), ctxReader{ctx, r})
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Member{}, fmt.Errorf("extract %s: %w", hdr.Name, err)
	}
	return Member{Name: hdr.Name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// stickyErr remembers the decrypting reader's first error, so that a
// failure surfacing in gzip or tar is reported as what it is: data that
// does not authenticate.
type stickyErr struct {
	r   io.Reader
	err error
}

func (s *stickyErr) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && s.err == nil {
		s.err = err
	}
	return n, err
}

func (s *stickyErr) explain(file string, err error) error {
	if s.err != nil {
		return &openFailure{"decrypt", fmt.Errorf("decrypt %s: the encrypted data does not authenticate (the file was altered or damaged): %w", file, s.err)}
	}
	var of *openFailure
	if errors.As(err, &of) {
		return err
	}
	return &openFailure{"archive", err}
}
