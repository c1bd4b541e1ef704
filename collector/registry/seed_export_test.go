package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/shared/wire"
)

// SeedFleet stores n reported devices straight into the database for
// benchmarks: device i gets facts[i%len(facts)] and packages
// pkgs[i%len(pkgs)], last seen at now. Seeding 100,000 devices through
// enrolment and reports would take minutes and measure ingest, not
// evaluation.
func SeedFleet(ctx context.Context, r *Registry, n int, facts []compliance.Facts, pkgs [][]wire.Package, now time.Time) error {
	enc := make([]string, len(facts))
	for i, f := range facts {
		b, err := json.Marshal(f)
		if err != nil {
			return err
		}
		enc[i] = string(b)
	}
	ts := fmtTime(now)
	const batch = 10000
	for start := 0; start < n; start += batch {
		err := r.write(ctx, func(tx *sql.Tx) error {
			dev, err := tx.PrepareContext(ctx, `INSERT INTO devices (id, hostname, platform, first_seen, last_seen, enrolled_at, last_hash) VALUES ($1, $2, $3, $4, $4, $4, 'sha256:seed')`)
			if err != nil {
				return err
			}
			defer dev.Close()
			fc, err := tx.PrepareContext(ctx, `INSERT INTO device_facts (device_id, facts, facts_v) VALUES ($1, $2, $3)`)
			if err != nil {
				return err
			}
			defer fc.Close()
			cat, err := tx.PrepareContext(ctx, `INSERT INTO software_catalogue (source, name, arch, version) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`)
			if err != nil {
				return err
			}
			defer cat.Close()
			catID, err := tx.PrepareContext(ctx, `SELECT id FROM software_catalogue WHERE name = $1 AND version = $2 AND source = $3 AND arch = $4 AND publisher = '' AND location = ''`)
			if err != nil {
				return err
			}
			defer catID.Close()
			sw, err := tx.PrepareContext(ctx, `INSERT INTO device_software (package_id, device_num) VALUES ($1, $2) ON CONFLICT DO NOTHING`)
			if err != nil {
				return err
			}
			defer sw.Close()
			packed, err := tx.PrepareContext(ctx, `INSERT INTO device_packages (device_num, packed) VALUES ($1, $2)`)
			if err != nil {
				return err
			}
			defer packed.Close()
			for i := start; i < min(start+batch, n); i++ {
				id := uuid.NewString()
				f := facts[i%len(facts)]
				if _, err := dev.ExecContext(ctx, id, fmt.Sprintf("host-%06d", i), f.Device.Platform, ts); err != nil {
					return err
				}
				var num int64
				if err := tx.QueryRowContext(ctx, `SELECT num FROM devices WHERE id = $1`, id).Scan(&num); err != nil {
					return err
				}
				if _, err := fc.ExecContext(ctx, id, enc[i%len(facts)], compliance.FactsVersion); err != nil {
					return err
				}
				var es []pkgEntry
				seen := map[int64]bool{}
				for _, p := range pkgs[i%len(pkgs)] {
					if _, err := cat.ExecContext(ctx, p.Source, p.Name, p.Arch, p.Version); err != nil {
						return err
					}
					var pid int64
					if err := catID.QueryRowContext(ctx, p.Name, p.Version, p.Source, p.Arch).Scan(&pid); err != nil {
						return err
					}
					if seen[pid] {
						continue
					}
					seen[pid] = true
					es = append(es, pkgEntry{id: pid})
					if _, err := sw.ExecContext(ctx, pid, num); err != nil {
						return err
					}
				}
				b, err := packEntries(es)
				if err != nil {
					return err
				}
				if _, err := packed.ExecContext(ctx, num, b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed fleet: %w", err)
		}
	}
	return nil
}

// DropEvalCache empties the fleet evaluation's cache (evalcache.go), for a
// benchmark to measure the heap it held.
func DropEvalCache(r *Registry) { r.comp.cache.replace(nil) }

// DropSnapshotCache empties r's snapshot cache, as a fleet larger than the
// cache leaves it for a device's next delta.
func DropSnapshotCache(r *Registry) {
	r.snaps.mu.Lock()
	defer r.snaps.mu.Unlock()
	clear(r.snaps.items)
	r.snaps.size = 0
}

// HoldWrites keeps every write of r waiting until release.
func HoldWrites(r *Registry) (release func()) {
	r.writeMu.Lock()
	return r.writeMu.Unlock
}

// CachesSnapshot says whether r's snapshot cache holds the device's
// snapshot with hash.
func CachesSnapshot(r *Registry, device, hash string) bool { return r.snaps.get(device, hash) != nil }
