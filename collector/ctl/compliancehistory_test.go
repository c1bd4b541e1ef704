package ctl

import (
	"context"
	"crypto/x509"
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/apitypes"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

// historyCollector is the real API with one device reported at t1 under
// the default policies and the fleet evaluated at t2, ten days later: its
// check-in policy goes from pass to fail, its other results go stale.
func historyCollector(t *testing.T, t1, t2 time.Time) (map[string]string, string) {
	t.Helper()
	env, reg := usersCollector(t)
	ctx := context.Background()
	ca, _, err := pki.LoadOrCreate(filepath.Join(t.TempDir(), "pki"), []string{"127.0.0.1"}, t1)
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := reg.CreateSecret(ctx, "test", 0, 0, t1)
	if err != nil {
		t.Fatal(err)
	}
	s := registrytest.Clone(t, registrytest.Rich(t))
	csr, _ := registrytest.CSR(t)
	res, err := reg.Enroll(ctx, registry.EnrollInput{Secret: secret, Identity: wire.IdentityOf(s), AgentVersion: "test", Now: t1},
		func(id string) ([]byte, *x509.Certificate, error) {
			return ca.SignClient(csr, id, t1, pki.ClientValidity)
		})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCertificatePEM(res.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	rep := &wire.Report{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportFull, Seq: 1, Snapshot: s, Hash: registrytest.Hash(t, s)}
	if ack, err := reg.ApplyReport(ctx, registry.ReportInput{DeviceID: res.DeviceID, CertSerial: pki.SerialHex(cert), Report: rep, Now: t1}); err != nil || ack.Status != wire.AckApplied {
		t.Fatalf("report: %+v %v", ack, err)
	}
	if _, err := reg.EvaluateAll(ctx, t2); err != nil {
		t.Fatal(err)
	}
	return env, res.DeviceID
}

func TestComplianceHistoryCommand(t *testing.T) {
	t.Parallel()
	t1 := time.Date(2026, 9, 28, 10, 0, 0, 0, time.UTC)
	t2 := t1.Add(10 * 24 * time.Hour)
	env, device := historyCollector(t, t1, t2)
	period := []string{"--from", "2026-09-28", "--to", "2026-10-10"}

	// The device's table: no state before its first report, then its
	// first results and the check-in failing.
	r := runCtl(t, env, append([]string{"compliance", "history", device}, period...)...)
	if r.code != 0 {
		t.Fatalf("device history: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "device "+device) || strings.Contains(r.stdout, "\nstate ") {
		t.Errorf("device history head or states:\n%s", r.stdout)
	}
	var checkin []string
	for _, line := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(line); len(f) >= 5 && f[0] == "change" && f[2] == "CFG-CHK-01" {
			checkin = append(checkin, f[1]+" "+f[3])
		}
	}
	want := []string{t1.Format(time.RFC3339Nano) + " pass", t2.Format(time.RFC3339Nano) + " fail"}
	if strings.Join(checkin, "; ") != strings.Join(want, "; ") {
		t.Errorf("CFG-CHK-01 changes %q, want %q in:\n%s", checkin, want, r.stdout)
	}

	// A period beginning between: CSV, one policy, its state then its change.
	r = runCtl(t, env, "compliance", "history", device, "--policy", "CFG-CHK-01", "--from", "2026-10-01", "--to", "2026-10-10", "--csv")
	if r.code != 0 {
		t.Fatalf("device history csv: exit %d: %s", r.code, r.stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := [][]string{}
	for _, row := range rows {
		got = append(got, []string{row[0], row[1], row[2], row[3], row[4], row[5]})
	}
	wantRows := [][]string{{"kind", "at", "policy", "status", "previous", "since"},
		{"state", "2026-10-01T00:00:00Z", "CFG-CHK-01", "pass", "", t1.Format(time.RFC3339Nano)},
		{"change", t2.Format(time.RFC3339Nano), "CFG-CHK-01", "fail", "pass", ""}}
	if strings.Join(flat(got), "|") != strings.Join(flat(wantRows), "|") {
		t.Errorf("CSV rows %q, want %q", got, wantRows)
	}

	// The policy's days: passing from the 28th until the 8th, then failing.
	r = runCtl(t, env, append([]string{"compliance", "history", "--policy", "CFG-CHK-01", "--csv"}, period...)...)
	if r.code != 0 {
		t.Fatalf("daily csv: exit %d: %s", r.code, r.stderr)
	}
	rows, err = csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 13 || strings.Join(rows[0], ",") != "day,policy,in_scope,pass,fail,in_grace,exempt,unknown,stale,compliant_percent" {
		t.Fatalf("daily CSV: %d rows, header %q; want 12 days under the header", len(rows), rows[0])
	}
	for _, row := range rows[1:] {
		wantCells := "1,1,0,100.0"
		if row[0] >= "2026-10-08" {
			wantCells = "1,0,1,0.0"
		}
		if got := row[2] + "," + row[3] + "," + row[4] + "," + row[9]; row[1] != "CFG-CHK-01" || got != wantCells {
			t.Errorf("day %s: %s %s, want CFG-CHK-01 %s", row[0], row[1], got, wantCells)
		}
	}

	// The table and JSON forms of the same days.
	r = runCtl(t, env, append([]string{"compliance", "history", "--policy", "CFG-CHK-01"}, period...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "COMPLIANT_PERCENT") || !strings.Contains(r.stdout, "2026-10-09") {
		t.Errorf("daily table: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCtl(t, env, append([]string{"compliance", "history", "--policy", "CFG-CHK-01", "--json"}, period...)...)
	var d apitypes.DailyCompliance
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || len(d.Days) != 12 || d.Days[11].Fail != 1 {
		t.Errorf("daily JSON: %v, %+v", err, d)
	}

	for _, bad := range [][]string{
		{"compliance", "history"},
		{"compliance", "history", device, "--csv", "--json"},
		{"compliance", "history", device, "other"},
		{"compliance", "history", "--policy", "CFG-CHK-01", "--from", "yesterday"},
	} {
		if r := runCtl(t, env, bad...); r.code != exitUsage {
			t.Errorf("%q: exit %d, want %d (usage): %s", bad, r.code, exitUsage, r.stderr)
		}
	}
	// The collector refuses a reversed period with a clear message.
	r = runCtl(t, env, "compliance", "history", "--policy", "CFG-CHK-01", "--from", "2026-10-10", "--to", "2026-10-01")
	if r.code != 1 || !strings.Contains(r.stderr, "must be before to") {
		t.Errorf("reversed period: exit %d: %s", r.code, r.stderr)
	}
}

func flat(rows [][]string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, strings.Join(r, ","))
	}
	return out
}
