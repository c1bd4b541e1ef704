package registry_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/collector/retention"
	"github.com/rosterhq/roster/collector/webhook"
	"github.com/rosterhq/roster/shared/wire"
)

const days = 24 * time.Hour

// timeText is how the registry stores times.
const timeText = "2006-01-02T15:04:05.000000000Z"

// kernelPolicy passes while the kernel ends in -next, so a device's
// status changes as its kernel does.
const kernelPolicy = `policies:
  - id: TEST-KERNEL-01
    title: next kernel
    severity: low
    kind: cel
    expr: os.kernel.endsWith("-next")
    fail_reason: old kernel
`

// machine is a real snapshot made into another machine: its own serial,
// UUID, MACs and hostname.
func machine(t testing.TB, s *wire.Snapshot, i int) *wire.Snapshot {
	t.Helper()
	c := registrytest.Clone(t, s)
	c.Hardware.SystemSerial = fmt.Sprintf("PURGE-SN-%04d", i)
	c.Hardware.SystemUUID = fmt.Sprintf("4c4c4544-0000-1000-8000-%012d", i)
	c.Hardware.BoardSerial = fmt.Sprintf("PURGE-BOARD-%04d", i)
	c.Hardware.Hostname = fmt.Sprintf("purge-host-%d", i)
	for j := range c.Hardware.NICs {
		c.Hardware.NICs[j].MAC = fmt.Sprintf("02:00:00:%02x:%02x:%02x", i>>8, i&0xff, j)
	}
	return c
}

func withKernel(t *testing.T, s *wire.Snapshot, kernel string, at time.Time) *wire.Snapshot {
	t.Helper()
	c := registrytest.Clone(t, s)
	c.CollectedAt = at
	c.OS.Kernel = kernel
	return c
}

// purgeWorld is a registry with a year and a half of data at chosen ages:
// a live device (A), one whose certificates were revoked long ago (B), one
// whose asset was disposed of long ago (C), events with delivered and
// pending webhooks, sessions and signed checkpoints.
type purgeWorld struct {
	*env
	a, b, c   enrolled
	now       time.Time
	policy    retention.Policy
	pub       ed25519.PublicKey
	sign      func([]byte) string
	cp1, cp2  *audit.Checkpoint
	pending   string // the delivery left pending
	oldSess   string
	newSess   string
	softwareA int
}

func newPurgeWorld(t *testing.T) *purgeWorld {
	t.Helper()
	ctx := context.Background()
	w := &purgeWorld{env: newEnv(t), now: t0.Add(500 * days)}
	w.policy = retention.Policy{Batch: 2, Rules: []retention.Rule{
		{Kind: retention.DeviceHistory, Keep: 400 * days},
		{Kind: retention.ComplianceHistory, Keep: 400 * days},
		{Kind: retention.Events, Keep: 90 * days},
		{Kind: retention.ReportBookkeeping, Keep: 30 * days},
		{Kind: retention.RetiredDevices, Keep: 200 * days},
		{Kind: retention.DisposedOwners, Keep: 90 * days},
		{Kind: retention.Sessions, Keep: 30 * days},
		{Kind: retention.AuditLog, Keep: 400 * days},
	}}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	w.pub = pub
	sign := func(b []byte) string { return base64.StdEncoding.EncodeToString(ed25519.Sign(priv, b)) }
	w.sign = sign
	w.configure(t, kernelPolicy, webhook.Endpoint{ID: "siem", URL: "https://siem.example/hook", Secret: "s", Events: []string{"*"}, Enabled: true})

	base := registrytest.Rich(t)
	sa, sb, sc := machine(t, base, 1), machine(t, base, 2), machine(t, base, 3)
	w.mustImport(t, "asset_tag,serial,owner,owner_email,status\n"+
		"LAP-A,"+sa.Hardware.SystemSerial+",Grace Hopper,grace@example.com,in_service\n"+
		"LAP-C,"+sc.Hardware.SystemSerial+",Ada Lovelace,ada@example.com,in_service\n", t0)
	w.a = w.reported(t, sa, t0)
	w.b = w.reported(t, sb, t0)
	w.c = w.reported(t, sc, t0)

	// A changes a days later: history, software events, a passing result.
	a2, _, _ := changed(t, sa)
	if ack := w.apply(t, w.a, delta(t, sa, a2, 2), t0.Add(days)); ack.Status != wire.AckApplied {
		t.Fatalf("A's delta: %+v", ack)
	}
	// Every delivery of those events is delivered except one.
	ob := w.reg.Outbox(0)
	due, err := ob.Due(ctx, t0.Add(days), 100)
	if err != nil || len(due) < 2 {
		t.Fatalf("due deliveries: %d, %v", len(due), err)
	}
	for _, p := range due[1:] {
		if err := ob.Delivered(ctx, p.Delivery.ID, t0.Add(days)); err != nil {
			t.Fatal(err)
		}
	}
	w.pending = due[0].Delivery.ID

	if _, err := w.reg.RevokeDevice(ctx, w.b.DeviceID, t0.Add(10*days)); err != nil {
		t.Fatal(err)
	}
	cp, err := w.reg.Checkpoint(ctx, "k1", sign, t0.Add(30*days))
	if err != nil || cp == nil {
		t.Fatalf("checkpoint: %v, %v", cp, err)
	}
	w.cp1 = cp

	// C's owner changes, then its asset leaves service and is disposed of.
	w.mustImport(t, "asset_tag,owner,owner_email\nLAP-C,Ada King,ada.king@example.com\n", t0.Add(200*days))
	// The offboarding's wipe request copies the owner.
	if _, err := w.reg.StartWipe(ctx, registry.WipeStart{Ref: w.c.DeviceID, Ticket: "HR-9", Reason: "leaver", Method: registry.WipeMethodManual, Actor: offboarder},
		t0.Add(240*days)); err != nil {
		t.Fatal(err)
	}
	for i, st := range []string{"decommissioned", "disposed"} {
		w.mustImport(t, "asset_tag,status\nLAP-C,"+st+"\n", t0.Add(time.Duration(245+5*i)*days))
	}

	w.user(t, "alice", access.Helpdesk)
	p, err := w.reg.SignIn(browserCtx(), "alice", alicePw, "", t0)
	if err != nil {
		t.Fatal(err)
	}
	in := registry.SessionInput{Principal: p, Method: registry.MethodPassword, Idle: 30 * time.Minute, Absolute: 8 * time.Hour}
	old, _, err := w.reg.CreateSession(ctx, in, t0)
	if err != nil {
		t.Fatal(err)
	}
	cur, _, err := w.reg.CreateSession(ctx, in, w.now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	w.oldSess, w.newSess = old.ID, cur.ID

	// A reports again ten days ago: its kernel back (failing again).
	a3 := withKernel(t, a2, sa.OS.Kernel, w.now.Add(-10*days))
	if ack := w.apply(t, w.a, delta(t, a2, a3, 3), w.now.Add(-10*days)); ack.Status != wire.AckApplied {
		t.Fatalf("A's second delta: %+v", ack)
	}
	if w.cp2, err = w.reg.Checkpoint(ctx, "k1", sign, w.now.Add(-5*days)); err != nil || w.cp2 == nil {
		t.Fatalf("checkpoint: %v, %v", w.cp2, err)
	}
	w.softwareA = w.rows(t, "device_software WHERE device_num = (SELECT num FROM devices WHERE id = $1)", w.a.DeviceID)
	return w
}

// rows counts the rows of "table WHERE …".
func (w *purgeWorld) rows(t *testing.T, from string, args ...any) int {
	t.Helper()
	var n int
	if err := w.rawDB(t).QueryRow("SELECT count(*) FROM "+from, args...).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", from, err)
	}
	return n
}

func (w *purgeWorld) cutoff(kind string) string {
	for _, r := range w.policy.Rules {
		if r.Kind == kind {
			c, _ := r.Cutoff(w.now)
			return c.Format(timeText)
		}
	}
	panic(kind)
}

func tablesOf(rep retention.Report) map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	for _, k := range rep.Kinds {
		out[k.Kind] = k.Tables
	}
	return out
}

func TestPurge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newPurgeWorld(t)

	// What must go, counted before by the rules themselves.
	hist := w.cutoff(retention.DeviceHistory)
	oldHistory := w.rows(t, "history WHERE at < $1", hist)
	keptHistory := w.rows(t, "history WHERE at >= $1", hist)
	if oldHistory == 0 || keptHistory == 0 {
		t.Fatalf("scenario: %d old and %d recent history rows, want some of each", oldHistory, keptHistory)
	}
	if n := w.rows(t, "compliance_transitions WHERE device_num = (SELECT num FROM devices WHERE id = $1)", w.a.DeviceID); n != 3 {
		t.Fatalf("scenario: A has %d transitions, want 3 (fail, pass, fail)", n)
	}

	plan, err := w.reg.PurgePlan(ctx, w.policy, w.now)
	if err != nil {
		t.Fatal(err)
	}
	auditBefore := w.rows(t, "audit_log")
	rep, err := w.reg.Purge(ctx, w.policy, w.now)
	if err != nil {
		t.Fatal(err)
	}
	// The dry run counted exactly what the purge removed.
	if diff := cmp.Diff(tablesOf(plan), tablesOf(rep)); diff != "" {
		t.Errorf("dry run and purge differ (-plan +purge):\n%s", diff)
	}
	if n := w.rows(t, "audit_log"); n >= auditBefore {
		t.Errorf("audit log has %d entries after the purge, %d before", n, auditBefore)
	}

	// Device history: older than the cutoff gone, the rest kept.
	if n := w.rows(t, "history WHERE at < $1", hist); n != 0 {
		t.Errorf("%d history rows older than the cutoff left", n)
	}
	if n := w.rows(t, "history"); n != keptHistory {
		t.Errorf("history has %d rows, want the %d recent ones", n, keptHistory)
	}
	if got := tablesOf(rep)[retention.DeviceHistory]["history"]; got != int64(oldHistory) {
		t.Errorf("reported %d history rows removed, want %d", got, oldHistory)
	}
	if n := w.rows(t, "register_history WHERE at < $1", hist); n != 0 {
		t.Errorf("%d register history rows older than the cutoff left", n)
	}

	// Compliance history: each device and policy keeps its newest.
	if n := w.rows(t, "compliance_transitions WHERE device_num = (SELECT num FROM devices WHERE id = $1)", w.a.DeviceID); n != 1 {
		t.Errorf("A has %d transitions, want its newest only", n)
	}
	if n := w.rows(t, "compliance_transitions WHERE device_num = (SELECT num FROM devices WHERE id = $1) AND at = $2", w.a.DeviceID, w.now.Add(-10*days).UnixNano()); n != 1 {
		t.Errorf("A's newest transition (ten days ago) is gone")
	}
	for _, d := range []enrolled{w.b, w.c} {
		if n := w.rows(t, "compliance_transitions WHERE device_num = (SELECT num FROM devices WHERE id = $1)", d.DeviceID); n < 1 {
			t.Errorf("device %s lost its newest transition", d.DeviceID)
		}
	}

	// Events: the pending delivery and its event stay, old delivered ones go.
	if n := w.rows(t, "webhook_deliveries WHERE id = $1 AND state = 'pending'", w.pending); n != 1 {
		t.Errorf("the pending delivery was purged")
	}
	if n := w.rows(t, "webhook_deliveries WHERE state <> 'pending'"); n != 0 {
		t.Errorf("%d delivered deliveries of old events left", n)
	}
	if n := w.rows(t, "events e WHERE e.at < $1 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_n = e.n)", w.cutoff(retention.Events)); n != 0 {
		t.Errorf("%d old events without a pending delivery left", n)
	}
	if n := w.rows(t, "events e JOIN webhook_deliveries d ON d.event_n = e.n WHERE d.id = $1", w.pending); n != 1 {
		t.Errorf("the pending delivery's event was purged")
	}

	// Report bookkeeping: A keeps seq 3 (its newest), B and C their only one.
	for _, c := range []struct {
		d    enrolled
		seqs string
	}{{w.a, "3"}, {w.b, "1"}, {w.c, "1"}} {
		if n := w.rows(t, "reports_applied WHERE device_id = $1", c.d.DeviceID); n != 1 {
			t.Errorf("device %s keeps %d applied reports, want 1 (seq %s)", c.d.DeviceID, n, c.seqs)
		}
	}
	if n := w.rows(t, "reports_applied WHERE device_id = $1 AND seq = 3", w.a.DeviceID); n != 1 {
		t.Errorf("A's newest applied report is gone")
	}

	// Retired devices: B (revoked) and C (disposed) lose snapshot, facts
	// and software and say so; A is untouched.
	for _, d := range []enrolled{w.b, w.c} {
		for _, tbl := range []string{"snapshots", "snapshot_deltas", "device_facts"} {
			if n := w.rows(t, tbl+" WHERE device_id = $1", d.DeviceID); n != 0 {
				t.Errorf("retired device %s keeps %d rows of %s", d.DeviceID, n, tbl)
			}
		}
		if n := w.rows(t, "device_software WHERE device_num = (SELECT num FROM devices WHERE id = $1)", d.DeviceID); n != 0 {
			t.Errorf("retired device %s keeps %d rows of device_software", d.DeviceID, n)
		}
		dev, err := w.reg.Device(ctx, d.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		if dev.SnapshotPurgedAt == nil || !dev.SnapshotPurgedAt.Equal(w.now) {
			t.Errorf("device %s: snapshot_purged_at %v, want %v", d.DeviceID, dev.SnapshotPurgedAt, w.now)
		}
		if _, err := w.reg.DeviceFacts(ctx, d.DeviceID); err == nil || !strings.Contains(err.Error(), "purged by retention") {
			t.Errorf("facts of purged device %s: %v, want an error saying they were purged", d.DeviceID, err)
		}
		if n := w.rows(t, "devices WHERE id = $1", d.DeviceID); n != 1 {
			t.Errorf("device row %s was deleted", d.DeviceID)
		}
	}
	if got := tablesOf(rep)[retention.RetiredDevices]; got["snapshots"] != 2 {
		t.Errorf("retired devices report %v, want 2 snapshots", got)
	}
	devA, err := w.reg.Device(ctx, w.a.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	if devA.SnapshotPurgedAt != nil {
		t.Errorf("live device A marked purged")
	}
	if _, err := w.reg.DeviceFacts(ctx, w.a.DeviceID); err != nil {
		t.Errorf("live device A's facts: %v", err)
	}
	if n := w.rows(t, "device_software WHERE device_num = (SELECT num FROM devices WHERE id = $1)", w.a.DeviceID); n != w.softwareA {
		t.Errorf("live device A has %d packages after the purge, %d before", n, w.softwareA)
	}

	// The disposed owner is gone from the asset, its history and search;
	// the live asset's owner is still found.
	lapC := w.asset(t, "LAP-C")
	if lapC.Owner != retention.OwnerMarker(w.now) || lapC.OwnerEmail != "" {
		t.Errorf("LAP-C owner %q <%s>, want the marker and no email", lapC.Owner, lapC.OwnerEmail)
	}
	for _, q := range []string{"Lovelace", "Ada King", "ada.king@example.com", "ada@example.com"} {
		// The whole text: "ada", the part before an @, is also three hex
		// digits a device id in the history may hold (a flake, ~1 run in 50).
		if n := w.rows(t, "register_history WHERE old LIKE $1 OR new LIKE $1", "%"+q+"%"); n != 0 {
			t.Errorf("register history still holds %q in %d rows", q, n)
		}
		hits, err := w.reg.SearchDevices(ctx, q, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 0 {
			t.Errorf("search %q finds %+v after the purge", q, hits)
		}
	}
	if hits, err := w.reg.SearchDevices(ctx, "Hopper", 0); err != nil || len(hits) != 1 || hits[0].DeviceID != w.a.DeviceID {
		t.Errorf("search Hopper (a live owner): %+v, %v; want device A", hits, err)
	}
	if n := w.rows(t, "wipe_requests WHERE asset_id = $1 AND owner = $2", lapC.ID, retention.OwnerMarker(w.now)); n != 1 {
		t.Errorf("LAP-C's wipe request still holds its owner")
	}
	if n := w.rows(t, "register_history WHERE asset_id = $1 AND subject = 'owner' AND new = $2", lapC.ID, retention.OwnerMarker(w.now)); n != 1 {
		t.Errorf("LAP-C's owner change is not replaced by the marker (%d rows)", n)
	}

	// Sessions: the one that ended long ago goes.
	if n := w.rows(t, "sessions WHERE id = $1", w.oldSess); n != 0 {
		t.Errorf("the session that expired 500 days ago is kept")
	}
	if n := w.rows(t, "sessions WHERE id = $1", w.newSess); n != 1 {
		t.Errorf("the current session was purged")
	}

	// The audit log: purged through the old checkpoint, verifying from it.
	res, err := w.reg.VerifyAudit(ctx, w.pub, nil, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Anchor != w.cp1.Seq || res.FirstSeq != w.cp1.Seq+1 {
		t.Fatalf("verify after purge: %+v, want OK anchored on checkpoint %d", res, w.cp1.Seq)
	}
	if n := w.rows(t, "audit_checkpoints"); n != 2 {
		t.Errorf("%d checkpoints after the purge, want both kept", n)
	}
	// The checkpoint job reads the head of the purged chain and signs it.
	cp3, err := w.reg.Checkpoint(ctx, "k1", w.sign, w.now)
	if err != nil || cp3 == nil {
		t.Fatalf("checkpoint after the purge: %v, %v", cp3, err)
	}
	if res, err := w.reg.VerifyAudit(ctx, w.pub, nil, audit.Options{Now: w.now, MaxUncovered: time.Hour}); err != nil || !res.OK || res.Covered != cp3.Seq {
		t.Fatalf("verify after a checkpoint of the purged chain: %+v, %v", res, err)
	}
	entries, _, err := w.reg.ListAudit(ctx, registry.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]map[string]any{}
	for _, e := range entries {
		if e.Action != "retention.purged" && e.Action != "audit.purged" {
			continue
		}
		if e.PrincipalKind != access.KindCollector {
			t.Errorf("%s recorded as %s/%s, want the collector", e.Action, e.PrincipalKind, e.PrincipalName)
		}
		var d map[string]any
		if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
			t.Fatal(err)
		}
		recorded[d["kind"].(string)] = d
	}
	for _, k := range rep.Kinds {
		d, ok := recorded[k.Kind]
		if (k.Rows() > 0) != ok {
			t.Errorf("kind %s removed %d rows; recorded in the audit log: %v", k.Kind, k.Rows(), ok)
			continue
		}
		if ok {
			want := map[string]any{}
			for tbl, n := range k.Tables {
				want[tbl] = float64(n)
			}
			if diff := cmp.Diff(want, d["tables"]); diff != "" || d["cutoff"] != k.Cutoff.Format(timeText) {
				t.Errorf("kind %s recorded %v (cutoff %v), reported %v:\n%s", k.Kind, d["tables"], d["cutoff"], k.Tables, diff)
			}
		}
	}
	if d := recorded[retention.AuditLog]; d == nil || d["through_seq"] != float64(w.cp1.Seq) {
		t.Errorf("audit.purged detail %v, want through_seq %d", d, w.cp1.Seq)
	}

	// A second purge at the same moment finds nothing and records nothing.
	again, err := w.reg.Purge(ctx, w.policy, w.now)
	if err != nil {
		t.Fatal(err)
	}
	if n := again.Rows(); n != 0 {
		t.Errorf("second purge removed %d rows: %+v", n, tablesOf(again))
	}
	if n := w.rows(t, "audit_log WHERE action IN ('retention.purged', 'audit.purged')"); n != len(recorded) {
		t.Errorf("%d purge entries after a second purge, want %d", n, len(recorded))
	}

	// C's agent (its certificate still valid) reports again: a delta is
	// answered "send full", the full report stores a snapshot, and the
	// purge mark no longer applies.
	sc := machine(t, registrytest.Rich(t), 3)
	sc2, _, _ := changed(t, sc)
	if ack := w.apply(t, w.c, delta(t, sc, sc2, 2), w.now); ack.Status != wire.AckResync {
		t.Errorf("delta on a purged snapshot: %+v, want resync", ack)
	}
	if ack := w.apply(t, w.c, full(t, sc2, 3), w.now); ack.Status != wire.AckApplied {
		t.Fatalf("full report after the purge: %+v", ack)
	}
	devC, err := w.reg.Device(ctx, w.c.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	if _, ferr := w.reg.DeviceFacts(ctx, w.c.DeviceID); devC.SnapshotPurgedAt != nil || ferr != nil {
		t.Errorf("after a new full report: snapshot_purged_at %v, facts error %v; want neither", devC.SnapshotPurgedAt, ferr)
	}
}

// TestPurgeAuditLog purges a chain in several steps, each ending at a
// signed checkpoint, and checks every verifier accepts what is left; a
// prefix deleted by hand is "missing".
func TestPurgeAuditLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := newAuditEnv(t) // twelve entries, checkpoints at 4 and 8
	now := time.Now().Add(1000 * days)
	p := retention.Policy{Batch: 3, Rules: []retention.Rule{{Kind: retention.AuditLog, Keep: 400 * days}}}
	plan, err := a.reg.PurgePlan(ctx, p, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := plan.Kinds[0]; got.ThroughSeq != 8 || got.Tables["audit_log"] != 8 {
		t.Fatalf("plan %+v, want entries 1 to 8", got)
	}
	rep, err := a.reg.Purge(ctx, p, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Kinds[0]; got.ThroughSeq != 8 || got.Tables["audit_log"] != 8 {
		t.Fatalf("purge %+v, want entries 1 to 8", got)
	}
	res := a.verify(t, audit.Options{})
	if !res.OK || res.Anchor != 8 || res.FirstSeq != 9 || res.HeadSeq != 13 {
		t.Fatalf("verify the purged chain: %+v", res)
	}
	// The purge's own record, then a new checkpoint over the purged chain.
	es, _, err := a.reg.ListAudit(ctx, registry.AuditFilter{Action: "audit.purged"})
	if err != nil || len(es) != 1 || !strings.Contains(es[0].Detail, `"through_seq":8`) {
		t.Fatalf("audit.purged entries %+v, %v", es, err)
	}

	// Deleting a prefix by hand, not at a checkpoint: missing entries.
	b := newAuditEnv(t)
	if _, err := b.db.Exec(`DELETE FROM audit_log WHERE seq <= 2`); err != nil {
		t.Fatal(err)
	}
	res = b.verify(t, audit.Options{})
	if res.OK || res.Problem == nil || !strings.Contains(res.Problem.Message, "missing") {
		t.Fatalf("verify a chain with entries 1-2 deleted by hand: %+v, want missing entries", res)
	}
}
