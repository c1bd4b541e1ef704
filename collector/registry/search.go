package registry

// The helpdesk's one search box (issue 14). Whatever a person types —
// serial, asset tag, hostname, owner name or email, MAC in any notation,
// device id or its first characters — is looked up in search_keys, a
// narrow table of every such value normalised in Go (lower-cased with
// Unicode rules, MACs as bare hex), kept in the transaction that writes
// the device's identity or the asset. Exact and prefix matches are index
// ranges over it; only the substring match of hostnames and owner names
// scans, and that scan reads the narrow index alone. Ranking is in Go
// (searchPlan.score) over the few matching keys; a broad query (the
// first letters typed) instead walks the devices by last check-in and
// stops at a page, so no query ranks thousands of matches.

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/shared/identity"
)

// SearchHit is one device (or unlinked asset) the search box found.
type SearchHit struct {
	// DeviceID is "" for an asset linked to no device; the asset's
	// fields are then the hit's.
	DeviceID, Hostname, Serial, Platform string
	// State is the device's compliance state (device_compliance.state,
	// the worst of its results; "" before its first evaluation).
	State                           string
	AssetTag, OwnerName, OwnerEmail string
	LastSeen                        time.Time
	// Matched is the field that matched: "device_id", "serial",
	// "asset_tag", "mac", "hostname", "owner_email" or "owner_name".
	Matched string
	// Rank orders hits, lower first: 2×tier, plus 1 for an unlinked
	// asset, where tier is 0 for an exact id, serial, tag or MAC, 1 for
	// an exact hostname or email, 2 for a prefix and 3 for a substring
	// of a hostname or owner name. Equal ranks go most recently seen
	// first.
	Rank int
}

// Search key kinds (search_keys.kind and SearchHit.Matched), in the order
// that breaks a tie between two matches of one tier.
const (
	MatchDeviceID   = "device_id"
	MatchSerial     = "serial"
	MatchAssetTag   = "asset_tag"
	MatchMAC        = "mac"
	MatchHostname   = "hostname"
	MatchOwnerEmail = "owner_email"
	MatchOwnerName  = "owner_name"
)

// searchKinds is the tie order; a match's score is tier×16 + its index.
var searchKinds = [...]string{MatchDeviceID, MatchSerial, MatchAssetTag, MatchMAC, MatchHostname, MatchOwnerEmail, MatchOwnerName}

// exactTier is the tier of an exact match of kind: identifiers first,
// then the names people give, and an owner name (rarely typed whole) as
// a prefix.
func exactTier(kind string) int {
	switch kind {
	case MatchDeviceID, MatchSerial, MatchAssetTag, MatchMAC:
		return 0
	case MatchHostname, MatchOwnerEmail:
		return 1
	}
	return 2
}

// Search limits.
const (
	// MaxSearchLimit caps SearchDevices' limit.
	MaxSearchLimit = 100
	// minIDPrefix is the shortest device id prefix searched.
	minIDPrefix = 8
	// minMACPrefix is the shortest MAC prefix searched: an OUI, so that
	// a couple of hex digits typed as a hostname do not list MACs.
	minMACPrefix = 6
	// maxKey bounds a stored key and a query, in bytes.
	maxKey = 256
)

// searchNorm is the one normalisation of keys and queries: cleaned like
// identity text (trimmed, inner spaces collapsed) and lower-cased with
// Unicode rules, so "Éva" finds "ÉVA" on both engines.
func searchNorm(s string) string {
	s = strings.ToLower(identity.Clean(s))
	if len(s) > maxKey {
		s = strings.ToValidUTF8(s[:maxKey], "")
	}
	return s
}

// macKey is a MAC, or the start of one, as bare lower-case hex: the
// separators of every common notation (aa:bb:…, AA-BB-…, aabb.ccdd.eeff,
// spaces) dropped. ok is false when s is not hex once they are.
func macKey(s string) (key string, ok bool) {
	key = strings.Map(func(r rune) rune {
		switch r {
		case ':', '-', '.', ' ':
			return -1
		}
		return r
	}, strings.ToLower(s))
	if key == "" || len(key) > 12 {
		return "", false
	}
	for _, c := range key {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", false
		}
	}
	return key, true
}

// prefixEnd is the exclusive upper bound of the keys starting with p: no
// valid UTF-8 string that starts with p sorts at or after p+U+10FFFF
// except those continuing with U+10FFFF itself, a private-use code point
// no name or serial holds.
func prefixEnd(p string) string { return p + "\U0010FFFF" }

// searchKey is one search_keys row of a device or an asset.
type searchKey struct{ kind, key string }

// deviceSearchKeys are a device's keys from its devices row: its id,
// serial, hostname and each MAC (macs as the column holds them: sorted
// normalised colon form joined by ',').
func deviceSearchKeys(id, serial, hostname, macs string) []searchKey {
	out := []searchKey{{MatchDeviceID, strings.ToLower(id)}}
	add := func(kind, v string) {
		if k := searchNorm(v); k != "" {
			out = append(out, searchKey{kind, k})
		}
	}
	add(MatchSerial, serial)
	add(MatchHostname, hostname)
	for _, m := range splitList(macs) {
		if k, ok := macKey(m); ok && len(k) == 12 {
			out = append(out, searchKey{MatchMAC, k})
		}
	}
	return compactKeys(out)
}

// assetSearchKeys are an asset's keys: its tag, normalised serial, owner
// and owner's email.
func assetSearchKeys(tag, serial, owner, email string) []searchKey {
	var out []searchKey
	for _, kv := range [...]searchKey{{MatchAssetTag, tag}, {MatchSerial, serial}, {MatchOwnerName, owner}, {MatchOwnerEmail, email}} {
		if k := searchNorm(kv.key); k != "" {
			out = append(out, searchKey{kv.kind, k})
		}
	}
	return compactKeys(out)
}

func compactKeys(ks []searchKey) []searchKey {
	slices.SortFunc(ks, func(a, b searchKey) int {
		if c := strings.Compare(a.kind, b.kind); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	return slices.Compact(ks)
}

// execQuerier is a transaction: the registry's Tx or Migrate's sql.Tx.
type execQuerier interface {
	querier
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// syncSearchKeys makes the search_keys rows of one device (col
// "device_id") or asset ("asset_id") want, writing only the difference:
// most reports change nothing a person searches by.
func syncSearchKeys(ctx context.Context, tx execQuerier, col, id string, want []searchKey) error {
	// col <> '': the partial index of col's rows (0024) serves only a
	// query that says so
	rows, err := tx.QueryContext(ctx, `SELECT kind, key FROM search_keys WHERE `+col+` = $1 AND `+col+` <> ''`, id)
	if err != nil {
		return fmt.Errorf("read search keys of %s: %w", id, err)
	}
	var have []searchKey
	for rows.Next() {
		var k searchKey
		if err := rows.Scan(&k.kind, &k.key); err != nil {
			rows.Close()
			return fmt.Errorf("read search keys of %s: %w", id, err)
		}
		have = append(have, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read search keys of %s: %w", id, err)
	}
	for _, k := range have {
		if !slices.Contains(want, k) {
			if _, err := tx.ExecContext(ctx, `DELETE FROM search_keys WHERE key = $1 AND kind = $2 AND `+col+` = $3`, k.key, k.kind, id); err != nil {
				return fmt.Errorf("update search keys of %s: %w", id, err)
			}
		}
	}
	for _, k := range want {
		if !slices.Contains(have, k) {
			if err := insertSearchKey(ctx, tx, col, id, k); err != nil {
				return err
			}
		}
	}
	return nil
}

func insertSearchKey(ctx context.Context, tx execQuerier, col, id string, k searchKey) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO search_keys (key, kind, `+col+`) VALUES ($1, $2, $3)`, k.key, k.kind, id); err != nil {
		return fmt.Errorf("update search keys of %s: %w", id, err)
	}
	return nil
}

// syncDeviceSearchKeys re-derives a device's search keys from its row;
// whatever writes a device's hostname, serial or MACs calls it in the
// same transaction.
func syncDeviceSearchKeys(ctx context.Context, tx execQuerier, id string) error {
	var serial, hostname, macs string
	err := tx.QueryRowContext(ctx, `SELECT system_serial, hostname, macs FROM devices WHERE id = $1`, id).Scan(&serial, &hostname, &macs)
	if err != nil {
		return fmt.Errorf("read device %s for search: %w", id, err)
	}
	return syncSearchKeys(ctx, tx, "device_id", id, deviceSearchKeys(id, serial, hostname, macs))
}

// syncAssetSearchKeys re-derives an asset's search keys from its row;
// whatever writes an asset calls it in the same transaction.
func syncAssetSearchKeys(ctx context.Context, tx execQuerier, id string) error {
	var tag, serial, owner, email string
	err := tx.QueryRowContext(ctx, `SELECT asset_tag, serial, owner, owner_email FROM assets WHERE id = $1`, id).Scan(&tag, &serial, &owner, &email)
	if err != nil {
		return fmt.Errorf("read asset %s for search: %w", id, err)
	}
	return syncSearchKeys(ctx, tx, "asset_id", id, assetSearchKeys(tag, serial, owner, email))
}

// searchKeysMigration is the migration that creates search_keys;
// afterMigration fills it from the rows already stored.
const searchKeysMigration = 14

// afterMigration runs what a migration needs done in Go, in the
// migration's transaction, right after its SQL.
func afterMigration(ctx context.Context, tx *sql.Tx, version int) error {
	switch version {
	case searchKeysMigration:
		return backfillSearchKeys(ctx, tx)
	case compactMigration:
		return packSnapshots(ctx, tx, newSnapCodec())
	case packedSoftwareMigration:
		return packDeviceSoftware(ctx, tx)
	}
	return nil
}

// packedSoftwareMigration is the migration that adds device_packages.
const packedSoftwareMigration = 21

// packDeviceSoftware fills device_packages from device_software's rows,
// a batch of devices at a time (PostgreSQL reads a statement's rows
// before the next), numbering duplicates as the migration's SQL did, then
// puts device_software_by_package in device_software's place.
func packDeviceSoftware(ctx context.Context, tx *sql.Tx) error {
	const batch = 256
	after := int64(-1)
	for {
		var lastN sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT max(num) FROM (SELECT num FROM devices WHERE num > $1 ORDER BY num LIMIT $2) b`, after, batch).Scan(&lastN); err != nil {
			return fmt.Errorf("pack device software: %w", err)
		}
		if !lastN.Valid {
			break
		}
		last := lastN.Int64
		rows, err := tx.QueryContext(ctx, `SELECT device_num, package_id, install_date FROM device_software
			WHERE device_num > $1 AND device_num <= $2 ORDER BY device_num, package_id, dup`, after, last)
		if err != nil {
			return fmt.Errorf("pack device software: %w", err)
		}
		byDevice := map[int64][]pkgEntry{}
		var nums []int64
		for rows.Next() {
			var num, id int64
			var inst sql.NullString
			if err := rows.Scan(&num, &id, &inst); err != nil {
				rows.Close()
				return fmt.Errorf("pack device software: %w", err)
			}
			es := byDevice[num]
			if es == nil {
				nums = append(nums, num)
			}
			e := pkgEntry{id: id, date: timePtr(inst)}
			if n := len(es); n > 0 && es[n-1].id == id {
				e.dup = es[n-1].dup + 1
			}
			byDevice[num] = append(es, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("pack device software: %w", err)
		}
		for _, num := range nums {
			packed, err := packEntries(byDevice[num])
			if err != nil {
				return fmt.Errorf("pack device software of device %d: %w", num, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO device_packages (device_num, packed) VALUES ($1, $2)`, num, packed); err != nil {
				return fmt.Errorf("pack device software of device %d: %w", num, err)
			}
		}
		after = last
	}
	for _, stmt := range []string{
		`DROP TABLE device_software`,
		`ALTER TABLE device_software_by_package RENAME TO device_software`,
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("pack device software: %w", err)
		}
	}
	return nil
}

// compactMigration is the migration that adds snapshots.packed.
const compactMigration = 19

// packSnapshots packs every stored snapshot still held as text, a batch
// of rows at a time (PostgreSQL reads a statement's rows before the next;
// a batch bounds the memory to a few megabytes).
func packSnapshots(ctx context.Context, tx *sql.Tx, codec snapCodec) error {
	const batch = 64
	after := ""
	for {
		rows, err := tx.QueryContext(ctx, `SELECT device_id, snapshot FROM snapshots WHERE packed IS NULL AND device_id > $1 ORDER BY device_id LIMIT $2`, after, batch)
		if err != nil {
			return fmt.Errorf("pack snapshots: %w", err)
		}
		type row struct{ id, doc string }
		var rs []row
		for rows.Next() {
			var x row
			if err := rows.Scan(&x.id, &x.doc); err != nil {
				rows.Close()
				return fmt.Errorf("pack snapshots: %w", err)
			}
			rs = append(rs, x)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("pack snapshots: %w", err)
		}
		for _, x := range rs {
			packed, err := codec.pack([]byte(x.doc))
			if err != nil {
				return fmt.Errorf("pack snapshot of %s: %w", x.id, err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE snapshots SET snapshot = '', packed = $1 WHERE device_id = $2`, packed, x.id); err != nil {
				return fmt.Errorf("pack snapshot of %s: %w", x.id, err)
			}
		}
		if len(rs) < batch {
			return nil
		}
		after = rs[len(rs)-1].id
	}
}

// backfillSearchKeys indexes every stored device and asset (search_keys
// is empty). The rows are read first: PostgreSQL runs one statement at a
// time on a connection.
func backfillSearchKeys(ctx context.Context, tx *sql.Tx) error {
	type owned struct {
		col, id string
		keys    []searchKey
	}
	var all []owned
	read := func(stmt, col string, keys func(v [4]string) []searchKey) error {
		rows, err := tx.QueryContext(ctx, stmt)
		if err != nil {
			return fmt.Errorf("index for search: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var v [4]string
			if err := rows.Scan(&id, &v[0], &v[1], &v[2], &v[3]); err != nil {
				return fmt.Errorf("index for search: %w", err)
			}
			all = append(all, owned{col, id, keys(v)})
		}
		return rows.Err()
	}
	if err := read(`SELECT id, id, system_serial, hostname, macs FROM devices`, "device_id", func(v [4]string) []searchKey {
		return deviceSearchKeys(v[0], v[1], v[2], v[3])
	}); err != nil {
		return err
	}
	if err := read(`SELECT id, asset_tag, serial, owner, owner_email FROM assets`, "asset_id", func(v [4]string) []searchKey {
		return assetSearchKeys(v[0], v[1], v[2], v[3])
	}); err != nil {
		return err
	}
	for _, col := range []string{"device_id", "asset_id"} {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO search_keys (key, kind, `+col+`) VALUES ($1, $2, $3)`)
		if err != nil {
			return fmt.Errorf("index for search: %w", err)
		}
		for _, o := range all {
			if o.col != col {
				continue
			}
			for _, k := range o.keys {
				if _, err := stmt.ExecContext(ctx, k.key, k.kind, o.id); err != nil {
					stmt.Close()
					return fmt.Errorf("index %s for search: %w", o.id, err)
				}
			}
		}
		stmt.Close()
	}
	return nil
}

// searchCap is how many matching keys a stage ranks itself; past it the
// stage is broad (the first letters of a name, a common city) and walks
// the devices from the most recently seen instead, which then stops
// within a few hundred devices.
const searchCap = 1000

// searchPlan is a query normalised for each kind of key: q for names,
// serials and tags, mac ("" for none) for MACs, id the device whose id q
// is or uniquely starts ("" for none).
type searchPlan struct{ q, mac, id string }

// score is how key of kind matches the plan: tier×16 + the kind's index
// in searchKinds, and false when it does not. The SQL only narrows the
// keys; this decides, so both engines rank alike.
func (p *searchPlan) score(kind, key string) (int, bool) {
	i := slices.Index(searchKinds[:], kind)
	switch {
	case i < 0:
		return 0, false
	case kind == MatchDeviceID:
		return exactTier(kind)*16 + i, p.id != "" && key == p.id
	case kind == MatchMAC:
		switch {
		case p.mac == "" || !strings.HasPrefix(key, p.mac):
			return 0, false
		case key == p.mac:
			return exactTier(kind)*16 + i, true
		}
		return 2*16 + i, true
	case key == p.q:
		return exactTier(kind)*16 + i, true
	case strings.HasPrefix(key, p.q):
		return 2*16 + i, true
	case (kind == MatchHostname || kind == MatchOwnerName) && strings.Contains(key, p.q):
		return 3*16 + i, true
	}
	return 0, false
}

// keySelect starts a stage's statement: a matching key with the device
// it names (its own, or its asset's linked device; "" for an asset
// linked to none) and its asset. Each branch joins for itself so that
// the compound streams instead of being materialised.
const keySelect = `SELECT k.kind AS kind, k.key AS key, coalesce(nullif(k.device_id, ''), l.device_id, '') AS device, k.asset_id AS asset
	FROM search_keys k LEFT JOIN asset_links l ON k.device_id = '' AND l.asset_id = k.asset_id WHERE `

// The stages' key conditions over search_keys k, with their arguments.
// SQLite binds $N by first appearance, so each uses its numbers in
// order from $1.
func (p *searchPlan) exact() (string, []any) {
	return keySelect + `k.key = $1 AND k.kind <> 'device_id' AND k.kind <> 'mac'
		UNION ALL ` + keySelect + `k.kind = 'mac' AND k.key = $2
		UNION ALL ` + keySelect + `k.kind = 'device_id' AND k.key = $3`,
		[]any{p.q, p.mac, p.id}
}

func (p *searchPlan) prefix() (string, []any) {
	return keySelect + `k.key >= $1 AND k.key < $2 AND k.kind <> 'device_id' AND k.kind <> 'mac'
		UNION ALL ` + keySelect + `k.kind = 'mac' AND k.key >= $3 AND k.key < $4
		UNION ALL ` + keySelect + `k.kind = 'device_id' AND k.key = $5`,
		[]any{p.q, prefixEnd(p.q), p.mac, macEnd(p.mac), p.id}
}

func (r *Registry) substring(p *searchPlan) (string, []any) {
	return keySelect + `k.kind IN ('hostname', 'owner_name') AND ` + r.instr("k.key", "$1") + ` > 1`,
		[]any{p.q}
}

// instr is the engine's 1-based position of sub in s (0: absent).
func (r *Registry) instr(s, sub string) string {
	if r.dia.postgres() {
		return "strpos(" + s + ", " + sub + ")"
	}
	return "instr(" + s + ", " + sub + ")"
}

// keyRow is a matching key with the device it names: its own or, for an
// asset's key, the linked device ("" for an asset linked to none).
type keyRow struct{ kind, key, device, asset string }

// candidates reads the keys a stage's statement finds, resolving an
// asset's key to its linked device: at most n of devices (broad is true
// when there were more, and it stopped reading) and at most n of assets
// linked to none (which rank after the devices of their tier).
func (r *Registry) candidates(ctx context.Context, stage string, args []any, n int) (out []keyRow, broad bool, err error) {
	rows, err := r.db.QueryContext(ctx, stage, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	devs, assets := 0, 0
	for rows.Next() {
		var k keyRow
		if err := rows.Scan(&k.kind, &k.key, &k.device, &k.asset); err != nil {
			return nil, false, err
		}
		if k.device == "" {
			if assets++; assets > n {
				continue
			}
		} else if devs++; devs > n {
			return out, true, nil
		}
		out = append(out, k)
	}
	return out, false, rows.Err()
}

// walk finds up to n devices matching a broad stage's condition (cond
// over search_keys k, using args), most recently seen first, and returns
// how many and their keys and their asset's.
func (r *Registry) walk(ctx context.Context, cond string, args []any, n int) (int, []keyRow, error) {
	args = append(args, n)
	rows, err := r.db.QueryContext(ctx, `SELECT d.id FROM devices d
		WHERE EXISTS (SELECT 1 FROM search_keys k WHERE k.device_id = d.id AND k.device_id <> '' AND `+cond+`)
			OR EXISTS (SELECT 1 FROM asset_links l JOIN search_keys k ON k.asset_id = l.asset_id AND k.asset_id <> '' WHERE l.device_id = d.id AND `+cond+`)
		ORDER BY d.last_seen DESC`+fmt.Sprintf(` LIMIT $%d`, len(args)), args...)
	if err != nil {
		return 0, nil, err
	}
	ids, err := scanStrings(rows)
	if err != nil || len(ids) == 0 {
		return 0, nil, err
	}
	ph := placeholders(1, len(ids))
	rows, err = r.db.QueryContext(ctx, keySelect+`k.device_id IN (`+ph+`) AND k.device_id <> ''
		UNION ALL SELECT k.kind, k.key, l.device_id, k.asset_id FROM asset_links l JOIN search_keys k ON k.asset_id = l.asset_id AND k.asset_id <> ''
		WHERE l.device_id IN (`+ph+`)`, anys(ids)...)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	var out []keyRow
	for rows.Next() {
		var k keyRow
		if err := rows.Scan(&k.kind, &k.key, &k.device, &k.asset); err != nil {
			return 0, nil, err
		}
		out = append(out, k)
	}
	return len(ids), out, rows.Err()
}

// unlinkedCandidates reads at most n keys of assets linked to no device
// that a stage's statement finds.
func (r *Registry) unlinkedCandidates(ctx context.Context, stage string, args []any, n int) ([]keyRow, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT m.kind, m.key, m.asset FROM (`+stage+`) m WHERE m.device = ''`+
		fmt.Sprintf(` LIMIT $%d`, len(args)+1), append(args, n)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []keyRow
	for rows.Next() {
		var k keyRow
		if err := rows.Scan(&k.kind, &k.key, &k.asset); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// placeholders is "$from, …" for n arguments.
func placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", from+i)
	}
	return b.String()
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// SearchDevices finds devices by serial, asset tag, hostname, owner name
// or email, MAC address (aa:bb:…, AA-BB-…, aabb.ccdd.eeff or bare hex;
// from 6 hex digits a prefix) or device id (whole, or a prefix of at
// least 8 characters that names one device). Assets linked to no device
// are found too, as hits without a DeviceID after the devices of their
// tier (SearchHit.Rank). Case never matters. A query shorter than two
// characters finds nothing; limit is at most MaxSearchLimit (0: that).
//
// It ranks in stages, best tiers first: identifiers and prefixes (index
// ranges), then, if those found fewer than limit, substrings of
// hostnames and owner names (a scan of their keys). A stage with more
// than searchCap matching keys walks the devices by last check-in.
func (r *Registry) SearchDevices(ctx context.Context, q string, limit int) ([]SearchHit, error) {
	if limit <= 0 || limit > MaxSearchLimit {
		limit = MaxSearchLimit
	}
	p := &searchPlan{q: searchNorm(q)}
	if len([]rune(p.q)) < 2 || len(identity.Clean(q)) > maxKey {
		return []SearchHit{}, nil
	}
	if mac, ok := macKey(p.q); ok && len(mac) >= minMACPrefix {
		p.mac = mac
	}
	id, err := r.idByPrefix(ctx, p.q)
	if err != nil {
		return nil, err
	}
	p.id = id
	hits, err := r.search(ctx, p, limit)
	if err != nil {
		return nil, fmt.Errorf("search %q: %w", q, err)
	}
	return hits, nil
}

func (r *Registry) search(ctx context.Context, p *searchPlan, limit int) ([]SearchHit, error) {
	// best is each device's ("d" + id) or unlinked asset's ("a" + id)
	// best score.
	best := map[string]int{}
	note := func(rows []keyRow) {
		for _, k := range rows {
			s, ok := p.score(k.kind, k.key)
			if !ok {
				continue
			}
			subj := "d" + k.device
			if k.device == "" {
				subj = "a" + k.asset
			}
			if cur, seen := best[subj]; !seen || s < cur {
				best[subj] = s
			}
		}
	}
	prefix, prefixArgs := p.prefix()
	exact, exactArgs := p.exact()
	substring, substringArgs := r.substring(p)
	stages := []struct {
		stage, exact    string
		args, exactArgs []any
		// cond is the stage's condition over k, for walking.
		cond     string
		condArgs []any
	}{
		{prefix, exact, prefixArgs, exactArgs,
			`((k.key >= $1 AND k.key < $2 AND k.kind <> 'device_id' AND k.kind <> 'mac') OR (k.kind = 'mac' AND k.key >= $3 AND k.key < $4))`,
			prefixArgs[:4]},
		{substring, "", substringArgs, nil, `k.kind IN ('hostname', 'owner_name') AND ` + r.instr("k.key", "$1") + ` > 1`, substringArgs},
	}
	for _, st := range stages {
		if len(best) >= limit {
			break // what is left ranks after
		}
		rows, broad, err := r.candidates(ctx, st.stage, st.args, searchCap)
		if err != nil {
			return nil, err
		}
		if !broad {
			note(rows)
			continue
		}
		// Broad: the rows read are an arbitrary part of it. Its exact
		// matches, then its devices by walking the fleet, then its
		// unlinked assets if the devices do not fill the page.
		if st.exact != "" {
			rows, _, err := r.candidates(ctx, st.exact, st.exactArgs, searchCap)
			if err != nil {
				return nil, err
			}
			note(rows)
		}
		want := limit + len(best)
		n, rows, err := r.walk(ctx, st.cond, st.condArgs, want)
		if err != nil {
			return nil, err
		}
		note(rows)
		if n < want {
			rows, err := r.unlinkedCandidates(ctx, st.stage, st.args, searchCap)
			if err != nil {
				return nil, err
			}
			note(rows)
		}
	}
	return r.rankHits(ctx, best, limit)
}

// rankHits orders the subjects found (rank, most recently seen, kind,
// id), keeps limit and reads their fields.
func (r *Registry) rankHits(ctx context.Context, best map[string]int, limit int) ([]SearchHit, error) {
	type subject struct {
		id    string
		asset bool
		score int
		seen  string
	}
	var subs []subject
	var devIDs []string
	for k, s := range best {
		subs = append(subs, subject{id: k[1:], asset: k[0] == 'a', score: s})
		if k[0] == 'd' {
			devIDs = append(devIDs, k[1:])
		}
	}
	seen := map[string]string{}
	if len(devIDs) > 0 {
		rows, err := r.db.QueryContext(ctx, `SELECT id, last_seen FROM devices WHERE id IN (`+placeholders(1, len(devIDs))+`)`, anys(devIDs)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, at string
			if err := rows.Scan(&id, &at); err != nil {
				rows.Close()
				return nil, err
			}
			seen[id] = at
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	rank := func(s subject) int {
		if s.asset {
			return s.score/16*2 + 1
		}
		return s.score / 16 * 2
	}
	for i := range subs {
		if !subs[i].asset {
			subs[i].seen = seen[subs[i].id]
		}
	}
	slices.SortFunc(subs, func(a, b subject) int {
		if c := rank(a) - rank(b); c != 0 {
			return c
		}
		if c := strings.Compare(b.seen, a.seen); c != 0 {
			return c
		}
		if c := a.score - b.score; c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	subs = subs[:min(len(subs), limit)]
	var devs, assets []string
	for _, s := range subs {
		if s.asset {
			assets = append(assets, s.id)
		} else {
			devs = append(devs, s.id)
		}
	}
	hits := map[string]SearchHit{}
	if len(devs) > 0 {
		rows, err := r.db.QueryContext(ctx, `SELECT d.id, d.hostname, d.system_serial, d.platform, coalesce(c.state, ''), d.last_seen,
			coalesce(a.asset_tag, ''), coalesce(a.serial_raw, ''), coalesce(a.owner, ''), coalesce(a.owner_email, '')
			FROM devices d LEFT JOIN device_compliance c ON c.device_id = d.id
				LEFT JOIN asset_links l ON l.device_id = d.id LEFT JOIN assets a ON a.id = l.asset_id
			WHERE d.id IN (`+placeholders(1, len(devs))+`)`, anys(devs)...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var h SearchHit
			var at, assetSerial string
			if err := rows.Scan(&h.DeviceID, &h.Hostname, &h.Serial, &h.Platform, &h.State, &at,
				&h.AssetTag, &assetSerial, &h.OwnerName, &h.OwnerEmail); err != nil {
				return nil, err
			}
			if h.Serial == "" {
				h.Serial = assetSerial
			}
			h.LastSeen = parseTime(at)
			hits["d"+h.DeviceID] = h
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if len(assets) > 0 {
		rows, err := r.db.QueryContext(ctx, `SELECT id, asset_tag, serial_raw, owner, owner_email FROM assets WHERE id IN (`+
			placeholders(1, len(assets))+`)`, anys(assets)...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var h SearchHit
			var id string
			if err := rows.Scan(&id, &h.AssetTag, &h.Serial, &h.OwnerName, &h.OwnerEmail); err != nil {
				return nil, err
			}
			hits["a"+id] = h
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	out := make([]SearchHit, 0, len(subs))
	for _, s := range subs {
		key := "d" + s.id
		if s.asset {
			key = "a" + s.id
		}
		h, ok := hits[key]
		if !ok {
			continue // deleted since it was found
		}
		h.Matched, h.Rank = searchKinds[s.score%16], rank(s)
		out = append(out, h)
	}
	return out, nil
}

func macEnd(mac string) string {
	if mac == "" {
		return ""
	}
	return prefixEnd(mac)
}

// idByPrefix returns the device whose id is q or starts with q, when q
// is long enough and names exactly one; "" otherwise.
func (r *Registry) idByPrefix(ctx context.Context, q string) (string, error) {
	if len(q) < minIDPrefix || strings.Trim(q, "0123456789abcdef-") != "" {
		return "", nil
	}
	rows, err := r.db.QueryContext(ctx, `SELECT key FROM search_keys WHERE kind = $1 AND key >= $2 AND key < $3 ORDER BY key LIMIT 2`,
		MatchDeviceID, q, prefixEnd(q))
	if err != nil {
		return "", fmt.Errorf("search device ids: %w", err)
	}
	ids, err := scanStrings(rows)
	if err != nil {
		return "", fmt.Errorf("search device ids: %w", err)
	}
	if len(ids) != 1 {
		return "", nil
	}
	return ids[0], nil
}
