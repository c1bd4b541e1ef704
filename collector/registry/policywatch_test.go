package registry_test

import (
	"context"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/shared/wire"
)

// twoEnvs is two collector instances on one database, both started with
// failAll in force (as two collectors with one policy file would be), and
// a Debian device that reported through b.
func twoEnvs(t *testing.T) (a, b *env, d enrolled, s *wire.Snapshot) {
	t.Helper()
	a = newEnv(t)
	regB, err := registry.OpenAndMigrate(context.Background(), a.store, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { regB.Close() })
	b = &env{reg: regB, ca: a.ca, store: a.store, path: a.path}
	a.configure(t, failAll)
	b.configure(t, failAll)
	s = snapshotOf(t, debian)
	d = b.reported(t, s, t0)
	if state, _ := b.results(t, d.DeviceID); state != compliance.StatusFail {
		t.Fatalf("under failAll: %s, want fail", state)
	}
	return a, b, d, s
}

// withBanned is s with a package TEST-BAN-01 bans: only linuxOnly judges it.
func withBanned(t *testing.T, s *wire.Snapshot) *wire.Snapshot {
	t.Helper()
	if s.Software == nil {
		t.Skip("snapshot without software")
	}
	s.Software.Packages = append(s.Software.Packages, wire.Package{Name: "1password", Version: "8.10.0", Source: "deb"})
	return s
}

func policySetID(t *testing.T, reg *registry.Registry) (int64, int) {
	t.Helper()
	set, rec, err := reg.PolicySet(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rec.ID, len(set.Policies())
}

// TestPolicyChangeReachesOtherInstance replaces the policies through one
// instance; the other puts the stored set in force at its next refresh
// (called here as its watcher would) and judges reports by it.
func TestPolicyChangeReachesOtherInstance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, d, s := twoEnvs(t)
	before, _ := policySetID(t, b.reg)

	_, rec, _, err := a.reg.ReplacePolicies(ctx, []byte(linuxOnly), "alice", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := policySetID(t, b.reg); id != before {
		t.Fatalf("b has set %d in force before refreshing, want the old %d", id, before)
	}
	got, err := b.reg.RefreshPolicies(ctx)
	if err != nil || got == nil || got.ID != rec.ID || got.CreatedBy != "alice" {
		t.Fatalf("refresh: %+v, %v; want set %d by alice", got, err, rec.ID)
	}
	if got, err := b.reg.RefreshPolicies(ctx); got != nil || err != nil {
		t.Errorf("second refresh: %+v, %v; want nothing to do", got, err)
	}
	if id, n := policySetID(t, b.reg); id != rec.ID || n != 2 {
		t.Errorf("b after refresh: set %d with %d policies, want %d with 2", id, n, rec.ID)
	}

	// A report through b is judged by the new set.
	b.apply(t, d, full(t, withBanned(t, s), 2), t0.Add(2*time.Hour))
	state, res := b.results(t, d.DeviceID)
	if state != compliance.StatusFail || res["TEST-BAN-01"].Status != compliance.StatusFail || res["TEST-LINUX-01"].Status != compliance.StatusPass {
		t.Errorf("report through b: state %s, results %+v; want fail by TEST-BAN-01 and TEST-LINUX-01 passing", state, res)
	}
	if _, ok := res["TEST-ALL-01"]; ok {
		t.Errorf("report through b judged by the replaced TEST-ALL-01: %+v", res)
	}
}

// TestStaleInstanceJudgesByStoredSet: before its watcher runs, an instance
// still judges reports and fleet evaluations by the newest stored set, so
// it never undoes a change made through another instance.
func TestStaleInstanceJudgesByStoredSet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, d, s := twoEnvs(t)

	if _, _, _, err := a.reg.ReplacePolicies(ctx, []byte(linuxOnly), "alice", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	b.apply(t, d, full(t, withBanned(t, s), 2), t0.Add(2*time.Hour))
	if _, res := b.results(t, d.DeviceID); res["TEST-BAN-01"].Status != compliance.StatusFail {
		t.Errorf("report through b before its refresh: %+v, want judged by linuxOnly (TEST-BAN-01 failing)", res)
	}

	_, rec, _, err := a.reg.ReplacePolicies(ctx, []byte(failAll), "alice", t0.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.reg.EvaluateAll(ctx, t0.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if id, _ := policySetID(t, b.reg); id != rec.ID {
		t.Errorf("b evaluated the fleet with set %d in force, want the stored %d", id, rec.ID)
	}
	if _, res := b.results(t, d.DeviceID); res["TEST-ALL-01"].Status != compliance.StatusFail || len(res) != 1 {
		t.Errorf("after b's fleet evaluation: %+v, want only TEST-ALL-01 (failAll)", res)
	}
}
