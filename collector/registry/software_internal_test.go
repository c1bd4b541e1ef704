package registry

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

// TestSearchSoftwarePages: "who has" lists every device having a package,
// through pages of any size, in the order of the one join sorted whole
// that it replaced (catalogue id, device number, duplicate counter), with
// the version, arch and source asked for, on the engine under test. The
// package is a real captured one in three catalogue versions: as
// captured, upgraded and for another arch, spread over the devices.
func TestSearchSoftwarePages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := OpenTestStore(t, NewTestStore(t))
	snap := registrytest.Rich(t)
	if snap.Software == nil || len(snap.Software.Packages) < 10 {
		t.Fatal("the rich capture has too few packages")
	}
	pkgs := snap.Software.Packages[:10]
	p := pkgs[5]
	upgraded, other := p, p
	upgraded.Version += ".1"
	other.Arch += "-other"
	sets := [][]wire.Package{pkgs, withPackage(pkgs, 5, upgraded), pkgs[:5], withPackage(pkgs, 5, other), withPackage(pkgs, 5, upgraded)}
	if err := SeedFleet(ctx, r, 23, []compliance.Facts{compliance.FactsFromSnapshot(snap)}, sets, time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}

	for _, q := range []SoftwareQuery{
		{Name: p.Name},
		{Name: p.Name, Version: upgraded.Version},
		{Name: p.Name, Version: p.Version, Source: p.Source},
		{Name: p.Name, Source: "none"},
		{Name: "absent"},
	} {
		want := searchSoftwareReference(t, r, q)
		if q == (SoftwareQuery{Name: p.Name}) && len(want) < 15 {
			t.Fatalf("%+v: the reference found %d devices; the seeding is wrong", q, len(want))
		}
		for _, limit := range []int{1, 2, 3, 7, 100} {
			var got []SoftwareHit
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > len(want)+1 {
					t.Fatalf("%+v, pages of %d: more pages than hits", q, limit)
				}
				page, next, err := r.SearchSoftware(ctx, q, Page{Limit: limit, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > limit || (next != "" && len(page) != limit) {
					t.Errorf("%+v, pages of %d: a page of %d with next %q", q, limit, len(page), next)
				}
				got = append(got, page...)
				if next == "" {
					break
				}
				cursor = next
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%+v, pages of %d (-want +got):\n%s", q, limit, diff)
			}
		}
	}
}

func withPackage(pkgs []wire.Package, i int, p wire.Package) []wire.Package {
	out := append([]wire.Package(nil), pkgs...)
	out[i] = p
	return out
}

// searchSoftwareReference is every hit of q from one join, sorted whole.
func searchSoftwareReference(t *testing.T, r *Registry, q SoftwareQuery) []SoftwareHit {
	t.Helper()
	rows, err := r.db.QueryContext(context.Background(), `SELECT d.id, d.hostname, c.name, c.version, c.arch, c.source
		FROM software_catalogue c JOIN device_software w ON w.package_id = c.id JOIN devices d ON d.num = w.device_num
		WHERE c.name = $1 AND ($2 = '' OR c.version = $3) AND ($4 = '' OR c.source = $5)
		ORDER BY w.package_id, w.device_num, w.dup`, q.Name, q.Version, q.Version, q.Source, q.Source)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []SoftwareHit
	for rows.Next() {
		var h SoftwareHit
		if err := rows.Scan(&h.DeviceID, &h.Hostname, &h.Name, &h.Version, &h.Arch, &h.Source); err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCatalogueCacheSkipsUncommitted: a catalogue row read inside a
// transaction that then rolls back is not cached, so when SQLite gives its
// id to another package the reads name that package, on the engine
// under test.
func TestCatalogueCacheSkipsUncommitted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := OpenTestStore(t, NewTestStore(t))
	add := func(q interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}, name string) int64 {
		t.Helper()
		if _, err := q.ExecContext(ctx, `INSERT INTO software_catalogue (source, name, version) VALUES ('deb', $1, '1')`, name); err != nil {
			t.Fatal(err)
		}
		var id int64
		if err := q.QueryRowContext(ctx, `SELECT id FROM software_catalogue WHERE name = $1`, name).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	rollBack := errors.New("roll back")
	var first int64
	err := r.Write(ctx, func(tx *Tx) error {
		first = add(tx, "rolled-back")
		got, err := catalogueRows(ctx, tx, r.snaps.cat, r.db, []int64{first})
		if err != nil {
			return err
		}
		if got[first].Name != "rolled-back" {
			t.Errorf("inside the transaction: %+v, want rolled-back", got[first])
		}
		return rollBack
	})
	if !errors.Is(err, rollBack) {
		t.Fatal(err)
	}
	second := add(r.db, "kept")
	if r.Engine() == EngineSQLite && second != first {
		t.Fatalf("SQLite gave the kept row id %d, not the rolled-back row's %d: the test proves nothing", second, first)
	}
	for range 2 { // the second read is the cache's
		got, err := catalogueRows(ctx, r.db, r.snaps.cat, r.db, []int64{second})
		if err != nil {
			t.Fatal(err)
		}
		if got[second].Name != "kept" {
			t.Errorf("catalogue id %d: %+v, want kept", second, got[second])
		}
	}
}

// TestPackEntries: a device's entries come back from packEntries exactly
// (duplicates, dates before 1970 and to the nanosecond, ids far apart),
// entries out of shape are refused, and damaged bytes are an error.
func TestPackEntries(t *testing.T) {
	t.Parallel()
	at := func(s string) *time.Time {
		d, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		d = d.UTC()
		return &d
	}
	es := []pkgEntry{
		{id: 1}, {id: 2, date: at("1969-07-20T20:17:40.5Z")}, {id: 2, dup: 1, date: at("2026-11-02T09:00:00.123456789Z")},
		{id: 2, dup: 2}, {id: 1 << 40, date: at("0001-01-01T00:00:00Z")},
	}
	b, err := packEntries(slices.Clone(es))
	if err != nil {
		t.Fatal(err)
	}
	got, err := unpackEntries(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(es, got, cmp.AllowUnexported(pkgEntry{})); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for name, bad := range map[string][]pkgEntry{
		"id 0":          {{id: 0}},
		"dup skipped":   {{id: 3}, {id: 3, dup: 2}},
		"dup not first": {{id: 3, dup: 1}},
	} {
		if _, err := packEntries(bad); err == nil {
			t.Errorf("%s: packed, want an error", name)
		}
	}
	for name, bad := range map[string][]byte{
		"truncated date": b[:3],
		"first id 0":     {0},
		"varint cut":     {0x80},
	} {
		if _, err := unpackEntries(bad); err == nil {
			t.Errorf("%s: unpacked, want an error", name)
		}
	}
}
