package registry_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/registry"
)

// expectedPoints derives a day's points from each device's stored
// compliance, the way a person would count them: the fleet by each
// device's overall state, each policy in force by the device's result.
func (e *env) expectedPoints(t *testing.T, day string, devices ...string) []registry.TrendPoint {
	t.Helper()
	ctx := context.Background()
	set, _, err := e.reg.PolicySet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	add := func(p *registry.TrendPoint, status string) {
		p.Devices++
		switch status {
		case compliance.StatusPass:
			p.Pass++
		case compliance.StatusFail:
			p.Fail++
		case compliance.StatusInGrace:
			p.InGrace++
		case compliance.StatusExempt:
			p.Exempt++
		case compliance.StatusUnknown:
			p.Unknown++
		case compliance.StatusStale:
			p.Stale++
		}
	}
	fleet := registry.TrendPoint{Day: day}
	byPolicy := map[string]*registry.TrendPoint{}
	for _, p := range set.Policies() {
		byPolicy[p.ID] = &registry.TrendPoint{Day: day, Policy: p.ID}
	}
	for _, d := range devices {
		dc, err := e.reg.DeviceComplianceOf(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		add(&fleet, dc.State)
		for _, r := range dc.Results {
			if p := byPolicy[r.PolicyID]; p != nil {
				add(p, r.Status)
			}
		}
	}
	out := []registry.TrendPoint{fleet}
	for _, id := range slices.Sorted(maps.Keys(byPolicy)) {
		out = append(out, *byPolicy[id])
	}
	return out
}

// TestComplianceTrend records days through fleet evaluations at an
// injected now spanning several days, on the engine under test: the
// counts are those of the stored results, the last record of a day wins,
// days without a record are left out, the window ends today, and a day
// with no record yet is computed when the trend is first read.
func TestComplianceTrend(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	day := func(n int) time.Time { return t0.Add(time.Duration(n) * 24 * time.Hour) }
	a := e.reported(t, snapshotOf(t, debian), day(0))
	b := e.reported(t, snapshotOf(t, mac), day(0))
	evaluate := func(now time.Time) {
		t.Helper()
		if _, err := e.reg.EvaluateAll(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	trend := func(days int, now time.Time) []registry.TrendPoint {
		t.Helper()
		got, err := e.reg.ComplianceTrend(ctx, days, now)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	concat := func(days ...[]registry.TrendPoint) []registry.TrendPoint {
		var out []registry.TrendPoint
		for _, d := range days {
			out = append(out, d...)
		}
		return out
	}
	// Day 0: both devices, as evaluated.
	evaluate(day(0))
	d0 := e.expectedPoints(t, "2026-03-01", a.DeviceID, b.DeviceID)
	if d0[0].Devices != 2 || len(d0) < 2 {
		t.Fatalf("day 0 points %+v, want the fleet's 2 devices and the policies", d0)
	}
	if diff := cmp.Diff(d0, trend(30, day(0))); diff != "" {
		t.Errorf("day 0 (-want +got):\n%s", diff)
	}
	// Day 2 (day 1 has no record): a later evaluation the same day
	// wins, and a revoked device no longer counts.
	evaluate(day(2))
	if _, err := e.reg.RevokeDevice(ctx, b.DeviceID, day(2).Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	evaluate(day(2).Add(2 * time.Hour))
	d2 := e.expectedPoints(t, "2026-03-03", a.DeviceID)
	if d2[0].Devices != 1 {
		t.Errorf("day 2 fleet point %+v, want 1 device", d2[0])
	}
	if diff := cmp.Diff(concat(d0, d2), trend(30, day(2).Add(3*time.Hour))); diff != "" {
		t.Errorf("days 0 and 2 (-want +got):\n%s", diff)
	}
	// Day 10: the device has been silent past the validity window. The
	// trend read that day before any evaluation computes the day from
	// the stored results; the fleet evaluation then makes them stale and
	// replaces the day.
	d10Stored := e.expectedPoints(t, "2026-03-11", a.DeviceID)
	if diff := cmp.Diff(d10Stored, trend(3, day(10))); diff != "" {
		t.Errorf("day 10 read before its evaluation, 3 days (-want +got):\n%s", diff)
	}
	evaluate(day(10).Add(time.Hour))
	d10 := e.expectedPoints(t, "2026-03-11", a.DeviceID)
	stale := 0
	for _, p := range d10[1:] {
		stale += p.Stale
	}
	if stale == 0 || cmp.Equal(d10, d10Stored) {
		t.Errorf("day 10 after its evaluation %+v, want stale results", d10)
	}
	if diff := cmp.Diff(concat(d0, d2, d10), trend(0, day(10).Add(2*time.Hour))); diff != "" {
		t.Errorf("30 days to day 10 (-want +got):\n%s", diff)
	}
	// Nine days end with day 10 and start after day 1.
	if diff := cmp.Diff(concat(d2, d10), trend(9, day(10))); diff != "" {
		t.Errorf("9 days to day 10 (-want +got):\n%s", diff)
	}
	// A policy no longer in force loses its row on the day's next record.
	e.configure(t, "policies:\n  - id: ONLY-01\n    title: only\n    severity: low\n    kind: cel\n    expr: \"true\"\n")
	if err := e.reg.RecordComplianceDay(ctx, day(10).Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got := trend(1, day(10).Add(3*time.Hour))
	if len(got) != 2 || got[0].Policy != "" || got[1].Policy != "ONLY-01" || got[0].Day != "2026-03-11" {
		t.Errorf("day 10 after the policy change: %+v, want the fleet point and ONLY-01's", got)
	}
}
