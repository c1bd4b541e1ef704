package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/store/pgtest"
)

func TestCopyOrder(t *testing.T) {
	t.Parallel()
	tbl := func(name string, refs ...string) tableSchema { return tableSchema{Name: name, Refs: refs} }
	tests := []struct {
		name    string
		tables  []tableSchema
		want    []string
		wantErr string
	}{
		{"no references: by name", []tableSchema{tbl("b"), tbl("a"), tbl("c")}, []string{"a", "b", "c"}, ""},
		{"referenced first", []tableSchema{tbl("certificates", "devices"), tbl("devices"), tbl("api_tokens")},
			[]string{"api_tokens", "devices", "certificates"}, ""},
		{"chains", []tableSchema{tbl("webhook_deliveries", "events"), tbl("wipe_transitions", "wipe_requests"), tbl("events"), tbl("wipe_requests")},
			[]string{"events", "wipe_requests", "webhook_deliveries", "wipe_transitions"}, ""},
		{"two references", []tableSchema{tbl("asset_links", "assets", "devices"), tbl("devices"), tbl("assets")},
			[]string{"assets", "devices", "asset_links"}, ""},
		{"self and outside references ignored", []tableSchema{tbl("tree", "tree", "schema_migrations")}, []string{"tree"}, ""},
		{"cycle", []tableSchema{tbl("a", "b"), tbl("b", "a"), tbl("c")}, nil, "cycle among tables a, b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := copyOrder(tt.tables)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, t := range got {
				names = append(names, t.Name)
			}
			if diff := cmp.Diff(tt.want, names); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSchemaDiff(t *testing.T) {
	t.Parallel()
	cols := func(names ...string) []column {
		var out []column
		for _, n := range names {
			out = append(out, column{Name: n})
		}
		return out
	}
	src := []tableSchema{{Name: "devices", Columns: cols("id", "hostname", "new_col")}, {Name: "only_src", Columns: cols("id")}}
	dst := []tableSchema{{Name: "devices", Columns: cols("id", "hostname", "pg_col")}, {Name: "only_dst", Columns: cols("id")}}
	err := schemaDiff(src, dst)
	for _, want := range []string{
		"column devices.new_col is in the source but not the target",
		"column devices.pg_col is in the target but not the source",
		"table only_src is in the source but not the target",
		"table only_dst is in the target but not the source",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want it to say %q", err, want)
		}
	}
	if err := schemaDiff(src, src); err != nil {
		t.Errorf("same schema: got %v, want nil", err)
	}
}

// createDatabase makes a new empty database on srv and returns its DSN.
func createDatabase(t *testing.T, srv *pgtest.Server, name string) string {
	t.Helper()
	db, err := sql.Open("pgx", srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), `CREATE DATABASE `+quoteIdent(name)); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	return srv.DSN(name)
}

// newSQLiteDataDir makes a data directory with a migrated SQLite registry
// and the collector's keys, as a first serve would.
func newSQLiteDataDir(t *testing.T) (dir, dbPath string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "data")
	if err := prepareDataDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, _, err := pki.LoadOrCreate(filepath.Join(dir, pkiDir), []string{"localhost"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	dbPath = filepath.Join(dir, dbFile)
	reg, err := registry.OpenAndMigrate(t.Context(), registry.StoreConfig{Path: dbPath}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg.Close()
	return dir, dbPath
}

func openSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// TestMigrateStoreOnPostgres runs migrate-store in process against a
// real PostgreSQL: the two engines' migrations make the same tables and
// columns, bytes and NULLs cross unchanged, identity sequences move past
// the copied ids, a dry run writes nothing, and a source that is newer or
// whose audit chain is broken is refused.
func TestMigrateStoreOnPostgres(t *testing.T) {
	t.Parallel()
	srv := pgtest.Start(t)

	t.Run("schemas match", func(t *testing.T) {
		_, dbPath := newSQLiteDataDir(t)
		dsn := createDatabase(t, srv, "schemas")
		reg, err := registry.OpenAndMigrate(t.Context(), registry.StoreConfig{Engine: registry.EnginePostgres, DSN: dsn}, nil)
		if err != nil {
			t.Fatal(err)
		}
		reg.Close()
		lite, err := sqliteSchema(t.Context(), openSQLite(t, dbPath))
		if err != nil {
			t.Fatal(err)
		}
		pgdb, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer pgdb.Close()
		pg, err := postgresSchema(t.Context(), pgdb)
		if err != nil {
			t.Fatal(err)
		}
		// A table or column added to one engine's migrations only fails
		// here, naming it.
		if err := schemaDiff(lite, pg); err != nil {
			t.Error(err)
		}
		refs := func(ts []tableSchema) map[string][]string {
			m := map[string][]string{}
			for _, t := range ts {
				if len(t.Refs) > 0 {
					m[t.Name] = t.Refs
				}
			}
			return m
		}
		if diff := cmp.Diff(refs(lite), refs(pg)); diff != "" {
			t.Errorf("foreign keys differ (-sqlite +postgres):\n%s", diff)
		}
		if _, err := copyOrder(lite); err != nil {
			t.Error(err)
		}
	})

	t.Run("bytes, nulls and sequences", func(t *testing.T) {
		dir, dbPath := newSQLiteDataDir(t)
		reg, err := registry.OpenAndMigrate(t.Context(), registry.StoreConfig{Path: dbPath}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, err := reg.Record(t.Context(), "test.entry", "t"+strconv.Itoa(i), audit.OK, nil); err != nil {
				t.Fatal(err)
			}
		}
		reg.Close()
		db := openSQLite(t, dbPath)
		evidence := []byte{0, 1, 0xff, 0xfe, '\n', 0} // not UTF-8, NULs
		now := "2025-01-02T03:04:05.000000000Z"
		wipe := `INSERT INTO wipe_requests (id, ticket, reason, method, state, nonce, issued_at, deadline, created_at, updated_at, evidence, completed_at)
			VALUES ($1, 'T-1', 'leaver', 'manual', 'requested', $2, $3, $4, $5, $6, $7, $8)`
		mustExec(t, db, wipe, "w-bytes", "n1", now, now, now, now, evidence, now)
		mustExec(t, db, wipe, "w-empty", "n2", now, now, now, now, []byte{}, nil)
		mustExec(t, db, wipe, "w-null", "n3", now, now, now, now, nil, nil)
		for i := range 3 {
			mustExec(t, db, `INSERT INTO wipe_transitions (id, wipe_id, at, to_state, actor_kind) VALUES ($1, 'w-bytes', $2, 'requested', 'person')`, 10+i, now)
		}
		db.Close()

		dsn := createDatabase(t, srv, "bytes")
		args := []string{"migrate-store", "--from", "sqlite:" + dbPath, "--to", "postgres:" + dsn, "--data", dir}
		stdout, stderr, code := runInProcess(t, append(args, "--dry-run")...)
		if code != 0 || !strings.Contains(stdout, "dry run: ") || !regexp.MustCompile(`(?m)^wipe_requests +3$`).MatchString(stdout) {
			t.Fatalf("dry run: exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
		pgdb, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer pgdb.Close()
		var n int
		if err := pgdb.QueryRowContext(t.Context(), `SELECT count(*) FROM wipe_requests`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("after a dry run the target holds %d wipe requests (%v), want 0", n, err)
		}

		stdout, stderr, code = runInProcess(t, args...)
		if code != 0 || !regexp.MustCompile(`(?m)^audit head: 3 \S+$`).MatchString(stdout) || !strings.Contains(stdout, "moved ") {
			t.Fatalf("migrate-store: exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
		for _, tt := range []struct {
			id        string
			evidence  []byte
			completed sql.NullString
		}{
			{"w-bytes", evidence, sql.NullString{String: now, Valid: true}},
			{"w-empty", []byte{}, sql.NullString{}},
			{"w-null", nil, sql.NullString{}},
		} {
			var got []byte
			var completed sql.NullString
			if err := pgdb.QueryRowContext(t.Context(), `SELECT evidence, completed_at FROM wipe_requests WHERE id = $1`, tt.id).Scan(&got, &completed); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.evidence) || (got == nil) != (tt.evidence == nil) || completed != tt.completed {
				t.Errorf("%s: got evidence %#v completed %v, want %#v %v", tt.id, got, completed, tt.evidence, tt.completed)
			}
		}
		var id int64
		if err := pgdb.QueryRowContext(t.Context(), `INSERT INTO wipe_transitions (wipe_id, at, to_state, actor_kind) VALUES ('w-bytes', $1, 'delivered', 'collector') RETURNING id`, now).Scan(&id); err != nil {
			t.Fatalf("insert after the move: %v", err)
		}
		if id != 13 {
			t.Errorf("the next generated wipe_transitions id is %d, want 13 (past the copied 10-12)", id)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		dir, dbPath := newSQLiteDataDir(t)
		dsn := createDatabase(t, srv, "refusals")
		args := []string{"migrate-store", "--from", "sqlite:" + dbPath, "--to", "postgres:" + dsn, "--data", dir}
		reg, err := registry.OpenAndMigrate(t.Context(), registry.StoreConfig{Path: dbPath}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if _, err := reg.Record(t.Context(), "test.entry", "t"+strconv.Itoa(i), audit.OK, nil); err != nil {
				t.Fatal(err)
			}
		}
		reg.Close()
		db := openSQLite(t, dbPath)
		mustExec(t, db, `UPDATE audit_log SET target = 'rewritten' WHERE seq = 1`)
		if _, stderr, code := runInProcess(t, args...); code != 1 || !strings.Contains(stderr, "the source's audit log does not verify (first bad entry 1") {
			t.Errorf("tampered source: exit %d, stderr %q", code, stderr)
		}
		mustExec(t, db, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future.sql', 'x')`)
		if _, stderr, code := runInProcess(t, args...); code != 1 || !strings.Contains(stderr, "is at schema version 999, newer than this roster-collector's") {
			t.Errorf("newer source: exit %d, stderr %q", code, stderr)
		}
		if _, stderr, code := runInProcess(t, "migrate-store", "--from", "postgres:"+dsn, "--to", "sqlite:"+dbPath); code != 2 || !strings.Contains(stderr, "moves sqlite:PATH to postgres:DSN") {
			t.Errorf("wrong direction: exit %d, stderr %q", code, stderr)
		}
		if _, stderr, code := runInProcess(t, "migrate-store", "--from", "sqlite:"+dbPath, "--to", "postgres:"+dsn, "--data", t.TempDir()); code != 1 || !strings.Contains(stderr, "no command-signing key") {
			t.Errorf("no key: exit %d, stderr %q", code, stderr)
		}
	})
}

func TestParseStoreArg(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want registry.StoreConfig
		err  string
	}{
		{"sqlite:/var/lib/roster/roster.db", registry.StoreConfig{Engine: "sqlite", Path: "/var/lib/roster/roster.db"}, ""},
		{"postgres:host=db user=roster", registry.StoreConfig{Engine: "postgres", DSN: "host=db user=roster"}, ""},
		{"postgres:postgres://u@db/roster", registry.StoreConfig{Engine: "postgres", DSN: "postgres://u@db/roster"}, ""},
		{"postgres://u@db/roster", registry.StoreConfig{Engine: "postgres", DSN: "postgres://u@db/roster"}, ""},
		{"mysql:x", registry.StoreConfig{}, `unknown engine "mysql"`},
		{"roster.db", registry.StoreConfig{}, "want sqlite:PATH or postgres:DSN"},
		{"", registry.StoreConfig{}, "--from is required"},
	}
	for _, tt := range tests {
		got, err := parseStoreArg("--from", tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: got error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

// TestMigrateStoreEndToEnd moves a real collector's SQLite registry (an
// agent's reports, an imported register, tokens, an exception) to a real
// PostgreSQL with the binary, and starts a collector on it with the same
// data directory: it serves the same devices and its audit chain verifies.
func TestMigrateStoreEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and two collectors")
	}
	c := collectortest.Start(t, collectorBin, collectortest.Options{Args: []string{"--http3=false"}})
	ctl := func(args ...string) string {
		t.Helper()
		out, errOut, code := rosterctl(t, c, c.AdminToken, args...)
		if code != 0 {
			t.Fatalf("rosterctl %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}
	var secret struct {
		Secret string `json:"secret"`
	}
	decodeJSON(t, "secrets create", ctl("secrets", "create", "--label", "move", "--expires", "1h", "--json"), &secret)
	hostRoot, _ := filepath.Abs("../../testdata/hosts/linux/dell-r6515-centos7")
	base := []string{"--state-dir", filepath.Join(t.TempDir(), "state"), "--transport", "https", "--os", "linux", "--host-root", hostRoot}
	if _, errOut, code := agent(t, append([]string{"enroll", "--collector", c.URL, "--secret", secret.Secret, "--ca-fingerprint", c.Fingerprint, "--json"}, base...)...); code != 0 {
		t.Fatalf("enroll: exit %d: %s", code, errOut)
	}
	if _, errOut, code := agent(t, append([]string{"report", "--once", "--json"}, base...)...); code != 0 {
		t.Fatalf("report: exit %d: %s", code, errOut)
	}
	register := filepath.Join(t.TempDir(), "register.csv")
	csv := "Inventory No;Serial Number;Owner;Class;Lifecycle\nSRV-0042;7n62ai2;Platform Team;confidential;in_service\n"
	if err := os.WriteFile(register, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	ctl("assets", "import", register, "--map", "Inventory No=asset_tag,Serial Number=serial,Class=classification,Lifecycle=status")
	ctl("exceptions", "request", "--asset", "SRV-0042", "--policy", "CFG-ENC-01", "--reason", "moved with the registry", "--control", "none needed in a test", "--expires", "2d", "--json")
	devices := func(c *collectortest.Collector, token string) []string {
		t.Helper()
		out, errOut, code := rosterctl(t, c, token, "devices", "list", "--json")
		if code != 0 {
			t.Fatalf("devices list: exit %d: %s", code, errOut)
		}
		var page struct {
			Items []struct {
				ID       string `json:"id"`
				Hostname string `json:"hostname"`
			} `json:"items"`
		}
		decodeJSON(t, "devices list", out, &page)
		var ids []string
		for _, d := range page.Items {
			ids = append(ids, d.ID+" "+d.Hostname)
		}
		slices.Sort(ids)
		return ids
	}
	before := devices(c, c.AdminToken)
	if len(before) != 1 {
		t.Fatalf("devices before the move: %v, want one", before)
	}
	if code := c.Stop(); code != 0 {
		t.Fatalf("stop the SQLite collector: exit %d", code)
	}

	// The source's head and counts, read offline.
	var head struct {
		HeadSeq  int64  `json:"head_seq"`
		HeadHash string `json:"head_hash"`
	}
	decodeJSON(t, "audit verify", c.Run(t, "audit", "verify", "--data", c.DataDir, "--json"), &head)
	dbPath := filepath.Join(c.DataDir, dbFile)
	lite := openSQLite(t, dbPath)
	schema, err := sqliteSchema(t.Context(), lite)
	if err != nil {
		t.Fatal(err)
	}
	wantRows := map[string]int64{}
	for _, tbl := range schema {
		var n int64
		if err := lite.QueryRowContext(t.Context(), `SELECT count(*) FROM `+quoteIdent(tbl.Name)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		wantRows[tbl.Name] = n
	}
	lite.Close()
	for _, tbl := range []string{"devices", "assets", "exceptions", "api_tokens", "audit_log"} {
		if wantRows[tbl] == 0 {
			t.Errorf("the source holds no %s: the move would prove little", tbl)
		}
	}

	pg := pgtest.Start(t)
	dsn := pg.DSN("postgres")
	moveStore := func() (string, string, int) {
		cmd := exec.CommandContext(context.Background(), collectorBin, "migrate-store", "--from", "sqlite:"+dbPath, "--to", "postgres:"+dsn, "--data", c.DataDir)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if _, ok := err.(*exec.ExitError); err != nil && !ok {
			t.Fatal(err)
		}
		return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
	}
	start := time.Now()
	out, errOut, code := moveStore()
	if code != 0 {
		t.Fatalf("migrate-store: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("migrate-store took %v:\n%s", time.Since(start), out)
	gotRows := map[string]int64{}
	for _, m := range regexp.MustCompile(`(?m)^([a-z_]+) +(\d+)$`).FindAllStringSubmatch(out, -1) {
		n, _ := strconv.ParseInt(m[2], 10, 64)
		gotRows[m[1]] = n
	}
	if diff := cmp.Diff(wantRows, gotRows); diff != "" {
		t.Errorf("rows per table (-source +printed):\n%s", diff)
	}
	if want := "audit head: " + strconv.FormatInt(head.HeadSeq, 10) + " " + head.HeadHash + "\n"; !strings.Contains(out, want) {
		t.Errorf("migrate-store printed no %q:\n%s", want, out)
	}

	out, errOut, code = moveStore()
	if code != 1 || !strings.Contains(errOut, "target already holds rows in table ") {
		t.Errorf("second move into the filled target: exit %d, stdout %q, stderr %q; want refused naming a table", code, out, errOut)
	}

	cfg := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(cfg, []byte("store:\n  engine: postgres\n  dsn: "+dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	moved := collectortest.Start(t, collectorBin, collectortest.Options{DataDir: c.DataDir, Config: cfg, Args: []string{"--http3=false"}})
	if moved.Fingerprint != c.Fingerprint {
		t.Errorf("CA changed across the move: %s, was %s", moved.Fingerprint, c.Fingerprint)
	}
	if moved.BootstrapToken != "" {
		t.Error("the collector on the moved store printed a bootstrap token")
	}
	if after := devices(moved, moved.AdminToken); !slices.Equal(after, before) {
		t.Errorf("devices after the move: %v, want %v", after, before)
	}
	// The token made before the move still works.
	if after := devices(moved, c.AdminToken); !slices.Equal(after, before) {
		t.Errorf("devices with the old token: %v, want %v", after, before)
	}
	verify := exec.Command(ctlBin, "audit", "verify", "--witness", "none")
	verify.Env = []string{"HOME=" + t.TempDir(), "ROSTER_URL=" + moved.URL, "ROSTER_TOKEN=" + moved.AdminToken, "ROSTER_CA=" + moved.CAFile}
	var vout, verr bytes.Buffer
	verify.Stdout, verify.Stderr = &vout, &verr
	if err := verify.Run(); err != nil || !strings.Contains(vout.String(), "audit log verified") {
		t.Errorf("rosterctl audit verify after the move: %v\n%s%s", err, vout.String(), verr.String())
	}
	var res audit.Result
	decodeJSON(t, "audit verify", moved.Run(t, "audit", "verify", "--config", cfg, "--data", c.DataDir, "--json"), &res)
	if !res.OK || res.HeadSeq <= head.HeadSeq {
		t.Errorf("offline audit verify of the moved store: %+v; want verified and grown past %d", res, head.HeadSeq)
	}
}
