package registry

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkNewDevice inserts a new device row, as an enrolment does, into
// a registry of 2,000 devices of 750 packages each: with its number given
// in the INSERT (newDeviceNum, what enrolment does) and, on SQLite, left
// to the devices_num trigger, whose UPDATE of the parent key scans
// device_software for children. The cost must not grow with the fleet.
func BenchmarkNewDevice(b *testing.B) {
	ctx := context.Background()
	r := OpenTestStore(b, NewTestStore(b))
	ts := fmtTime(time.Date(2026, 12, 5, 19, 0, 0, 0, time.UTC))
	const devices, packages = 2000, 750
	err := r.Write(ctx, func(tx *Tx) error {
		for i := range packages {
			if _, err := tx.ExecContext(ctx, `INSERT INTO software_catalogue (source, name, version) VALUES ('deb', $1, '1.0')`, fmt.Sprintf("pkg-%d", i)); err != nil {
				return err
			}
		}
		for i := range devices {
			if _, err := tx.ExecContext(ctx, `INSERT INTO devices (id, hostname, platform, agent_version, state, first_seen, last_seen, enrolled_at, num)
				VALUES ($1, '', 'linux', 'bench', 'active', $2, $2, $2, `+r.dia.newDeviceNum()+`)`, fmt.Sprintf("seed-%d", i), ts); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO device_software (package_id, device_num, dup) SELECT c.id, d.num, 0 FROM software_catalogue c, devices d`)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct{ name, num string }{{"num given", r.dia.newDeviceNum()}}
	if !r.dia.postgres() {
		cases = append(cases, struct{ name, num string }{"num by trigger", "NULL"})
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			n := 0
			err := r.Write(ctx, func(tx *Tx) error {
				for b.Loop() {
					n++
					if _, err := tx.ExecContext(ctx, `INSERT INTO devices (id, hostname, platform, agent_version, state, first_seen, last_seen, enrolled_at, num)
						VALUES ($1, '', 'linux', 'bench', 'active', $2, $2, $2, `+tc.num+`)`, fmt.Sprintf("%s-%d", tc.name, n), ts); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}
