package evidence_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/evidence"
	"github.com/rosterhq/roster/collector/evidence/bundle"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

// fixture is a registry with a period's worth of evidence: two devices
// reporting (one linked to an asset, one whose software changes), a fleet
// evaluation, an exception requested by one principal and approved by
// another, a completed agent wipe with its certificate, and a signed
// audit checkpoint.
type fixture struct {
	reg      *registry.Registry
	ca       *pki.CA
	from, to time.Time
	wipeID   string
	devices  []string
}

func actor(name, id string, role access.Role) context.Context {
	return access.WithActor(context.Background(), access.Actor{Principal: access.Principal{ID: id, Name: name, Kind: "person", Role: role}})
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	reg, _ := openRegistry(t)
	now := time.Now().UTC()
	t0 := now.Truncate(24*time.Hour).AddDate(0, 0, -10).Add(9 * time.Hour)
	ca, _, err := pki.LoadOrCreate(filepath.Join(dir, "pki"), []string{"localhost"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{reg: reg, ca: ca, from: t0.Truncate(24 * time.Hour), to: now}
	if _, err := reg.ConfigureCompliance(ctx, registry.ComplianceOptions{Set: compliance.Default(), Document: compliance.DefaultFile(),
		Source: registry.PolicySourceFile, Name: "default.yaml", MaxExceptionValidity: 90 * 24 * time.Hour}, t0); err != nil {
		t.Fatal(err)
	}
	snaps := registrytest.Snapshots(t)
	var names []string
	for n, s := range snaps {
		if s.Hardware != nil && (s.Hardware.SystemSerial != "" || s.Hardware.SystemUUID != "") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	if len(names) < 2 {
		t.Skipf("need two real snapshots with a hardware identity, have %v", names)
	}
	_, secret, err := reg.CreateSecret(ctx, "test", 0, 0, t0)
	if err != nil {
		t.Fatal(err)
	}
	type dev struct {
		id, serial string
		snap       *wire.Snapshot
	}
	var devs []dev
	for _, n := range names[:2] {
		s := registrytest.Clone(t, snaps[n])
		csr, _ := registrytest.CSR(t)
		res, err := reg.Enroll(ctx, registry.EnrollInput{Secret: secret, Identity: wire.IdentityOf(s), AgentVersion: "test", Now: t0},
			func(id string) ([]byte, *x509.Certificate, error) {
				return ca.SignClient(csr, id, t0, pki.ClientValidity)
			})
		if err != nil {
			t.Fatalf("enroll %s: %v", n, err)
		}
		c, err := pki.ParseCertificatePEM(res.CertPEM)
		if err != nil {
			t.Fatal(err)
		}
		d := dev{res.DeviceID, pki.SerialHex(c), s}
		if _, err := reg.ApplyReport(ctx, registry.ReportInput{DeviceID: d.id, CertSerial: d.serial, Now: t0,
			Report: &wire.Report{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportFull, Seq: 1, Snapshot: s, Hash: registrytest.Hash(t, s)}}); err != nil {
			t.Fatal(err)
		}
		devs = append(devs, d)
		f.devices = append(f.devices, d.id)
	}
	for _, p := range []string{"alice", "bob"} {
		if _, _, err := reg.CreateToken(ctx, registry.TokenInput{Principal: p, Role: "admin"}, t0); err != nil {
			t.Fatal(err)
		}
	}
	admin := registry.Actor{ID: "p-alice", Name: "alice"}
	serial := devs[0].snap.Hardware.SystemSerial
	in := registry.AssetInput{AssetTag: strp("WS-1"), Status: strp("in_service"), Classification: strp("confidential"), Owner: strp("Alice Example"),
		OwnerEmail: strp("alice@example.com"), Location: strp("Berlin")}
	if serial != "" {
		in.Serial = strp(serial)
	}
	if _, err := reg.AddAsset(ctx, in, admin, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if serial == "" {
		if _, err := reg.LinkAsset(ctx, "WS-1", devs[0].id, admin, t0.Add(time.Hour)); err != nil {
			t.Fatalf("link: %v", err)
		}
	}
	// The second device's software changes two days later: drift.
	old, cur := devs[1].snap, registrytest.Clone(t, devs[1].snap)
	if cur.Software != nil && len(cur.Software.Packages) > 0 {
		cur.Software.Packages = cur.Software.Packages[1:]
	}
	cur.Hardware.Hostname += "-renamed"
	delta, err := wire.Diff(old, cur)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.ApplyReport(ctx, registry.ReportInput{DeviceID: devs[1].id, CertSerial: devs[1].serial, Now: t0.Add(48 * time.Hour),
		Report: &wire.Report{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportDelta, Seq: 2, BaseHash: registrytest.Hash(t, old), Delta: delta, Hash: registrytest.Hash(t, cur)}}); err != nil {
		t.Fatal(err)
	}
	// Five days without a check-in: the check-in policies fail.
	if _, err := reg.EvaluateAll(ctx, t0.Add(5*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	pol := compliance.Default().Policies()[0].ID
	exc, err := reg.RequestException(actor("alice", "p-alice", access.Admin), registry.ExceptionInput{PolicyID: pol, Device: devs[1].id,
		Reason: "lab machine", CompensatingControl: "kept offline in a locked room", ExpiresAt: t0.Add(30 * 24 * time.Hour)}, t0.Add(5*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.ApproveException(actor("bob", "p-bob", access.Admin), exc.ID, "ok for a quarter", t0.Add(5*24*time.Hour+time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The first device is offboarded and wipes itself.
	at := t0.Add(6 * 24 * time.Hour)
	w, err := reg.StartWipe(ctx, registry.WipeStart{Ref: devs[0].id, Ticket: "HR-123", Reason: "leaver",
		Actor: registry.WipeActor{Kind: registry.ActorToken, ID: "tok-1", Name: "hr-automation"}}, at)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.WipeCheckIn(ctx, devs[0].id, devs[0].serial, at); err != nil {
		t.Fatal(err)
	}
	ev := &wire.WipeEvidence{Method: "NIST SP 800-88 purge: cryptographic erase", Tool: "cryptsetup", ToolVersion: "2.7.0", StartedAt: at, FinishedAt: at,
		Volumes: []wire.WipedVolume{{Device: "/dev/nvme0n1p3", LUKSVersion: 2, LUKSUUID: "0b0e5e0c-1111-4222-8333-444455556666", KeyslotsBefore: 2, KeyslotsAfter: 0, Result: wire.WipeErased}}}
	for _, st := range []string{wire.CommandDelivered, wire.CommandInProgress, wire.CommandCompleted} {
		var e *wire.WipeEvidence
		if st == wire.CommandCompleted {
			e = ev
		}
		if _, err := reg.RecordCommandStatus(ctx, registry.CommandStatusInput{DeviceID: devs[0].id, CertSerial: devs[0].serial,
			Status: wire.CommandStatus{CommandID: w.ID, Status: st, At: at, Evidence: e}, Now: at}); err != nil {
			t.Fatalf("wipe status %s: %v", st, err)
		}
	}
	f.wipeID = w.ID
	if _, err := reg.Checkpoint(ctx, ca.Command.KeyID(), ca.Command.Sign, time.Now()); err != nil {
		t.Fatal(err)
	}
	// The audit log is written at the wall clock's time: the period ends
	// after it.
	f.to = time.Now().UTC()
	return f
}

func strp(s string) *string { return &s }

func (f *fixture) export(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	sum, err := evidence.Export(context.Background(), &buf, evidence.Options{
		Registry: f.reg, Key: f.ca.Command, From: f.from, To: f.to, Now: time.Now().UTC(),
		Exporter: access.Principal{ID: "p-carol", Name: "carol", Role: access.Auditor}, Collector: "test-collector",
	})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	if sum.Bytes != int64(buf.Len()) {
		t.Errorf("summary says %d bytes, wrote %d", sum.Bytes, buf.Len())
	}
	return buf.Bytes()
}

func openZip(t *testing.T, b []byte) *zip.Reader {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return zr
}

func readZip(t *testing.T, zr *zip.Reader, name string) []byte {
	t.Helper()
	fh, err := zr.Open(name)
	if err != nil {
		t.Fatalf("bundle lacks %s: %v", name, err)
	}
	defer fh.Close()
	b, err := io.ReadAll(fh)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readCSV(t *testing.T, b []byte) []map[string]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

// TestExportBundle builds a bundle from a real registry and checks what
// an auditor relies on in it, then that it verifies offline.
func TestExportBundle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.export(t)
	zr := openZip(t, b)

	res, err := bundle.VerifyZip(zr, f.ca.Command.Public)
	if err != nil || !res.OK {
		t.Fatalf("fresh bundle: %v %v", err, res.Err())
	}
	m := res.Manifest
	if m.Exporter != "carol" || m.Collector != "test-collector" || !m.From.Equal(f.from) || !m.To.Equal(f.to) || m.KeyID != f.ca.Command.KeyID() {
		t.Errorf("manifest = %+v, want carol's export of the period by the collector's key", m)
	}
	want := []string{"index.html", "inventory/devices.csv", "inventory/devices.json", "inventory/device-changes.csv", "inventory/events.csv",
		"register/assets.csv", "register/assets.json", "register/changes.csv", "register/reconciliation.json",
		"compliance/policies.json", "compliance/states-at-start.csv", "compliance/transitions.csv", "compliance/daily-rates.csv",
		"exceptions/exceptions.csv", "sanitisation/wipes.json", "sanitisation/certificates/" + f.wipeID + ".json",
		"access/review.json", "access/principals.csv", "audit/log.jsonl", "audit/checkpoints.json", "audit/verification.json"}
	var got []string
	for _, fl := range m.Files {
		got = append(got, fl.Name)
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("manifest lacks %s (has %v)", w, got)
		}
	}
	if res.Checked != len(m.Files) {
		t.Errorf("checked %d of %d files", res.Checked, len(m.Files))
	}

	devs := readCSV(t, readZip(t, zr, "inventory/devices.csv"))
	if len(devs) != 2 {
		t.Fatalf("devices.csv has %d rows, want 2", len(devs))
	}
	owners := map[string]string{}
	for _, d := range devs {
		owners[d["device_id"]] = d["owner"] + "|" + d["asset_tag"]
		if d["system_encrypted"] == "" || d["os_name"] == "" || d["last_seen"] == "" {
			t.Errorf("device row %v lacks encryption, OS or last seen", d)
		}
	}
	if owners[f.devices[0]] != "Alice Example|WS-1" {
		t.Errorf("device %s owner|asset = %q, want its linked asset WS-1 of Alice", f.devices[0], owners[f.devices[0]])
	}
	var devJSON []registry.Device
	if err := json.Unmarshal(readZip(t, zr, "inventory/devices.json"), &devJSON); err != nil || len(devJSON) != 2 {
		t.Errorf("devices.json: %v, %d devices", err, len(devJSON))
	}

	changes := readCSV(t, readZip(t, zr, "inventory/device-changes.csv"))
	kinds := map[string]bool{}
	for _, c := range changes {
		kinds[c["kind"]] = true
	}
	if !kinds[registry.KindWipeCompleted] || len(kinds) < 3 {
		t.Errorf("device changes of the period have kinds %v, want the software change, rename and wipe", kinds)
	}
	if reg := readCSV(t, readZip(t, zr, "register/changes.csv")); len(reg) == 0 {
		t.Error("register changes of the period are empty; the asset was added, linked and decommissioned")
	}

	trans := readCSV(t, readZip(t, zr, "compliance/transitions.csv"))
	if len(trans) == 0 {
		t.Error("no compliance transitions in the period")
	}
	rates := readCSV(t, readZip(t, zr, "compliance/daily-rates.csv"))
	days := map[string]bool{}
	for _, r := range rates {
		if r["policy_id"] == "fleet" {
			days[r["day"]] = true
		}
	}
	if wantDays := int(f.to.Sub(f.from).Hours()/24) + 1; len(days) < wantDays-1 {
		t.Errorf("fleet daily rates cover %d days, want %d", len(days), wantDays)
	}

	exc := readCSV(t, readZip(t, zr, "exceptions/exceptions.csv"))
	if len(exc) != 1 || exc[0]["requested_by"] != "alice" || exc[0]["approver"] != "bob" || exc[0]["compensating_control"] == "" || exc[0]["expires_at"] == "" {
		t.Errorf("exceptions = %v, want alice's, approved by bob, with control and expiry", exc)
	}

	var sc wire.SignedCertificate
	if err := json.Unmarshal(readZip(t, zr, "sanitisation/certificates/"+f.wipeID+".json"), &sc); err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	json.Compact(&compact, sc.Certificate)
	sig, _ := base64.StdEncoding.DecodeString(sc.Signature)
	if sc.KeyID != f.ca.Command.KeyID() || !ed25519.Verify(f.ca.Command.Public, compact.Bytes(), sig) {
		t.Error("the certificate of sanitisation does not verify with the command key")
	}
	var cert registry.SanitisationCertificate
	if err := json.Unmarshal(sc.Certificate, &cert); err != nil || cert.WipeRequestID != f.wipeID || len(cert.Volumes) != 1 {
		t.Errorf("certificate = %+v, %v", cert, err)
	}

	var rev struct {
		Principals []registry.PrincipalRecord `json:"principals"`
		Changes    []audit.Entry              `json:"changes"`
	}
	if err := json.Unmarshal(readZip(t, zr, "access/review.json"), &rev); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range rev.Principals {
		names = append(names, p.Name)
		if len(p.Tokens) == 0 || p.Tokens[0].ExpiresAt.IsZero() || p.Tokens[0].Status == "" {
			t.Errorf("principal %s has no token with its status in the review", p.Name)
		}
	}
	if !slices.Contains(names, "alice") || !slices.Contains(names, "bob") || len(rev.Changes) == 0 {
		t.Errorf("access review principals %v, %d changes; want alice and bob and their token creations", names, len(rev.Changes))
	}
	if ps := readCSV(t, readZip(t, zr, "access/principals.csv")); len(ps) < 2 || ps[0]["role"] != "admin" {
		t.Errorf("principals.csv = %v", ps)
	}

	// The audit slice verifies on its own, from the bundle alone.
	cpb := readZip(t, zr, "audit/checkpoints.json")
	var cps []audit.Checkpoint
	if err := json.Unmarshal(cpb, &cps); err != nil || len(cps) == 0 {
		t.Fatalf("checkpoints: %v (%d)", err, len(cps))
	}
	v := audit.NewVerifier(f.ca.Command.Public, cps, audit.Options{Slice: true})
	sc2 := bufio.NewScanner(bytes.NewReader(readZip(t, zr, "audit/log.jsonl")))
	sc2.Buffer(nil, 1<<20)
	var actions []string
	for sc2.Scan() {
		var e audit.Entry
		if err := json.Unmarshal(sc2.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		v.Add(e)
		actions = append(actions, e.Action)
	}
	if r := v.Finish(); !r.OK || r.Entries == 0 || r.Covered == 0 {
		t.Errorf("audit slice from the bundle: %+v, want verified and covered by a checkpoint", r)
	}
	if !slices.Contains(actions, "exception.approved") {
		t.Errorf("audit slice actions %v lack the exception's approval", actions)
	}
	var ver struct {
		Chain, Slice audit.Result
	}
	if err := json.Unmarshal(readZip(t, zr, "audit/verification.json"), &ver); err != nil || !ver.Chain.OK || !ver.Slice.OK {
		t.Errorf("verification.json = %+v, %v", ver, err)
	}

	page := string(readZip(t, zr, "index.html"))
	for _, s := range []string{"INV-01", "CFG-01", "CFG-02", "A.5.9", "A.5.11", "A.5.18", "A.7.14", "A.8.1", "A.8.8", "A.8.9",
		"CC6.1", "CC6.2", "CC6.3", "CC6.5", "CC6.7", "CC7.1", "CC8.1", "<svg", "<title id=", "<desc id=", `role="img"`, `<th scope="col">`,
		"inventory/devices.csv", "sanitisation/certificates/", f.from.Format(time.RFC3339), "verified", "<polyline"} {
		if !strings.Contains(page, s) {
			t.Errorf("index.html lacks %q", s)
		}
	}
	for _, s := range []string{"<script", "src=", `href="http`, "@import", "url("} {
		if strings.Contains(page, s) {
			t.Errorf("index.html has %q: it must load nothing from outside", s)
		}
	}
}

// TestBundleTampering changes an extracted bundle in each way an editor
// could and checks that verification fails naming the file.
func TestBundleTampering(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.export(t)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	signOther := func(msg []byte) string { return base64.StdEncoding.EncodeToString(ed25519.Sign(otherPriv, msg)) }
	resign := func(dir string, sign func([]byte) string, keyID string) error {
		body, err := os.ReadFile(filepath.Join(dir, bundle.ManifestName))
		if err != nil {
			return err
		}
		sig, _ := json.Marshal(bundle.Signature{Algorithm: bundle.SignatureAlgorithm, KeyID: keyID, Signature: sign(bundle.SignedBytes(body))})
		return os.WriteFile(filepath.Join(dir, bundle.SignatureName), sig, 0o644)
	}
	tests := []struct {
		name   string
		tamper func(dir string) error
		file   string
		msg    string
	}{
		{"changed byte", func(dir string) error {
			p := filepath.Join(dir, "inventory", "devices.csv")
			c, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			c[len(c)/2] ^= 1
			return os.WriteFile(p, c, 0o644)
		}, "inventory/devices.csv", "SHA-256 differs"},
		{"changed byte in a certificate", func(dir string) error {
			p := filepath.Join(dir, "sanitisation", "certificates", f.wipeID+".json")
			c, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			c[10] ^= 0x20
			return os.WriteFile(p, c, 0o644)
		}, "sanitisation/certificates/" + f.wipeID + ".json", "SHA-256 differs"},
		{"truncated", func(dir string) error {
			return os.Truncate(filepath.Join(dir, "audit", "log.jsonl"), 10)
		}, "audit/log.jsonl", "size differs"},
		{"missing file", func(dir string) error {
			return os.Remove(filepath.Join(dir, "compliance", "transitions.csv"))
		}, "compliance/transitions.csv", "missing"},
		{"extra file", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "exceptions", "more.csv"), []byte("id\n"), 0o644)
		}, "exceptions/more.csv", "extra file"},
		{"manifest edited", func(dir string) error {
			p := filepath.Join(dir, bundle.ManifestName)
			c, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(p, bytes.Replace(c, []byte(`"exporter": "carol"`), []byte(`"exporter": "mallory"`), 1), 0o644)
		}, bundle.ManifestName, "signature does not match"},
		{"signed by another key", func(dir string) error {
			return resign(dir, signOther, wire.KeyID(otherPriv.Public().(ed25519.PublicKey)))
		}, bundle.SignatureName, "signed by key"},
		{"another key's signature under this key's id", func(dir string) error {
			return resign(dir, signOther, f.ca.Command.KeyID())
		}, bundle.ManifestName, "signature does not match"},
		{"signature missing", func(dir string) error {
			return os.Remove(filepath.Join(dir, bundle.SignatureName))
		}, bundle.SignatureName, "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := bundle.Extract(openZip(t, b), dir); err != nil {
				t.Fatal(err)
			}
			if res, err := bundle.VerifyPath(dir, f.ca.Command.Public); err != nil || !res.OK {
				t.Fatalf("before tampering: %v %v", err, res.Err())
			}
			if err := tt.tamper(dir); err != nil {
				t.Fatal(err)
			}
			res, err := bundle.VerifyPath(dir, f.ca.Command.Public)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK || res.Err() == nil || !errors.Is(res.Err(), bundle.ErrTampered) {
				t.Fatalf("tampered bundle verified: %+v", res)
			}
			found := false
			for _, p := range res.Problems {
				found = found || p.File == tt.file && strings.Contains(p.Message, tt.msg)
			}
			if !found {
				t.Errorf("problems %+v do not name %s with %q", res.Problems, tt.file, tt.msg)
			}
		})
	}
}

// TestZipTampering rewrites one entry of the zip itself, as someone with
// a zip tool would, and checks the zip checks: a changed entry, and a
// second entry of the same name.
func TestZipTampering(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.export(t)
	rezip := func(edit func(name string, body []byte) []byte, extra string) string {
		var out bytes.Buffer
		zw := zip.NewWriter(&out)
		for _, zf := range openZip(t, b).File {
			body := readZip(t, openZip(t, b), zf.Name)
			w, _ := zw.Create(zf.Name)
			w.Write(edit(zf.Name, body))
			if zf.Name == extra {
				w, _ := zw.Create(zf.Name)
				w.Write([]byte("replacement"))
			}
		}
		zw.Close()
		p := filepath.Join(t.TempDir(), "bundle.zip")
		if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	same := rezip(func(_ string, b []byte) []byte { return b }, "")
	if res, err := bundle.VerifyPath(same, f.ca.Command.Public); err != nil || !res.OK {
		t.Fatalf("re-zipped unchanged: %v %v", err, res.Err())
	}
	changed := rezip(func(name string, b []byte) []byte {
		if name == "register/assets.csv" {
			return bytes.Replace(b, []byte("Alice"), []byte("Alicf"), 1)
		}
		return b
	}, "")
	if res, _ := bundle.VerifyPath(changed, f.ca.Command.Public); res.OK || !strings.Contains(res.Err().Error(), "register/assets.csv: SHA-256 differs") {
		t.Errorf("changed entry: %v", res.Err())
	}
	dup := rezip(func(_ string, b []byte) []byte { return b }, "index.html")
	if res, _ := bundle.VerifyPath(dup, f.ca.Command.Public); res.OK || !strings.Contains(res.Err().Error(), "index.html: the zip holds two entries") {
		t.Errorf("duplicate entry: %v", res.Err())
	}
}

func TestParsePeriod(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		from, to         string
		wantFrom, wantTo time.Time
		err              string
	}{
		{"2026-07-01", "2026-10-01", time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), ""},
		{"2026-07-01T10:00:00+02:00", "", time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC), now, ""},
		{"2026-11-01", "2027-01-01", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), now, ""},
		{"", "2026-10-01", time.Time{}, time.Time{}, "from is required"},
		{"07/01/2026", "", time.Time{}, time.Time{}, "from must be a date"},
		{"2026-07-01", "tomorrow", time.Time{}, time.Time{}, "to must be a date"},
		{"2026-10-01", "2026-07-01", time.Time{}, time.Time{}, "must be before"},
		{"2026-12-06", "", time.Time{}, time.Time{}, "not in the past"},
		{"2020-01-01", "2026-01-01", time.Time{}, time.Time{}, "longer than 731 days"},
	}
	for _, tt := range tests {
		from, to, err := evidence.ParsePeriod(tt.from, tt.to, now)
		var pe *evidence.PeriodError
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("ParsePeriod(%q, %q): %v", tt.from, tt.to, err)
		case tt.err != "" && (err == nil || !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParsePeriod(%q, %q) = %v, want a PeriodError with %q", tt.from, tt.to, err, tt.err)
		case tt.err == "" && (!from.Equal(tt.wantFrom) || !to.Equal(tt.wantTo)):
			t.Errorf("ParsePeriod(%q, %q) = %v, %v, want %v, %v", tt.from, tt.to, from, to, tt.wantFrom, tt.wantTo)
		}
	}
}

// TestAuditSliceIsUnbroken: collectors sharing a store may write entries
// whose times are not in sequence order. Each period's slice is still one
// unbroken run of the chain that verifies on its own, and two adjacent
// periods' slices meet exactly.
func TestAuditSliceIsUnbroken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg, cfg := openRegistry(t)
	ca, _, err := pki.LoadOrCreate(filepath.Join(t.TempDir(), "pki"), []string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, cfg)
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var prev *audit.Entry
	// Four entries as two collectors with clocks a second apart write
	// them: the third is stamped before the second.
	var seqs []int64
	for _, offset := range []time.Duration{1, 3, 2, 4} {
		var head audit.Entry
		switch err := db.QueryRow(`SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&head.Seq, &head.Hash); {
		case errors.Is(err, sql.ErrNoRows):
			prev = nil
		case err != nil:
			t.Fatal(err)
		default:
			prev = &head
		}
		e := audit.Entry{At: base.Add(offset * time.Second), PrincipalName: "collector", PrincipalKind: "collector", Action: "test.entry", Outcome: audit.OK}
		e.Seal(prev)
		if _, err := db.Exec(`INSERT INTO audit_log (seq, at, principal_id, principal_name, principal_kind, role, source, request_id, action, target, outcome, detail, prev_hash, hash)
			VALUES ($1, $2, '', $3, $4, '', '', '', $5, '', $6, '', $7, $8)`,
			e.Seq, e.At.Format("2006-01-02T15:04:05.000000000Z"), e.PrincipalName, e.PrincipalKind, e.Action, e.Outcome, e.PrevHash, e.Hash); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, e.Seq)
	}
	if _, err := reg.Checkpoint(ctx, ca.Command.KeyID(), ca.Command.Sign, time.Now()); err != nil {
		t.Fatal(err)
	}
	slice := func(from, to time.Time) ([]int64, audit.Result) {
		var buf bytes.Buffer
		if _, err := evidence.Export(ctx, &buf, evidence.Options{Registry: reg, Key: ca.Command, From: from, To: to, Now: time.Now()}); err != nil {
			t.Fatal(err)
		}
		var ver struct{ Slice audit.Result }
		zr := openZip(t, buf.Bytes())
		if err := json.Unmarshal(readZip(t, zr, "audit/verification.json"), &ver); err != nil {
			t.Fatal(err)
		}
		var got []int64
		sc := bufio.NewScanner(bytes.NewReader(readZip(t, zr, "audit/log.jsonl")))
		for sc.Scan() {
			var e audit.Entry
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			got = append(got, e.Seq)
		}
		return got, ver.Slice
	}
	mid := base.Add(2500 * time.Millisecond)
	a, ra := slice(base, mid)
	b, rb := slice(mid, base.Add(time.Minute))
	if !ra.OK || !rb.OK {
		t.Errorf("slices do not verify: %+v %+v", ra, rb)
	}
	if !slices.Equal(append(a, b...), seqs) || len(a) != 1 {
		t.Errorf("slices %v and %v, want %v split after the first", a, b, seqs)
	}
}
