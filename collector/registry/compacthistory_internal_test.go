package registry

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/collector/compliance"
)

// compactHistoryMigration keyed compliance_transitions by device number
// and Unix nanoseconds (0025_compact_compliance_history.sql).
const compactHistoryMigration = 25

// TestMigrateCompactComplianceHistory stores compliance history as the
// schema before migration 0025 held it (device ids and time text, times
// with nanoseconds, several devices changing at one instant, a removed
// policy), migrates, and checks that the transitions, the states at
// moments between them and each device's latest states read back as
// stored, in the documented order (time, then the order the devices
// enrolled, then policy), and that on SQLite one device's states are read
// through the device index. The reasons' texts come back through their
// ids too (0028), and every row through a device's row of changes at its
// instant (0029).
func TestMigrateCompactComplianceHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, now := storeBefore(t, compactHistoryMigration)
	names, snaps, enrol := capturedHosts(t, r, now)
	var devs []string
	for _, name := range names {
		devs = append(devs, enrol(snaps[name]).id)
	}
	type old struct {
		ComplianceTransition
		text string // the time as 0016 stored it
	}
	var rows []old
	add := func(dev, policy string, at time.Time, status, previous, reason string) {
		rows = append(rows, old{ComplianceTransition{DeviceID: dev, PolicyID: policy, At: at, Status: status, Previous: previous, Reason: reason}, fmtTime(at)})
	}
	// The devices' first results at one instant (a fleet evaluation),
	// then changes of their own, a nanosecond apart for two of them.
	first := now.Add(-48*time.Hour + 123456789)
	for i, d := range devs {
		add(d, "POL-DISK", first, compliance.StatusPass, "", "")
		add(d, "POL-PATCH", first, compliance.StatusFail, "", "updates pending: 12")
		at := now.Add(-time.Duration(i+1)*time.Hour - time.Duration(i))
		add(d, "POL-PATCH", at, compliance.StatusPass, compliance.StatusFail, "")
		if i%2 == 0 {
			add(d, "POL-DISK", at.Add(time.Nanosecond), StatusRemoved, compliance.StatusPass, "")
		}
	}
	err := r.write(ctx, func(tx *sql.Tx) error {
		for _, o := range rows {
			if _, err := tx.ExecContext(ctx, `INSERT INTO compliance_transitions (device_id, policy_id, at, status, previous, reason) VALUES ($1, $2, $3, $4, $5, $6)`,
				o.DeviceID, o.PolicyID, o.text, o.Status, o.Previous, o.Reason); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	nums := map[string]int64{}
	for _, d := range devs {
		if nums[d], err = deviceNum(ctx, r.db, d); err != nil {
			t.Fatal(err)
		}
	}
	var want []ComplianceTransition
	for _, o := range rows {
		want = append(want, o.ComplianceTransition)
	}
	slices.SortFunc(want, func(a, b ComplianceTransition) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(nums[a.DeviceID], nums[b.DeviceID]), strings.Compare(a.PolicyID, b.PolicyID))
	})
	var got []ComplianceTransition
	if err := r.ComplianceTransitions(ctx, HistoryFilter{}, func(c ComplianceTransition) error {
		got = append(got, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if d := gocmp.Diff(want, got); d != "" {
		t.Errorf("transitions after migration 0025 (-stored +read):\n%s", d)
	}

	// The states in force at each moment between the stored ones, and at
	// the end, as the stored rows give them.
	statesAt := func(f HistoryFilter) []PolicyState {
		var out []PolicyState
		if err := r.ComplianceStatesAt(ctx, f, func(s PolicyState) error {
			out = append(out, s)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, to := range []time.Time{first.Add(-time.Nanosecond), first, now.Add(-2*time.Hour - 1), now.Add(-time.Hour), now.Add(-time.Hour + time.Nanosecond), {}} {
		latest := map[[2]string]ComplianceTransition{}
		for _, c := range want {
			if to.IsZero() || !c.At.After(to) {
				latest[[2]string{c.DeviceID, c.PolicyID}] = c
			}
		}
		var wantStates []PolicyState
		for _, c := range latest {
			if c.Status != StatusRemoved {
				wantStates = append(wantStates, PolicyState{DeviceID: c.DeviceID, PolicyID: c.PolicyID, Status: c.Status, Reason: c.Reason, Since: c.At})
			}
		}
		slices.SortFunc(wantStates, func(a, b PolicyState) int {
			return cmp.Or(cmp.Compare(nums[a.DeviceID], nums[b.DeviceID]), strings.Compare(a.PolicyID, b.PolicyID))
		})
		if d := gocmp.Diff(wantStates, statesAt(HistoryFilter{To: to})); d != "" {
			t.Errorf("states at %s (-stored +read):\n%s", to, d)
		}
		var mine []PolicyState
		for _, s := range wantStates {
			if s.DeviceID == devs[0] {
				mine = append(mine, s)
			}
		}
		if d := gocmp.Diff(mine, statesAt(HistoryFilter{DeviceID: devs[0], To: to})); d != "" {
			t.Errorf("states of %s at %s (-stored +read):\n%s", devs[0], to, d)
		}
	}

	if r.Engine() != EngineSQLite {
		return
	}
	q, args := statesQuery(HistoryFilter{DeviceID: devs[0]}, true)
	// The device's rows through the device index, already in time order:
	// no scan of the history and no sort (0029).
	if plan := queryPlan(t, r, q, args...); !strings.Contains(plan, "SEARCH c USING INDEX compliance_changes_device (device_num=?)") ||
		strings.Contains(plan, "SCAN c") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("plan of a device's states:\n%s\nwant compliance_changes_device, in its order", plan)
	}
}
