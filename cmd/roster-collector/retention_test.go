package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/config"
	"github.com/rosterhq/roster/collector/metrics"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/retention"
	"github.com/rosterhq/roster/collector/webhook"
)

// oldData makes a data directory whose registry holds two events from
// four years ago and an audit log with a checkpoint signed then, the
// collector's real keys in pki/, and a configuration keeping events 30
// days; it returns the directory and the configuration file.
func oldData(t *testing.T) (dir, cfgFile string) {
	t.Helper()
	ctx := context.Background()
	dir = filepath.Join(t.TempDir(), "data")
	if err := prepareDataDir(dir); err != nil {
		t.Fatal(err)
	}
	long := time.Now().AddDate(-4, 0, 0)
	ca, _, err := pki.LoadOrCreate(filepath.Join(dir, pkiDir), []string{"localhost"}, long)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.OpenAndMigrate(ctx, registry.StoreConfig{Path: filepath.Join(dir, dbFile)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	secret := func(label string) {
		if _, _, err := reg.CreateSecret(ctx, label, 0, 0, long); err != nil {
			t.Fatal(err)
		}
	}
	secret("first")
	secret("second")
	if _, err := reg.Checkpoint(ctx, ca.Command.KeyID(), ca.Command.Sign, long); err != nil {
		t.Fatal(err)
	}
	secret("after the checkpoint")
	if _, err := reg.RecordEvents(ctx, []webhook.Event{
		{Kind: webhook.KindDeviceMissing, At: long, Subject: "missing"},
		{Kind: webhook.KindDeviceMissing, At: long.Add(time.Hour), Subject: "missing"},
	}); err != nil {
		t.Fatal(err)
	}
	cfgFile = filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(cfgFile, []byte("data_dir: "+dir+"\nretention:\n  events: 30d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, cfgFile
}

// TestRetentionRun: the dry run counts and changes nothing, the run
// removes the same rows, and the purged audit log verifies offline.
func TestRetentionRun(t *testing.T) {
	t.Parallel()
	dir, cfg := oldData(t)
	out, errOut, code := runInProcess(t, "retention", "run", "--config", cfg, "--dry-run", "--json")
	if code != 0 {
		t.Fatalf("retention run --dry-run: exit %d: %s", code, errOut)
	}
	var plan retention.Report
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("dry run JSON: %v\n%s", err, out)
	}
	counts := func(rep retention.Report) map[string]int64 {
		m := map[string]int64{}
		for _, k := range rep.Kinds {
			for tbl, n := range k.Tables {
				m[k.Kind+"."+tbl] = n
			}
		}
		return m
	}
	if c := counts(plan); !plan.DryRun || c["events.events"] != 2 || c["audit_log.audit_log"] != 2 {
		t.Fatalf("dry run %v, want 2 events and audit entries 1-2", c)
	}
	if out, _, _ := runInProcess(t, "retention", "run", "--config", cfg, "--dry-run", "--json"); !strings.Contains(out, `"audit_log": 2`) {
		t.Errorf("a dry run removed something: the second one says\n%s", out)
	}

	out, errOut, code = runInProcess(t, "retention", "run", "--config", cfg)
	if code != 0 || !strings.Contains(out, "removed") {
		t.Fatalf("retention run: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = runInProcess(t, "audit", "verify", "--data", dir)
	if code != 0 || !strings.Contains(out, "entries 1 to 2 were purged by retention: the chain starts at 3, anchored on signed checkpoint 2") {
		t.Fatalf("audit verify after the purge: exit %d\n%s\n%s", code, out, errOut)
	}
	out, _, code = runInProcess(t, "retention", "run", "--data", dir, "--json")
	var again retention.Report
	if err := json.Unmarshal([]byte(out), &again); code != 0 || err != nil || again.Rows() != 0 {
		t.Errorf("second run: exit %d, %v, %d rows removed", code, err, again.Rows())
	}
}

// TestRetentionJob runs the job as serve does: it purges at start, under
// its lease, and records each kind in the audit log.
func TestRetentionJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir, _ := oldData(t)
	reg, err := registry.Open(ctx, filepath.Join(dir, dbFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	logger := slog.New(slog.DiscardHandler)
	cfg := config.DefaultRetention()
	m := metrics.New()
	stop := startRetention(ctx, cfg, reg, newJobLeases(reg, m, logger), time.Now, logger)
	deadline := time.Now().Add(10 * time.Second)
	var es []audit.Entry
	for time.Now().Before(deadline) {
		all, _, err := reg.ListAudit(ctx, registry.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		es = slices.DeleteFunc(all, func(e audit.Entry) bool { return !strings.HasSuffix(e.Action, ".purged") })
		if len(es) == 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	var got []string
	for _, e := range es {
		got = append(got, e.Action+" "+e.Target+" by "+e.PrincipalName)
	}
	want := []string{"retention.purged retention:events by collector", "audit.purged audit-log by collector"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the job recorded\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if want := `roster_retention_purged_rows_total{kind="events",table="events"} 2`; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("metrics lack %s", want)
	}
}
