package registry

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/collector/compliance"
)

// SeedComplianceHistory stores a synthetic compliance history straight
// into compliance_transitions for benchmarks: devices devices (stored as
// bare device records) with a
// status for each of policies policies from the day before from, then on
// each of days days a tenth of the devices flipping one policy between
// pass and fail (at noon UTC). It returns the policy ids and the number
// of rows stored.
func SeedComplianceHistory(ctx context.Context, r *Registry, devices, policies, days int, from time.Time) ([]string, int, error) {
	ids := make([]int64, devices)
	err := r.Write(ctx, func(tx *Tx) error {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO devices (id, hostname, platform, first_seen, last_seen, enrolled_at) VALUES ($1, $2, 'linux', $3, $3, $3)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for i := range ids {
			id := uuid.NewString()
			if _, err := ins.ExecContext(ctx, id, fmt.Sprintf("seed-%d", i), fmtTime(from)); err != nil {
				return err
			}
			// SQLite's trigger numbers the device after the insert.
			if ids[i], err = deviceNum(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("seed compliance history: store devices: %w", err)
	}
	pols := make([]string, policies)
	for p := range pols {
		pols[p] = fmt.Sprintf("BENCH-%02d", p)
	}
	status := make([][]string, devices)
	rows := 0
	write := func(at time.Time, fn func(w *transitionRows)) error {
		return r.Write(ctx, func(tx *Tx) error {
			w := newTransitionRows(at)
			fn(w)
			rows += len(w.rows)
			return w.flush(ctx, tx)
		})
	}
	start := from.Add(-24 * time.Hour)
	err = write(start, func(w *transitionRows) {
		for i, d := range ids {
			status[i] = make([]string, policies)
			for p, id := range pols {
				status[i][p] = compliance.StatusPass
				w.add(d, id, compliance.StatusPass, "", "seed")
			}
		}
	})
	if err != nil {
		return nil, 0, fmt.Errorf("seed compliance history: %w", err)
	}
	for day := range days {
		at := from.Add(time.Duration(day)*24*time.Hour + 12*time.Hour)
		err := write(at, func(w *transitionRows) {
			for i, d := range ids {
				if (i*7+day*13)%10 != 0 {
					continue
				}
				p := (i + day) % policies
				next := compliance.StatusFail
				if status[i][p] == compliance.StatusFail {
					next = compliance.StatusPass
				}
				w.add(d, pols[p], next, status[i][p], "seed")
				status[i][p] = next
			}
		})
		if err != nil {
			return nil, 0, fmt.Errorf("seed compliance history: %w", err)
		}
	}
	return pols, rows, nil
}
