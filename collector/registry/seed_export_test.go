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
			sw, err := tx.PrepareContext(ctx, `INSERT INTO device_software (device_num, package_id)
				SELECT d.num, c.id FROM devices d, software_catalogue c
				WHERE d.id = $1 AND c.name = $2 AND c.version = $3 AND c.source = $4 AND c.arch = $5 AND c.publisher = '' AND c.location = ''
				ON CONFLICT DO NOTHING`)
			if err != nil {
				return err
			}
			defer sw.Close()
			for i := start; i < min(start+batch, n); i++ {
				id := uuid.NewString()
				f := facts[i%len(facts)]
				if _, err := dev.ExecContext(ctx, id, fmt.Sprintf("host-%06d", i), f.Device.Platform, ts); err != nil {
					return err
				}
				if _, err := fc.ExecContext(ctx, id, enc[i%len(facts)], compliance.FactsVersion); err != nil {
					return err
				}
				for _, p := range pkgs[i%len(pkgs)] {
					if _, err := cat.ExecContext(ctx, p.Source, p.Name, p.Arch, p.Version); err != nil {
						return err
					}
					if _, err := sw.ExecContext(ctx, id, p.Name, p.Version, p.Source, p.Arch); err != nil {
						return err
					}
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
