package registry

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/collector/compliance"
)

// searchFleet is a seeded fleet's values the benchmark's queries pick from.
type searchFleet struct {
	ids, serials, hostnames, macs, tags, emails []string
}

// The seeded fleet's hostnames are KIND-CITY-NUMBER and its owners FIRST
// LAST, LAST a family name often spelt with a digit after it (20×20×10
// spellings), so a first name is the prefix of 5 % of the owners and a
// family name a substring of 5 %.
var (
	benchCities = []string{"berlin", "paris", "madrid", "lisbon", "dublin", "oslo", "vienna", "prague", "warsaw", "rome",
		"milan", "zurich", "geneva", "munich", "hamburg", "lyon", "porto", "seville", "krakow", "athens"}
	benchKinds = []string{"lt", "ws", "mbp", "srv", "vm"}
	benchFirst = []string{"anna", "ben", "carla", "david", "elif", "félix", "greta", "hugo", "ines", "jonas",
		"karin", "lars", "mia", "noah", "olga", "pablo", "quinn", "rosa", "sven", "tomás"}
	benchLast = []string{"smith", "müller", "garcía", "rossi", "dubois", "novak", "kowalski", "jensen", "silva", "murphy",
		"schmidt", "martin", "bernard", "costa", "nielsen", "horvat", "popescu", "ivanova", "berg", "weber"}
)

// seedSearchFleet stores n devices, each with a linked asset and a
// compliance state, and n/50 assets linked to none, straight into the
// tables the real code writes (as SeedFleet does for evaluation; going
// through enrolment and reports would take minutes), then indexes them
// for search as Migrate does for a store that had them before.
func seedSearchFleet(ctx context.Context, r *Registry, n int, now time.Time) (searchFleet, error) {
	rng := rand.New(rand.NewPCG(14, 14))
	var f searchFleet
	hex := func(k int) string {
		const digits = "0123456789abcdef"
		b := make([]byte, k)
		for i := range b {
			b[i] = digits[rng.IntN(16)]
		}
		return string(b)
	}
	serial := func() string {
		const chars = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
		b := make([]byte, 10)
		for i := range b {
			b[i] = chars[rng.IntN(len(chars))]
		}
		return string(b)
	}
	states := compliance.Statuses()
	const batch = 10000
	spares := n / 50
	for start := 0; start < n+spares; start += batch {
		err := r.write(ctx, func(tx *sql.Tx) error {
			stmts := map[string]*sql.Stmt{}
			for name, s := range map[string]string{
				"dev": `INSERT INTO devices (id, hostname, platform, system_serial, macs, first_seen, last_seen, enrolled_at, last_hash)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $6, 'sha256:seed')`,
				"comp": `INSERT INTO device_compliance (device_id, rev, state, results, evaluated_at) VALUES ($1, 1, $2, '[]', $3)`,
				"asset": `INSERT INTO assets (id, asset_tag, tag_key, serial_raw, serial, owner, owner_email, status, created_at, updated_at)
					VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $8)`,
				"link": `INSERT INTO asset_links (asset_id, device_id, how, linked_at) VALUES ($1, $2, 'system_serial', $3)`,
			} {
				st, err := tx.PrepareContext(ctx, s)
				if err != nil {
					return err
				}
				defer st.Close()
				stmts[name] = st
			}
			ts := fmtTime(now)
			for i := start; i < min(start+batch, n+spares); i++ {
				sn := serial()
				first, last := benchFirst[rng.IntN(len(benchFirst))], benchLast[rng.IntN(len(benchLast))]
				if k := rng.IntN(10); k > 0 {
					last = fmt.Sprintf("%s%d", last, k)
				}
				owner := strings.ToUpper(first[:1]) + first[1:] + " " + strings.ToUpper(last[:1]) + last[1:]
				email := fmt.Sprintf("%s.%s.%d@example.com", first, last, i)
				tag := fmt.Sprintf("LAP-%06d", i)
				aid := uuid.NewString()
				status := "in_service"
				if i >= n {
					status, sn = "in_stock", "SPARE"+sn
				}
				if _, err := stmts["asset"].ExecContext(ctx, aid, tag, tagKey(tag), sn, owner, email, status, ts); err != nil {
					return err
				}
				f.tags, f.emails = append(f.tags, tag), append(f.emails, email)
				if i >= n {
					continue
				}
				id := uuid.NewString()
				host := fmt.Sprintf("%s-%s-%05d", benchKinds[rng.IntN(len(benchKinds))], benchCities[rng.IntN(len(benchCities))], i)
				var macs []string
				for range 1 + rng.IntN(2) {
					m := hex(12)
					macs = append(macs, m[0:2]+":"+m[2:4]+":"+m[4:6]+":"+m[6:8]+":"+m[8:10]+":"+m[10:12])
				}
				slices.Sort(macs)
				seen := fmtTime(now.Add(-time.Duration(rng.IntN(30*24*3600)) * time.Second))
				if _, err := stmts["dev"].ExecContext(ctx, id, host, "linux", sn, strings.Join(macs, ","), ts, seen); err != nil {
					return err
				}
				if _, err := stmts["comp"].ExecContext(ctx, id, states[rng.IntN(len(states)-1)], ts); err != nil {
					return err
				}
				if _, err := stmts["link"].ExecContext(ctx, aid, id, ts); err != nil {
					return err
				}
				f.ids, f.serials, f.hostnames, f.macs = append(f.ids, id), append(f.serials, sn), append(f.hostnames, host), append(f.macs, macs[0])
			}
			return nil
		})
		if err != nil {
			return f, fmt.Errorf("seed search fleet: %w", err)
		}
	}
	if err := r.write(ctx, func(tx *sql.Tx) error { return backfillSearchKeys(ctx, tx) }); err != nil {
		return f, fmt.Errorf("seed search fleet: %w", err)
	}
	if _, err := r.db.ExecContext(ctx, `ANALYZE`); err != nil {
		return f, fmt.Errorf("seed search fleet: %w", err)
	}
	return f, nil
}

// BenchmarkSearchDevices100k times SearchDevices (limit 20, a page of
// results) over 100,000 devices with linked assets, and 2,000 assets
// linked to none, for each kind of query a helpdesk types, and reports
// each kind's p50 and p95 and those of all queries together, in
// milliseconds (goal: p95 ≤ 100 ms on SQLite). Each iteration asks every
// kind a few different queries.
func BenchmarkSearchDevices100k(b *testing.B) {
	ctx := context.Background()
	r, err := OpenAndMigrate(ctx, NewTestStore(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	f, err := seedSearchFleet(ctx, r, 100000, now)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 12))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	kinds := []struct {
		name string
		q    func() string
	}{
		{"serial", func() string { return strings.ToLower(pick(f.serials)) }},
		{"tag", func() string { return pick(f.tags) }},
		{"mac-colon", func() string { return strings.ToUpper(pick(f.macs)) }},
		{"mac-cisco", func() string {
			m := strings.ReplaceAll(pick(f.macs), ":", "")
			return m[0:4] + "." + m[4:8] + "." + m[8:12]
		}},
		{"id-prefix", func() string { return pick(f.ids)[:8] }},
		{"hostname", func() string { return pick(f.hostnames) }},
		{"email", func() string { return pick(f.emails) }},
		// tens to thousands of matches
		{"hostname-prefix", func() string {
			h := pick(f.hostnames)
			return h[:len(h)-3]
		}},
		{"owner-first-name", func() string { return pick(benchFirst) }},
		{"owner-family-name", func() string { return pick(benchLast) }},
		{"city", func() string { return pick(benchCities) }},
		// the first keystrokes of search as you type: a fifth or more of
		// the fleet matches
		{"two-letters", func() string { return pick([]string{"lt", "ws", "vm", "an", "be"}) }},
		{"miss", func() string { return fmt.Sprintf("nohost%04d", rng.IntN(10000)) }},
	}
	const perKind = 20
	took := make([][]time.Duration, len(kinds))
	var all []time.Duration
	for b.Loop() {
		for k, kind := range kinds {
			for range perKind {
				q := kind.q()
				start := time.Now()
				hits, err := r.SearchDevices(ctx, q, 20)
				d := time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				if kind.name != "miss" && len(hits) == 0 {
					b.Fatalf("%s %q: no hits", kind.name, q)
				}
				took[k] = append(took[k], d)
				all = append(all, d)
			}
		}
	}
	pct := func(ds []time.Duration, p float64) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[min(len(s)-1, int(float64(len(s))*p))]) / float64(time.Millisecond)
	}
	for k, kind := range kinds {
		b.ReportMetric(pct(took[k], 0.50), kind.name+"-p50-ms")
		b.ReportMetric(pct(took[k], 0.95), kind.name+"-p95-ms")
	}
	b.ReportMetric(pct(all, 0.50), "p50-ms")
	b.ReportMetric(pct(all, 0.95), "p95-ms")
}
