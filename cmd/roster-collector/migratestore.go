package main

// `roster-collector migrate-store` moves a registry from SQLite to
// PostgreSQL, for a collector that outgrew one machine. The move is one
// transaction on the target: every table of the schema is copied with the
// column lists read from the source (so a column added by a later
// migration is not forgotten), the identity sequences are moved past the
// copied ids, and the copy is checked (row counts, and the audit chain
// verified with the collector's command key up to the source's head)
// before it commits. A failed check rolls everything back; the source is
// only read.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
)

const migrateStoreUsage = `usage: roster-collector migrate-store --from sqlite:PATH --to postgres:DSN [--data DIR] [--dry-run]

Copy the registry in the SQLite database PATH into the empty PostgreSQL
database DSN in one transaction, check the row counts and the audit chain,
and commit (--dry-run: check, then roll back). Stop the collector first.
--data is the data directory whose pki/ holds the command-signing key
(default: the directory of PATH).
`

// notCopied is the table each store keeps for itself: the target has
// its own migration history.
const notCopied = "schema_migrations"

// maxParams bounds one INSERT's placeholders below PostgreSQL's 65535.
const (
	maxParams    = 60000
	rowsPerBatch = 500
)

func migrateStore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("migrate-store", stderr)
	fset.Usage = func() { fmt.Fprint(stderr, migrateStoreUsage) }
	from := fset.String("from", "", "the source store, sqlite:PATH")
	to := fset.String("to", "", "the target store, postgres:DSN")
	data := fset.String("data", "", "data `directory` whose pki/ holds the command-signing key")
	dryRun := fset.Bool("dry-run", false, "copy and check, then roll back")
	if err := parse(fset, args); err != nil {
		return err
	}
	src, err := parseStoreArg("--from", *from)
	if err != nil {
		return err
	}
	dst, err := parseStoreArg("--to", *to)
	if err != nil {
		return err
	}
	if src.Engine != registry.EngineSQLite || dst.Engine != registry.EnginePostgres {
		return usageErrorf("migrate-store moves sqlite:PATH to postgres:DSN, not %s to %s", src.Engine, dst.Engine)
	}
	dir := *data
	if dir == "" {
		dir = filepath.Dir(src.Path)
	}
	key, err := pki.LoadCommandKey(filepath.Join(dir, pkiDir))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no command-signing key in %s to verify the audit chain with: give the collector's data directory with --data DIR", filepath.Join(dir, pkiDir))
		}
		return fmt.Errorf("load command-signing key: %w", err)
	}
	m, err := openMove(ctx, src, dst, stderr)
	if err != nil {
		return err
	}
	defer m.close()
	res, err := m.run(ctx, key, *dryRun)
	if err != nil {
		return err
	}
	printMove(stdout, res, src, dst, *dryRun)
	return nil
}

// parseStoreArg reads ENGINE:WHERE. A PostgreSQL URL given whole
// (postgres://…) is taken as postgres:URL.
func parseStoreArg(flagName, s string) (registry.StoreConfig, error) {
	if s == "" {
		return registry.StoreConfig{}, usageErrorf("%s is required", flagName)
	}
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		return registry.StoreConfig{Engine: registry.EnginePostgres, DSN: s}, nil
	}
	engine, where, ok := strings.Cut(s, ":")
	if !ok || where == "" {
		return registry.StoreConfig{}, usageErrorf("%s %q: want sqlite:PATH or postgres:DSN", flagName, s)
	}
	switch engine {
	case registry.EngineSQLite:
		return registry.StoreConfig{Engine: engine, Path: where}, nil
	case registry.EnginePostgres:
		return registry.StoreConfig{Engine: engine, DSN: where}, nil
	}
	return registry.StoreConfig{}, usageErrorf("%s %q: unknown engine %q (sqlite or postgres)", flagName, s, engine)
}

// move holds both stores' connections.
type move struct {
	src, dst *sql.DB
	version  int
}

// openMove opens the source read-only at this binary's schema version and
// the target migrated to it.
func openMove(ctx context.Context, src, dst registry.StoreConfig, stderr io.Writer) (*move, error) {
	want, err := registry.SchemaVersion(registry.EngineSQLite)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(src.Path); err != nil {
		return nil, fmt.Errorf("open source %s: %w", src, err)
	}
	// Read-only and not through OpenStore, which would migrate it: a
	// move, a dry run above all, leaves the source as it found it.
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("_busy_timeout", "5000")
	sdb, err := sql.Open("sqlite3", "file:"+src.Path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open source %s: %w", src, err)
	}
	m := &move{src: sdb, version: want}
	fail := func(err error) (*move, error) {
		m.close()
		return nil, err
	}
	have, err := schemaVersion(ctx, sdb)
	if err != nil {
		return fail(fmt.Errorf("read source %s schema version: %w", src, err))
	}
	switch {
	case have > want:
		return fail(fmt.Errorf("source %s is at schema version %d, newer than this roster-collector's %d: use the release that wrote it", src, have, want))
	case have < want:
		return fail(fmt.Errorf("source %s is at schema version %d, this roster-collector writes %d: run `roster-collector migrate --data %s` first", src, have, want, filepath.Dir(src.Path)))
	}

	reg, err := registry.OpenAndMigrate(ctx, dst, newLogger(stderr, "warn", "auto"))
	if err != nil {
		return fail(fmt.Errorf("open target: %w", err))
	}
	reg.Close()
	if m.dst, err = sql.Open("pgx", dst.DSN); err != nil {
		return fail(fmt.Errorf("open target %s: %w", dst, err))
	}
	got, err := schemaVersion(ctx, m.dst)
	if err != nil {
		return fail(fmt.Errorf("read target %s schema version: %w", dst, err))
	}
	if got != have {
		return fail(fmt.Errorf("target %s is at schema version %d after migrating, the source at %d: refusing to copy between different schemas", dst, got, have))
	}
	return m, nil
}

func (m *move) close() {
	m.src.Close()
	if m.dst != nil {
		m.dst.Close()
	}
}

func schemaVersion(ctx context.Context, db *sql.DB) (int, error) {
	var v sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, err
	}
	return int(v.Int64), nil
}

// tableCount is one line of the summary.
type tableCount struct {
	Table string
	Rows  int64
}

type moveResult struct {
	Tables   []tableCount
	HeadSeq  int64
	HeadHash string
}

// run copies and checks in one target transaction, committing unless
// dryRun or a check fails.
func (m *move) run(ctx context.Context, key *pki.CommandKey, dryRun bool) (moveResult, error) {
	var res moveResult
	// One read transaction: the counts, rows and audit head all come from
	// the same snapshot of the source.
	stx, err := m.src.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("read source: %w", err)
	}
	defer stx.Rollback()
	srcSchema, err := sqliteSchema(ctx, stx)
	if err != nil {
		return res, fmt.Errorf("read source schema: %w", err)
	}
	order, err := copyOrder(srcSchema)
	if err != nil {
		return res, fmt.Errorf("source schema: %w", err)
	}
	srcAudit, err := registry.VerifyAuditIn(ctx, stx, key.Public, audit.Options{})
	if err != nil {
		return res, fmt.Errorf("verify source audit log: %w", err)
	}
	if !srcAudit.OK {
		return res, fmt.Errorf("the source's audit log does not verify (%s); a move would carry the damage: run `roster-collector audit verify`", problem(srcAudit))
	}

	dtx, err := m.dst.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("begin target transaction: %w", err)
	}
	defer dtx.Rollback()
	dstSchema, err := postgresSchema(ctx, dtx)
	if err != nil {
		return res, fmt.Errorf("read target schema: %w", err)
	}
	if err := schemaDiff(srcSchema, dstSchema); err != nil {
		return res, err
	}
	// A collector started on the target meanwhile waits for the move
	// instead of writing into it; one already running makes the lock
	// time out.
	names := make([]string, len(order))
	for i, t := range order {
		names[i] = quoteIdent(t.Name)
	}
	if _, err := dtx.ExecContext(ctx, `SET LOCAL lock_timeout = '10s'`); err != nil {
		return res, fmt.Errorf("lock target tables: %w", err)
	}
	if _, err := dtx.ExecContext(ctx, `LOCK TABLE `+strings.Join(names, ", ")+` IN ACCESS EXCLUSIVE MODE`); err != nil {
		return res, fmt.Errorf("lock target tables (is a collector running on the target? stop it): %w", err)
	}
	for _, t := range order {
		var hasRows bool
		if err := dtx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+quoteIdent(t.Name)+`)`).Scan(&hasRows); err != nil {
			return res, fmt.Errorf("check target table %s: %w", t.Name, err)
		}
		if hasRows {
			return res, fmt.Errorf("target already holds rows in table %s: migrate-store moves a registry into an empty store", t.Name)
		}
	}

	dstTypes := map[string]map[string]column{}
	for _, t := range dstSchema {
		dstTypes[t.Name] = map[string]column{}
		for _, c := range t.Columns {
			dstTypes[t.Name][c.Name] = c
		}
	}
	for _, t := range order {
		var want int64
		if err := stx.QueryRowContext(ctx, `SELECT count(*) FROM `+quoteIdent(t.Name)).Scan(&want); err != nil {
			return res, fmt.Errorf("count source table %s: %w", t.Name, err)
		}
		copied, err := copyTable(ctx, stx, dtx, t, dstTypes[t.Name])
		if err != nil {
			return res, err
		}
		var got int64
		if err := dtx.QueryRowContext(ctx, `SELECT count(*) FROM `+quoteIdent(t.Name)).Scan(&got); err != nil {
			return res, fmt.Errorf("count target table %s: %w", t.Name, err)
		}
		if got != want || copied != want {
			return res, fmt.Errorf("table %s: the source has %d rows, %d were copied and the target has %d; rolled back", t.Name, want, copied, got)
		}
		res.Tables = append(res.Tables, tableCount{Table: t.Name, Rows: got})
	}
	if err := advanceIdentities(ctx, dtx, dstSchema); err != nil {
		return res, err
	}

	dstAudit, err := registry.VerifyAuditIn(ctx, dtx, key.Public, audit.Options{})
	if err != nil {
		return res, fmt.Errorf("verify target audit log: %w", err)
	}
	if !dstAudit.OK {
		return res, fmt.Errorf("the copied audit log does not verify (%s); rolled back", problem(dstAudit))
	}
	if dstAudit.HeadSeq != srcAudit.HeadSeq || dstAudit.HeadHash != srcAudit.HeadHash || dstAudit.Entries != srcAudit.Entries {
		return res, fmt.Errorf("the copied audit log ends at %d %s (%d entries), the source's at %d %s (%d entries); rolled back",
			dstAudit.HeadSeq, dstAudit.HeadHash, dstAudit.Entries, srcAudit.HeadSeq, srcAudit.HeadHash, srcAudit.Entries)
	}
	res.HeadSeq, res.HeadHash = dstAudit.HeadSeq, dstAudit.HeadHash
	if dryRun {
		return res, nil // the deferred Rollback
	}
	if err := dtx.Commit(); err != nil {
		return res, fmt.Errorf("commit the move: %w", err)
	}
	return res, nil
}

func problem(r audit.Result) string {
	if r.Problem == nil {
		return "no detail"
	}
	if r.Problem.Seq > 0 {
		return fmt.Sprintf("first bad entry %d: %s", r.Problem.Seq, r.Problem.Message)
	}
	return r.Problem.Message
}

func printMove(w io.Writer, res moveResult, src, dst registry.StoreConfig, dryRun bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tROWS")
	var total int64
	for _, t := range res.Tables {
		fmt.Fprintf(tw, "%s\t%d\n", t.Table, t.Rows)
		total += t.Rows
	}
	tw.Flush()
	fmt.Fprintf(w, "audit head: %d %s\n", res.HeadSeq, res.HeadHash)
	if dryRun {
		fmt.Fprintf(w, "dry run: %d rows in %d tables checked, rolled back; nothing written to %s\n", total, len(res.Tables), dst)
		return
	}
	fmt.Fprintf(w, "moved %d rows in %d tables from %s to %s\n", total, len(res.Tables), src, dst)
}

// column is one column of a table as an engine declares it.
type column struct {
	Name string
	// Type is the declared type, lower case ("text", "bytea", "integer").
	Type string
	// Identity: PostgreSQL generates its values from a sequence.
	Identity bool
}

// tableSchema is one table: its columns in declared order and the tables
// its foreign keys reference.
type tableSchema struct {
	Name    string
	Columns []column
	Refs    []string
}

func (t tableSchema) columnNames() []string {
	out := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = c.Name
	}
	return out
}

// sqliteSchema lists the registry's tables in a SQLite store (not the
// store's own ones, nor schema_migrations).
func sqliteSchema(ctx context.Context, q registry.Querier) ([]tableSchema, error) {
	names, err := queryStrings(ctx, q, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	var out []tableSchema
	for _, n := range names {
		if n == notCopied {
			continue
		}
		t := tableSchema{Name: n}
		rows, err := q.QueryContext(ctx, `SELECT name, type FROM pragma_table_info($1) ORDER BY cid`, n)
		if err != nil {
			return nil, fmt.Errorf("columns of %s: %w", n, err)
		}
		for rows.Next() {
			var c column
			if err := rows.Scan(&c.Name, &c.Type); err != nil {
				rows.Close()
				return nil, fmt.Errorf("columns of %s: %w", n, err)
			}
			c.Type = strings.ToLower(c.Type)
			t.Columns = append(t.Columns, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("columns of %s: %w", n, err)
		}
		if t.Refs, err = queryStrings(ctx, q, `SELECT DISTINCT "table" FROM pragma_foreign_key_list($1) ORDER BY 1`, n); err != nil {
			return nil, fmt.Errorf("foreign keys of %s: %w", n, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// postgresSchema lists the registry's tables in the PostgreSQL store's
// current schema (not schema_migrations).
func postgresSchema(ctx context.Context, q registry.Querier) ([]tableSchema, error) {
	names, err := queryStrings(ctx, q, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		return nil, err
	}
	byName := map[string]*tableSchema{}
	var out []tableSchema
	for _, n := range names {
		if n != notCopied {
			out = append(out, tableSchema{Name: n})
		}
	}
	for i := range out {
		byName[out[i].Name] = &out[i]
	}
	rows, err := q.QueryContext(ctx, `SELECT table_name, column_name, data_type, is_identity = 'YES' OR coalesce(column_default, '') LIKE 'nextval(%'
		FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`)
	if err != nil {
		return nil, fmt.Errorf("columns: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var table string
		var c column
		if err := rows.Scan(&table, &c.Name, &c.Type, &c.Identity); err != nil {
			return nil, fmt.Errorf("columns: %w", err)
		}
		if t := byName[table]; t != nil {
			t.Columns = append(t.Columns, c)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("columns: %w", err)
	}
	refs, err := q.QueryContext(ctx, `SELECT DISTINCT tc.table_name, ccu.table_name
		FROM information_schema.table_constraints tc
		JOIN information_schema.constraint_column_usage ccu
		  ON ccu.constraint_schema = tc.constraint_schema AND ccu.constraint_name = tc.constraint_name
		WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema()
		ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("foreign keys: %w", err)
	}
	defer refs.Close()
	for refs.Next() {
		var from, to string
		if err := refs.Scan(&from, &to); err != nil {
			return nil, fmt.Errorf("foreign keys: %w", err)
		}
		if t := byName[from]; t != nil {
			t.Refs = append(t.Refs, to)
		}
	}
	return out, refs.Err()
}

func queryStrings(ctx context.Context, q registry.Querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
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

// copyOrder orders tables so that every table comes after the tables its
// foreign keys reference (devices before certificates), alphabetically
// among those free to go, so the order is the same on every run.
// References to itself or to a table outside the list do not constrain it.
func copyOrder(tables []tableSchema) ([]tableSchema, error) {
	byName := map[string]tableSchema{}
	for _, t := range tables {
		byName[t.Name] = t
	}
	done := map[string]bool{}
	var out []tableSchema
	for len(out) < len(tables) {
		var ready []string
		for _, t := range tables {
			if done[t.Name] {
				continue
			}
			free := true
			for _, r := range t.Refs {
				if _, in := byName[r]; in && r != t.Name && !done[r] {
					free = false
					break
				}
			}
			if free {
				ready = append(ready, t.Name)
			}
		}
		if len(ready) == 0 {
			var left []string
			for _, t := range tables {
				if !done[t.Name] {
					left = append(left, t.Name)
				}
			}
			slices.Sort(left)
			return nil, fmt.Errorf("foreign keys form a cycle among tables %s: no copy order satisfies them", strings.Join(left, ", "))
		}
		slices.Sort(ready)
		for _, n := range ready {
			done[n] = true
			out = append(out, byName[n])
		}
	}
	return out, nil
}

// schemaDiff says where two stores' schemas differ in tables or columns:
// a table or column on one side only would be lost or left empty by a
// copy.
func schemaDiff(src, dst []tableSchema) error {
	dstBy := map[string]tableSchema{}
	for _, t := range dst {
		dstBy[t.Name] = t
	}
	var problems []string
	seen := map[string]bool{}
	for _, s := range src {
		seen[s.Name] = true
		d, ok := dstBy[s.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("table %s is in the source but not the target", s.Name))
			continue
		}
		sc, dc := s.columnNames(), d.columnNames()
		for _, c := range sc {
			if !slices.Contains(dc, c) {
				problems = append(problems, fmt.Sprintf("column %s.%s is in the source but not the target", s.Name, c))
			}
		}
		for _, c := range dc {
			if !slices.Contains(sc, c) {
				problems = append(problems, fmt.Sprintf("column %s.%s is in the target but not the source", s.Name, c))
			}
		}
	}
	for _, d := range dst {
		if !seen[d.Name] {
			problems = append(problems, fmt.Sprintf("table %s is in the target but not the source", d.Name))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("the schemas differ: %s", strings.Join(problems, "; "))
	}
	return nil
}

// quoteIdent quotes a table or column name the way both engines read it.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// copyTable copies t's rows from the source transaction into the target
// one, rowsPerBatch rows per INSERT, and returns how many it copied.
func copyTable(ctx context.Context, src, dst *sql.Tx, t tableSchema, dstCols map[string]column) (int64, error) {
	names := t.columnNames()
	cols := make([]string, len(names))
	for i, n := range names {
		cols[i] = quoteIdent(n)
	}
	colList := strings.Join(cols, ", ")
	// Rows go in the order they were written (rowid); a WITHOUT ROWID table
	// (a derived index such as search_keys) has none, and its primary key
	// order serves as well.
	order := "rowid"
	var ddl string
	if err := src.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1`, t.Name).Scan(&ddl); err != nil {
		return 0, fmt.Errorf("read source table %s: %w", t.Name, err)
	}
	if strings.Contains(strings.ToUpper(ddl), "WITHOUT ROWID") {
		order = colList
	}
	rows, err := src.QueryContext(ctx, `SELECT `+colList+` FROM `+quoteIdent(t.Name)+` ORDER BY `+order)
	if err != nil {
		return 0, fmt.Errorf("read source table %s: %w", t.Name, err)
	}
	defer rows.Close()
	perBatch := max(1, min(rowsPerBatch, maxParams/len(cols)))
	insert := func(args []any) error {
		n := len(args) / len(cols)
		var b strings.Builder
		b.WriteString(`INSERT INTO ` + quoteIdent(t.Name) + ` (` + colList + `) VALUES `)
		for r := range n {
			if r > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for c := range cols {
				if c > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "$%d", r*len(cols)+c+1)
			}
			b.WriteByte(')')
		}
		if _, err := dst.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("copy table %s: %w", t.Name, err)
		}
		return nil
	}
	var copied int64
	batch := make([]any, 0, perBatch*len(cols))
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return copied, fmt.Errorf("read source table %s: %w", t.Name, err)
		}
		for i, v := range vals {
			batch = append(batch, toTarget(v, dstCols[names[i]].Type))
		}
		if len(batch) == cap(batch) {
			if err := insert(batch); err != nil {
				return copied, err
			}
			copied += int64(perBatch)
			batch = batch[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return copied, fmt.Errorf("read source table %s: %w", t.Name, err)
	}
	if len(batch) > 0 {
		if err := insert(batch); err != nil {
			return copied, err
		}
		copied += int64(len(batch) / len(cols))
	}
	return copied, nil
}

// toTarget converts a value read from SQLite to what the PostgreSQL
// column of type pgType takes. SQLite keeps whatever was bound (text bound
// as []byte reads back as a BLOB), PostgreSQL holds a column to its type:
// bytes go to text as text and text to bytea as bytes. NULL stays NULL,
// an empty BLOB an empty bytea.
func toTarget(v any, pgType string) any {
	switch x := v.(type) {
	case []byte:
		if pgType != "bytea" {
			return string(x)
		}
	case string:
		if pgType == "bytea" {
			return []byte(x)
		}
	}
	return v
}

// advanceIdentities moves every identity or serial column's sequence past
// the ids copied into it, so the next generated id does not collide.
func advanceIdentities(ctx context.Context, tx *sql.Tx, schema []tableSchema) error {
	for _, t := range schema {
		for _, c := range t.Columns {
			if !c.Identity {
				continue
			}
			_, err := tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), (SELECT coalesce(max(`+quoteIdent(c.Name)+`), 0) + 1 FROM `+quoteIdent(t.Name)+`), false)`,
				quoteIdent(t.Name), c.Name)
			if err != nil {
				return fmt.Errorf("advance the sequence of %s.%s: %w", t.Name, c.Name, err)
			}
		}
	}
	return nil
}
