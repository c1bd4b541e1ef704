package registry

// The fleet's compliance day by day, for the console's 30-day chart
// (issue 14): each fleet evaluation stores the day's counts, per policy
// and for the fleet, in compliance_days, so the chart reads thirty small
// rows instead of re-deriving history nobody kept.

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/compliance"
)

// TrendPoint is one day's count of evaluated, unrevoked devices by
// status, for one policy or (Policy "") the fleet, where a device counts
// as its worst result. Devices also counts those the policy does not
// apply to (all policies, for the fleet).
type TrendPoint struct {
	// Day is the UTC date, 2026-12-05.
	Day string `json:"day"`
	// Policy is a policy id, "" for all policies.
	Policy  string `json:"policy"`
	Pass    int    `json:"pass"`
	Fail    int    `json:"fail"`
	InGrace int    `json:"in_grace"`
	Exempt  int    `json:"exempt"`
	Unknown int    `json:"unknown"`
	Stale   int    `json:"stale"`
	Devices int    `json:"devices"`
}

// MaxTrendDays caps ComplianceTrend's days.
const MaxTrendDays = 366

// dayOf is the UTC date of t as compliance_days keys it.
func dayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// trendPoints turns a summary into the day's points: the fleet first,
// then the policies in force in the set's order.
func trendPoints(day string, sum ComplianceSummary) []TrendPoint {
	point := func(policy string, counts map[string]int, devices int) TrendPoint {
		return TrendPoint{Day: day, Policy: policy,
			Pass: counts[compliance.StatusPass], Fail: counts[compliance.StatusFail], InGrace: counts[compliance.StatusInGrace],
			Exempt: counts[compliance.StatusExempt], Unknown: counts[compliance.StatusUnknown], Stale: counts[compliance.StatusStale],
			Devices: devices}
	}
	out := []TrendPoint{point("", sum.ByState, sum.Devices)}
	for _, p := range sum.Policies {
		n := 0
		for _, c := range p.Counts {
			n += c
		}
		out = append(out, point(p.ID, p.Counts, n))
	}
	return out
}

// RecordComplianceDay stores the day of now's counts from the stored
// results, replacing what an earlier call that day stored (the last call
// wins, and a policy removed since loses its row). EvaluateAll calls it
// after every fleet evaluation.
func (r *Registry) RecordComplianceDay(ctx context.Context, now time.Time) error {
	sum, err := r.Summary(ctx)
	if err != nil {
		return fmt.Errorf("record compliance day: %w", err)
	}
	return r.recordComplianceDay(ctx, now, sum)
}

// recordComplianceDay stores sum as the day of now's counts; EvaluateAll
// passes the counts it tallied itself instead of reading every result
// back (Summary).
func (r *Registry) recordComplianceDay(ctx context.Context, now time.Time, sum ComplianceSummary) error {
	day := dayOf(now)
	points := trendPoints(day, sum)
	err := r.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM compliance_days WHERE day = $1`, day); err != nil {
			return err
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO compliance_days (day, policy, pass, fail, in_grace, exempt, unknown, stale, devices, recorded_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		ts := fmtTime(now)
		for _, p := range points {
			if _, err := ins.ExecContext(ctx, p.Day, p.Policy, p.Pass, p.Fail, p.InGrace, p.Exempt, p.Unknown, p.Stale, p.Devices, ts); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record compliance day %s: %w", day, err)
	}
	return nil
}

// ComplianceTrend returns the points of the days days ending with now's
// (0: 30, at most MaxTrendDays), oldest first and on each day the fleet
// before the policies by id. Days with no row are left out, except the
// day of now: with no row yet it is recorded first (RecordComplianceDay),
// so the chart ends today even before the day's first fleet evaluation.
func (r *Registry) ComplianceTrend(ctx context.Context, days int, now time.Time) ([]TrendPoint, error) {
	switch {
	case days <= 0:
		days = 30
	case days > MaxTrendDays:
		days = MaxTrendDays
	}
	today := dayOf(now)
	var n int
	if err := r.db.QueryRowContext(ctx, `SELECT count(*) FROM compliance_days WHERE day = $1`, today).Scan(&n); err != nil {
		return nil, fmt.Errorf("read compliance trend: %w", err)
	}
	if n == 0 {
		if err := r.RecordComplianceDay(ctx, now); err != nil {
			return nil, err
		}
	}
	from := dayOf(now.UTC().AddDate(0, 0, -(days - 1)))
	rows, err := r.db.QueryContext(ctx, `SELECT day, policy, pass, fail, in_grace, exempt, unknown, stale, devices FROM compliance_days
		WHERE day >= $1 AND day <= $2`, from, today)
	if err != nil {
		return nil, fmt.Errorf("read compliance trend: %w", err)
	}
	defer rows.Close()
	out := []TrendPoint{}
	for rows.Next() {
		var p TrendPoint
		if err := rows.Scan(&p.Day, &p.Policy, &p.Pass, &p.Fail, &p.InGrace, &p.Exempt, &p.Unknown, &p.Stale, &p.Devices); err != nil {
			return nil, fmt.Errorf("read compliance trend: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read compliance trend: %w", err)
	}
	// Sorted here: PostgreSQL would order policy ids by its locale.
	slices.SortFunc(out, func(a, b TrendPoint) int {
		if c := strings.Compare(a.Day, b.Day); c != 0 {
			return c
		}
		return strings.Compare(a.Policy, b.Policy)
	})
	return out, nil
}
