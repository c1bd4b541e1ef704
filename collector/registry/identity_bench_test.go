package registry

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkLiveConflicts is the identity-conflict check every full report
// runs, in a registry of 20,000 live devices of which half report no MAC
// address (as VMs and some laptops do), for a device without MACs and for
// one with them. Its cost must not grow with the number of devices that
// lack a field the reporting device also lacks.
func BenchmarkLiveConflicts(b *testing.B) {
	ctx := context.Background()
	r := OpenTestStore(b, NewTestStore(b))
	now := time.Date(2026, 12, 5, 19, 0, 0, 0, time.UTC)
	const n = 20000
	err := r.Write(ctx, func(tx *Tx) error {
		ts, until := fmtTime(now), fmtTime(now.Add(365*24*time.Hour))
		for i := range n {
			dev, macs := fmt.Sprintf("00000000-0000-4000-8000-%012d", i), ""
			if i%2 == 0 {
				macs = fmt.Sprintf("7e:7b:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO devices (id, hostname, platform, system_serial, system_uuid, board_serial, macs,
				agent_version, state, first_seen, last_seen, enrolled_at, last_seq) VALUES ($1, $2, 'linux', $3, $4, '', $5, 'bench', 'active', $6, $6, $6, 1)`,
				dev, fmt.Sprintf("host-%d", i), fmt.Sprintf("SERIAL%06d", i), fmt.Sprintf("10000000-0000-4000-8000-%012d", i), macs, ts); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO certificates (serial, device_id, issued_at, not_after) VALUES ($1, $2, $3, $4)`,
				fmt.Sprintf("%016x", i), dev, ts, until); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		id   hwID
	}{
		{"without MACs", hwID{Serial: "SERIAL000001", UUID: "10000000-0000-4000-8000-000000000001"}},
		{"with MACs", hwID{Serial: "SERIAL000002", UUID: "10000000-0000-4000-8000-000000000002", MACs: "7e:7b:00:00:00:02"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			err := r.Write(ctx, func(tx *Tx) error {
				for b.Loop() {
					got, err := liveConflicts(ctx, tx, "self", tc.id, now)
					if err != nil {
						return err
					}
					if len(got) != 1 {
						return fmt.Errorf("got %v, want the one device claiming the identity", got)
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
