package registry

// Batched software catalogue lookups and device_software inserts. A full
// report names ~750 packages; looking each up and inserting its row one
// statement at a time cost two round trips per package on PostgreSQL,
// ~1,500 per report inside the store's write lock, which held a
// two-collector enrolment storm to 10.7 devices/s (SQLite, in process,
// did 59). Here a report's packages take a few statements whatever their
// number.
//
// Statements are built for chunks whose sizes are powers of two up to a
// bound, so that there are only a few distinct texts for the drivers'
// per-connection statement caches (SQLite's _stmt_cache_size, pgx's).

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/rosterhq/roster/shared/wire"
)

// maxBatchRows bounds a batched statement's rows: 6 parameters a
// catalogue row, well within SQLite's 32,766 and PostgreSQL's 65,535.
const maxBatchRows = 256

// chunks splits n rows into sizes that are powers of two, largest first,
// none above maxBatchRows.
func chunks(n int) []int {
	var out []int
	for n > 0 {
		c := maxBatchRows
		for c > n {
			c /= 2
		}
		out = append(out, c)
		n -= c
	}
	return out
}

// valuesList is "($1, $2, $3), ($4, $5, $6)" for rows of cols
// parameters, numbered from first.
func valuesList(b *strings.Builder, rows, cols, first int) {
	p := first
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range cols {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(p))
			p++
		}
		b.WriteByte(')')
	}
}

// catalogue finds or adds software_catalogue rows within a transaction.
type catalogue struct{ tx *Tx }

// catKey is a catalogue row's identity (its unique columns).
type catKey struct{ name, version, source, arch, publisher, location string }

func catKeyOf(p *wire.Package) catKey {
	return catKey{p.Name, p.Version, p.Source, p.Arch, p.Publisher, p.Location}
}

func (k catKey) args(out []any) []any {
	return append(out, k.name, k.version, k.source, k.arch, k.publisher, k.location)
}

// ids returns the catalogue id of each of pkgs, in order, adding the rows
// of packages new to the fleet.
func (c *catalogue) ids(ctx context.Context, pkgs []wire.Package) ([]int64, error) {
	found := make(map[catKey]int64, len(pkgs))
	var keys []catKey
	for i := range pkgs {
		k := catKeyOf(&pkgs[i])
		if _, ok := found[k]; !ok {
			found[k] = 0
			keys = append(keys, k)
		}
	}
	if err := c.lookup(ctx, keys, found); err != nil {
		return nil, err
	}
	var missing []catKey
	for _, k := range keys {
		if found[k] == 0 {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		if err := c.insert(ctx, missing); err != nil {
			return nil, err
		}
		if err := c.lookup(ctx, missing, found); err != nil {
			return nil, err
		}
	}
	out := make([]int64, len(pkgs))
	for i := range pkgs {
		k := catKeyOf(&pkgs[i])
		if out[i] = found[k]; out[i] == 0 {
			return nil, fmt.Errorf("read software catalogue: no entry for %s %s after adding it", k.name, k.version)
		}
	}
	return out, nil
}

// lookup sets found[k] for the keys that have a catalogue row.
func (c *catalogue) lookup(ctx context.Context, keys []catKey, found map[catKey]int64) error {
	for _, n := range chunks(len(keys)) {
		var b strings.Builder
		// VALUES names its columns column1... on both engines.
		b.WriteString(`SELECT c.id, c.name, c.version, c.source, c.arch, c.publisher, c.location FROM (VALUES `)
		valuesList(&b, n, 6, 1)
		b.WriteString(`) AS k JOIN software_catalogue c ON c.name = k.column1 AND c.version = k.column2 AND c.source = k.column3
			AND c.arch = k.column4 AND c.publisher = k.column5 AND c.location = k.column6`)
		args := make([]any, 0, n*6)
		for _, k := range keys[:n] {
			args = k.args(args)
		}
		keys = keys[n:]
		rows, err := c.tx.QueryContext(ctx, b.String(), args...)
		if err != nil {
			return fmt.Errorf("read software catalogue: %w", err)
		}
		for rows.Next() {
			var id int64
			var k catKey
			if err := rows.Scan(&id, &k.name, &k.version, &k.source, &k.arch, &k.publisher, &k.location); err != nil {
				rows.Close()
				return fmt.Errorf("read software catalogue: %w", err)
			}
			found[k] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read software catalogue: %w", err)
		}
	}
	return nil
}

// insert adds catalogue rows for keys (a row another writer added
// meanwhile is left as it is).
func (c *catalogue) insert(ctx context.Context, keys []catKey) error {
	for _, n := range chunks(len(keys)) {
		var b strings.Builder
		b.WriteString(`INSERT INTO software_catalogue (name, version, source, arch, publisher, location) VALUES `)
		valuesList(&b, n, 6, 1)
		b.WriteString(` ON CONFLICT (name, version, source, arch, publisher, location) DO NOTHING`)
		args := make([]any, 0, n*6)
		for _, k := range keys[:n] {
			args = k.args(args)
		}
		keys = keys[n:]
		if _, err := c.tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("add %d packages to the software catalogue: %w", n, err)
		}
	}
	return nil
}

// insertDeviceSoftware adds device num's device_software rows for es.
func insertDeviceSoftware(ctx context.Context, tx *Tx, num int64, es []pkgEntry) error {
	for _, n := range chunks(len(es)) {
		var b strings.Builder
		b.WriteString(`INSERT INTO device_software (package_id, device_num, dup) VALUES `)
		valuesList(&b, n, 3, 1)
		args := make([]any, 0, n*3)
		for _, e := range es[:n] {
			args = append(args, e.id, num, e.dup)
		}
		es = es[n:]
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("replace software: %w", err)
		}
	}
	return nil
}
