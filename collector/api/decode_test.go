package api

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

func gzipBytes(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// realReports builds gzip bodies of real reports: every golden snapshot as
// a full report, and a delta between two of its collections.
func realReports(t testing.TB) [][]byte {
	var out [][]byte
	for _, s := range registrytest.Snapshots(t) {
		h, err := wire.SnapshotHash(s)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(&wire.Report{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportFull, Seq: 1, Snapshot: s, Hash: h})
		out = append(out, gzipBytes(t, b))
	}
	s := registrytest.Rich(t)
	next := registrytest.Clone(t, s)
	next.CollectedAt = next.CollectedAt.Add(time.Hour)
	next.Software.Packages = next.Software.Packages[1:]
	d, err := wire.Diff(s, next)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(&wire.Report{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportDelta, Seq: 2,
		BaseHash: registrytest.Hash(t, s), Delta: d, Hash: registrytest.Hash(t, next)})
	return append(out, gzipBytes(t, b))
}

func TestDecodeReport(t *testing.T) {
	t.Parallel()
	reports := realReports(t)
	for _, body := range reports {
		rep, ae := decodeReport(new(gunzippers), bytes.NewReader(body), 8<<20, 64<<20)
		if ae != nil {
			t.Fatalf("real report refused: %v", ae)
		}
		if rep.Seq == 0 || rep.Hash == "" {
			t.Errorf("decoded report lost fields: %+v", rep)
		}
	}
	for _, tc := range []struct {
		name   string
		body   []byte
		max    int64
		status int
		code   string
	}{
		{"empty", nil, 1 << 20, 400, "bad_gzip"},
		{"plain json", []byte(`{"kind":"full"}`), 1 << 20, 400, "bad_gzip"},
		{"gzip of nothing", gzipBytes(t, nil), 1 << 20, 400, "malformed_json"},
		{"two values", gzipBytes(t, []byte(`{} {}`)), 1 << 20, 400, "malformed_json"},
		{"wrong type", gzipBytes(t, []byte(`{"seq":"one"}`)), 1 << 20, 400, "malformed_json"},
		{"over compressed limit", reports[0], int64(len(reports[0]) - 1), 413, "too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, ae := decodeReport(new(gunzippers), bytes.NewReader(tc.body), tc.max, 64<<20)
			if ae == nil {
				t.Fatal("accepted, want refused")
			}
			if ae.status != tc.status || ae.code != tc.code {
				t.Errorf("got %d %s (%s), want %d %s", ae.status, ae.code, ae.message, tc.status, tc.code)
			}
		})
	}
}

// TestGunzippersAfterRefusals: a reader kept after a refused body (not
// gzip, corrupt, over a limit) reads the next body as a new one would.
func TestGunzippersAfterRefusals(t *testing.T) {
	t.Parallel()
	reports := realReports(t)
	corrupt := bytes.Clone(reports[0])
	corrupt[len(corrupt)-5] ^= 0xff // the CRC in the gzip trailer
	g := new(gunzippers)
	for i, bad := range [][]byte{[]byte(`{"kind":"full"}`), corrupt, reports[1][:len(reports[1])/2], reports[0]} {
		limit := int64(8 << 20)
		if i == 3 {
			limit = int64(len(reports[0]) - 1)
		}
		if _, ae := decodeReport(g, bytes.NewReader(bad), limit, 64<<20); ae == nil {
			t.Fatalf("bad body %d accepted", i)
		}
		for _, body := range reports {
			got, ae := decodeReport(g, bytes.NewReader(body), 8<<20, 64<<20)
			if ae != nil {
				t.Fatalf("after bad body %d: a real report refused: %v", i, ae)
			}
			want, ae := decodeReport(new(gunzippers), bytes.NewReader(body), 8<<20, 64<<20)
			if ae != nil {
				t.Fatal(ae)
			}
			if a, b := string(mustJSON(t, got)), string(mustJSON(t, want)); a != b {
				t.Fatalf("after bad body %d: a kept reader read the report differently", i)
			}
		}
	}
}

// TestDecodedReportsOwnTheirBytes: the buffer a body is inflated into is
// reused for the next body, so a decoded report must hold nothing of it.
// Each real report is decoded, then every other one through the same
// kept buffers, and must read as it did.
func TestDecodedReportsOwnTheirBytes(t *testing.T) {
	t.Parallel()
	reports := realReports(t)
	g := new(gunzippers)
	for i, body := range reports {
		rep, ae := decodeReport(g, bytes.NewReader(body), 8<<20, 64<<20)
		if ae != nil {
			t.Fatal(ae)
		}
		was := string(mustJSON(t, rep))
		for j, other := range reports {
			if j == i {
				continue
			}
			if _, ae := decodeReport(g, bytes.NewReader(other), 8<<20, 64<<20); ae != nil {
				t.Fatal(ae)
			}
			if _, ae := decodeHeartbeat(g, bytes.NewReader(gzipBytes(t, []byte(`{"protocol_version":2,"agent_version":"x","last_seq":1}`))), "gzip"); ae != nil {
				t.Fatal(ae)
			}
		}
		if now := string(mustJSON(t, rep)); now != was {
			t.Fatalf("report %d changed once other bodies were inflated into its buffer", i)
		}
	}
}

// FuzzReportDecoder feeds arbitrary bodies to the report decoder: it must
// never panic, refuse only with 400 or 413, and accept only what
// round-trips through strict decoding again.
func FuzzReportDecoder(f *testing.F) {
	for _, b := range realReports(f) {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add(gzipBytes(f, []byte(`{"protocol_version":1,"kind":"delta","seq":3,"base_hash":"x","delta":{"set":["os"]},"hash":"y"}`)))
	// One set of kept readers for every input, as the server keeps them.
	g := new(gunzippers)
	f.Fuzz(func(t *testing.T, body []byte) {
		rep, ae := decodeReport(g, bytes.NewReader(body), 1<<20, 4<<20)
		if ae != nil {
			if ae.status != http.StatusBadRequest && ae.status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d for a bad body", ae.status)
			}
			return
		}
		again, ae := decodeReport(g, bytes.NewReader(gzipBytes(t, mustJSON(t, rep))), 1<<20, 64<<20)
		if ae != nil {
			t.Fatalf("accepted report does not decode again: %v", ae)
		}
		if a, b := string(mustJSON(t, rep)), string(mustJSON(t, again)); a != b {
			t.Fatalf("round trip changed the report:\n%s\n%s", a, b)
		}
	})
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BenchmarkDecodeReport decodes the largest real full report (gunzip and
// strict JSON), the API's share of a full report's CPU.
func BenchmarkDecodeReport(b *testing.B) {
	var body []byte
	for _, r := range realReports(b) {
		if len(r) > len(body) {
			body = r
		}
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	// One set of kept readers and buffers for every report, as the
	// server keeps them.
	g := new(gunzippers)
	for b.Loop() {
		if _, ae := decodeReport(g, bytes.NewReader(body), 64<<20, 256<<20); ae != nil {
			b.Fatal(ae)
		}
	}
}
