package registry

import (
	"bytes"
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/identity"
	"github.com/rosterhq/roster/shared/wire"
)

// migrateUpTo applies the migrations up to and including last, as
// Migrate does, leaving the store at that schema.
func migrateUpTo(t *testing.T, r *Registry, last int) {
	t.Helper()
	ctx := context.Background()
	ms, err := migrations(r.Engine())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.version > last {
			break
		}
		err := r.inTxWith(ctx, nil, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			if err := afterMigration(ctx, tx, m.version); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, m.version, m.name, fmtTime(time.Now()))
			return err
		})
		if err != nil {
			t.Fatalf("apply %s: %v", m.name, err)
		}
	}
}

// oldDevice is a device as migration 0018's schema stored it.
type oldDevice struct {
	id, serial string
	// the state stored (base snapshot plus one delta) and its packages
	// as software rows, with one row stored twice (two installs alike)
	cur  *wire.Snapshot
	rows []Package
}

// capturedHosts are the captured hosts with hardware and software (at
// least two, else the test is skipped), by name, and enrol, which enrols
// one as a device of r.
func capturedHosts(t *testing.T, r *Registry, now time.Time) ([]string, map[string]*wire.Snapshot, func(*wire.Snapshot) oldDevice) {
	t.Helper()
	ctx := context.Background()
	var names []string
	snaps := registrytest.Snapshots(t)
	for name, s := range snaps {
		if s.Hardware != nil && s.Software != nil && len(s.Software.Packages) >= 10 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) < 2 {
		t.Skipf("need two captured hosts with software, have %v", names)
	}
	// The device and its certificate as every schema since 0001 holds
	// them: today's enrolment writes columns an older schema lacks (the
	// device number).
	enrol := func(s *wire.Snapshot) oldDevice {
		t.Helper()
		d := oldDevice{id: uuid.NewString(), serial: strings.ReplaceAll(uuid.NewString(), "-", "")}
		id := normaliseIdentity(wire.IdentityOf(s))
		ts, until := fmtTime(now), fmtTime(now.Add(pki.ClientValidity))
		err := r.write(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO devices (id, hostname, platform, system_serial, system_uuid, board_serial, macs, agent_version, state, first_seen, last_seen, enrolled_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, 'test', $8, $9, $9, $9)`,
				d.id, identity.Clean(s.Hardware.Hostname), s.Platform, id.Serial, id.UUID, id.Board, id.MACs, StateActive, ts); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO certificates (serial, device_id, issued_at, not_after) VALUES ($1, $2, $3, $4)`, d.serial, d.id, ts, until)
			return err
		})
		if err != nil {
			t.Fatalf("enrol %s: %v", s.Hardware.Hostname, err)
		}
		return d
	}
	return names, snaps, enrol
}

// allSoftware is every package of a device, through pages of limit.
func allSoftware(t *testing.T, r *Registry, device string, limit int) []Package {
	t.Helper()
	var got []Package
	cursor := ""
	for {
		page, next, err := r.DeviceSoftware(context.Background(), device, Page{Limit: limit, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if next == "" {
			return got
		}
		cursor = next
	}
}

// TestMigrateCompactSoftware stores real devices the way the code before
// migration 0019 did (software rows by device id, the snapshot as text
// with a delta chain), migrates, and checks every read of them: each
// device's packages page by page, who-has search, the device filter, the
// fleet-wide and per-device pattern matches, and that the stored snapshot
// still rebuilds to last_hash, so the device's next delta applies instead
// of costing a resync.
func TestMigrateCompactSoftware(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := NewTestStore(t)
	r, err := OpenStore(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	migrateUpTo(t, r, 18)

	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	names, snaps, enrol := capturedHosts(t, r, now)
	var devs []oldDevice
	for _, name := range names {
		base := registrytest.Clone(t, snaps[name])
		cur := registrytest.Clone(t, base)
		cur.Software.Packages[len(cur.Software.Packages)/2].Version += "+migrate1"
		d := enrol(base)
		d.cur = cur
		canon, err := wire.CanonicalJSON(base)
		if err != nil {
			t.Fatal(err)
		}
		delta, err := wire.Diff(base, cur)
		if err != nil {
			t.Fatal(err)
		}
		dj, err := json.Marshal(delta)
		if err != nil {
			t.Fatal(err)
		}
		pkgs := append(slices.Clone(cur.Software.Packages), cur.Software.Packages[0])
		err = r.write(ctx, func(tx *sql.Tx) error {
			for _, p := range pkgs {
				if _, err := tx.ExecContext(ctx, `INSERT INTO software (device_id, source, name, arch, version, publisher, install_date, location) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
					d.id, p.Source, p.Name, p.Arch, p.Version, p.Publisher, nullTime(p.InstallDate), p.Location); err != nil {
					return err
				}
				d.rows = append(d.rows, Package{Name: p.Name, Version: p.Version, Arch: p.Arch, Source: p.Source, Publisher: p.Publisher, InstallDate: p.InstallDate})
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO snapshots (device_id, snapshot) VALUES ($1, $2)`, d.id, string(canon)); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO snapshot_deltas (device_id, delta) VALUES ($1, $2)`, d.id, string(dj)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE devices SET last_seq = 2, last_hash = $1, software_count = $2, delta_count = 1, delta_bytes = $3 WHERE id = $4`,
				registrytest.Hash(t, cur), len(cur.Software.Packages), len(dj), d.id)
			return err
		})
		if err != nil {
			t.Fatalf("store %s as 0018 did: %v", name, err)
		}
		devs = append(devs, d)
	}

	if _, err := r.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	checkMigratedSoftware(t, r, devs, now)
}

// checkMigratedSoftware checks every software read of devices stored by
// an earlier schema, after migrating: each device's packages page by
// page, who-has search, the device filter, the fleet-wide and per-device
// pattern matches, and that the stored snapshot still rebuilds to
// last_hash, so the device's next delta (removing its first package)
// applies instead of costing a resync.
func checkMigratedSoftware(t *testing.T, r *Registry, devs []oldDevice, now time.Time) {
	t.Helper()
	ctx := context.Background()
	sortPkgs := func(l []Package) {
		slices.SortFunc(l, func(a, b Package) int {
			return strings.Compare(fmt.Sprint(a.Source, a.Name, a.Arch, a.Version, a.Publisher, a.InstallDate), fmt.Sprint(b.Source, b.Name, b.Arch, b.Version, b.Publisher, b.InstallDate))
		})
	}
	for _, d := range devs {
		// every package, through pages of 7
		got := allSoftware(t, r, d.id, 7)
		want := slices.Clone(d.rows)
		sortPkgs(want)
		sortPkgs(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("software of %s after migrating (-want +got):\n%s", d.id, diff)
		}
	}

	// who has each device's middle package: that device alone
	for _, d := range devs {
		p := d.cur.Software.Packages[len(d.cur.Software.Packages)/2]
		hits, _, err := r.SearchSoftware(ctx, SoftwareQuery{Name: p.Name, Version: p.Version}, Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 1 || hits[0].DeviceID != d.id || hits[0].Version != p.Version {
			t.Errorf("who has %s %s: %+v, want device %s alone", p.Name, p.Version, hits, d.id)
		}
		list, _, err := r.ListDevices(ctx, DeviceFilter{Software: p.Name, SoftwareVersion: p.Version}, Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].ID != d.id {
			t.Errorf("devices having %s %s: %d, want %s alone", p.Name, p.Version, len(list), d.id)
		}
		// a pattern on the first package's name, fleet-wide and per device
		first := d.cur.Software.Packages[0]
		fleet, err := r.matchSoftware(ctx, first.Name)
		if err != nil {
			t.Fatal(err)
		}
		one, err := deviceSoftware{ctx: ctx, q: r.db, device: d.id}.Match(first.Name)
		if err != nil {
			t.Fatal(err)
		}
		var want []wire.Package
		for _, q := range d.rows {
			if compliance.MatchPattern(first.Name, q.Name) {
				want = append(want, wire.Package{Name: q.Name, Version: q.Version, Arch: q.Arch, Source: q.Source, Publisher: q.Publisher})
			}
		}
		byText := func(l []wire.Package) []wire.Package {
			l = slices.Clone(l)
			slices.SortFunc(l, func(a, b wire.Package) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
			return l
		}
		want = byText(want)
		if diff := cmp.Diff(want, byText(fleet[d.id])); diff != "" {
			t.Errorf("fleet-wide match of %q on %s (-want +got):\n%s", first.Name, d.id, diff)
		}
		if diff := cmp.Diff(want, byText(one)); diff != "" {
			t.Errorf("per-device match of %q on %s (-want +got):\n%s", first.Name, d.id, diff)
		}
	}

	// The stored snapshot was packed and still rebuilds exactly: the next
	// delta applies from the database (the cache is empty).
	var text int
	if err := r.db.QueryRowContext(ctx, `SELECT count(*) FROM snapshots WHERE packed IS NULL OR snapshot <> ''`).Scan(&text); err != nil {
		t.Fatal(err)
	}
	if text != 0 {
		t.Errorf("%d snapshots left unpacked", text)
	}
	for _, d := range devs {
		next := registrytest.Clone(t, d.cur)
		next.Software.Packages = next.Software.Packages[1:]
		delta, err := wire.Diff(d.cur, next)
		if err != nil {
			t.Fatal(err)
		}
		ack, err := r.ApplyReport(ctx, ReportInput{DeviceID: d.id, CertSerial: d.serial, Now: now.Add(time.Hour), Report: &wire.Report{
			ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportDelta, Seq: 3, BaseHash: registrytest.Hash(t, d.cur), Delta: delta, Hash: registrytest.Hash(t, next)}})
		if err != nil || ack.Status != wire.AckApplied {
			t.Fatalf("delta after migrating %s: %v %+v", d.id, err, ack)
		}
		n, _, err := r.DeviceSoftware(ctx, d.id, Page{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		// the removed package's rows (with its duplicates) are gone
		gone := d.cur.Software.Packages[0]
		want := 0
		for _, q := range d.rows {
			if q.Name != gone.Name || q.Version != gone.Version || q.Arch != gone.Arch || q.Source != gone.Source {
				want++
			}
		}
		if len(n) != want {
			t.Errorf("device %s has %d packages after the delta, want %d", d.id, len(n), want)
		}
	}
}

// TestMigratePackedSoftware stores real captured devices the way the code
// before migration 0021 did (device_software rows in device order with
// their install dates, the snapshot without its packages where the rows
// give them back, whole where a date has an offset), reads them with that
// code's queries, migrates, and checks that every read gives the same
// answer in the same order: each device's software pages, who has a
// package every device has, and the checks of checkMigratedSoftware.
// (Duplicate rows through 0021 are TestMigrateCompactSoftware's.)
func TestMigratePackedSoftware(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, err := OpenStore(ctx, NewTestStore(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	migrateUpTo(t, r, packedSoftwareMigration-1)

	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	names, snaps, enrol := capturedHosts(t, r, now)
	// common is a package every device gets, for who-has across devices
	common := snaps[names[0]].Software.Packages[1]
	common.InstallDate = nil
	var devs []oldDevice
	dated := 0
	for i, name := range names {
		cur := registrytest.Clone(t, snaps[name])
		cur.Software.Packages[len(cur.Software.Packages)/2].Version += "+migrate21"
		if i > 0 {
			cur.Software.Packages = append(cur.Software.Packages, common)
		}
		if i > 0 {
			// install dates (the captured Linux hosts have none): to the
			// nanosecond, and on the last device one with an offset, which
			// the rows keep as UTC (its snapshot is then stored whole)
			for k := range cur.Software.Packages {
				if k%3 == 0 {
					d := now.Add(-time.Duration(k)*time.Minute - 123456789)
					if k == 3 && i == len(names)-1 {
						d = d.In(time.FixedZone("", 2*3600))
					}
					cur.Software.Packages[k].InstallDate = &d
				}
			}
		}
		canon, err := wire.CanonicalJSON(cur)
		if err != nil {
			t.Fatal(err)
		}
		if cur, err = registrytest.Decode(canon); err != nil {
			t.Fatal(err)
		}
		d := enrol(cur)
		d.cur = cur
		cs, err := newCanonSnap(cur, 1)
		if err != nil {
			t.Fatal(err)
		}
		err = r.write(ctx, func(tx *sql.Tx) error {
			var num int64
			if err := tx.QueryRowContext(ctx, `SELECT num FROM devices WHERE id = $1`, d.id).Scan(&num); err != nil {
				return err
			}
			dups := map[int64]int64{}
			for _, p := range cur.Software.Packages {
				if _, err := tx.ExecContext(ctx, `INSERT INTO software_catalogue (name, version, source, arch, publisher, location) VALUES ($1, $2, $3, $4, $5, $6)
					ON CONFLICT (name, version, source, arch, publisher, location) DO NOTHING`, p.Name, p.Version, p.Source, p.Arch, p.Publisher, p.Location); err != nil {
					return err
				}
				var id int64
				if err := tx.QueryRowContext(ctx, `SELECT id FROM software_catalogue WHERE name = $1 AND version = $2 AND source = $3 AND arch = $4 AND publisher = $5 AND location = $6`,
					p.Name, p.Version, p.Source, p.Arch, p.Publisher, p.Location).Scan(&id); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO device_software (device_num, package_id, dup, install_date) VALUES ($1, $2, $3, $4)`, num, id, dups[id], nullTime(p.InstallDate)); err != nil {
					return err
				}
				dups[id]++
				if p.InstallDate != nil {
					dated++
				}
				d.rows = append(d.rows, Package{Name: p.Name, Version: p.Version, Arch: p.Arch, Source: p.Source, Publisher: p.Publisher, InstallDate: storedDate(p.InstallDate)})
			}
			if _, _, err := storeSnapshot(ctx, &Tx{Tx: tx}, r.snaps.codec, d.id, nil, nil, cs, deltaChain{}); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE devices SET last_seq = 2, last_hash = $1, software_count = $2 WHERE id = $3`, cs.hash, len(cur.Software.Packages), d.id)
			return err
		})
		if err != nil {
			t.Fatalf("store %s as 0020 did: %v", name, err)
		}
		devs = append(devs, d)
	}
	if dated == 0 {
		t.Fatal("no captured package has an install date; the migration of dates is untested")
	}

	// the reads as the code before 0021 made them
	type hit struct{ device, version string }
	pages := map[string][]Package{}
	for _, d := range devs {
		rows, err := r.db.QueryContext(ctx, `SELECT c.name, c.version, c.arch, c.source, c.publisher, w.install_date
			FROM device_software w JOIN software_catalogue c ON c.id = w.package_id
			WHERE w.device_num = (SELECT num FROM devices WHERE id = $1) ORDER BY w.package_id, w.dup`, d.id)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var p Package
			var inst sql.NullString
			if err := rows.Scan(&p.Name, &p.Version, &p.Arch, &p.Source, &p.Publisher, &inst); err != nil {
				t.Fatal(err)
			}
			p.InstallDate = timePtr(inst)
			pages[d.id] = append(pages[d.id], p)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	var whoHas []hit
	rows, err := r.db.QueryContext(ctx, `SELECT d.id, c.version FROM software_catalogue c JOIN device_software w ON w.package_id = c.id JOIN devices d ON d.num = w.device_num
		WHERE c.name = $1 ORDER BY c.id, w.device_num, w.dup`, common.Name)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var h hit
		if err := rows.Scan(&h.device, &h.version); err != nil {
			t.Fatal(err)
		}
		whoHas = append(whoHas, h)
	}
	rows.Close()
	if len(whoHas) < len(devs) {
		t.Fatalf("who has %s before migrating: %d devices, want at least %d", common.Name, len(whoHas), len(devs))
	}

	if _, err := r.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	for _, d := range devs {
		if diff := cmp.Diff(pages[d.id], allSoftware(t, r, d.id, 5)); diff != "" {
			t.Errorf("software pages of %s, before and after migrating (-before +after):\n%s", d.id, diff)
		}
	}
	var gotWho []hit
	cursor := ""
	for {
		page, next, err := r.SearchSoftware(ctx, SoftwareQuery{Name: common.Name}, Page{Limit: 1, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range page {
			gotWho = append(gotWho, hit{h.DeviceID, h.Version})
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if diff := cmp.Diff(whoHas, gotWho, cmp.AllowUnexported(hit{})); diff != "" {
		t.Errorf("who has %s, before and after migrating (-before +after):\n%s", common.Name, diff)
	}
	var left int
	if err := r.db.QueryRowContext(ctx, `SELECT count(*) FROM device_packages`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != len(devs) {
		t.Errorf("device_packages holds %d devices, want %d", left, len(devs))
	}
	checkMigratedSoftware(t, r, devs, now)
}

// TestSnapshotSoftwareFromRows reports real captured devices and changes
// them through full reports and deltas: package changes, a section
// changed, the software section vanishing and coming back, install dates
// with an offset, packages sharing a key. After every report the snapshot
// rebuilt from the database alone (no cache) must be the agent's, byte for
// byte, and a snapshot whose packages device_software gives back must be
// stored without them, its deltas without their package lists.
func TestSnapshotSoftwareFromRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, err := OpenAndMigrate(ctx, NewTestStore(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	ca, _, err := pki.LoadOrCreate(filepath.Join(t.TempDir(), "pki"), []string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := registrytest.CSR(t)
	_, secret, err := r.CreateSecret(ctx, "rows", 0, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	offset := time.FixedZone("", 2*3600)

	// stored reads what the database holds for the device: whether the
	// snapshot left its packages to device_software, and the package
	// lists its deltas carry.
	stored := func(t *testing.T, id string) (fromRows bool, deltas, deltaPkgs int) {
		t.Helper()
		var n int
		if err := r.db.QueryRowContext(ctx, `SELECT software_rows FROM snapshots WHERE device_id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		rows, err := r.db.QueryContext(ctx, `SELECT delta, packed FROM snapshot_deltas WHERE device_id = $1`, id)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var doc string
			var packed []byte
			if err := rows.Scan(&doc, &packed); err != nil {
				t.Fatal(err)
			}
			if packed == nil {
				t.Errorf("delta of %s stored unpacked", id)
			}
			d, err := unpackJSON[wire.Delta](r.snaps.codec, doc, packed)
			if err != nil {
				t.Fatal(err)
			}
			deltaPkgs += len(d.SoftwareAdded) + len(d.SoftwareRemoved)
			deltas++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return n == 1, deltas, deltaPkgs
	}

	type step struct {
		name string
		// change makes the next state from the current one
		change   func(s *wire.Snapshot)
		full     bool
		fromRows bool
		// appended: the delta joins the chain rather than folding it
		appended bool
	}
	bump := func(i int) func(s *wire.Snapshot) {
		return func(s *wire.Snapshot) {
			s.CollectedAt = s.CollectedAt.Add(time.Hour)
			p := &s.Software.Packages[i%len(s.Software.Packages)]
			p.Version += "~rows"
		}
	}
	steps := []step{
		{name: "full", full: true, fromRows: true, change: func(*wire.Snapshot) {}},
		{name: "delta upgrading a package", fromRows: true, change: bump(3)},
		{name: "delta adding and removing", fromRows: true, change: func(s *wire.Snapshot) {
			s.Software.Packages[0].Name += "-renamed"
			s.Software.Packages = s.Software.Packages[1:]
		}},
		{name: "delta changing hardware", fromRows: true, change: func(s *wire.Snapshot) { s.Hardware.Hostname += "-moved" }},
		{name: "delta removing the software section", fromRows: true, change: func(s *wire.Snapshot) { s.Software = nil }},
		{name: "delta bringing it back", fromRows: true, change: func(s *wire.Snapshot) {
			s.Software = &wire.Software{Packages: []wire.Package{{Name: "rows-test", Version: "1", Source: "deb"}}}
		}},
		{name: "delta adding a package installed at +02:00", fromRows: false, change: func(s *wire.Snapshot) {
			at := time.Date(2026, 10, 1, 12, 0, 0, 0, offset)
			s.Software.Packages = append(s.Software.Packages, wire.Package{Name: "local-date", Version: "2", Source: "msi", InstallDate: &at})
		}},
		{name: "delta on a snapshot stored whole", fromRows: false, change: bump(3)},
		// Appended to the chain (no new date) of a large enough snapshot:
		// it must keep its packages, which the snapshot under it holds.
		{name: "delta appended to a snapshot stored whole", fromRows: false, appended: true, change: func(s *wire.Snapshot) {
			s.CollectedAt = s.CollectedAt.Add(time.Hour)
			i := slices.IndexFunc(s.Software.Packages, func(p wire.Package) bool { return p.InstallDate == nil })
			s.Software.Packages[i].Version += "~whole"
		}},
		{name: "full with dates in UTC again", full: true, fromRows: true, change: func(s *wire.Snapshot) {
			for i := range s.Software.Packages {
				if d := s.Software.Packages[i].InstallDate; d != nil {
					u := d.UTC()
					s.Software.Packages[i].InstallDate = &u
				}
			}
		}},
		{name: "full with two packages sharing a key", full: true, fromRows: false, change: func(s *wire.Snapshot) {
			p := s.Software.Packages[0]
			at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
			p.InstallDate = &at
			s.Software.Packages = append(s.Software.Packages, p)
		}},
	}

	snaps := registrytest.Snapshots(t)
	var names []string
	for name, s := range snaps {
		if s.Hardware != nil && s.Software != nil && len(s.Software.Packages) >= 10 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			cur := registrytest.Clone(t, snaps[name])
			wire.Canonicalise(cur)
			res, err := r.Enroll(ctx, EnrollInput{Secret: secret, Identity: wire.IdentityOf(cur), Now: now},
				func(id string) ([]byte, *x509.Certificate, error) {
					return ca.SignClient(csr, id, now, pki.ClientValidity)
				})
			if err != nil {
				t.Fatalf("enrol: %v", err)
			}
			c, err := pki.ParseCertificatePEM(res.CertPEM)
			if err != nil {
				t.Fatal(err)
			}
			var prev *wire.Snapshot
			for k, st := range steps {
				next := registrytest.Clone(t, cur)
				st.change(next)
				wire.Canonicalise(next)
				rep := &wire.Report{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportFull, Seq: uint64(k + 1), Snapshot: next, Hash: registrytest.Hash(t, next)}
				if !st.full {
					d, err := wire.Diff(prev, next)
					if err != nil {
						t.Fatal(err)
					}
					rep = &wire.Report{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportDelta, Seq: uint64(k + 1), BaseHash: registrytest.Hash(t, prev), Delta: d, Hash: rep.Hash}
				}
				ack, err := r.ApplyReport(ctx, ReportInput{DeviceID: res.DeviceID, CertSerial: pki.SerialHex(c), Report: rep, Now: now.Add(time.Duration(k) * time.Hour)})
				if err != nil || ack.Status != wire.AckApplied {
					t.Fatalf("%s: got %v %+v, want applied", st.name, err, ack)
				}
				prev, cur = next, next
				fromRows, deltas, deltaPkgs := stored(t, res.DeviceID)
				if !st.full && fromRows && deltaPkgs != 0 {
					t.Errorf("%s: the deltas carry %d packages, want none (device_software holds them)", st.name, deltaPkgs)
				}
				if st.appended && deltas > 0 && deltaPkgs == 0 {
					// (a small snapshot folds instead: maxDeltaFraction)
					t.Errorf("%s: the chain's deltas carry no packages, want the appended delta's", st.name)
				}
				// what a full report with keys alike or offset dates gives
				// is what softwareFromRows says; the captures have both
				want := st.fromRows
				if st.name == "full" {
					cs, err := newCanonSnap(next, 1)
					if err != nil {
						t.Fatal(err)
					}
					want = softwareFromRows(cs, next.Software.Packages)
				}
				if fromRows != want {
					t.Errorf("%s: stored without packages %v, want %v", st.name, fromRows, want)
				}
				got, err := r.loadSnapshot(ctx, r.db, res.DeviceID)
				if err != nil {
					t.Fatal(err)
				}
				if got == nil {
					t.Fatalf("%s: the stored snapshot does not rebuild to last_hash", st.name)
				}
				gotJSON, err := got.canonical()
				if err != nil {
					t.Fatal(err)
				}
				wantJSON, err := wire.CanonicalJSON(next)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(gotJSON, wantJSON) {
					t.Fatalf("%s: rebuilt snapshot (-want +got):\n%s", st.name, cmp.Diff(string(wantJSON), string(gotJSON)))
				}
			}
		})
	}
}
