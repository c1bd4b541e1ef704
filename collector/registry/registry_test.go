package registry_test

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	_ "github.com/mattn/go-sqlite3"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	reg *registry.Registry
	ca  *pki.CA
	// store is the registry's database: a SQLite file (path) or, with
	// ROSTER_TEST_STORE=postgres, a PostgreSQL database of its own.
	store registry.StoreConfig
	path  string
}

func newEnv(t *testing.T) *env { return newEnvB(t) }

func newEnvB(t testing.TB) *env {
	t.Helper()
	store := registry.NewTestStore(t)
	reg := registry.OpenTestStore(t, store)
	ca, _, err := pki.LoadOrCreate(filepath.Join(t.TempDir(), "pki"), []string{"localhost"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return &env{reg: reg, ca: ca, store: store, path: store.Path}
}

// rawDB is the env's database opened directly, on either engine.
func (e *env) rawDB(t testing.TB) *sql.DB {
	t.Helper()
	return registry.RawDB(t, e.store)
}

func (e *env) secret(t testing.TB) string {
	t.Helper()
	_, s, err := e.reg.CreateSecret(context.Background(), "test", 0, 0, t0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) signer(t testing.TB, now time.Time) registry.Signer {
	csr, _ := registrytest.CSR(t)
	return func(id string) ([]byte, *x509.Certificate, error) {
		return e.ca.SignClient(csr, id, now, pki.ClientValidity)
	}
}

type enrolled struct {
	registry.EnrollResult
	serial string
}

func (e *env) enroll(t testing.TB, secret string, id wire.Identity, now time.Time) enrolled {
	t.Helper()
	res, err := e.reg.Enroll(context.Background(), registry.EnrollInput{Secret: secret, Identity: id, AgentVersion: "test", Now: now}, e.signer(t, now))
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	c, err := pki.ParseCertificatePEM(res.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	return enrolled{res, pki.SerialHex(c)}
}

func (e *env) enrollB(t testing.TB, s *wire.Snapshot) enrolled {
	_, sec, err := e.reg.CreateSecret(context.Background(), "bench", 0, 0, t0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.reg.Enroll(context.Background(), registry.EnrollInput{Secret: sec, Identity: wire.IdentityOf(s), Now: t0}, e.signer(t, t0))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := pki.ParseCertificatePEM(res.CertPEM)
	return enrolled{res, pki.SerialHex(c)}
}

func (e *env) applyB(d enrolled, rep *wire.Report) (wire.Ack, error) {
	return e.reg.ApplyReport(context.Background(), registry.ReportInput{DeviceID: d.DeviceID, CertSerial: d.serial, Report: rep, Now: t0})
}

func fullB(t testing.TB, s *wire.Snapshot, seq uint64) *wire.Report {
	return &wire.Report{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportFull, Seq: seq, Snapshot: s, Hash: registrytest.Hash(t, s)}
}

func (e *env) apply(t testing.TB, d enrolled, rep *wire.Report, now time.Time) wire.Ack {
	t.Helper()
	ack, err := e.reg.ApplyReport(context.Background(), registry.ReportInput{DeviceID: d.DeviceID, CertSerial: d.serial, Report: rep, Now: now})
	if err != nil {
		t.Fatalf("apply report seq %d: %v", rep.Seq, err)
	}
	return ack
}

func full(t testing.TB, s *wire.Snapshot, seq uint64) *wire.Report {
	return &wire.Report{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportFull, Seq: seq, Snapshot: s, Hash: registrytest.Hash(t, s)}
}

func delta(t *testing.T, old, cur *wire.Snapshot, seq uint64) *wire.Report {
	d, err := wire.Diff(old, cur)
	if err != nil {
		t.Fatal(err)
	}
	return &wire.Report{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportDelta, Seq: seq, BaseHash: registrytest.Hash(t, old), Delta: d, Hash: registrytest.Hash(t, cur)}
}

// counts is the number of rows in every table: "nothing changed" means
// equal counts plus equal device rows.
func (e *env) counts(t *testing.T) map[string]int {
	t.Helper()
	db := e.rawDB(t)
	out := map[string]int{}
	for _, tbl := range []string{"devices", "certificates", "enrol_secrets", "api_tokens", "software_catalogue", "device_software", "history", "reports_applied"} {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM " + tbl).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[tbl] = n
	}
	var uses int
	if err := db.QueryRow("SELECT coalesce(sum(uses), 0) FROM enrol_secrets").Scan(&uses); err != nil {
		t.Fatal(err)
	}
	out["secret_uses"] = uses
	return out
}

func (e *env) history(t *testing.T, device string) []registry.HistoryEntry {
	t.Helper()
	h, _, err := e.reg.History(context.Background(), registry.HistoryFilter{Device: device}, registry.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func kinds(h []registry.HistoryEntry) []string {
	var out []string
	for _, e := range h {
		out = append(out, e.Kind)
	}
	return out
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	applied, err := e.reg.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Errorf("second Migrate applied %v, want nothing", applied)
	}
	if err := e.reg.Ready(ctx); err != nil {
		t.Errorf("Ready: %v", err)
	}
	e.reg.Close()
	if err := e.reg.Ready(ctx); err == nil {
		t.Error("Ready on a closed registry: got nil, want an error")
	}
}

func TestSecretRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	id := registrytest.Rich(t)
	ident := wire.IdentityOf(id)
	_, expiring, _ := e.reg.CreateSecret(ctx, "short", time.Hour, 0, t0)
	_, once, _ := e.reg.CreateSecret(ctx, "once", 0, 1, t0)
	revokedRec, revoked, _ := e.reg.CreateSecret(ctx, "revoked", 0, 0, t0)
	if _, err := e.reg.RevokeSecret(ctx, revokedRec.ID, t0); err != nil {
		t.Fatal(err)
	}
	// Use "once" up.
	e.enroll(t, once, ident, t0)
	for _, tc := range []struct {
		name, secret string
		now          time.Time
	}{
		{"unknown", "rse_nope", t0},
		{"expired", expiring, t0.Add(time.Hour)},
		{"used up", once, t0},
		{"revoked", revoked, t0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.counts(t)
			_, err := e.reg.Enroll(ctx, registry.EnrollInput{Secret: tc.secret, Identity: ident, Now: tc.now}, e.signer(t, tc.now))
			if !errors.Is(err, registry.ErrSecretInvalid) {
				t.Fatalf("got %v, want ErrSecretInvalid", err)
			}
			if diff := cmp.Diff(before, e.counts(t)); diff != "" {
				t.Errorf("database changed (-before +after):\n%s", diff)
			}
		})
	}
	// Within its hour the expiring secret works.
	e.enroll(t, expiring, wire.Identity{Platform: "linux"}, t0.Add(59*time.Minute))
	list, err := e.reg.ListSecrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	uses := map[string]int{}
	for _, s := range list {
		uses[s.Label] = s.Uses
	}
	if diff := cmp.Diff(map[string]int{"short": 1, "once": 1, "revoked": 0}, uses); diff != "" {
		t.Errorf("uses (-want +got):\n%s", diff)
	}
}

func TestEnrolMatchesIdentity(t *testing.T) {
	t.Parallel()
	snap := registrytest.Rich(t)
	base := wire.IdentityOf(snap)
	if base.SystemSerial == "" || base.SystemUUID == "" {
		t.Fatalf("snapshot %v lacks serial or UUID", base)
	}
	macs := []string{"02:11:22:33:44:55", "02:11:22:33:44:66"}
	swapped := func(u string) string {
		rev := func(s string) string {
			b := []byte(s)
			var out []byte
			for i := len(b) - 2; i >= 0; i -= 2 {
				out = append(out, b[i], b[i+1])
			}
			return string(out)
		}
		return rev(u[0:8]) + "-" + rev(u[9:13]) + "-" + rev(u[14:18]) + u[18:]
	}
	for _, tc := range []struct {
		name      string
		first     wire.Identity
		second    wire.Identity
		reEnrolls bool
	}{
		{"same serial other case", base, wire.Identity{Platform: base.Platform, SystemSerial: " " + toLower(base.SystemSerial)}, true},
		{"uuid upper case", wire.Identity{Platform: "linux", SystemUUID: base.SystemUUID}, wire.Identity{Platform: "linux", SystemUUID: toUpper(base.SystemUUID)}, true},
		{"uuid byte-swapped", wire.Identity{Platform: "linux", SystemUUID: base.SystemUUID}, wire.Identity{Platform: "linux", SystemUUID: swapped(base.SystemUUID)}, true},
		{"same mac set", wire.Identity{Platform: "linux", MACs: macs}, wire.Identity{Platform: "linux", MACs: []string{toUpper(macs[1]), macs[0]}}, true},
		{"mac subset is another machine", wire.Identity{Platform: "linux", MACs: macs}, wire.Identity{Platform: "linux", MACs: macs[:1]}, false},
		{"placeholder serial never matches", wire.Identity{Platform: "linux", SystemSerial: "To be filled by O.E.M."}, wire.Identity{Platform: "linux", SystemSerial: "To be filled by O.E.M."}, false},
		{"placeholder uuid never matches", wire.Identity{Platform: "linux", SystemUUID: "03000200-0400-0500-0006-000700080009"}, wire.Identity{Platform: "linux", SystemUUID: "00020003-0004-0005-0006-000700080009"}, false},
		{"nothing in common", wire.Identity{Platform: "linux", SystemSerial: "AAA111"}, wire.Identity{Platform: "linux", SystemSerial: "BBB222"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			sec := e.secret(t)
			a := e.enroll(t, sec, tc.first, t0)
			// Past the re-enrolment window, so a match continues the
			// record (continuity_test.go covers the other rules).
			b := e.enroll(t, sec, tc.second, t0.Add(registry.DefaultReenrollAfterSilence+time.Hour))
			if got := a.DeviceID == b.DeviceID; got != tc.reEnrolls {
				t.Fatalf("same device: got %v, want %v", got, tc.reEnrolls)
			}
			if want := map[bool]string{true: registry.RuleSilent, false: registry.RuleNew}[tc.reEnrolls]; b.Rule != want {
				t.Errorf("rule: got %q, want %q", b.Rule, want)
			}
			if b.ReEnrolled != tc.reEnrolls {
				t.Errorf("ReEnrolled: got %v, want %v", b.ReEnrolled, tc.reEnrolls)
			}
			ctx := context.Background()
			oldErr := e.reg.CheckCertificate(ctx, a.DeviceID, a.serial)
			if tc.reEnrolls {
				if !errors.Is(oldErr, registry.ErrCertificateRevoked) {
					t.Errorf("old certificate after re-enrolment: got %v, want revoked", oldErr)
				}
				if diff := cmp.Diff([]string{"enrolled", "re_enrolled"}, kinds(e.history(t, a.DeviceID))); diff != "" {
					t.Errorf("history (-want +got):\n%s", diff)
				}
			} else if oldErr != nil {
				t.Errorf("first device's certificate: %v", oldErr)
			}
			if err := e.reg.CheckCertificate(ctx, b.DeviceID, b.serial); err != nil {
				t.Errorf("new certificate: %v", err)
			}
		})
	}
}

func toUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// changed derives the next snapshot of a device from a real one: one
// package upgraded, one removed, the kernel updated, an hour later.
func changed(t *testing.T, s *wire.Snapshot) (*wire.Snapshot, wire.Package, wire.Package) {
	t.Helper()
	c := registrytest.Clone(t, s)
	c.CollectedAt = c.CollectedAt.Add(time.Hour)
	pk := c.Software.Packages
	upgraded := pk[0]
	pk[0].Version += ".1"
	removed := pk[len(pk)-1]
	c.Software.Packages = pk[:len(pk)-1]
	if c.OS == nil {
		c.OS = &wire.OS{}
	}
	c.OS.Kernel += "-next"
	return c, upgraded, removed
}

func TestApplyReport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	snap := registrytest.Rich(t)
	d := e.enroll(t, e.secret(t), wire.IdentityOf(snap), t0)

	ack := e.apply(t, d, full(t, snap, 1), t0.Add(time.Minute))
	if ack.Status != wire.AckApplied || ack.DeviceID != d.DeviceID || ack.Hash != registrytest.Hash(t, snap) {
		t.Fatalf("first full: got %+v", ack)
	}
	dev, err := e.reg.Device(ctx, d.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	if dev.SoftwareCount != len(snap.Software.Packages) || dev.LastReportSeq != 1 || dev.Platform != snap.Platform {
		t.Errorf("device after full: %+v", dev)
	}
	sw, _, err := e.reg.DeviceSoftware(ctx, d.DeviceID, registry.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(sw) != len(snap.Software.Packages) {
		t.Errorf("software rows: got %d, want %d", len(sw), len(snap.Software.Packages))
	}
	// The stored snapshot hashes to what the agent said.
	raw, err := e.reg.DeviceSnapshot(ctx, d.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := registrytest.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := registrytest.Hash(t, stored); got != ack.Hash {
		t.Errorf("stored snapshot hash %s, want %s", got, ack.Hash)
	}

	t.Run("duplicate changes nothing", func(t *testing.T) {
		before := e.counts(t)
		ack := e.apply(t, d, full(t, snap, 1), t0.Add(2*time.Minute))
		if ack.Status != wire.AckDuplicate {
			t.Errorf("status %q, want duplicate", ack.Status)
		}
		if diff := cmp.Diff(before, e.counts(t)); diff != "" {
			t.Errorf("database changed:\n%s", diff)
		}
	})

	next, upgraded, removed := changed(t, snap)
	t.Run("delta against unknown base is resync", func(t *testing.T) {
		before := e.counts(t)
		other := registrytest.Clone(t, next)
		other.AgentVersion = "elsewhere"
		rep := delta(t, other, next, 2)
		if ack := e.apply(t, d, rep, t0.Add(3*time.Minute)); ack.Status != wire.AckResync {
			t.Errorf("status %q, want resync", ack.Status)
		}
		if diff := cmp.Diff(before, e.counts(t)); diff != "" {
			t.Errorf("database changed:\n%s", diff)
		}
	})
	t.Run("delta whose result does not hash is resync", func(t *testing.T) {
		before := e.counts(t)
		rep := delta(t, snap, next, 2)
		rep.Hash = registrytest.Hash(t, snap)
		if ack := e.apply(t, d, rep, t0.Add(3*time.Minute)); ack.Status != wire.AckResync {
			t.Errorf("status %q, want resync", ack.Status)
		}
		if diff := cmp.Diff(before, e.counts(t)); diff != "" {
			t.Errorf("database changed:\n%s", diff)
		}
	})
	for _, tc := range []struct {
		name    string
		version int
		of      *wire.Snapshot
	}{
		{"a hash of a later protocol version than the report's is refused", 1, next},
		{"full with wrong hash of the second form is refused", 2, snap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.counts(t)
			rep := full(t, next, 2)
			rep.ProtocolVersion = tc.version
			h, err := wire.PackageDigestHash(tc.of)
			if err != nil {
				t.Fatal(err)
			}
			rep.Hash = h
			_, err = e.reg.ApplyReport(ctx, registry.ReportInput{DeviceID: d.DeviceID, CertSerial: d.serial, Report: rep, Now: t0})
			if !errors.Is(err, registry.ErrBadReport) {
				t.Errorf("got %v, want ErrBadReport", err)
			}
			if diff := cmp.Diff(before, e.counts(t)); diff != "" {
				t.Errorf("database changed:\n%s", diff)
			}
		})
	}
	t.Run("full with wrong hash is refused", func(t *testing.T) {
		before := e.counts(t)
		rep := full(t, next, 2)
		rep.Hash = registrytest.Hash(t, snap)
		_, err := e.reg.ApplyReport(ctx, registry.ReportInput{DeviceID: d.DeviceID, CertSerial: d.serial, Report: rep, Now: t0})
		if !errors.Is(err, registry.ErrBadReport) {
			t.Errorf("got %v, want ErrBadReport", err)
		}
		if diff := cmp.Diff(before, e.counts(t)); diff != "" {
			t.Errorf("database changed:\n%s", diff)
		}
	})

	at := t0.Add(time.Hour)
	if ack := e.apply(t, d, delta(t, snap, next, 2), at); ack.Status != wire.AckApplied {
		t.Fatalf("delta: got %+v", ack)
	}
	var got []registry.HistoryEntry
	for _, h := range e.history(t, d.DeviceID) {
		if h.Seq == 2 {
			h.ID, h.Hostname = 0, ""
			got = append(got, h)
		}
	}
	subj := func(p wire.Package) string {
		s := p.Source + ":" + p.Name
		if p.Arch != "" {
			s += ":" + p.Arch
		}
		return s
	}
	want := []registry.HistoryEntry{
		{DeviceID: d.DeviceID, At: at, Seq: 2, Kind: registry.KindKernelChanged, Subject: "kernel", Old: snap.OS.Kernel, New: next.OS.Kernel},
		{DeviceID: d.DeviceID, At: at, Seq: 2, Kind: registry.KindSoftwareChanged, Subject: subj(upgraded), Old: upgraded.Version, New: upgraded.Version + ".1"},
		{DeviceID: d.DeviceID, At: at, Seq: 2, Kind: registry.KindSoftwareRemoved, Subject: subj(removed), Old: removed.Version},
	}
	sortH := func(h []registry.HistoryEntry) {
		slices.SortFunc(h, func(a, b registry.HistoryEntry) int { return cmpStr(a.Kind+a.Subject, b.Kind+b.Subject) })
	}
	sortH(got)
	sortH(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history of seq 2 (-want +got):\n%s", diff)
	}
	hits, _, err := e.reg.SearchSoftware(ctx, registry.SoftwareQuery{Name: upgraded.Name, Version: upgraded.Version + ".1"}, registry.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) == 0 || hits[0].DeviceID != d.DeviceID {
		t.Errorf("who has %s %s.1: got %+v", upgraded.Name, upgraded.Version, hits)
	}
	hits, _, _ = e.reg.SearchSoftware(ctx, registry.SoftwareQuery{Name: removed.Name, Version: removed.Version, Source: removed.Source}, registry.Page{})
	for _, h := range hits {
		if h.DeviceID == d.DeviceID && h.Arch == removed.Arch {
			t.Errorf("removed package %s still listed: %+v", removed.Name, h)
		}
	}
	// A stale sequence from the spool is acknowledged, not applied.
	before := e.counts(t)
	if ack := e.apply(t, d, full(t, snap, 1), at); ack.Status != wire.AckDuplicate {
		t.Errorf("stale seq: status %q, want duplicate", ack.Status)
	}
	if diff := cmp.Diff(before, e.counts(t)); diff != "" {
		t.Errorf("database changed:\n%s", diff)
	}
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestRevokedCertificateCannotReport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	snap := registrytest.Rich(t)
	d := e.enroll(t, e.secret(t), wire.IdentityOf(snap), t0)
	dev, err := e.reg.RevokeDevice(ctx, d.DeviceID, t0)
	if err != nil {
		t.Fatal(err)
	}
	if dev.State != registry.StateRevoked || dev.CertSerial != "" {
		t.Errorf("revoked device: state %q cert %q", dev.State, dev.CertSerial)
	}
	before := e.counts(t)
	_, err = e.reg.ApplyReport(ctx, registry.ReportInput{DeviceID: d.DeviceID, CertSerial: d.serial, Report: full(t, snap, 1), Now: t0})
	if !errors.Is(err, registry.ErrCertificateRevoked) {
		t.Errorf("got %v, want ErrCertificateRevoked", err)
	}
	if _, _, err := e.reg.Renew(ctx, d.DeviceID, d.serial, t0, e.signer(t, t0)); !errors.Is(err, registry.ErrCertificateRevoked) {
		t.Errorf("renew: got %v, want ErrCertificateRevoked", err)
	}
	if diff := cmp.Diff(before, e.counts(t)); diff != "" {
		t.Errorf("database changed:\n%s", diff)
	}
}

// TestReportRefusesWhatCheckCertificateRefuses: a report is refused, and
// changes nothing, for each certificate CheckCertificate refuses: one
// revoked by a re-enrolment while its device stays active, another
// device's, one never issued. The report's first read checks the
// certificate itself (loadReportDevice), so this holds the two to one rule.
func TestReportRefusesWhatCheckCertificateRefuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	snap := registrytest.Rich(t)
	sec := e.secret(t)
	id := wire.IdentityOf(snap)
	old := e.enroll(t, sec, id, t0)
	// Past the re-enrolment window, the same identity continues the
	// record with a new certificate and revokes the old one.
	again := t0.Add(registry.DefaultReenrollAfterSilence + time.Hour)
	cur := e.enroll(t, sec, id, again)
	if cur.DeviceID != old.DeviceID {
		t.Fatalf("re-enrolment made a new device %s (was %s)", cur.DeviceID, old.DeviceID)
	}
	other := e.enroll(t, sec, wire.Identity{Platform: "linux", SystemSerial: "OTHER-MACHINE-1"}, again)
	for _, tc := range []struct{ name, serial string }{
		{"revoked by re-enrolment", old.serial},
		{"another device's", other.serial},
		{"never issued", "0badc0de"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := e.reg.CheckCertificate(ctx, cur.DeviceID, tc.serial); !errors.Is(err, registry.ErrCertificateRevoked) {
				t.Fatalf("CheckCertificate: got %v, want ErrCertificateRevoked", err)
			}
			before := e.counts(t)
			_, err := e.reg.ApplyReport(ctx, registry.ReportInput{DeviceID: cur.DeviceID, CertSerial: tc.serial, Report: full(t, snap, 1), Now: again})
			if !errors.Is(err, registry.ErrCertificateRevoked) {
				t.Errorf("report: got %v, want ErrCertificateRevoked", err)
			}
			if diff := cmp.Diff(before, e.counts(t)); diff != "" {
				t.Errorf("database changed:\n%s", diff)
			}
		})
	}
	// The current certificate still reports.
	if _, err := e.reg.ApplyReport(ctx, registry.ReportInput{DeviceID: cur.DeviceID, CertSerial: cur.serial, Report: full(t, snap, 1), Now: again}); err != nil {
		t.Fatalf("report with the current certificate: %v", err)
	}
}

func TestIdentityConflict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	snap := registrytest.Rich(t)
	sec := e.secret(t)
	// Two agents from one cloned image: neither enrolment carried the
	// identity (as an agent whose hardware probe failed at enrolment), so
	// both became devices; their reports then claim the same hardware.
	a := e.enroll(t, sec, wire.Identity{Platform: snap.Platform, Hostname: "clone-a"}, t0)
	b := e.enroll(t, sec, wire.Identity{Platform: snap.Platform, Hostname: "clone-b"}, t0)
	if a.DeviceID == b.DeviceID {
		t.Fatal("two identity-less enrolments merged")
	}
	if ack := e.apply(t, a, full(t, snap, 1), t0.Add(time.Minute)); ack.Status != wire.AckApplied {
		t.Fatal(ack)
	}
	da, _ := e.reg.Device(ctx, a.DeviceID)
	if slices.Contains(da.Flags, registry.FlagIdentityConflict) {
		t.Fatalf("one reporting device is flagged: %v", da.Flags)
	}
	if ack := e.apply(t, b, full(t, snap, 1), t0.Add(2*time.Minute)); ack.Status != wire.AckApplied {
		t.Fatal(ack)
	}
	for _, pair := range [][2]string{{a.DeviceID, b.DeviceID}, {b.DeviceID, a.DeviceID}} {
		d, err := e.reg.Device(ctx, pair[0])
		if err != nil {
			t.Fatal(err)
		}
		if d.State != registry.StateIdentityConflict || !slices.Contains(d.Flags, registry.FlagIdentityConflict) {
			t.Errorf("device %s: state %q flags %v, want identity_conflict", pair[0], d.State, d.Flags)
		}
		var found bool
		for _, h := range e.history(t, pair[0]) {
			found = found || (h.Kind == registry.KindIdentityConflict && h.Subject == pair[1])
		}
		if !found {
			t.Errorf("device %s has no identity_conflict event naming %s", pair[0], pair[1])
		}
	}
	list, _, err := e.reg.ListDevices(ctx, registry.DeviceFilter{State: registry.StateIdentityConflict}, registry.Page{})
	if err != nil || len(list) != 2 {
		t.Errorf("devices in conflict: got %d (%v), want 2", len(list), err)
	}
	// Revoking one clone resolves it: the other's next full report lifts
	// its flag.
	if _, err := e.reg.RevokeDevice(ctx, b.DeviceID, t0); err != nil {
		t.Fatal(err)
	}
	e.apply(t, a, full(t, snap, 2), t0.Add(3*time.Minute))
	da, _ = e.reg.Device(ctx, a.DeviceID)
	if da.State != registry.StateActive || slices.Contains(da.Flags, registry.FlagIdentityConflict) {
		t.Errorf("after the clone was revoked: state %q flags %v, want active and none", da.State, da.Flags)
	}
}

func TestReEnrolContinuesHistoryAndSequence(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	snap := registrytest.Rich(t)
	sec := e.secret(t)
	a := e.enroll(t, sec, wire.IdentityOf(snap), t0)
	e.apply(t, a, full(t, snap, 1), t0)
	e.apply(t, a, full(t, snap, 2), t0)
	// Reinstalled with an admin's allowance: the new agent starts at
	// seq 1 again.
	if _, err := e.reg.AllowReenroll(ctx, a.DeviceID, 48*time.Hour, t0.Add(23*time.Hour)); err != nil {
		t.Fatal(err)
	}
	b := e.enroll(t, sec, wire.IdentityOf(snap), t0.Add(24*time.Hour))
	if b.DeviceID != a.DeviceID || !b.ReEnrolled || b.Rule != registry.RuleAdminAllowed {
		t.Fatalf("re-enrolment made a new device (rule %s)", b.Rule)
	}
	if ack := e.apply(t, b, full(t, snap, 1), t0.Add(25*time.Hour)); ack.Status != wire.AckApplied {
		t.Errorf("first report after re-enrolment: %q, want applied", ack.Status)
	}
	d, _ := e.reg.Device(ctx, a.DeviceID)
	if slices.Contains(d.Flags, registry.FlagIdentityConflict) || !d.EnrolledAt.Equal(t0.Add(24*time.Hour)) || !d.FirstSeen.Equal(t0) {
		t.Errorf("device after re-enrolment: flags %v enrolled %v first seen %v", d.Flags, d.EnrolledAt, d.FirstSeen)
	}
}

func TestPagingAndFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	snap := registrytest.Rich(t)
	sec := e.secret(t)
	var ids []string
	for i := range 7 {
		s := registrytest.Clone(t, snap)
		s.Hardware.SystemSerial = fmt.Sprintf("SER%03d", i)
		s.Hardware.SystemUUID = ""
		s.Hardware.NICs = nil
		s.Hardware.Hostname = fmt.Sprintf("web-%d", i)
		if i%2 == 1 {
			s.Hardware.Hostname = fmt.Sprintf("db-%d", i)
		}
		d := e.enroll(t, sec, wire.IdentityOf(s), t0)
		e.apply(t, d, full(t, s, 1), t0.Add(time.Duration(i)*time.Hour))
		ids = append(ids, d.DeviceID)
	}
	slices.Sort(ids)
	var got []string
	cursor := ""
	pages := 0
	for {
		items, next, err := e.reg.ListDevices(ctx, registry.DeviceFilter{}, registry.Page{Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, d := range items {
			got = append(got, d.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if diff := cmp.Diff(ids, got); diff != "" || pages != 3 {
		t.Errorf("paged ids in %d pages (-want +got):\n%s", pages, diff)
	}
	if _, _, err := e.reg.ListDevices(ctx, registry.DeviceFilter{}, registry.Page{Cursor: "garbage"}); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("bad cursor: got %v, want ErrInvalid", err)
	}
	after := t0.Add(3 * time.Hour)
	pk := snap.Software.Packages[0]
	for _, tc := range []struct {
		name string
		f    registry.DeviceFilter
		want int
	}{
		{"glob", registry.DeviceFilter{Hostname: "WEB-*"}, 4},
		{"exact", registry.DeviceFilter{Hostname: "db-3"}, 1},
		{"serial normalised", registry.DeviceFilter{Serial: "ser002"}, 1},
		{"seen after", registry.DeviceFilter{SeenAfter: &after}, 4},
		{"seen before", registry.DeviceFilter{SeenBefore: &after}, 3},
		{"software", registry.DeviceFilter{Software: pk.Name, SoftwareVersion: pk.Version}, 7},
		{"software absent", registry.DeviceFilter{Software: pk.Name, SoftwareVersion: pk.Version + "-never"}, 0},
		{"platform", registry.DeviceFilter{Platform: snap.Platform, Hostname: "db-*"}, 3},
		{"glob underscore is literal", registry.DeviceFilter{Hostname: "web_*"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, _, err := e.reg.ListDevices(ctx, tc.f, registry.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != tc.want {
				t.Errorf("got %d devices, want %d", len(items), tc.want)
			}
		})
	}
	// Fleet history by time range: each device enrolled at t0 (seq 0) and
	// reported once (no changes, so only enrolment events exist).
	h, _, err := e.reg.History(ctx, registry.HistoryFilter{Since: &t0, Until: &after, Kind: registry.KindEnrolled}, registry.Page{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 {
		t.Errorf("first history page: got %d entries, want 2", len(h))
	}
	h, _, _ = e.reg.History(ctx, registry.HistoryFilter{Since: &after}, registry.Page{})
	if len(h) != 0 {
		t.Errorf("history after %v: got %d entries, want 0", after, len(h))
	}
	if _, err := e.reg.Device(ctx, "web-0"); err != nil {
		t.Errorf("device by hostname: %v", err)
	}
	if _, err := e.reg.Device(ctx, "SER004"); err != nil {
		t.Errorf("device by serial: %v", err)
	}
	if _, err := e.reg.Device(ctx, "nope"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("unknown ref: got %v, want ErrNotFound", err)
	}
}

// coldDevice is a device that sent one full report of a (c is a one
// package change from it) and whose snapshot the cache no longer holds.
func coldDevice(t *testing.T) (e *env, d enrolled, a, c *wire.Snapshot) {
	t.Helper()
	e = newEnv(t)
	a, c = toggled(t)
	d = e.enroll(t, e.secret(t), wire.IdentityOf(a), t0)
	e.apply(t, d, full(t, a, 1), t0)
	registry.DropSnapshotCache(e.reg)
	return e, d, a, c
}

// TestColdDeltaIsWorkedOutBeforeTheWriteLock: a delta whose base is not
// in the snapshot cache (most deltas of a fleet larger than the cache) has
// its base rebuilt before it queues for the write lock, not inside the
// write transaction, where each rebuild would hold every other writer.
func TestColdDeltaIsWorkedOutBeforeTheWriteLock(t *testing.T) {
	t.Parallel()
	e, d, a, c := coldDevice(t)
	base := registrytest.Hash(t, a)
	rep := delta(t, a, c, 2)
	release := registry.HoldWrites(e.reg)
	type outcome struct {
		ack wire.Ack
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		ack, err := e.reg.ApplyReport(context.Background(), registry.ReportInput{DeviceID: d.DeviceID, CertSerial: d.serial, Report: rep, Now: t0.Add(time.Hour)})
		done <- outcome{ack, err}
	}()
	// With the writers held, the base can only come into the cache from
	// the work done before the write lock.
	early := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if early = registry.CachesSnapshot(e.reg, d.DeviceID, base); early {
			break
		}
	}
	release()
	o := <-done
	if !early {
		t.Error("the delta's base was not rebuilt before the write lock")
	}
	if o.err != nil || o.ack.Status != wire.AckApplied {
		t.Fatalf("delta: %v %+v, want applied", o.err, o.ack)
	}
	if !registry.CachesSnapshot(e.reg, d.DeviceID, registrytest.Hash(t, c)) {
		t.Error("the applied snapshot is not the cached one")
	}
}

// TestRevokedDeviceDeltaCostsNoRebuild: a revoked device's delta against
// its real base is refused, and nothing is rebuilt for it before the
// refusal (committedBase asks for a current certificate first).
func TestRevokedDeviceDeltaCostsNoRebuild(t *testing.T) {
	t.Parallel()
	e, d, a, c := coldDevice(t)
	if _, err := e.reg.RevokeDevice(context.Background(), d.DeviceID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	_, err := e.reg.ApplyReport(context.Background(), registry.ReportInput{DeviceID: d.DeviceID, CertSerial: d.serial, Report: delta(t, a, c, 2), Now: t0.Add(time.Hour)})
	if !errors.Is(err, registry.ErrCertificateRevoked) {
		t.Fatalf("revoked device's delta: %v, want ErrCertificateRevoked", err)
	}
	if registry.CachesSnapshot(e.reg, d.DeviceID, registrytest.Hash(t, a)) {
		t.Error("the revoked device's base was rebuilt for its delta")
	}
}
