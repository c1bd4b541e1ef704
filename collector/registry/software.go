package registry

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rosterhq/roster/shared/wire"
)

// Package is one installed package of a device (API keys).
type Package struct {
	Name        string     `json:"name"`
	Version     string     `json:"version"`
	Arch        string     `json:"arch"`
	Source      string     `json:"source"`
	Publisher   string     `json:"publisher"`
	InstallDate *time.Time `json:"install_date"`
}

// DeviceSoftware returns a page of a device's packages, in catalogue
// order.
func (r *Registry) DeviceSoftware(ctx context.Context, ref string, p Page) ([]Package, string, error) {
	after, err := decodeIntsCursor("s", p.Cursor, 2)
	if err != nil {
		return nil, "", err
	}
	id, err := r.resolve(ctx, r.db, ref)
	if err != nil {
		return nil, "", err
	}
	es, err := deviceEntriesByID(ctx, r.db, id)
	if err != nil {
		return nil, "", err
	}
	from, _ := slices.BinarySearchFunc(es, pkgEntry{id: after[0], dup: after[1]}, cmpEntry)
	if from < len(es) && cmpEntry(es[from], pkgEntry{id: after[0], dup: after[1]}) == 0 {
		from++
	}
	limit := p.limit()
	es = es[from:]
	next := ""
	if len(es) > limit {
		es = es[:limit]
		next = intsCursor("s", []int64{es[limit-1].id, es[limit-1].dup})
	}
	pkgs, err := r.devicePackages(ctx, r.db, es)
	if err != nil {
		return nil, "", fmt.Errorf("list software of %s: %w", id, err)
	}
	out := make([]Package, len(pkgs))
	for i, pk := range pkgs {
		out[i] = Package{Name: pk.Name, Version: pk.Version, Arch: pk.Arch, Source: pk.Source, Publisher: pk.Publisher, InstallDate: pk.InstallDate}
	}
	return out, next, nil
}

// intsCursor is a cursor holding the key of a page's last row when that
// key is several integers (device_software's are catalogue id, device
// number, duplicate counter).
func intsCursor(kind string, key []int64) string {
	parts := make([]string, len(key))
	for i, n := range key {
		parts[i] = strconv.FormatInt(n, 10)
	}
	return encodeCursor(kind, strings.Join(parts, ":"))
}

// decodeIntsCursor reads a cursor of n integers; the empty cursor is the
// key before every row (ids start at 1).
func decodeIntsCursor(kind, c string, n int) ([]int64, error) {
	out := make([]int64, n)
	key, err := decodeCursor(kind, c)
	if err != nil || key == "" {
		out[0] = -1
		return out, err
	}
	parts := strings.Split(key, ":")
	if len(parts) != n {
		return nil, ErrInvalid.Errorf("cursor is not one this list gave out")
	}
	for i, p := range parts {
		if out[i], err = strconv.ParseInt(p, 10, 64); err != nil {
			return nil, ErrInvalid.Errorf("cursor is not one this list gave out")
		}
	}
	return out, nil
}

// SoftwareQuery asks who has a package.
type SoftwareQuery struct {
	Name    string
	Version string
	Source  string
}

// SoftwareHit is one device that has the package.
type SoftwareHit struct {
	DeviceID string `json:"device_id"`
	Hostname string `json:"hostname"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	Arch     string `json:"arch"`
	Source   string `json:"source"`
}

// SearchSoftware answers "who has X (version Y)" fleet-wide, in the order
// (catalogue id, device number, duplicate counter) its cursor holds.
//
// The catalogue's (name, version, ...) index finds the few package
// versions asked for; then device_software_package is walked from the
// cursor one catalogue id at a time, so a page reads the rows it returns
// and no more. (One join ordered by catalogue id read and sorted every
// hit of a common package before its first page.)
func (r *Registry) SearchSoftware(ctx context.Context, sq SoftwareQuery, p Page) ([]SoftwareHit, string, error) {
	if sq.Name == "" {
		return nil, "", ErrInvalid.Errorf("name is required")
	}
	after, err := decodeIntsCursor("w", p.Cursor, 3)
	if err != nil {
		return nil, "", err
	}
	cat, err := r.catalogueMatches(ctx, sq, after[0])
	if err != nil {
		return nil, "", fmt.Errorf("search software: %w", err)
	}
	limit := p.limit()
	out := []SoftwareHit{}
	var keys [][3]int64
	for _, c := range cat {
		from := [2]int64{-1, -1}
		if c.id == after[0] {
			from = [2]int64{after[1], after[2]}
		}
		rows, err := r.db.QueryContext(ctx, `SELECT w.device_num, w.dup, d.id, d.hostname
			FROM device_software w JOIN devices d ON d.num = w.device_num
			WHERE w.package_id = $1 AND (w.device_num, w.dup) > ($2, $3)
			ORDER BY w.device_num, w.dup LIMIT $4`, c.id, from[0], from[1], limit+1-len(out))
		if err != nil {
			return nil, "", fmt.Errorf("search software: %w", err)
		}
		for rows.Next() {
			h := c.hit
			k := [3]int64{c.id}
			if err := rows.Scan(&k[1], &k[2], &h.DeviceID, &h.Hostname); err != nil {
				rows.Close()
				return nil, "", fmt.Errorf("search software: %w", err)
			}
			out = append(out, h)
			keys = append(keys, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, "", fmt.Errorf("search software: %w", err)
		}
		if len(out) > limit {
			break
		}
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = intsCursor("w", keys[limit-1][:])
	}
	return out, next, nil
}

// catalogueHit is a catalogue row "who has" matched, as its hits show it.
type catalogueHit struct {
	id  int64
	hit SoftwareHit
}

// catalogueMatches are the catalogue rows sq names from id from on, by id.
func (r *Registry) catalogueMatches(ctx context.Context, sq SoftwareQuery, from int64) ([]catalogueHit, error) {
	var q query
	q.add("name = ?", sq.Name)
	if sq.Version != "" {
		q.add("version = ?", sq.Version)
	}
	if sq.Source != "" {
		q.add("source = ?", sq.Source)
	}
	q.add("id >= ?", from)
	rows, err := r.db.QueryContext(ctx, `SELECT id, name, version, arch, source FROM software_catalogue`+q.sql()+` ORDER BY id`, q.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []catalogueHit
	for rows.Next() {
		var c catalogueHit
		if err := rows.Scan(&c.id, &c.hit.Name, &c.hit.Version, &c.hit.Arch, &c.hit.Source); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// A device's packages are stored twice, each way round (migration 0021):
//   - device_packages: one row per device, its entries packed
//     (packEntries), for the reads of one device (its software pages,
//     rebuilding its snapshot, a policy's patterns on it);
//   - device_software: (catalogue id, device number, duplicate counter),
//     keyed in that order, for the reads across the fleet (who has,
//     the device list's software filter, policy patterns over the fleet).
//
// replaceSoftware writes both in the same transaction.

// pkgEntry is one of a device's packages in device_packages: its
// catalogue id, its duplicate counter (entries alike but for the install
// date count up from 0) and its install date.
type pkgEntry struct {
	id, dup int64
	date    *time.Time
}

func cmpEntry(a, b pkgEntry) int {
	if c := cmp.Compare(a.id, b.id); c != 0 {
		return c
	}
	return cmp.Compare(a.dup, b.dup)
}

// packEntries packs a device's entries in (id, dup) order: per entry
// uvarint(id − previous id) << 1 | has a date, then for a date varint(Unix
// seconds) and uvarint(nanoseconds). A difference of 0 is the same
// catalogue id again, with the next duplicate counter, so the counter
// costs nothing. Catalogue ids are at least 1 and an id's counters run
// 0, 1, 2, …; anything else is refused. 750 packages take about a
// kilobyte where rows took nine. It sorts es in place.
func packEntries(es []pkgEntry) ([]byte, error) {
	slices.SortFunc(es, cmpEntry)
	out := make([]byte, 0, 2*len(es))
	var prev pkgEntry
	for i, e := range es {
		wantDup := int64(0)
		if i > 0 && e.id == prev.id {
			wantDup = prev.dup + 1
		}
		if e.id < 1 || e.dup != wantDup {
			return nil, fmt.Errorf("pack software entries: entry (%d, %d) after (%d, %d)", e.id, e.dup, prev.id, prev.dup)
		}
		head := uint64(e.id-prev.id) << 1
		if e.date != nil {
			head |= 1
		}
		out = binary.AppendUvarint(out, head)
		if e.date != nil {
			out = binary.AppendVarint(out, e.date.Unix())
			out = binary.AppendUvarint(out, uint64(e.date.Nanosecond()))
		}
		prev = e
	}
	return out, nil
}

// unpackEntries reads what packEntries packed; dates come back in UTC,
// as the text rows gave them.
func unpackEntries(b []byte) ([]pkgEntry, error) {
	// A varint's last byte is below 0x80: a list without dates has one
	// an entry, a dated entry three. Room for the first case, at most
	// three times what a dated list needs.
	ends := 0
	for _, c := range b {
		if c < 0x80 {
			ends++
		}
	}
	out := make([]pkgEntry, 0, ends)
	var prev pkgEntry
	for len(b) > 0 {
		head, n := binary.Uvarint(b)
		if n <= 0 || (len(out) == 0 && head>>1 == 0) {
			return nil, fmt.Errorf("unpack software entries: bad entry %d", len(out))
		}
		b = b[n:]
		e := pkgEntry{id: prev.id + int64(head>>1)}
		if e.id == prev.id {
			e.dup = prev.dup + 1
		}
		if head&1 == 1 {
			sec, n := binary.Varint(b)
			if n <= 0 {
				return nil, fmt.Errorf("unpack software entries: bad date of entry %d", len(out))
			}
			b = b[n:]
			nsec, m := binary.Uvarint(b)
			if m <= 0 || nsec >= 1e9 {
				return nil, fmt.Errorf("unpack software entries: bad date of entry %d", len(out))
			}
			b = b[m:]
			t := time.Unix(sec, int64(nsec)).UTC()
			e.date = &t
		}
		out = append(out, e)
		prev = e
	}
	return out, nil
}

// storedDate is the install date as stored: what the text rows read back
// (fmtTime, then parseTime), so packed and text rows agree to the byte.
func storedDate(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	s := parseTime(fmtTime(*t))
	return &s
}

// deviceEntries reads device num's packed entries (none when it has no
// row).
func deviceEntries(ctx context.Context, q querier, num int64) ([]pkgEntry, error) {
	var packed []byte
	err := q.QueryRowContext(ctx, `SELECT packed FROM device_packages WHERE device_num = $1`, num).Scan(&packed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read software of device %d: %w", num, err)
	}
	return unpackEntries(packed)
}

// deviceEntriesByID reads the packed entries of the device with id (none
// when it has no row).
func deviceEntriesByID(ctx context.Context, q querier, id string) ([]pkgEntry, error) {
	var packed []byte
	err := q.QueryRowContext(ctx, `SELECT p.packed FROM devices d JOIN device_packages p ON p.device_num = d.num WHERE d.id = $1`, id).Scan(&packed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read software of %s: %w", id, err)
	}
	return unpackEntries(packed)
}

// catalogueBatch bounds the ids one catalogue read names (SQLite allows
// 32,766 parameters, PostgreSQL 65,535).
const catalogueBatch = 500

// maxCachedCatalogue bounds the catalogue rows kept in memory (about 200
// bytes each); a fleet with more distinct package versions reads the rest
// from the database.
const maxCachedCatalogue = 200000

// catalogueCache keeps catalogue rows by id. A catalogue row never changes
// or goes once committed (rows no device uses are kept), so a row read
// from committed data stays true for every collector sharing the store
// and needs no invalidation. Only reads through the registry's pool, never
// through a transaction, fill it: on SQLite a row a transaction added and
// then rolled back frees its id for another package.
type catalogueCache struct {
	mu   sync.RWMutex
	rows map[int64]wire.Package
}

func newCatalogueCache() *catalogueCache {
	return &catalogueCache{rows: map[int64]wire.Package{}}
}

// lookup puts the cached rows of ids in out and returns the other ids,
// each once.
func (c *catalogueCache) lookup(ids []int64, out map[int64]wire.Package) []int64 {
	var miss []int64
	seen := make(map[int64]bool, len(ids))
	if c != nil {
		c.mu.RLock()
		defer c.mu.RUnlock()
	}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if c != nil {
			if p, ok := c.rows[id]; ok {
				out[id] = p
				continue
			}
		}
		miss = append(miss, id)
	}
	return miss
}

func (c *catalogueCache) add(rows map[int64]wire.Package) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, p := range rows {
		if len(c.rows) >= maxCachedCatalogue {
			return
		}
		c.rows[id] = p
	}
}

// catalogueRows reads the catalogue rows of ids, by id: from the cache,
// then from committed data through db (filling the cache), then through
// q, which also sees rows its own transaction added. Catalogue rows never
// change once written, so this read agrees with any earlier one that gave
// the ids. cache and db may be nil.
func catalogueRows(ctx context.Context, q querier, cache *catalogueCache, db querier, ids []int64) (map[int64]wire.Package, error) {
	out := make(map[int64]wire.Package, len(ids))
	miss := cache.lookup(ids, out)
	if len(miss) > 0 && db != nil {
		got, err := readCatalogue(ctx, db, miss)
		if err != nil {
			return nil, err
		}
		cache.add(got)
		maps.Copy(out, got)
		miss = slices.DeleteFunc(miss, func(id int64) bool { _, ok := got[id]; return ok })
	}
	if len(miss) > 0 {
		got, err := readCatalogue(ctx, q, miss)
		if err != nil {
			return nil, err
		}
		maps.Copy(out, got)
		for _, id := range miss {
			if _, ok := got[id]; !ok {
				return nil, fmt.Errorf("read software catalogue: no entry %d", id)
			}
		}
	}
	return out, nil
}

// readCatalogue reads the catalogue rows of ids (each once) that q sees.
func readCatalogue(ctx context.Context, q querier, ids []int64) (map[int64]wire.Package, error) {
	out := make(map[int64]wire.Package, len(ids))
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), catalogueBatch)]
		ids = ids[len(chunk):]
		var sb strings.Builder
		args := make([]any, len(chunk))
		for i, id := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			args[i] = id
			fmt.Fprintf(&sb, "$%d", i+1)
		}
		rows, err := q.QueryContext(ctx, `SELECT id, source, name, arch, version, publisher, location FROM software_catalogue WHERE id IN (`+sb.String()+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("read software catalogue: %w", err)
		}
		for rows.Next() {
			var id int64
			var p wire.Package
			if err := rows.Scan(&id, &p.Source, &p.Name, &p.Arch, &p.Version, &p.Publisher, &p.Location); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read software catalogue: %w", err)
			}
			out[id] = p
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read software catalogue: %w", err)
		}
	}
	return out, nil
}

// entryPackages are entries as packages, with their catalogue rows (read
// as catalogueRows does).
func entryPackages(ctx context.Context, q querier, cache *catalogueCache, db querier, es []pkgEntry) ([]wire.Package, error) {
	if len(es) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(es))
	for i, e := range es {
		ids[i] = e.id
	}
	cat, err := catalogueRows(ctx, q, cache, db, ids)
	if err != nil {
		return nil, err
	}
	out := make([]wire.Package, len(es))
	for i, e := range es {
		out[i] = cat[e.id]
		out[i].InstallDate = e.date
	}
	return out, nil
}

// devicePackages are a registry's device's entries as packages, read
// through q (the catalogue through the cache and the pool first).
func (r *Registry) devicePackages(ctx context.Context, q querier, es []pkgEntry) ([]wire.Package, error) {
	return entryPackages(ctx, q, r.snaps.cat, r.db, es)
}

// replaceSoftware makes the device's stored packages (device_packages and
// device_software) equal to the new snapshot's, touching only the keys
// whose packages changed. A package version new to the fleet is added to
// the catalogue first.
func replaceSoftware(ctx context.Context, tx *Tx, num int64, first bool, oldBy, newBy map[wire.PackageKey][]wire.Package) error {
	if !first && len(oldBy) == 0 && len(newBy) == 0 {
		return nil
	}
	es, err := deviceEntries(ctx, tx, num)
	if err != nil {
		return err
	}
	del, err := tx.PrepareContext(ctx, `DELETE FROM device_software WHERE package_id = $1 AND device_num = $2`)
	if err != nil {
		return fmt.Errorf("replace software: %w", err)
	}
	defer del.Close()
	keyIDs, err := tx.PrepareContext(ctx, `SELECT id FROM software_catalogue WHERE name = $1 AND version = $2 AND source = $3 AND arch = $4 AND location = $5`)
	if err != nil {
		return fmt.Errorf("replace software: %w", err)
	}
	defer keyIDs.Close()
	// gone: catalogue ids whose entries leave (each id belongs to one key)
	gone := map[int64]bool{}
	if first {
		// No snapshot yet: entries left by an earlier enrolment's reports
		// are not trustworthy, start from nothing.
		for _, e := range es {
			gone[e.id] = true
		}
	}
	for k, ops := range oldBy {
		if nps, ok := newBy[k]; ok && samePackages(ops, nps) {
			continue
		}
		// every catalogue row of the key, whatever its publisher
		rows, err := keyIDs.QueryContext(ctx, k.Name, k.Version, k.Source, k.Arch, k.Location)
		if err != nil {
			return fmt.Errorf("replace software: %w", err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("replace software: %w", err)
			}
			gone[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("replace software: %w", err)
		}
	}
	kept := es[:0]
	for _, e := range es {
		if !gone[e.id] {
			kept = append(kept, e)
		} else if e.dup == 0 {
			if _, err := del.ExecContext(ctx, e.id, num); err != nil {
				return fmt.Errorf("replace software: %w", err)
			}
		}
	}
	es = kept
	// The packages of the keys that changed, a key's together: their
	// catalogue ids come in one batch (catbatch.go).
	var adds []wire.Package
	var groups []int
	for k, nps := range newBy {
		if ops, ok := oldBy[k]; ok && samePackages(ops, nps) && !first {
			continue
		}
		adds = append(adds, nps...)
		groups = append(groups, len(nps))
	}
	ids, err := (&catalogue{tx: tx}).ids(ctx, adds)
	if err != nil {
		return err
	}
	added := len(es)
	for _, n := range groups {
		dups := map[int64]int64{}
		for i := range n {
			id := ids[i]
			es = append(es, pkgEntry{id: id, dup: dups[id], date: storedDate(adds[i].InstallDate)})
			dups[id]++
		}
		ids, adds = ids[n:], adds[n:]
	}
	if err := insertDeviceSoftware(ctx, tx, num, es[added:]); err != nil {
		return err
	}
	packed, err := packEntries(es)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO device_packages (device_num, packed) VALUES ($1, $2)
		ON CONFLICT (device_num) DO UPDATE SET packed = excluded.packed`, num, packed); err != nil {
		return fmt.Errorf("replace software: %w", err)
	}
	return nil
}

// deleteSoftware removes device num's device_software rows (retention,
// before its device_packages row goes).
func deleteSoftware(ctx context.Context, tx *Tx, num int64) error {
	es, err := deviceEntries(ctx, tx, num)
	if err != nil {
		return err
	}
	for _, e := range es {
		if e.dup != 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM device_software WHERE package_id = $1 AND device_num = $2`, e.id, num); err != nil {
			return fmt.Errorf("delete software of device %d: %w", num, err)
		}
	}
	return nil
}
