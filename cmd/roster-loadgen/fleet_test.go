package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rosterhq/roster/shared/identity"
	"github.com/rosterhq/roster/shared/wire"
)

// realSnapshot is a captured host's snapshot with hardware and software.
func realSnapshot(t *testing.T) *wire.Snapshot {
	t.Helper()
	s, err := loadSnapshot(t.Context(), filepath.Join("..", "..", "testdata", "hosts", "linux", "debian12-firecracker-vm", "want.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Hardware == nil || s.Software == nil || len(s.Hardware.NICs) == 0 {
		t.Fatal("fixture lacks hardware, NICs or software")
	}
	return s
}

func TestDeviceSnapshotChangesOnlyIdentity(t *testing.T) {
	t.Parallel()
	base := realSnapshot(t)
	seen := map[string]int{}
	for _, i := range []int{0, 1, 255, 256, 65536, maxDevices - 1} {
		s, err := deviceSnapshot(base, "t1", i)
		if err != nil {
			t.Fatal(err)
		}
		id := wire.IdentityOf(s)
		// Every identity field the collector matches on survives
		// normalisation (no placeholder) and belongs to this device only.
		keys := []string{identity.Serial(id.SystemSerial), identity.UUID(id.SystemUUID)}
		for _, m := range id.MACs {
			keys = append(keys, identity.MAC(m))
		}
		for _, k := range keys {
			if k == "" {
				t.Errorf("device %d: identity %+v has a field normalisation drops", i, id)
			}
			if j, ok := seen[k]; ok {
				t.Errorf("devices %d and %d share %q", j, i, k)
			}
			seen[k] = i
		}
		again, err := deviceSnapshot(base, "t1", i)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(s, again); diff != "" {
			t.Errorf("device %d differs between derivations:\n%s", i, diff)
		}
		// With the identity put back, it is the real snapshot.
		hw := *s.Hardware
		hw.Hostname, hw.SystemSerial, hw.SystemUUID, hw.BoardSerial = base.Hardware.Hostname, base.Hardware.SystemSerial, base.Hardware.SystemUUID, base.Hardware.BoardSerial
		hw.NICs = base.Hardware.NICs
		s.Hardware = &hw
		if diff := cmp.Diff(base, s); diff != "" {
			t.Errorf("device %d changed more than its identity:\n%s", i, diff)
		}
	}
}

func TestDeviceSnapshotNeedsHardware(t *testing.T) {
	t.Parallel()
	s := realSnapshot(t)
	s.Hardware = nil
	if _, err := deviceSnapshot(s, "t1", 1); err == nil {
		t.Error("got no error for a snapshot without hardware")
	}
}

// decodeBody inflates every gzip member and strictly decodes the report.
func decodeBody(t *testing.T, gz []byte) *wire.Report {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var rep wire.Report
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("decode %.100s: %v", raw, err)
	}
	return &rep
}

// TestPlan checks what a device sends: full reports that hash right,
// deltas that lead from one state to the other, and the sequence number
// in each body.
func TestPlan(t *testing.T) {
	t.Parallel()
	for v := 0; v <= wire.ProtocolVersion; v++ {
		t.Run(fmt.Sprintf("collector says %d", v), func(t *testing.T) { testPlan(t, v) })
	}
}

func testPlan(t *testing.T, said int) {
	p, err := newPlan(realSnapshot(t), "t1", 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.prepare(said); err != nil {
		t.Fatal(err)
	}
	want := max(said, 1)
	if p.hashes[0] == p.hashes[1] {
		t.Fatal("the two states hash alike")
	}
	if v := wire.HashVersion(p.hashes[0]); v != want {
		t.Errorf("hash of form %d, want %d", v, want)
	}
	zw := gzip.NewWriter(nil)
	for k := range 2 {
		for i, b := range []body{p.full[k], p.delta[k]} {
			seq := uint64(1000*k + i + 1)
			gz, err := b.encode(zw, seq)
			if err != nil {
				t.Fatal(err)
			}
			rep := decodeBody(t, gz)
			if rep.Seq != seq || rep.Hash != p.hashes[k] || rep.ProtocolVersion != want {
				t.Errorf("state %d body %d: got seq %d hash %s, want %d %s", k, i, rep.Seq, rep.Hash, seq, p.hashes[k])
			}
			got := rep.Snapshot
			if rep.Kind == wire.ReportDelta {
				if rep.BaseHash != p.hashes[1-k] {
					t.Errorf("delta into %d: got base %s, want %s", k, rep.BaseHash, p.hashes[1-k])
				}
				if n := len(rep.Delta.SoftwareAdded) + len(rep.Delta.SoftwareRemoved); n != 2 || len(rep.Delta.Set) != 0 {
					t.Errorf("delta into %d: got %d package changes and sections %v, want 2 and none", k, n, rep.Delta.Set)
				}
				if got, err = wire.Apply(p.states[1-k], rep.Delta); err != nil {
					t.Fatal(err)
				}
			}
			if h, err := wire.SnapshotHashAt(got, want); err != nil || h != p.hashes[k] {
				t.Errorf("state %d body %d: result hashes to %s, want %s (%v)", k, i, h, p.hashes[k], err)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := Options{Collector: "https://127.0.0.1:8443", Fingerprint: "sha256:" + string(bytes.Repeat([]byte("ab"), 32)),
		Secret: "s", Devices: 10, Concurrency: 2, Duration: 1e9, Kind: wire.ReportDelta, Transport: "https"}
	tests := []struct {
		name   string
		change func(o *Options)
		ok     bool
	}{
		{"ok", func(o *Options) {}, true},
		{"ipv6 loopback", func(o *Options) { o.Collector = "https://[::1]:8443" }, true},
		{"localhost", func(o *Options) { o.Collector = "https://localhost:8443" }, true},
		{"remote host", func(o *Options) { o.Collector = "https://collector.example.com:8443" }, false},
		{"remote address", func(o *Options) { o.Collector = "https://10.0.0.1:8443" }, false},
		{"plain http", func(o *Options) { o.Collector = "http://127.0.0.1:8443" }, false},
		{"too many devices", func(o *Options) { o.Devices = maxDevices + 1 }, false},
		{"no devices", func(o *Options) { o.Devices = 0 }, false},
		{"too long", func(o *Options) { o.Duration = maxDuration + 1 }, false},
		{"bad kind", func(o *Options) { o.Kind = "partial" }, false},
		{"bad transport", func(o *Options) { o.Transport = "auto" }, false},
		{"bad fingerprint", func(o *Options) { o.Fingerprint = "md5:00" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := ok
			tt.change(&o)
			if err := validate(o); (err == nil) != tt.ok {
				t.Errorf("got %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
