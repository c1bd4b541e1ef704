// Package spool is the agent's durable queue of reports waiting for the
// collector's acknowledgement. Each report is one file named by its
// sequence number, so the order survives restarts, written atomically
// (temp file, fsync, rename, fsync of the directory) and framed with its
// length and SHA-256, so a torn write or a flipped bit is detected when it
// is read back: such a file is moved to corrupt/ and counted, never sent
// and never a crash. The spool is bounded by a byte and a count cap; a
// report that would overflow it is not dropped but coalesced with all
// pending ones into one full report of the current snapshot, which brings
// the collector to the same final state.
package spool

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/rosterhq/roster/shared/wire"
)

// magic starts every spool file; the version after it lets the format
// change without misreading old files.
const magic = "roster-spool 1"

const (
	suffix     = ".report"
	corruptDir = "corrupt"
	tmpPrefix  = ".tmp-"
)

// ErrCorrupt says a spool file failed its checks; Read has moved it aside.
var ErrCorrupt = errors.New("corrupt spool file")

// Options bound the spool. Zero values take the defaults noted.
type Options struct {
	// MaxBytes caps the spooled files' total size (default 64 MiB).
	MaxBytes int64
	// MaxReports caps how many reports wait (default 1000).
	MaxReports int
	Logger     *slog.Logger
}

// Spool is an opened spool directory. Its methods are safe for concurrent
// use.
type Spool struct {
	dir string
	opt Options
	mu  sync.Mutex
}

// Item is one pending report as listed, not yet read.
type Item struct {
	Seq  uint64
	Size int64
}

// Stats describe the spool.
type Stats struct {
	// Depth is how many reports wait; Bytes their total size.
	Depth int
	Bytes int64
	// Corrupt is how many files sit in corrupt/ (moved aside, ever).
	Corrupt int
}

// Open creates dir (0700) when missing and removes temporary files a
// crash left behind: they were never renamed into place, so they hold no
// report the agent counted as spooled.
func Open(dir string, opt Options) (*Spool, error) {
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 64 << 20
	}
	if opt.MaxReports <= 0 {
		opt.MaxReports = 1000
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return nil, fmt.Errorf("open spool: remove stale temporary file: %w", err)
			}
		}
	}
	return &Spool{dir: dir, opt: opt}, nil
}

// Dir is the spool's directory.
func (s *Spool) Dir() string { return s.dir }

func fileName(seq uint64) string { return fmt.Sprintf("%020d%s", seq, suffix) }

func parseName(name string) (uint64, bool) {
	num, ok := strings.CutSuffix(name, suffix)
	if !ok || len(num) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(num, 10, 64)
	return n, err == nil
}

// Encode frames a report as a spool file: a header line with the format,
// the sequence number, the payload's length and its SHA-256, then the
// payload (the report's JSON).
func Encode(r *wire.Report) ([]byte, error) {
	payload, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode report seq %d: %w", r.Seq, err)
	}
	sum := sha256.Sum256(payload)
	head := fmt.Sprintf("%s %d %d %s\n", magic, r.Seq, len(payload), hex.EncodeToString(sum[:]))
	return append([]byte(head), payload...), nil
}

// Decode checks and decodes a spool file. Anything short of a whole,
// matching frame holding exactly one report with the header's sequence
// number is an error wrapping ErrCorrupt.
func Decode(b []byte) (*wire.Report, error) {
	corrupt := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, a...))
	}
	head, payload, ok := bytes.Cut(b, []byte{'\n'})
	if !ok {
		return nil, corrupt("no header line")
	}
	rest, ok := strings.CutPrefix(string(head), magic+" ")
	if !ok {
		return nil, corrupt("unknown header %.40q", head)
	}
	f := strings.Split(rest, " ")
	if len(f) != 3 {
		return nil, corrupt("header has %d fields, want 3", len(f))
	}
	seq, err1 := strconv.ParseUint(f[0], 10, 64)
	n, err2 := strconv.ParseUint(f[1], 10, 63)
	if err1 != nil || err2 != nil {
		return nil, corrupt("header numbers %q %q", f[0], f[1])
	}
	if uint64(len(payload)) != n {
		return nil, corrupt("payload is %d bytes, header says %d (torn write?)", len(payload), n)
	}
	sum := sha256.Sum256(payload)
	if hex.EncodeToString(sum[:]) != f[2] {
		return nil, corrupt("payload checksum mismatch")
	}
	var r wire.Report
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, corrupt("decode report: %v", err)
	}
	if dec.More() {
		return nil, corrupt("data after the report")
	}
	if r.Seq != seq {
		return nil, corrupt("report seq %d in a file for seq %d", r.Seq, seq)
	}
	return &r, nil
}

// Pending lists the waiting reports in sequence order without reading
// them.
func (s *Spool) Pending() ([]Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending()
}

func (s *Spool) pending() ([]Item, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list spool: %w", err)
	}
	var items []Item
	for _, e := range ents {
		seq, ok := parseName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list spool: %w", err)
		}
		items = append(items, Item{Seq: seq, Size: info.Size()})
	}
	// ReadDir sorts by name and names are zero-padded, but say so.
	slices.SortFunc(items, func(a, b Item) int { return cmpUint(a.Seq, b.Seq) })
	return items, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Read reads and checks the report seq. A file that fails its checks is
// moved to corrupt/, logged, and reported as an error wrapping
// ErrCorrupt; the caller decides how to make up for it (a full report).
func (s *Spool) Read(seq uint64) (*wire.Report, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := filepath.Join(s.dir, fileName(seq))
	b, err := os.ReadFile(path)
	if err != nil {
		// An unreadable file (a disk error) is as good as corrupt: keep
		// it for inspection but out of the queue, or it blocks it forever.
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read spooled report seq %d: %w", seq, err)
		}
		return nil, s.moveAside(seq, fmt.Errorf("%w: %v", ErrCorrupt, err))
	}
	r, err := Decode(b)
	if err != nil {
		return nil, s.moveAside(seq, err)
	}
	if r.Seq != seq {
		return nil, s.moveAside(seq, fmt.Errorf("%w: report seq %d in a file for seq %d", ErrCorrupt, r.Seq, seq))
	}
	return r, nil
}

// Quarantine moves report seq out of the queue into corrupt/ because the
// collector refused it for good (a 4xx), with reason logged.
func (s *Spool) Quarantine(seq uint64, reason error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.moveAside(seq, reason)
}

// moveAside moves seq's file to corrupt/ and returns reason wrapped with
// what happened; it only fails to the caller when the move itself fails.
func (s *Spool) moveAside(seq uint64, reason error) error {
	dst := filepath.Join(s.dir, corruptDir)
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return fmt.Errorf("move spooled report seq %d aside (%v): %w", seq, reason, err)
	}
	if err := os.Rename(filepath.Join(s.dir, fileName(seq)), filepath.Join(dst, fileName(seq))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("move spooled report seq %d aside (%v): %w", seq, reason, err)
	}
	s.opt.Logger.Error("spooled report moved aside", "seq", seq, "to", filepath.Join(corruptDir, fileName(seq)), "reason", reason.Error())
	if err := syncDir(s.dir); err != nil {
		return err
	}
	return fmt.Errorf("spooled report seq %d moved aside: %w", seq, reason)
}

// Remove deletes report seq once the collector acknowledged it. A file
// already gone is fine: the ack may be for a re-send.
func (s *Spool) Remove(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Remove(filepath.Join(s.dir, fileName(seq))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove acknowledged report seq %d: %w", seq, err)
	}
	return syncDir(s.dir)
}

// Add spools r. When r would take the spool over either cap, full is
// called for a full report of the current snapshot (with a sequence number
// above every pending one), which is spooled instead and replaces all
// pending reports; Add then returns true. Nothing is dropped unseen: the
// coalescing is logged with what it replaced.
func (s *Spool) Add(r *wire.Report, full func() (*wire.Report, error)) (coalesced bool, err error) {
	b, err := Encode(r)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	items, err := s.pending()
	if err != nil {
		return false, err
	}
	var total int64
	for _, it := range items {
		total += it.Size
	}
	if len(items)+1 <= s.opt.MaxReports && total+int64(len(b)) <= s.opt.MaxBytes {
		return false, s.put(r.Seq, b)
	}
	f, err := full()
	if err != nil {
		return false, fmt.Errorf("coalesce spool: %w", err)
	}
	if err := s.replace(f, items); err != nil {
		return false, err
	}
	s.opt.Logger.Warn("spool over its cap: pending reports coalesced into one full report",
		"replaced", len(items), "replaced_bytes", total, "full_seq", f.Seq,
		"max_reports", s.opt.MaxReports, "max_bytes", s.opt.MaxBytes)
	return true, nil
}

// Replace spools the full report f and then removes every pending report
// below its sequence number: a resync, or a corrupt file, makes pending
// deltas useless. The order (write, then remove) means a crash between
// leaves old reports before f, which the collector applies or ignores
// before f sets the final state.
func (s *Spool) Replace(f *wire.Report) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	items, err := s.pending()
	if err != nil {
		return err
	}
	return s.replace(f, items)
}

func (s *Spool) replace(f *wire.Report, items []Item) error {
	if f.Kind != wire.ReportFull {
		return fmt.Errorf("replace spool: report seq %d is %s, not full", f.Seq, f.Kind)
	}
	b, err := Encode(f)
	if err != nil {
		return err
	}
	if err := s.put(f.Seq, b); err != nil {
		return err
	}
	for _, it := range items {
		if it.Seq >= f.Seq {
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, fileName(it.Seq))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("replace spool: remove seq %d: %w", it.Seq, err)
		}
	}
	return syncDir(s.dir)
}

func (s *Spool) put(seq uint64, b []byte) error {
	tmp, err := os.CreateTemp(s.dir, tmpPrefix+"*")
	if err != nil {
		return fmt.Errorf("spool report seq %d: %w", seq, err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	w := bufio.NewWriter(tmp)
	if _, err := w.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("spool report seq %d: %w", seq, err)
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("spool report seq %d: %w", seq, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("spool report seq %d: %w", seq, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("spool report seq %d: %w", seq, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(s.dir, fileName(seq))); err != nil {
		return fmt.Errorf("spool report seq %d: %w", seq, err)
	}
	return syncDir(s.dir)
}

// Stats counts the pending reports and the files moved aside.
func (s *Spool) Stats() (Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	items, err := s.pending()
	if err != nil {
		return Stats{}, err
	}
	st := Stats{Depth: len(items)}
	for _, it := range items {
		st.Bytes += it.Size
	}
	ents, err := os.ReadDir(filepath.Join(s.dir, corruptDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return st, fmt.Errorf("list corrupt spool files: %w", err)
	}
	st.Corrupt = len(ents)
	return st, nil
}

// syncDir makes renames and removals durable. Windows cannot open a
// directory for syncing, and NTFS journals renames anyway.
func syncDir(path string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sync spool directory: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync spool directory: %w", err)
	}
	return nil
}
