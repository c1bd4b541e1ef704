package registry

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/register"
	"github.com/rosterhq/roster/shared/identity"
	"github.com/rosterhq/roster/shared/wire"
)

// hwID is a hardware identity in the normalised form the devices table
// stores; "" means absent (placeholders included), and absent never matches.
type hwID struct {
	Serial, UUID, Board, MACs string
}

func normaliseIdentity(id wire.Identity) hwID {
	var macs []string
	for _, m := range id.MACs {
		if n := identity.MAC(m); n != "" {
			macs = append(macs, n)
		}
	}
	slices.Sort(macs)
	macs = slices.Compact(macs)
	return hwID{
		Serial: identity.Serial(id.SystemSerial),
		UUID:   identity.UUID(id.SystemUUID),
		Board:  identity.Serial(id.BoardSerial),
		MACs:   strings.Join(macs, ","),
	}
}

// matchBy names which identity field tied an enrolment to a device.
type matchBy string

// findCandidates returns the devices whose identity matches id, most
// recently seen first, and the field that matched: normalised system
// serial first, then system UUID in either byte order, then the exact MAC
// set (the first field any device matches decides). The MAC set must be
// equal, not merely overlap, because a shared docking-station or USB
// adapter would otherwise tie two laptops together. Several devices can
// match: two records of one machine in identity conflict, or a record an
// admin merged into another (loadCandidates leaves those out).
func findCandidates(ctx context.Context, tx *Tx, id hwID) ([]string, matchBy, error) {
	try := func(query string, args ...any) ([]string, error) {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				return nil, err
			}
			out = append(out, d)
		}
		return out, rows.Err()
	}
	for _, f := range []struct {
		by    matchBy
		on    bool
		query string
		args  []any
	}{
		{"system_serial", id.Serial != "", `SELECT id FROM devices WHERE system_serial = $1 ORDER BY last_seen DESC, id`, []any{id.Serial}},
		{"system_uuid", id.UUID != "", `SELECT id FROM devices WHERE system_uuid = $1 OR system_uuid = $2 ORDER BY last_seen DESC, id`, []any{id.UUID, register.SwapUUID(id.UUID)}},
		{"macs", id.MACs != "", `SELECT id FROM devices WHERE macs = $1 ORDER BY last_seen DESC, id`, []any{id.MACs}},
	} {
		if !f.on {
			continue
		}
		ids, err := try(f.query, f.args...)
		if err != nil || len(ids) > 0 {
			return ids, f.by, err
		}
	}
	return nil, "", nil
}

// liveConflicts returns the other devices that claim the same hardware
// identity and are live: not revoked, holding an unrevoked unexpired
// certificate, and reporting. Two of those are two running agents, which a
// reinstall never produces but a cloned VM image does. It runs on every
// full report, so it reads only the index entries of id's present fields
// (liveConflictsQuery).
func liveConflicts(ctx context.Context, tx *Tx, self string, id hwID, now time.Time) ([]string, error) {
	query, args := liveConflictsQuery(self, id, now)
	if query == "" {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// liveConflictsQuery is liveConflicts' query with a term for each field id
// has, and "" when it has none. An absent field gets no term at all: a
// term comparing a column with an empty value matches nothing (a guard
// excluded empty columns) yet still walks the index entries of every
// device without that field, every MAC-less VM or every machine with a
// placeholder serial, which made each full report cost a share of the
// whole fleet.
func liveConflictsQuery(self string, id hwID, now time.Time) (string, []any) {
	args := []any{self}
	arg := func(v string) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	var terms []string
	if id.Serial != "" {
		terms = append(terms, "d.system_serial = "+arg(id.Serial))
	}
	if id.UUID != "" {
		terms = append(terms, "d.system_uuid = "+arg(id.UUID))
		if sw := register.SwapUUID(id.UUID); sw != "" && sw != id.UUID {
			terms = append(terms, "d.system_uuid = "+arg(sw))
		}
	}
	if id.MACs != "" {
		terms = append(terms, "d.macs = "+arg(id.MACs))
	}
	if len(terms) == 0 {
		return "", nil
	}
	return `SELECT d.id FROM devices d
		WHERE d.id <> $1 AND d.state <> 'revoked' AND d.last_seq > 0 AND (` + strings.Join(terms, " OR ") + `)
		  AND EXISTS (SELECT 1 FROM certificates c WHERE c.device_id = d.id AND c.revoked_at IS NULL AND c.not_after > ` + arg(fmtTime(now)) + `)
		ORDER BY d.id`, args
}
