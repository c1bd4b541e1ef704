package main

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/mattn/go-sqlite3"

	"github.com/rosterhq/roster/agent/transport"
	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
	"github.com/rosterhq/roster/collector/store/pgtest"
)

// soakConfig is one crash soak, read from the environment (scripts/soak.sh
// sets it from make's SOAK_* variables).
type soakConfig struct {
	Devices  int
	Duration time.Duration
	Seed     uint64
	// Store is sqlite or postgres; on postgres the server is restarted
	// (immediate shutdown, then crash recovery) once, at a seeded moment
	// in the run's middle third.
	Store string
	// The collector is SIGKILLed every KillMin to KillMax (seeded).
	KillMin, KillMax time.Duration
	Schedule         soakSchedule
	// Drain bounds the final phase in which devices send what they hold.
	Drain time.Duration
}

func soakConfigFromEnv(getenv func(string) string) (soakConfig, error) {
	c := soakConfig{Devices: 1000, Duration: 3 * time.Minute, Seed: 1, Store: "sqlite", KillMin: 5 * time.Second, KillMax: 20 * time.Second,
		Schedule: soakSchedule{ReportEvery: 20 * time.Second, HeartbeatEvery: 10 * time.Second, BackoffMax: 5 * time.Second}, Drain: 3 * time.Minute}
	ints := []struct {
		name string
		dst  *int
	}{{"SOAK_DEVICES", &c.Devices}}
	for _, v := range ints {
		if s := getenv(v.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > maxDevices {
				return c, fmt.Errorf("%s=%q: want 1 to %d", v.name, s, maxDevices)
			}
			*v.dst = n
		}
	}
	if s := getenv("SOAK_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return c, fmt.Errorf("SOAK_SEED=%q: %w", s, err)
		}
		c.Seed = n
	}
	durs := []struct {
		name string
		dst  *time.Duration
	}{{"SOAK_DURATION", &c.Duration}, {"SOAK_KILL_MIN", &c.KillMin}, {"SOAK_KILL_MAX", &c.KillMax},
		{"SOAK_REPORT_EVERY", &c.Schedule.ReportEvery}, {"SOAK_HEARTBEAT_EVERY", &c.Schedule.HeartbeatEvery}}
	for _, v := range durs {
		if s := getenv(v.name); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				return c, fmt.Errorf("%s=%q: want a positive duration", v.name, s)
			}
			*v.dst = d
		}
	}
	if s := getenv("SOAK_STORE"); s != "" {
		c.Store = s
	}
	switch {
	case c.Store != "sqlite" && c.Store != "postgres":
		return c, fmt.Errorf("SOAK_STORE=%q: want sqlite or postgres", c.Store)
	case c.KillMin > c.KillMax:
		return c, fmt.Errorf("SOAK_KILL_MIN %v above SOAK_KILL_MAX %v", c.KillMin, c.KillMax)
	case c.Duration > time.Hour:
		return c, fmt.Errorf("SOAK_DURATION %v: at most 1h", c.Duration)
	}
	return c, nil
}

// TestSoak is the crash soak (docs/soak.md): the real collector under a
// fleet of simulated agents, SIGKILLed at seeded random moments and
// restarted on the same data directory (and, on PostgreSQL, the database
// server restarted once), then checked: every report applied exactly once,
// the database intact, the audit chain verified, every device caught up on
// its own. It runs only with ROSTER_SOAK=1 (make soak), never in make test.
func TestSoak(t *testing.T) {
	if os.Getenv("ROSTER_SOAK") == "" {
		t.Skip("the crash soak runs with ROSTER_SOAK=1 (make soak)")
	}
	cfg, err := soakConfigFromEnv(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	runSoak(t, cfg)
}

// TestSoakQuick is the soak in small, for make test: 20 devices, two
// kills (their moments fixed by the seed) in nine seconds.
func TestSoakQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real collector")
	}
	if os.Getenv("ROSTER_SOAK") != "" {
		t.Skip("TestSoak runs instead")
	}
	kills := runSoak(t, soakConfig{Devices: 20, Duration: 9 * time.Second, Seed: 1, Store: "sqlite", KillMin: 3200 * time.Millisecond, KillMax: 4 * time.Second,
		Schedule: soakSchedule{ReportEvery: time.Second, HeartbeatEvery: 500 * time.Millisecond, BackoffMax: time.Second}, Drain: time.Minute})
	if kills != 2 {
		t.Errorf("got %d kills, want 2", kills)
	}
}

// runSoak runs one soak and fails t on any violation; it returns how many
// times it killed the collector.
func runSoak(t *testing.T, cfg soakConfig) int {
	ctx := t.Context()
	bin, err := collectortest.Build(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	port, err := freeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	opts := collectortest.Options{DataDir: dataDir, Args: []string{"--listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "--http3=false"}}
	var pg *pgtest.Server
	var dsn string
	if cfg.Store == "postgres" {
		pg = pgtest.Start(t)
		dsn = pg.DSN("postgres")
		// The throwaway cluster runs with synchronous_commit off, which an
		// immediate shutdown may cost the last commits of: the collector's
		// database gets the production setting back.
		if err := execSQL(ctx, "pgx", dsn, `ALTER DATABASE postgres SET synchronous_commit = on`); err != nil {
			t.Fatal(err)
		}
		opts.Config = filepath.Join(t.TempDir(), "collector.yaml")
		if err := os.WriteFile(opts.Config, []byte("store:\n  engine: postgres\n  dsn: "+dsn+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := collectortest.Start(t, bin, opts)
	collectors := []*collectortest.Collector{c}
	secret := createSecret(t, c)
	fleet := fmt.Sprintf("soak%d", cfg.Seed)

	setupStart := time.Now()
	devs, err := enrolSoakFleet(ctx, c, secret, fleet, cfg)
	for _, d := range devs {
		if d != nil {
			defer d.client.Close()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("soak: %d devices enrolled in %.1fs on %s (seed %d, %v, kills every %v–%v)", len(devs), time.Since(setupStart).Seconds(), cfg.Store, cfg.Seed, cfg.Duration, cfg.KillMin, cfg.KillMax)

	// The devices run their schedule until load closes, then send what
	// they hold until drainCtx ends.
	load := make(chan struct{})
	drainCtx, cancelDrain := context.WithCancel(ctx)
	defer cancelDrain()
	empty := make([]bool, len(devs))
	var wg sync.WaitGroup
	for i, d := range devs {
		wg.Go(func() { empty[i] = d.loop(drainCtx, load, cfg.Schedule) })
	}

	rng := rand.New(rand.NewPCG(cfg.Seed, 0x50a4))
	start := time.Now()
	end := start.Add(cfg.Duration)
	pgRestartAt := time.Time{}
	if pg != nil {
		pgRestartAt = start.Add(cfg.Duration/3 + time.Duration(rng.Int64N(int64(cfg.Duration/3))))
	}
	var kills []string
	pgRestarted := ""
	// Kill moments count from the start, not from the last restart, so a
	// seed fixes how many there are whatever the restarts take.
	next := start
	for {
		next = next.Add(cfg.KillMin + time.Duration(rng.Int64N(int64(cfg.KillMax-cfg.KillMin)+1)))
		if !pgRestartAt.IsZero() && pgRestarted == "" && pgRestartAt.Before(next) && pgRestartAt.Before(end) {
			sleepUntil(ctx, pgRestartAt)
			took, err := restartPostgres(ctx, pg)
			if err != nil {
				t.Fatalf("restart PostgreSQL: %v", err)
			}
			pgRestarted = fmt.Sprintf("at %.0fs (back in %.1fs)", time.Since(start).Seconds(), took.Seconds())
		}
		if next.After(end) {
			break
		}
		sleepUntil(ctx, next)
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
		c.Kill()
		killedAt := time.Since(start)
		c = collectortest.Start(t, bin, opts)
		collectors = append(collectors, c)
		kills = append(kills, fmt.Sprintf("%.1fs", killedAt.Seconds()))
	}
	sleepUntil(ctx, end)
	close(load)
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(cfg.Drain):
		cancelDrain()
		<-drained
	}
	drainTook := time.Since(end)

	var all soakStats
	var stuck []int
	for i, d := range devs {
		all.add(d.stats)
		if !empty[i] {
			stuck = append(stuck, i)
		}
	}
	// Every device that caught up must agree with the collector: a final
	// heartbeat answered resync is a report the collector lost.
	finalBeats := beatAll(ctx, devs)
	if code := c.Stop(); code != 0 {
		t.Errorf("collector exited %d on SIGINT, want 0", code)
	}
	logErrors := map[string]int{}
	for _, col := range collectors {
		for _, line := range strings.Split(col.Stderr(), "\n") {
			var l struct{ Level, Msg, Err string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Level == "ERROR" {
				logErrors[l.Msg+": "+l.Err]++
			}
		}
	}

	db := soakDB{driver: "sqlite3", dsn: "file:" + filepath.Join(dataDir, "roster.db") + "?mode=ro"}
	if pg != nil {
		db = soakDB{driver: "pgx", dsn: dsn}
	}
	check, err := db.check(ctx, fleet, devs)
	if err != nil {
		t.Fatal(err)
	}
	var cfgArgs []string
	if opts.Config != "" {
		cfgArgs = []string{"--config", opts.Config}
	}
	auditOut := strings.TrimSpace(c.Run(t, append([]string{"audit", "verify", "--data", dataDir}, cfgArgs...)...))

	violations := append(all.Violations, finalBeats...)
	violations = append(violations, check.Violations...)
	for _, i := range stuck {
		violations = append(violations, fmt.Sprintf("device %d: still held %d reports after the %v drain (stuck)", i, len(devs[i].pending), cfg.Drain))
	}
	lat, out := summarise(all.Latencies), summarise(all.Outages)
	if !strings.HasPrefix(auditOut, "audit log verified") {
		violations = append(violations, "audit verify: "+auditOut)
	}
	t.Logf(`soak summary (%s, %d devices, seed %d, %v load + %.1fs drain):
  collector kills   %d at %s
  postgres restart  %s
  reports sent      %d: applied %d, duplicate %d, resync %d
  report latency    p50 %.0fms  p90 %.0fms  p99 %.0fms  max %.0fms (acknowledged ones)
  heartbeats        %d (resync %d)
  failed sends      %s
  registry          %d devices, %d reports applied (%d expected), %d soak packages in history (%d expected)
  integrity         %s
  audit             %s
  device outages    %d: p50 %.1fs  p99 %.1fs  max %.1fs (first failed send to next success)
  collector errors  %s
  violations        %d`,
		cfg.Store, len(devs), cfg.Seed, cfg.Duration, drainTook.Seconds(),
		len(kills), strings.Join(kills, " "), cmp.Or(pgRestarted, "none"),
		all.Reports, all.Applied, all.Duplicates, all.Resyncs, ms(lat.P50), ms(lat.P90), ms(lat.P99), ms(lat.Max),
		all.Heartbeats, all.HeartbeatResyncs, countsText(all.Failures),
		check.Devices, check.Applied, check.WantApplied, check.Packages, check.WantPackages,
		check.Integrity, auditOut, len(all.Outages), out.P50.Seconds(), out.P99.Seconds(), out.Max.Seconds(), countsText(logErrors), len(violations))
	for i, v := range violations {
		if i == 50 {
			t.Errorf("… and %d more", len(violations)-50)
			break
		}
		t.Error(v)
	}
	return len(kills)
}

// countsText is "none" or one "N× key" line per key, most frequent first.
func countsText(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(m[b]-m[a], strings.Compare(a, b)) })
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n    %d× %.200s", m[k], k)
	}
	return b.String()
}

func sleepUntil(ctx context.Context, at time.Time) {
	t := time.NewTimer(max(time.Until(at), 0))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// enrolSoakFleet enrols cfg.Devices devices, 16 at a time, before the
// first kill: an enrolment whose answer a crash lost is a second agent
// for the same machine (identity_conflict), not what this soak checks.
func enrolSoakFleet(ctx context.Context, c *collectortest.Collector, secret, fleet string, cfg soakConfig) ([]*soakDevice, error) {
	base, err := loadSnapshot(ctx, filepath.Join("..", "..", "testdata", "hosts", "linux", "debian12-firecracker-vm", "want.json"), slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	tlsCfg, err := transport.PinnedTLS(c.Fingerprint, "127.0.0.1")
	if err != nil {
		return nil, err
	}
	enroller, err := transport.New(transport.Options{BaseURL: c.URL, TLS: tlsCfg, Mode: transport.ModeHTTPS, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	defer enroller.Close()
	devs := make([]*soakDevice, cfg.Devices)
	errs := make([]error, 16)
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			for i := w; i < cfg.Devices && errs[w] == nil; i += len(errs) {
				devs[i], errs[w] = enrolSoakDevice(ctx, c.URL, c.Fingerprint, secret, "127.0.0.1", fleet, base, enroller, i, cfg.Seed)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return devs, err
		}
	}
	return devs, nil
}

// beatAll sends every device's final heartbeat, 16 at a time, and returns
// the violations they found.
func beatAll(ctx context.Context, devs []*soakDevice) []string {
	out := make([][]string, 16)
	var wg sync.WaitGroup
	for w := range out {
		wg.Go(func() {
			for i := w; i < len(devs); i += len(out) {
				d := devs[i]
				if len(d.pending) > 0 {
					continue // counted as stuck
				}
				n := len(d.stats.Violations)
				if err := d.heartbeat(ctx); err != nil {
					out[w] = append(out[w], fmt.Sprintf("device %d: final heartbeat: %v", i, err))
				}
				out[w] = append(out[w], d.stats.Violations[n:]...)
			}
		})
	}
	wg.Wait()
	return slices.Concat(out...)
}

// restartPostgres stops pg's server with an immediate shutdown (no
// checkpoint: the restart recovers from the WAL, as after a crash) and
// starts it again with the same options (pg_ctl reads postmaster.opts), as
// the cluster's owner; pg.PID follows the new postmaster so that the
// test's cleanup stops it.
func restartPostgres(ctx context.Context, pg *pgtest.Server) (time.Duration, error) {
	binDir, err := pgtest.BinDir()
	if err != nil {
		return 0, err
	}
	data := filepath.Join(pg.Dir, "data")
	began := time.Now()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "pg_ctl"), "restart", "-D", data, "-m", "immediate", "-w", "-t", "120", "-l", filepath.Join(pg.Dir, "restart.log"))
	if os.Geteuid() == 0 {
		fi, err := os.Stat(data)
		if err != nil {
			return 0, err
		}
		st := fi.Sys().(*syscall.Stat_t)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: st.Uid, Gid: st.Gid}}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("pg_ctl restart: %w\n%s", err, out)
	}
	took := time.Since(began)
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return took, fmt.Errorf("read the new postmaster's pid: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	if pg.PID, err = strconv.Atoi(strings.TrimSpace(first)); err != nil {
		return took, fmt.Errorf("read the new postmaster's pid: %w", err)
	}
	return took, nil
}

func execSQL(ctx context.Context, driver, dsn, stmt string) error {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return fmt.Errorf("open %s: %w", driver, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}

// soakDB is the collector's database, read after the collector stopped.
type soakDB struct{ driver, dsn string }

// soakCheck is what the database says about the soak's devices.
type soakCheck struct {
	Devices, Applied, WantApplied, Packages, WantPackages int
	Integrity                                             string
	Violations                                            []string
}

var soakPkgRE = regexp.MustCompile(`soakpkg-(\d+)-(\d+)`)

// check compares the registry with what the devices know: each device's
// last applied sequence and hash are its last acknowledged ones, the
// applied sequences are exactly the acknowledged ones, each package the
// soak added appears once as software_added in the device's history, and
// the database passes its engine's integrity check.
func (s soakDB) check(ctx context.Context, fleet string, devs []*soakDevice) (soakCheck, error) {
	var out soakCheck
	db, err := sql.Open(s.driver, s.dsn)
	if err != nil {
		return out, fmt.Errorf("open the collector's database: %w", err)
	}
	defer db.Close()
	bySerial := map[string]*soakDevice{}
	for _, d := range devs {
		// The registry keeps serials normalised (upper case).
		bySerial[strings.ToUpper(d.serial)] = d
		out.WantApplied += len(d.acked)
		out.WantPackages += len(d.added)
	}
	ids := map[string]*soakDevice{}
	rows, err := db.QueryContext(ctx, `SELECT id, system_serial, last_seq, last_hash FROM devices WHERE system_serial LIKE $1`, strings.ToUpper("LOADGEN-"+fleet+"-%"))
	if err != nil {
		return out, fmt.Errorf("read devices: %w", err)
	}
	for rows.Next() {
		var id, serial, hash string
		var seq int64
		if err := rows.Scan(&id, &serial, &seq, &hash); err != nil {
			rows.Close()
			return out, fmt.Errorf("read devices: %w", err)
		}
		d := bySerial[strings.ToUpper(serial)]
		if d == nil || ids[id] != nil {
			out.Violations = append(out.Violations, fmt.Sprintf("registry: unexpected device %s (%s)", id, serial))
			continue
		}
		ids[id] = d
		out.Devices++
		if uint64(seq) != d.lastAck || hash != d.lastHash {
			out.Violations = append(out.Violations, fmt.Sprintf("device %d: registry holds seq %d %s, the device's last acknowledged is seq %d %s", d.index, seq, hash, d.lastAck, d.lastHash))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("read devices: %w", err)
	}
	if out.Devices != len(devs) {
		out.Violations = append(out.Violations, fmt.Sprintf("registry: %d soak devices, want %d", out.Devices, len(devs)))
	}

	applied := map[*soakDevice][]uint64{}
	rows, err = db.QueryContext(ctx, `SELECT device_id, seq FROM reports_applied ORDER BY device_id, seq`)
	if err != nil {
		return out, fmt.Errorf("read reports_applied: %w", err)
	}
	for rows.Next() {
		var id string
		var seq int64
		if err := rows.Scan(&id, &seq); err != nil {
			rows.Close()
			return out, fmt.Errorf("read reports_applied: %w", err)
		}
		if d := ids[id]; d != nil {
			applied[d] = append(applied[d], uint64(seq))
			out.Applied++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("read reports_applied: %w", err)
	}
	for _, d := range devs {
		if got := applied[d]; !slices.Equal(got, d.acked) {
			out.Violations = append(out.Violations, fmt.Sprintf("device %d: applied sequences %v, acknowledged %v", d.index, got, d.acked))
		}
	}

	seen := map[*soakDevice]map[int]int{}
	rows, err = db.QueryContext(ctx, `SELECT device_id, subject FROM history WHERE kind = 'software_added' AND subject LIKE '%soakpkg-%'`)
	if err != nil {
		return out, fmt.Errorf("read history: %w", err)
	}
	for rows.Next() {
		var id, subject string
		if err := rows.Scan(&id, &subject); err != nil {
			rows.Close()
			return out, fmt.Errorf("read history: %w", err)
		}
		d := ids[id]
		m := soakPkgRE.FindStringSubmatch(subject)
		if d == nil || m == nil || m[1] != strconv.Itoa(d.index) {
			out.Violations = append(out.Violations, fmt.Sprintf("history: software_added %q on device %s, not one of its soak packages", subject, id))
			continue
		}
		n, _ := strconv.Atoi(m[2])
		if seen[d] == nil {
			seen[d] = map[int]int{}
		}
		seen[d][n]++
		out.Packages++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("read history: %w", err)
	}
	for _, d := range devs {
		// Packages added after the last acknowledged report are not the
		// collector's yet; a device that caught up has none.
		for n := range d.added {
			if c := seen[d][n]; c != 1 && len(d.pending) == 0 {
				out.Violations = append(out.Violations, fmt.Sprintf("device %d: package soakpkg-%d-%d is software_added %d times in its history, want once", d.index, d.index, n, c))
			}
		}
		for n, c := range seen[d] {
			if n >= len(d.added) {
				out.Violations = append(out.Violations, fmt.Sprintf("device %d: history has soakpkg-%d-%d (%d times), which the device never added", d.index, d.index, n, c))
			}
		}
	}

	ok := false
	if out.Integrity, ok, err = integrity(ctx, db, s.driver); err != nil {
		return out, err
	}
	if !ok {
		out.Violations = append(out.Violations, "integrity check: "+out.Integrity)
	}
	return out, nil
}

// integrity runs the engine's own check: PRAGMA integrity_check on SQLite,
// amcheck's bt_index_check of every B-tree index on PostgreSQL.
func integrity(ctx context.Context, db *sql.DB, driver string) (string, bool, error) {
	if driver == "sqlite3" {
		rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
		if err != nil {
			return "", false, fmt.Errorf("integrity check: %w", err)
		}
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var l string
			if err := rows.Scan(&l); err != nil {
				return "", false, fmt.Errorf("integrity check: %w", err)
			}
			lines = append(lines, l)
		}
		res := strings.Join(lines, "; ")
		return "PRAGMA integrity_check: " + res, res == "ok", rows.Err()
	}
	// bt_index_check raises an error on the first corrupt index.
	if _, err := db.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS amcheck`); err != nil {
		return "", false, fmt.Errorf("integrity check: %w", err)
	}
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(bt_index_check(c.oid, true)) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace ns ON ns.oid = c.relnamespace
		WHERE a.amname = 'btree' AND ns.nspname NOT IN ('pg_catalog', 'information_schema') AND c.relpersistence <> 't' AND i.indisvalid`).Scan(&n)
	if err != nil {
		return "amcheck: " + err.Error(), false, nil
	}
	return fmt.Sprintf("amcheck bt_index_check: %d indexes ok", n), true, nil
}
