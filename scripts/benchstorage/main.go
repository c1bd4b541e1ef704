// Command benchstorage builds a SQLite registry of N devices through the
// registry's own enrolment and report path, and times the reads the
// software storage serves. scripts/bench-storage.sh builds it twice (the
// base commit and the working tree) and runs both in one run; it uses only
// registry API both builds have, so the same file compiles in each.
//
// Every device reports 750 real packages: the package lists of the
// captured hosts (testdata/hosts/*/*/want.json) pooled, and each device a
// seeded choice of 750 of them; its identity is numbered. It sends a full
// report, a second full report with three packages swapped (history), and
// a delta swapping three more (a delta left in the chain).
//
// Reports through the registry cost tens of milliseconds each on a busy
// machine, so -phase clone then copies the reported devices' rows, every
// table that holds a device's rows, until the fleet has -devices devices:
// the per-device bytes and the indexes' shapes are those of reported
// devices, with each device's packages one of the reported devices' sets.
//
//	benchstorage -phase seed -db reg.db -devices 300
//	benchstorage -phase clone -db reg.db -devices 10000
//	benchstorage -phase query -db reg.db
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/shared/wire"
)

const perDevice = 750

func main() {
	phase := flag.String("phase", "", "seed, clone or query")
	db := flag.String("db", "", "registry file")
	devices := flag.Int("devices", 10000, "devices to seed")
	root := flag.String("root", ".", "repository root (for testdata)")
	flag.Parse()
	ctx := context.Background()
	var err error
	switch *phase {
	case "seed":
		err = seed(ctx, *db, *root, *devices)
	case "clone":
		err = clone(ctx, *db, *devices)
	case "query":
		err = query(ctx, *db, *root)
	default:
		err = fmt.Errorf("-phase must be seed, clone or query")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchstorage:", err)
		os.Exit(1)
	}
}

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// captures returns the captured hosts' snapshots, the one with the most
// packages first, and the pooled distinct packages of all of them.
func captures(root string) ([]*wire.Snapshot, []wire.Package, error) {
	files, err := filepath.Glob(filepath.Join(root, "testdata", "hosts", "*", "*", "want.json"))
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(files)
	var snaps []*wire.Snapshot
	seen := map[wire.PackageKey]bool{}
	var pool []wire.Package
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		s := new(wire.Snapshot)
		if err := json.Unmarshal(b, s); err != nil {
			return nil, nil, fmt.Errorf("decode %s: %w", f, err)
		}
		snaps = append(snaps, s)
		if s.Software == nil {
			continue
		}
		for _, p := range s.Software.Packages {
			if !seen[p.Key()] {
				seen[p.Key()] = true
				pool = append(pool, p)
			}
		}
	}
	slices.SortStableFunc(snaps, func(a, b *wire.Snapshot) int { return npk(b) - npk(a) })
	if len(snaps) == 0 || len(pool) < perDevice+6 {
		return nil, nil, fmt.Errorf("captures hold %d distinct packages, want %d", len(pool), perDevice+6)
	}
	return snaps, pool, nil
}

func npk(s *wire.Snapshot) int {
	if s.Software == nil {
		return 0
	}
	return len(s.Software.Packages)
}

// deviceSnaps are device i's three states: 750 packages, then three
// swapped for others, then three more.
func deviceSnaps(base *wire.Snapshot, pool []wire.Package, i int) ([3]*wire.Snapshot, error) {
	rng := mrand.New(mrand.NewPCG(17, uint64(i)))
	perm := rng.Perm(len(pool))
	var out [3]*wire.Snapshot
	for k := range out {
		b, err := json.Marshal(base)
		if err != nil {
			return out, err
		}
		s := new(wire.Snapshot)
		if err := json.Unmarshal(b, s); err != nil {
			return out, err
		}
		s.Hardware.Hostname = fmt.Sprintf("bench-%06d", i)
		s.Hardware.SystemSerial = fmt.Sprintf("BENCH%07d", i)
		s.Hardware.SystemUUID = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		s.Hardware.BoardSerial = fmt.Sprintf("BOARD%07d", i)
		for n := range s.Hardware.NICs {
			s.Hardware.NICs[n].MAC = fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", n, (i>>24)&0xff, (i>>16)&0xff, (i>>8)&0xff, i&0xff)
		}
		// state k drops the first 3k chosen and takes 3k more
		var pk []wire.Package
		for _, j := range perm[3*k : perDevice+3*k] {
			pk = append(pk, pool[j])
		}
		s.Software = &wire.Software{Packages: pk}
		out[k] = s
	}
	return out, nil
}

func seed(ctx context.Context, path, root string, n int) error {
	snaps, pool, err := captures(root)
	if err != nil {
		return err
	}
	reg, err := registry.Open(ctx, path, nil)
	if err != nil {
		return err
	}
	defer reg.Close()
	if _, err := reg.Migrate(ctx); err != nil {
		return err
	}
	reg.SetAuditReports(false)
	ca, _, err := pki.LoadOrCreate(filepath.Join(filepath.Dir(path), "pki"), []string{"localhost"}, t0)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "roster-agent"}}, key)
	if err != nil {
		return err
	}
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	_, secret, err := reg.CreateSecret(ctx, "bench", 0, 0, t0)
	if err != nil {
		return err
	}
	start := time.Now()
	var mu sync.Mutex
	var firstErr error
	var reports int
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				k, err := seedDevice(ctx, reg, ca, csr, secret, snaps[0], pool, i)
				mu.Lock()
				reports += k
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n; i++ {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	el := time.Since(start)
	fmt.Printf("seeded %d devices (%d reports) in %.1f s: %.2f ms per report\n", n, reports, el.Seconds(), float64(el.Milliseconds())/float64(reports))
	return nil
}

func seedDevice(ctx context.Context, reg *registry.Registry, ca *pki.CA, csr []byte, secret string, base *wire.Snapshot, pool []wire.Package, i int) (int, error) {
	states, err := deviceSnaps(base, pool, i)
	if err != nil {
		return 0, err
	}
	now := t0.Add(time.Duration(i) * time.Millisecond)
	res, err := reg.Enroll(ctx, registry.EnrollInput{Secret: secret, Identity: wire.IdentityOf(states[0]), AgentVersion: "bench", Now: now},
		func(id string) ([]byte, *x509.Certificate, error) {
			return ca.SignClient(csr, id, now, pki.ClientValidity)
		})
	if err != nil {
		return 0, fmt.Errorf("enrol device %d: %w", i, err)
	}
	c, err := pki.ParseCertificatePEM(res.CertPEM)
	if err != nil {
		return 0, err
	}
	hashes := make([]string, 3)
	for k, s := range states {
		if hashes[k], err = wire.SnapshotHash(s); err != nil {
			return 0, err
		}
	}
	d, err := wire.Diff(states[1], states[2])
	if err != nil {
		return 0, err
	}
	reps := []*wire.Report{
		{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportFull, Seq: 1, Snapshot: states[0], Hash: hashes[0]},
		{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportFull, Seq: 2, Snapshot: states[1], Hash: hashes[1]},
		{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportDelta, Seq: 3, BaseHash: hashes[1], Delta: d, Hash: hashes[2]},
	}
	for k, rep := range reps {
		ack, err := reg.ApplyReport(ctx, registry.ReportInput{DeviceID: res.DeviceID, CertSerial: pki.SerialHex(c), Report: rep, Now: now.Add(time.Duration(k) * time.Hour)})
		if err != nil {
			return k, fmt.Errorf("device %d report %d: %w", i, rep.Seq, err)
		}
		if ack.Status != wire.AckApplied {
			return k, fmt.Errorf("device %d report %d: %s %s", i, rep.Seq, ack.Status, ack.Message)
		}
	}
	return len(reps), nil
}

const policies = `policies:
  - id: BENCH-BAN-01
    title: no TeamViewer
    severity: high
    kind: banned_software
    params:
      name: "teamviewer*"
  - id: BENCH-REQ-01
    title: a libc installed
    severity: low
    kind: required_software
    params:
      name: "libc*"
`

const policies2 = policies + `  - id: BENCH-REQ-02
    title: an SSL library installed
    severity: low
    kind: required_software
    params:
      name: "*ssl*"
`

// timed runs f reps times and prints the median.
func timed(name string, reps int, f func() (int, error)) error {
	var ds []time.Duration
	var rows int
	for range reps {
		start := time.Now()
		n, err := f()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		ds = append(ds, time.Since(start))
		rows = n
	}
	slices.Sort(ds)
	fmt.Printf("%-44s %10.3f ms  (%d rows, median of %d)\n", name, float64(ds[len(ds)/2].Microseconds())/1000, rows, reps)
	return nil
}

func query(ctx context.Context, path, root string) error {
	_, pool, err := captures(root)
	if err != nil {
		return err
	}
	reg, err := registry.Open(ctx, path, nil)
	if err != nil {
		return err
	}
	defer reg.Close()
	devs, _, err := reg.ListDevices(ctx, registry.DeviceFilter{}, registry.Page{Limit: 1000})
	if err != nil {
		return err
	}
	if len(devs) == 0 {
		return errors.New("no devices")
	}
	// ListDevices orders by device id, random in each build's registry;
	// by hostname (bench-000000 ...), both builds pick the same devices:
	// the reported ones and the clones differ in their history.
	slices.SortFunc(devs, func(a, b registry.Device) int { return strings.Compare(a.Hostname, b.Hostname) })
	rng := mrand.New(mrand.NewPCG(3, 3))
	pick := func() string { return devs[rng.IntN(len(devs))].ID }
	// twenty sums read over 20 devices picked at random
	twenty := func(read func(id string) (int, error)) (int, error) {
		total := 0
		for range 20 {
			n, err := read(pick())
			if err != nil {
				return 0, err
			}
			total += n
		}
		return total, nil
	}
	// a package most devices have, and its version
	common := pool[0]
	for _, p := range pool {
		if p.Name == "libc6" {
			common = p
			break
		}
	}
	all := func(f func(cursor string) (int, string, error)) (int, error) {
		total, cursor := 0, ""
		for {
			n, next, err := f(cursor)
			if err != nil {
				return 0, err
			}
			total += n
			if next == "" {
				return total, nil
			}
			cursor = next
		}
	}
	steps := []struct {
		name string
		reps int
		f    func() (int, error)
	}{
		{"search: who has " + common.Name + " " + common.Version + " (all pages of 1000)", 5, func() (int, error) {
			return all(func(c string) (int, string, error) {
				h, next, err := reg.SearchSoftware(ctx, registry.SoftwareQuery{Name: common.Name, Version: common.Version}, registry.Page{Limit: 1000, Cursor: c})
				return len(h), next, err
			})
		}},
		{"search: who has it, first page of 100", 21, func() (int, error) {
			h, _, err := reg.SearchSoftware(ctx, registry.SoftwareQuery{Name: common.Name, Version: common.Version}, registry.Page{})
			return len(h), err
		}},
		{"devices having it, first page of 100", 21, func() (int, error) {
			d, _, err := reg.ListDevices(ctx, registry.DeviceFilter{Software: common.Name, SoftwareVersion: common.Version}, registry.Page{})
			return len(d), err
		}},
		{"device software: 20 devices, all pages of 100", 5, func() (int, error) {
			total := 0
			for range 20 {
				id := pick()
				n, err := all(func(c string) (int, string, error) {
					p, next, err := reg.DeviceSoftware(ctx, id, registry.Page{Cursor: c})
					return len(p), next, err
				})
				if err != nil {
					return 0, err
				}
				total += n
			}
			return total, nil
		}},
		{"history: 20 devices, first page", 5, func() (int, error) {
			return twenty(func(id string) (int, error) {
				h, _, err := reg.History(ctx, registry.HistoryFilter{Device: id}, registry.Page{})
				return len(h), err
			})
		}},
		{"events: 20 devices, first page", 5, func() (int, error) {
			return twenty(func(id string) (int, error) {
				e, _, err := reg.Events(ctx, registry.EventFilter{Device: id}, registry.Page{})
				return len(e), err
			})
		}},
		{"events: fleet, first page", 21, func() (int, error) {
			e, _, err := reg.Events(ctx, registry.EventFilter{}, registry.Page{})
			return len(e), err
		}},
		{"history: fleet software_added, first page", 21, func() (int, error) {
			h, _, err := reg.History(ctx, registry.HistoryFilter{Kind: "software_added"}, registry.Page{})
			return len(h), err
		}},
		{"reconcile", 3, func() (int, error) {
			rec, err := reg.Reconcile(ctx, regexp.MustCompile(`^bench-(?P<tag>[0-9]+)$`), t0.Add(48*time.Hour))
			if err != nil {
				return 0, err
			}
			b, _ := json.Marshal(rec)
			return len(b), nil
		}},
	}
	for _, s := range steps {
		if err := timed(s.name, s.reps, s.f); err != nil {
			return err
		}
	}
	// Compliance: a policy change re-evaluates the fleet, matching each
	// software pattern fleet-wide first.
	docs := []string{policies, policies2}
	for k := range 3 {
		start := time.Now()
		_, _, stats, err := reg.ReplacePolicies(ctx, []byte(docs[k%2]), "bench", t0.Add(time.Duration(k+49)*time.Hour))
		if err != nil {
			return fmt.Errorf("replace policies: %w", err)
		}
		fmt.Printf("%-44s %10.3f ms  (%+v)\n", fmt.Sprintf("compliance: policy change %d (software patterns)", k+1), float64(time.Since(start).Microseconds())/1000, stats)
	}
	return nil
}

// cloned are the tables holding a device's rows that clone copies, with
// the columns that must differ between copies (unique beside the device).
var cloned = map[string][]string{
	"certificates": {"serial"}, "events": {"id"},
	"history": nil, "reports_applied": nil, "snapshots": nil, "snapshot_deltas": nil,
	"device_facts": nil, "device_compliance": nil, "enrolments": nil, "search_keys": nil,
	"compliance_transitions": nil, "compliance_changes": nil, "software": nil, "device_software": nil,
	"device_packages": nil,
}

// clone copies the stored devices' rows until there are n devices.
func clone(ctx context.Context, path string, n int) error {
	db, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=off&_busy_timeout=5000")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var templates int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM devices`).Scan(&templates); err != nil {
		return err
	}
	if templates == 0 {
		return errors.New("no devices to clone")
	}
	cols := func(table string) ([][2]string, error) {
		rows, err := db.QueryContext(ctx, `SELECT name, type, pk, (SELECT count(*) FROM pragma_table_info($1) WHERE pk > 0) FROM pragma_table_info($1)`, table)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out [][2]string
		for rows.Next() {
			var name, typ string
			var pk, npk int
			if err := rows.Scan(&name, &typ, &pk, &npk); err != nil {
				return nil, err
			}
			if pk > 0 && npk == 1 && strings.EqualFold(typ, "INTEGER") && name != "device_num" {
				continue // the rowid: a new one
			}
			out = append(out, [2]string{name, typ})
		}
		return out, rows.Err()
	}
	const newUUID = `lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-8' || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))`
	start := time.Now()
	tables := []string{"devices"}
	for t := range cloned {
		var k int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = $1`, t).Scan(&k); err != nil {
			return err
		}
		if k > 0 {
			tables = append(tables, t)
		}
	}
	slices.Sort(tables[1:])
	stmts := map[string]string{}
	for _, t := range tables {
		cs, err := cols(t)
		if err != nil {
			return err
		}
		var names, exprs []string
		byNum := false // keyed by the device's number, not its id
		for _, c := range cs {
			byNum = byNum || c[0] == "device_num"
			name := c[0]
			expr := "x." + name
			switch {
			case t == "devices" && name == "id":
				expr = "m.new_id"
			case t == "devices" && name == "num":
				continue // the trigger numbers it
			case t == "devices" && slices.Contains([]string{"hostname", "system_serial", "system_uuid", "board_serial", "macs"}, name):
				expr = "x." + name + " || '-c' || $1"
			case name == "device_id":
				expr = "m.new_id"
			case name == "device_num":
				expr = "m.new_num"
			case slices.Contains(cloned[t], name):
				expr = "lower(hex(randomblob(16)))"
			}
			names = append(names, name)
			exprs = append(exprs, expr)
		}
		join := "JOIN clone_map m ON m.old_id = x.device_id"
		switch {
		case t == "devices":
			join = "JOIN clone_map m ON m.old_id = x.id"
		case byNum:
			// device_software, device_packages, compliance_transitions
			// since migration 0025 and compliance_changes since 0029
			join = "JOIN clone_map m ON m.old_num = x.device_num"
		}
		stmts[t] = fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s x %s", t, strings.Join(names, ", "), strings.Join(exprs, ", "), t, join)
	}
	hasNum := false
	if err := db.QueryRowContext(ctx, `SELECT count(*) > 0 FROM pragma_table_info('devices') WHERE name = 'num'`).Scan(&hasNum); err != nil {
		return err
	}
	oldNum := "0"
	if hasNum {
		oldNum = "num"
	}
	if _, err := db.ExecContext(ctx, `CREATE TEMP TABLE clone_map (old_id TEXT PRIMARY KEY, new_id TEXT, old_num INTEGER, new_num INTEGER)`); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `CREATE TEMP TABLE templates AS SELECT id, `+oldNum+` AS num FROM devices`); err != nil {
		return err
	}
	for have, round := templates, 1; have < n; round++ {
		m := min(templates, n-have)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM clone_map`); err != nil {
			tx.Rollback()
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO clone_map SELECT id, `+newUUID+`, num, NULL FROM templates ORDER BY id LIMIT $1`, m); err != nil {
			tx.Rollback()
			return err
		}
		for _, t := range tables {
			var args []any
			if t == "devices" {
				args = append(args, fmt.Sprint(round))
			}
			if _, err := tx.ExecContext(ctx, stmts[t], args...); err != nil {
				tx.Rollback()
				return fmt.Errorf("clone %s: %w", t, err)
			}
			if t == "devices" && hasNum {
				if _, err := tx.ExecContext(ctx, `UPDATE clone_map SET new_num = (SELECT num FROM devices WHERE id = new_id)`); err != nil {
					tx.Rollback()
					return err
				}
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		have += m
	}
	fmt.Printf("cloned to %d devices in %.1f s\n", n, time.Since(start).Seconds())
	return nil
}
