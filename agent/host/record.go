package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Record returns a Host that behaves like h and, as a side effect, copies
// everything the probes read into dir as a captured host tree: each file
// read (as much of it as was read), each directory listed (its entries, as
// empty placeholders unless read), each symbolic link on the way, and each
// command's output under dir/commands. Replaying dir with Captured gives the
// probes the same answers, which is how support captures a machine whose
// inventory looks wrong, and how this project's own Linux captures are made.
// The registry is not recorded (export it with `reg export`).
//
// A capture holds the machine's serial numbers and software list: treat it
// as confidential.
func Record(h *Host, dir string) (*Host, error) {
	if err := os.MkdirAll(filepath.Join(dir, "commands"), 0o755); err != nil {
		return nil, fmt.Errorf("create capture directory: %w", err)
	}
	rec := &recorder{src: h.FS, dst: dir}
	out := *h
	out.FS = rec
	out.Exec = recordingRunner{next: h.Exec, dir: filepath.Join(dir, "commands"), rec: rec}
	return &out, nil
}

// recorder is an fs.FS that tees what is read into dst. Several probes run
// one after another, but a timed-out probe's goroutine may still read, so
// writes are serialised.
type recorder struct {
	src fs.FS
	dst string
	mu  sync.Mutex
	err error // first write error, reported by Err
}

func (r *recorder) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// Err returns the first error met while writing the capture.
func (r *recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *recorder) lstat(name string) (fs.FileInfo, error) {
	if l, ok := r.src.(interface {
		Lstat(string) (fs.FileInfo, error)
	}); ok {
		return l.Lstat(name)
	}
	if rl, ok := r.src.(fs.ReadLinkFS); ok {
		return rl.Lstat(name)
	}
	return fs.Stat(r.src, name)
}

// place makes sure the capture has every parent of name (directories and
// symbolic links, recreated as they are on the source) and returns the
// path inside the capture where name itself lives once links are followed.
// Links that leave the host root are not followed.
func (r *recorder) place(name string, depth int) (string, error) {
	if depth > 16 {
		return "", fmt.Errorf("capture %s: too many levels of symbolic links", name)
	}
	if name == "." {
		return ".", nil
	}
	parts := strings.Split(name, "/")
	cur := "."
	for i, p := range parts {
		next := path.Join(cur, p)
		fi, err := r.lstat(next)
		if err != nil {
			return path.Join(append([]string{cur}, parts[i:]...)...), nil
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, err := fs.ReadLink(r.src, next)
			if err != nil {
				return "", fmt.Errorf("capture %s: %w", next, err)
			}
			link := filepath.Join(r.dst, filepath.FromSlash(next))
			if _, err := os.Lstat(link); errors.Is(err, fs.ErrNotExist) {
				if err := os.Symlink(target, link); err != nil {
					return "", fmt.Errorf("capture %s: %w", next, err)
				}
			}
			resolved := target
			if strings.HasPrefix(target, "/") {
				resolved = strings.TrimPrefix(path.Clean(target), "/")
			} else {
				resolved = path.Join(path.Dir(next), target)
			}
			if resolved == ".." || strings.HasPrefix(resolved, "../") {
				return "", fmt.Errorf("capture %s: link leaves the host root", next)
			}
			if resolved == "" {
				resolved = "."
			}
			// The target itself may sit behind more links.
			if cur, err = r.place(resolved, depth+1); err != nil {
				return "", err
			}
			if i < len(parts)-1 {
				if err := os.MkdirAll(filepath.Join(r.dst, filepath.FromSlash(cur)), 0o755); err != nil {
					return "", fmt.Errorf("capture %s: %w", next, err)
				}
			}
			continue
		}
		cur = next
		if i < len(parts)-1 || fi.IsDir() {
			if err := os.MkdirAll(filepath.Join(r.dst, filepath.FromSlash(cur)), 0o755); err != nil {
				return "", fmt.Errorf("capture %s: %w", next, err)
			}
		}
	}
	return cur, nil
}

// touch records that name exists: a directory is created, a regular file
// is copied (up to copyLimit), anything else (a block device) becomes an
// empty file.
func (r *recorder) touch(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.touchLocked(name)
}

const copyLimit = 8 << 20

func (r *recorder) touchLocked(name string) {
	at, err := r.place(name, 0)
	if err != nil {
		r.fail(err)
		return
	}
	fi, err := fs.Stat(r.src, name)
	if err != nil {
		return
	}
	dst := filepath.Join(r.dst, filepath.FromSlash(at))
	if fi.IsDir() {
		r.fail(os.MkdirAll(dst, 0o755))
		return
	}
	if _, err := os.Lstat(dst); err == nil {
		return
	}
	var data []byte
	if fi.Mode().IsRegular() {
		f, err := r.src.Open(name)
		if err == nil {
			data, _ = io.ReadAll(io.LimitReader(f, copyLimit))
			f.Close()
		}
	}
	r.fail(os.WriteFile(dst, data, 0o644))
}

// Open implements fs.FS; reads through the returned file are copied.
func (r *recorder) Open(name string) (fs.File, error) {
	f, err := r.src.Open(name)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil || fi.IsDir() {
		r.touch(name)
		return f, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	at, err := r.place(name, 0)
	if err != nil {
		r.fail(err)
		return f, nil
	}
	out, err := os.Create(filepath.Join(r.dst, filepath.FromSlash(at)))
	if err != nil {
		r.fail(fmt.Errorf("capture %s: %w", name, err))
		return f, nil
	}
	return &teeFile{File: f, out: out, rec: r}, nil
}

// ReadDir implements fs.ReadDirFS and records every entry.
func (r *recorder) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := fs.ReadDir(r.src, name)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.place(name, 0); err != nil {
		r.fail(err)
		return ents, nil
	}
	for _, e := range ents {
		p := path.Join(name, e.Name())
		switch {
		case e.Type()&fs.ModeSymlink != 0, e.IsDir():
			_, err := r.place(p, 0)
			r.fail(err)
			if e.IsDir() {
				r.touchLocked(p)
			}
		default:
			at, err := r.place(p, 0)
			if err != nil {
				r.fail(err)
				continue
			}
			dst := filepath.Join(r.dst, filepath.FromSlash(at))
			if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
				r.fail(os.WriteFile(dst, nil, 0o644))
			}
		}
	}
	return ents, nil
}

// Stat implements fs.StatFS.
func (r *recorder) Stat(name string) (fs.FileInfo, error) {
	fi, err := fs.Stat(r.src, name)
	if err == nil {
		r.touch(name)
	}
	return fi, err
}

// ReadLink implements fs.ReadLinkFS.
func (r *recorder) ReadLink(name string) (string, error) {
	t, err := fs.ReadLink(r.src, name)
	if err == nil {
		r.mu.Lock()
		_, perr := r.place(name, 0)
		r.fail(perr)
		r.mu.Unlock()
	}
	return t, err
}

// Lstat implements fs.ReadLinkFS.
func (r *recorder) Lstat(name string) (fs.FileInfo, error) {
	return r.lstat(name)
}

type teeFile struct {
	fs.File
	out *os.File
	rec *recorder
}

func (t *teeFile) Read(p []byte) (int, error) {
	n, err := t.File.Read(p)
	if n > 0 {
		if _, werr := t.out.Write(p[:n]); werr != nil {
			t.rec.mu.Lock()
			t.rec.fail(werr)
			t.rec.mu.Unlock()
		}
	}
	return n, err
}

func (t *teeFile) Close() error {
	t.out.Close()
	return t.File.Close()
}

// recordingRunner saves each command's stdout, exit code and stderr in the
// layout CapturedRunner reads.
type recordingRunner struct {
	next Runner
	dir  string
	rec  *recorder
}

func (r recordingRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := r.next.Run(ctx, name, args...)
	if errors.Is(err, ErrNotFound) || ctx.Err() != nil {
		return out, err
	}
	base := filepath.Join(r.dir, Slug(CommandLine(name, args...)))
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	r.rec.fail(os.WriteFile(base+".out", out, 0o644))
	var ee *ExitError
	if errors.As(err, &ee) {
		r.rec.fail(os.WriteFile(base+".exit", []byte(strconv.Itoa(ee.Code)+"\n"), 0o644))
		if len(ee.Stderr) > 0 {
			r.rec.fail(os.WriteFile(base+".err", ee.Stderr, 0o644))
		}
	}
	return out, err
}

// RecordErr returns the first error met while writing h's capture, if h was
// made by Record.
func RecordErr(h *Host) error {
	if r, ok := h.FS.(*recorder); ok {
		return r.Err()
	}
	return nil
}

// RecordData adds data to h's capture as the file at the slash-separated
// relative path p, when h was made by Record; otherwise it does nothing.
// Probes that read the live machine through an in-process API rather than a
// file or a command (Windows' GetAdaptersAddresses, DeviceIoControl) use it
// to store what they read in the form they read back from a captured host.
func RecordData(h *Host, p string, data []byte) {
	r, ok := h.FS.(*recorder)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	dst := filepath.Join(r.dst, filepath.FromSlash(Path(p)))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		r.fail(fmt.Errorf("capture %s: %w", p, err))
		return
	}
	r.fail(os.WriteFile(dst, data, 0o644))
}
