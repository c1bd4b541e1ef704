package spool

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rosterhq/roster/shared/wire"
)

func delta(seq uint64) *wire.Report {
	return &wire.Report{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportDelta, Seq: seq, BaseHash: "sha256:base",
		Delta: &wire.Delta{CollectedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), SoftwareAdded: []wire.Package{{Source: "rpm", Name: "pkg", Version: "1"}}},
		Hash:  "sha256:h"}
}

func full(seq uint64) *wire.Report {
	return &wire.Report{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportFull, Seq: seq,
		Snapshot: &wire.Snapshot{CollectedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Platform: "linux"}, Hash: "sha256:h"}
}

func open(t *testing.T, dir string, opt Options) *Spool {
	t.Helper()
	s, err := Open(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func seqs(t *testing.T, s *Spool) []uint64 {
	t.Helper()
	items, err := s.Pending()
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, it := range items {
		out = append(out, it.Seq)
	}
	return out
}

func noFull() (*wire.Report, error) { return nil, errors.New("coalescing not expected") }

// TestOrderAckRestart: reports come back in sequence order (also past a
// power of ten, where name order and number order could differ), survive a
// reopen unchanged, and leave only when removed.
func TestOrderAckRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, Options{})
	for _, seq := range []uint64{10, 9, 11, 100, 2} {
		if _, err := s.Add(delta(seq), noFull); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]uint64{2, 9, 10, 11, 100}, seqs(t, s)); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if err := s.Remove(9); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(9); err != nil {
		t.Errorf("removing an already removed report: %v", err)
	}
	// A crash left a temporary file: reopening removes it and keeps the rest.
	if err := os.WriteFile(filepath.Join(dir, ".tmp-123"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, dir, Options{})
	if diff := cmp.Diff([]uint64{2, 10, 11, 100}, seqs(t, s2)); diff != "" {
		t.Errorf("after reopen (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(dir, ".tmp-123")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file still there: %v", err)
	}
	got, err := s2.Read(11)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(delta(11), got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	st, err := s2.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Depth != 4 || st.Bytes <= 0 || st.Corrupt != 0 {
		t.Errorf("stats %+v, want depth 4, some bytes, nothing corrupt", st)
	}
}

// TestCorrupt: a truncated file, a flipped byte, a foreign file and a
// report under the wrong name are each detected on read, moved to
// corrupt/ and counted; the rest of the queue is untouched.
func TestCorrupt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		damage  func(b []byte) []byte
		wantErr string
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)-7] }, "torn write"},
		{"flipped byte", func(b []byte) []byte { b[len(b)-3] ^= 0x20; return b }, "checksum mismatch"},
		{"header only", func(b []byte) []byte { i := strings.IndexByte(string(b), '\n'); return b[:i] }, "no header line"},
		{"empty", func([]byte) []byte { return nil }, "no header line"},
		{"other format", func(b []byte) []byte { return append([]byte("roster-spool 2"), b[len("roster-spool 1"):]...) }, "unknown header"},
		{"wrong seq", func([]byte) []byte { b, _ := Encode(delta(99)); return b }, "report seq 99 in a file for seq 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := open(t, dir, Options{})
			for _, seq := range []uint64{1, 2, 3} {
				if _, err := s.Add(delta(seq), noFull); err != nil {
					t.Fatal(err)
				}
			}
			p := filepath.Join(dir, fileName(2))
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, tt.damage(b), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err = s.Read(2)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("read: %v, want ErrCorrupt mentioning %q", err, tt.wantErr)
			}
			if diff := cmp.Diff([]uint64{1, 3}, seqs(t, s)); diff != "" {
				t.Errorf("pending after corruption (-want +got):\n%s", diff)
			}
			if _, err := os.Stat(filepath.Join(dir, corruptDir, fileName(2))); err != nil {
				t.Errorf("corrupt file not kept aside: %v", err)
			}
			if st, err := s.Stats(); err != nil || st.Corrupt != 1 || st.Depth != 2 {
				t.Errorf("stats %+v, %v; want depth 2, corrupt 1", st, err)
			}
			if _, err := s.Read(3); err != nil {
				t.Errorf("the next report: %v", err)
			}
		})
	}
}

// TestCaps: the report that would pass either cap turns the spool into one
// full report; a full report larger than the byte cap is still kept.
func TestCaps(t *testing.T) {
	t.Parallel()
	one, err := Encode(delta(1))
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(one))
	tests := []struct {
		name          string
		opt           Options
		adds          int
		wantCoalesced []bool
		want          []uint64
	}{
		{"count cap", Options{MaxReports: 3}, 4, []bool{false, false, false, true}, []uint64{100}},
		{"byte cap", Options{MaxBytes: 2*size + size/2}, 3, []bool{false, false, true}, []uint64{100}},
		{"within caps", Options{MaxReports: 3, MaxBytes: 10 * size}, 3, []bool{false, false, false}, []uint64{1, 2, 3}},
		{"full alone over the byte cap", Options{MaxBytes: 10}, 1, []bool{true}, []uint64{100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := open(t, t.TempDir(), tt.opt)
			var got []bool
			for i := 1; i <= tt.adds; i++ {
				c, err := s.Add(delta(uint64(i)), func() (*wire.Report, error) { return full(100), nil })
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, c)
			}
			if diff := cmp.Diff(tt.wantCoalesced, got); diff != "" {
				t.Errorf("coalesced (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, seqs(t, s)); diff != "" {
				t.Errorf("pending (-want +got):\n%s", diff)
			}
			if tt.want[0] == 100 {
				r, err := s.Read(100)
				if err != nil || r.Kind != wire.ReportFull {
					t.Errorf("coalesced report %+v, %v; want the full report", r, err)
				}
			}
		})
	}
	t.Run("full report fails", func(t *testing.T) {
		t.Parallel()
		s := open(t, t.TempDir(), Options{MaxReports: 2})
		for i := 1; i <= 2; i++ {
			if _, err := s.Add(delta(uint64(i)), noFull); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Add(delta(3), noFull); err == nil || !strings.Contains(err.Error(), "coalescing not expected") {
			t.Errorf("add over cap with a failing full report: %v, want the failure", err)
		}
		if diff := cmp.Diff([]uint64{1, 2}, seqs(t, s)); diff != "" {
			t.Errorf("pending (-want +got):\n%s", diff)
		}
	})
}

// TestReplace: a resync replaces pending reports below the full one's
// sequence number and refuses anything but a full report.
func TestReplace(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), Options{})
	for _, seq := range []uint64{1, 2, 3} {
		if _, err := s.Add(delta(seq), noFull); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Replace(delta(4)); err == nil {
		t.Error("replace with a delta succeeded")
	}
	if err := s.Replace(full(4)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint64{4}, seqs(t, s)); diff != "" {
		t.Errorf("pending (-want +got):\n%s", diff)
	}
}

// TestConcurrent: adds and removes from several goroutines leave exactly
// the reports not removed (run with -race).
func TestConcurrent(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), Options{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				seq := uint64(g*100 + i + 1)
				if _, err := s.Add(delta(seq), noFull); err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					if err := s.Remove(seq); err != nil {
						t.Error(err)
					}
				}
				if _, err := s.Stats(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if got := len(seqs(t, s)); got != 20 {
		t.Errorf("%d pending, want 20", got)
	}
}

func FuzzDecode(f *testing.F) {
	for _, r := range []*wire.Report{delta(1), full(7)} {
		b, err := Encode(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte("roster-spool 1 1 2 00\n{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// What decodes re-encodes to a file that decodes to the same.
		again, err := Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := Decode(again)
		if err != nil {
			t.Fatalf("re-encoded file does not decode: %v", err)
		}
		if diff := cmp.Diff(r, r2); diff != "" {
			t.Errorf("round trip (-first +second):\n%s", diff)
		}
	})
}
