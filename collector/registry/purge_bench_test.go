package registry

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/retention"
)

// seedPurgeFleet stores n devices with 400 days of data straight into the
// tables the real code writes (going through reports would take hours):
// 60 history rows, 24 compliance transitions (4 policies), 20 events with
// a delivered webhook (1 % still pending) and 60 days of daily applied
// reports per device; 5 % of the devices revoked a year ago with a
// snapshot, facts and 300 packages; 2 % of the assets disposed of with
// their owners; 20 audit entries per device with a signed checkpoint
// every 1,000; 5,000 ended sessions.
func seedPurgeFleet(ctx context.Context, r *Registry, n int, now time.Time) error {
	ago := func(d float64) string { return fmtTime(now.Add(-time.Duration(d * float64(24*time.Hour)))) }
	agoNanos := func(d float64) int64 { return historyTime(now.Add(-time.Duration(d * float64(24*time.Hour)))) }
	id := func(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }
	es := make([]pkgEntry, 300)
	for k := range es {
		es[k].id = int64(k + 1)
	}
	packed300, err := packEntries(es)
	if err != nil {
		return err
	}
	// seed runs fn(exec, i) for i in [0, n) in transactions of perTx,
	// with the statements named in stmts.
	seed := func(what string, count, perTx int, stmts map[string]string, fn func(exec func(string, ...any) (int64, error), i int) error) error {
		for start := 0; start < count; start += perTx {
			err := r.write(ctx, func(tx *sql.Tx) error {
				prepared := map[string]*sql.Stmt{}
				for name, q := range stmts {
					st, err := tx.PrepareContext(ctx, q)
					if err != nil {
						return fmt.Errorf("prepare %s: %w", name, err)
					}
					defer st.Close()
					prepared[name] = st
				}
				exec := func(name string, args ...any) (int64, error) {
					var n int64
					if strings.Contains(stmts[name], "RETURNING") {
						err := prepared[name].QueryRowContext(ctx, args...).Scan(&n)
						return n, err
					}
					_, err := prepared[name].ExecContext(ctx, args...)
					return 0, err
				}
				for i := start; i < min(start+perTx, count); i++ {
					if err := fn(exec, i); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("seed %s from %d: %w", what, start, err)
			}
		}
		return nil
	}
	err = seed("devices", n, 500, map[string]string{
		"dev": `INSERT INTO devices (id, hostname, system_serial, first_seen, last_seen, enrolled_at, last_hash, state)
			VALUES ($1, $2, $3, $4, $5, $4, 'sha256:seed', $6)`,
		"cert":  `INSERT INTO certificates (serial, device_id, issued_at, not_after, revoked_at) VALUES ($1, $2, $3, $3, $4)`,
		"snap":  `INSERT INTO snapshots (device_id, snapshot) VALUES ($1, '{}')`,
		"facts": `INSERT INTO device_facts (device_id, facts, facts_v) VALUES ($1, '{}', 1)`,
		"cat":   `INSERT INTO software_catalogue (source, name, version) VALUES ('deb', $1, '1.0') ON CONFLICT DO NOTHING`,
		"sw": `INSERT INTO device_software (package_id, device_num)
			SELECT c.id, d.num FROM devices d, software_catalogue c WHERE d.id = $1 AND c.name = $2 AND c.version = '1.0' AND c.source = 'deb'`,
		"pkgs": `INSERT INTO device_packages (device_num, packed) SELECT num, $2 FROM devices WHERE id = $1`,
		"asset": `INSERT INTO assets (id, asset_tag, tag_key, owner, owner_email, status, created_at, updated_at)
			VALUES ($1, $2, $2, $3, $4, $5, $6, $6)`,
		"link": `INSERT INTO asset_links (asset_id, device_id, how, linked_at) VALUES ($1, $2, 'system_serial', $3)`,
	}, func(exec func(string, ...any) (int64, error), i int) error {
		retired := i%20 == 0
		state, revoked, lastSeen := StateActive, any(nil), ago(0.5)
		if retired {
			state, revoked, lastSeen = StateRevoked, ago(380), ago(381)
		}
		if _, err := exec("dev", id(i), fmt.Sprintf("host-%d", i), fmt.Sprintf("SN%08d", i), ago(400), lastSeen, state); err != nil {
			return err
		}
		if _, err := exec("cert", fmt.Sprintf("c%d", i), id(i), ago(400), revoked); err != nil {
			return err
		}
		if retired {
			if _, err := exec("snap", id(i)); err != nil {
				return err
			}
			if _, err := exec("facts", id(i)); err != nil {
				return err
			}
			for k := range 300 {
				if _, err := exec("cat", fmt.Sprintf("pkg-%d", k)); err != nil {
					return err
				}
				if _, err := exec("sw", id(i), fmt.Sprintf("pkg-%d", k)); err != nil {
					return err
				}
			}
			// the first retired device added pkg-0 … pkg-299 as catalogue ids 1 … 300
			if _, err := exec("pkgs", id(i), packed300); err != nil {
				return err
			}
		}
		status := "in_service"
		if i%50 == 1 {
			status = "disposed"
		}
		aid := fmt.Sprintf("a-%d", i)
		if _, err := exec("asset", aid, fmt.Sprintf("TAG-%d", i), fmt.Sprintf("Owner %d", i), fmt.Sprintf("o%d@example.com", i), status, ago(200)); err != nil {
			return err
		}
		_, err := exec("link", aid, id(i), ago(400))
		return err
	})
	if err != nil {
		return err
	}
	// Rows over time are written as the registry writes them: oldest
	// first across the fleet, so row order is time order.
	const steps = 60
	err = seed("history over time", steps*n, n, map[string]string{
		"hist": `INSERT INTO history (device_id, at, seq, kind, subject, old, new) VALUES ($1, $2, 1, 'software.upgraded', 'deb:pkg:amd64', '1', '2')`,
		"rep":  `INSERT INTO reports_applied (device_id, seq, kind, hash, applied_at) VALUES ($1, $2, 'delta', 'sha256:x', $3)`,
		"ct":   `INSERT INTO compliance_changes (device_num, at, changes) VALUES ((SELECT num FROM devices WHERE id = $1), $2, $3)`,
		"ev":   `INSERT INTO events (id, kind, at, device_id, subject) VALUES ($1, 'software.installed', $2, $3, 'x') RETURNING n`,
		"del":  `INSERT INTO webhook_deliveries (id, endpoint_id, event_n, state, next_attempt_at) VALUES ($1, 'siem', $2, $3, $4)`,
	}, func(exec func(string, ...any) (int64, error), j int) error {
		k, i := j/n, j%n
		if _, err := exec("hist", id(i), ago(400-float64(k)*400/steps)); err != nil {
			return err
		}
		if _, err := exec("rep", id(i), k+1, ago(60-float64(k))); err != nil {
			return err
		}
		if k%10 == 0 { // six transitions per policy, alternating: one row of four
			cs := make([]change, 4)
			for p := range cs {
				cs[p] = change{policy: fmt.Sprintf("POL-%d", p), status: []string{"pass", "fail"}[k/10%2]}
			}
			if _, err := exec("ct", id(i), agoNanos(400-float64(k)*400/steps), string(appendChanges(nil, cs))); err != nil {
				return err
			}
		}
		if k%3 == 0 { // twenty events, one delivery each, 1 % pending
			at := ago(400 - float64(k)*400/steps)
			en, err := exec("ev", fmt.Sprintf("e-%d-%d", i, k), at, id(i))
			if err != nil {
				return err
			}
			st := DeliveryDelivered
			if (i+k)%100 == 0 {
				st = DeliveryPending
			}
			if _, err := exec("del", fmt.Sprintf("d-%d-%d", i, k), en, st, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The audit log: 20 entries per device over the 400 days, a checkpoint
	// every 1,000 entries.
	total := 20 * n
	var prev *audit.Entry
	err = seed("audit log", total, 10000, map[string]string{
		"e":  `INSERT INTO audit_log (seq, at, action, target, outcome, detail, prev_hash, hash) VALUES ($1, $2, 'report.applied', 'device:x', 'ok', '{}', $3, $4)`,
		"cp": `INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES ($1, $2, $3, 'k', 'sig')`,
	}, func(exec func(string, ...any) (int64, error), i int) error {
		e := audit.Entry{At: parseTime(ago(400 - float64(i)*400/float64(total))), Action: "report.applied", Target: "device:x", Outcome: "ok", Detail: "{}"}
		e.Seal(prev)
		prev = &e
		if _, err := exec("e", e.Seq, fmtTime(e.At), e.PrevHash, e.Hash); err != nil {
			return err
		}
		if e.Seq%1000 == 0 {
			_, err := exec("cp", e.Seq, e.Hash, fmtTime(e.At))
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return seed("sessions", 5000, 5000, map[string]string{
		"s": `INSERT INTO sessions (id, principal_id, hash, csrf, method, created_at, last_seen_at, expires_at, idle_seconds, ended_at)
			VALUES ($1, 'p', $1, 'c', 'password', $2, $2, $2, 1800, $2)`,
	}, func(exec func(string, ...any) (int64, error), i int) error {
		_, err := exec("s", fmt.Sprintf("s-%d", i), ago(400-float64(i)*400/5000))
		return err
	})
}

// BenchmarkPurgeFleet measures one purge of a 10,000-device registry with
// 400 days of data under a policy that removes the oldest part of every
// kind (docs/retention.md gives the figures):
//
//	go test -run '^$' -bench PurgeFleet -benchtime 1x ./collector/registry/
func BenchmarkPurgeFleet(b *testing.B) {
	ctx := context.Background()
	now := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	const n = 10000
	p := retention.Policy{Rules: []retention.Rule{
		{Kind: retention.DeviceHistory, Keep: 300 * 24 * time.Hour},
		{Kind: retention.ComplianceHistory, Keep: 300 * 24 * time.Hour},
		{Kind: retention.Events, Keep: 90 * 24 * time.Hour},
		{Kind: retention.ReportBookkeeping, Keep: 30 * 24 * time.Hour},
		{Kind: retention.RetiredDevices, Keep: 365 * 24 * time.Hour},
		{Kind: retention.DisposedOwners, Keep: 90 * 24 * time.Hour},
		{Kind: retention.Sessions, Keep: 30 * 24 * time.Hour},
		{Kind: retention.AuditLog, Keep: 300 * 24 * time.Hour},
	}}
	for range b.N {
		b.StopTimer()
		r := OpenTestStore(b, NewTestStore(b))
		if err := seedPurgeFleet(ctx, r, n, now); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err := r.Purge(ctx, p, now)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		for _, k := range rep.Kinds {
			b.Logf("%-18s %8d rows in %v %v", k.Kind, k.Rows(), k.Duration.Round(time.Millisecond), k.Tables)
		}
		b.ReportMetric(float64(rep.Rows()), "rows/op")
		// The next day's purge: what the job does once the backlog is gone.
		start := time.Now()
		next, err := r.Purge(ctx, p, now.Add(24*time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("the next day's purge: %d rows in %v", next.Rows(), time.Since(start).Round(time.Millisecond))
	}
}
