package main

// The commands. Their stdout is a contract that runbooks and tests parse:
//
//	serve           prints, in this order and each on its own line,
//	                  "CA fingerprint: sha256:<hex>"
//	                  "Bootstrap admin token (shown only once, store it now): rst_..."  (very first start only)
//	                  "listening on HOST:PORT"  (once both listeners are bound)
//	migrate         prints "applied migration N" per migration, or "database is up to date"
//	token create    prints only the token
//	ca fingerprint  prints only "sha256:<hex>"
//	ca command-key  prints only the command-signing public key, base64
//
// Logs go to stderr (JSON unless stderr is a terminal). Exit codes: 0 ok,
// 1 failure, 2 usage.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/api"
	"github.com/rosterhq/roster/collector/config"
	"github.com/rosterhq/roster/collector/metrics"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/server"
)

const usage = `usage: roster-collector COMMAND [flags]

Commands:
  serve --data DIR [--listen HOST:PORT] [--config FILE] [--hostname NAME ...]
        [--log-level L] [--log-format auto|json|text] [--http3=false] [--pprof 127.0.0.1:PORT]
        [--max-report-bytes SIZE] [--max-report-decompressed-bytes SIZE]
        [--downloads DIR]
      Run the collector. The first start creates DIR (database, CA) and prints
      a bootstrap admin token once.
  migrate --data DIR            apply pending database migrations
  token create --data DIR --name NAME --role ROLE [--kind person|automation]
                [--email E] [--expires 90d]
                                create an API token and print only the token
  audit verify --data DIR [--checkpoint FILE] [--json]
                                check the audit log's hash chain and signed
                                checkpoints; exit 1 names the first bad entry
  retention run --data DIR [--config FILE] [--dry-run] [--json]
                                remove what is past retention (the config's
                                retention section), or count it with --dry-run
  backup --out FILE [--data DIR|--config FILE] [--recipient age1… ...]
         [--recipients-file F]
                                an online, consistent copy of the database and
                                keys, encrypted to age recipients
  verify-backup FILE --identity KEYFILE [--public-key KEY] [--json]
  verify-backup --pg-dump FILE --scratch-dsn DSN [--key-file F] [--identity K]
                                restore into a temporary place, check it and
                                print the restore report; exit 1 says what failed
  restore FILE --identity KEYFILE --data DIR [--force]
                                check a backup and install it into DIR
  keyfile create FILE           write a new key file (store.key_file) that seals
                                the CA and command-signing keys in a shared
                                store, so collectors given it share them
  ca fingerprint --data DIR     print only the CA fingerprint, sha256:<hex>
  ca command-key --data DIR     print only the command-signing public key
                                (base64), to verify certificates of sanitisation
  version

See docs/roster-collector.md.
`

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// File names inside the data directory.
const (
	dbFile = "roster.db"
	pkiDir = "pki"
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdout, stderr)
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errVerifyFailed):
		return exitFailure
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "roster-collector: %s\nRun 'roster-collector help' for usage.\n", ue.msg)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "roster-collector: %s\n", err)
		return exitFailure
	}
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageErrorf("no command given")
	}
	cmd, rest := args[0], args[1:]
	if (cmd == "token" || cmd == "ca" || cmd == "audit" || cmd == "keyfile" || cmd == "retention") && len(rest) > 0 {
		cmd, rest = cmd+" "+rest[0], rest[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, rest, stdout, stderr)
	case "migrate":
		return migrate(ctx, rest, stdout, stderr)
	case "migrate-store":
		return migrateStore(ctx, rest, stdout, stderr)
	case "token create":
		return tokenCreate(ctx, rest, stdout, stderr)
	case "audit verify":
		return auditVerify(ctx, rest, stdout, stderr)
	case "retention run":
		return retentionRun(ctx, rest, stdout, stderr)
	case "keyfile create":
		return keyfileCreate(rest, stdout, stderr)
	case "ca fingerprint":
		return caFingerprint(rest, stdout, stderr)
	case "ca command-key":
		return caCommandKey(rest, stdout, stderr)
	case "backup":
		return backupCmd(ctx, rest, stdout, stderr)
	case "verify-backup":
		return verifyBackupCmd(ctx, rest, stdout, stderr)
	case "restore":
		return restoreCmd(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "roster-collector", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageErrorf("unknown command %q", cmd)
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("roster-collector "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErrorf("%s", err)
	}
	if fs.NArg() > 0 {
		return usageErrorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// newLogger builds the process's one handler: JSON for a service manager
// or a log collector, text when a person watches a terminal.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level)) // validated by config; info on error
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" || (format == "auto" && isTerminal(w)) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// dataFlags are the flags of the maintenance commands: --data, or the
// data_dir of a --config file.
type dataFlags struct {
	data, configFile string
}

func (d *dataFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.data, "data", "", "data `directory`")
	fs.StringVar(&d.configFile, "config", "", "YAML configuration `file` (its data_dir)")
}

func (d *dataFlags) dir() (string, error) {
	if d.data != "" {
		return d.data, nil
	}
	if d.configFile != "" {
		c := config.Default()
		if err := config.LoadFile(d.configFile, &c); err != nil {
			return "", err
		}
		if c.DataDir != "" {
			return c.DataDir, nil
		}
	}
	return "", usageErrorf("--data DIR is required")
}

// prepareDataDir creates the data directory 0700 when it is missing and
// refuses one that group or others can read, write or enter: it holds the
// registry and the CA and command-signing keys, and a wider mode is a
// mistake to fix rather than to start on.
func prepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("check data directory: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	return dataDirModeError(dir, st.Mode().Perm())
}

// dataDirModeError says who can reach a data directory of mode m and how
// to fix it, or returns nil for a private one.
func dataDirModeError(dir string, m fs.FileMode) error {
	if m&0o077 == 0 {
		return nil
	}
	var who []string
	if m&0o070 != 0 {
		who = append(who, "group")
	}
	if m&0o007 != 0 {
		who = append(who, "others")
	}
	var can []string
	for _, p := range []struct {
		bits fs.FileMode
		verb string
	}{{0o044, "read"}, {0o022, "write"}, {0o011, "enter"}} {
		if m&p.bits != 0 {
			can = append(can, p.verb)
		}
	}
	return fmt.Errorf("data directory %s is mode %04o: %s can %s it, and it holds the registry and keys; run: chmod 700 %s",
		dir, m, strings.Join(who, " and "), strings.Join(can, " and "), dir)
}

// existingDB returns the database path of an initialised data directory,
// so that a mistyped --data is an error rather than a new empty database.
func existingDB(dir string) (string, error) {
	p := filepath.Join(dir, dbFile)
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("no database at %s: start `roster-collector serve --data %s` (or run migrate) first", p, dir)
		}
		return "", fmt.Errorf("check database: %w", err)
	}
	return p, nil
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("serve", stderr)
	flags := config.RegisterFlags(fset)
	// Not in the usage text or the config file on purpose: see
	// docs/roster-collector.md, "Test clock".
	dl := registerDownloads(fset)
	unsafeClock := fset.Bool("unsafe-test-clock", false, "let PUT /api/v1/test/clock move the clock (end-to-end tests only; loopback only)")
	if err := parse(fset, args); err != nil {
		return err
	}
	cfg, err := flags.Config()
	if err != nil {
		return usageErrorf("%s", strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	logger := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if cfg.Debug.PprofListen != "" {
		addr, stop, err := startPprof(ctx, cfg.Debug.PprofListen, logger.With("component", "pprof"))
		if err != nil {
			return err
		}
		defer stop()
		fmt.Fprintf(stdout, "pprof on http://%s/debug/pprof/\n", addr)
	}
	clk := &clock{}
	var testClock api.TestClock
	if *unsafeClock {
		if err := testClockAllowed(cfg.Listen); err != nil {
			return usageErrorf("%s", err)
		}
		testClock = clk
		logger.Warn("UNSAFE TEST CLOCK ENABLED: PUT /api/v1/test/clock can move this collector's time; never run a real fleet like this")
	}

	if err := prepareDataDir(cfg.DataDir); err != nil {
		return err
	}
	// The collector owns its schema: it applies what its migrations add
	// before it serves (run `roster-collector migrate` to do it apart).
	reg, err := registry.OpenAndMigrate(ctx, storeOf(cfg.Store, cfg.DataDir), logger.With("component", "registry"))
	if err != nil {
		return err
	}
	defer reg.Close()
	reg.SetAuditReports(cfg.Audit.AuditReports())
	ca, created, err := loadCA(ctx, reg, filepath.Join(cfg.DataDir, pkiDir), cfg.Store.KeyFile, cfg.Hostnames, logger.With("component", "pki"))
	if err != nil {
		return fmt.Errorf("load CA: %w", err)
	}
	fmt.Fprintf(stdout, "CA fingerprint: %s\n", ca.Fingerprint())
	logger.Info("CA ready", "fingerprint", ca.Fingerprint(), "created", created)
	if created {
		// A new CA means a new collector: give its operator a way in. The
		// token goes to stdout only, never to the log.
		rec, tok, err := reg.CreateToken(localActor(ctx, "serve (first start)"), registry.TokenInput{
			Principal: "bootstrap", Kind: access.KindPerson, Role: string(access.Admin), ExpiresIn: registry.BootstrapTokenLifetime,
			Description: "made at the collector's first start; create named tokens with rosterctl tokens create",
		}, time.Now())
		if err != nil {
			return fmt.Errorf("create bootstrap token: %w", err)
		}
		fmt.Fprintf(stdout, "Bootstrap admin token (shown only once, store it now; it expires at %s, within 24 hours — create named tokens with `rosterctl tokens create`): %s\n",
			rec.ExpiresAt.Format(time.RFC3339), tok)
		logger.Info("bootstrap admin token created and printed to stdout")
	}

	m := metrics.New()
	leases := newJobLeases(reg, m, logger.With("component", "leases"))
	defer startCheckpoints(ctx, reg, leases, ca.Command, time.Duration(cfg.Audit.CheckpointInterval), logger.With("component", "audit"))()
	reg.SetEnrolmentPolicy(registry.EnrolmentPolicy{
		ReenrollAfterSilence: time.Duration(cfg.Enrolment.ReenrollAfterSilence),
		CommandLifetime:      time.Duration(cfg.Enrolment.CommandLifetime),
	})

	stopCompliance, err := startCompliance(ctx, cfg, reg, leases, clk, logger)
	if err != nil {
		return err
	}
	defer stopCompliance()
	reg.AllowSinglePersonWipes(cfg.Offboarding.AllowSinglePerson)
	if cfg.Offboarding.AllowSinglePerson {
		logger.Warn("offboarding.allow_single_person is on: one person may perform, verify and record a manual wipe; its certificate says so")
	}
	defer startWipeSweep(ctx, reg, leases, clk.Now, logger.With("component", "wipe"))()

	defer startRetention(ctx, cfg.Retention, reg, leases, clk.Now, logger.With("component", "retention"))()
	stopBackups, err := startBackups(ctx, cfg, reg, leases, logger.With("component", "backup"))
	if err != nil {
		return err
	}
	defer stopBackups()

	hostnameRule, stopAssets, err := startAssets(ctx, cfg.Assets, reg, leases, clk.Now, logger.With("component", "assets"))
	if err != nil {
		return err
	}
	defer stopAssets()

	mux := http.NewServeMux()
	mux.Handle("/", api.New(api.Options{
		Registry:                   reg,
		CA:                         ca,
		Metrics:                    m,
		Logger:                     logger.With("component", "api"),
		MaxReportBytes:             int64(cfg.Limits.MaxReportBytes),
		MaxReportDecompressedBytes: int64(cfg.Limits.MaxReportDecompressedBytes),
		Now:                        clk.Now,
		Schedule:                   cfg.Agents.Schedule(),
		HostnameRule:               hostnameRule,
		TestClock:                  testClock,
		AuditCheckpointEvery:       time.Duration(cfg.Audit.CheckpointInterval),
		MetricsPublic:              cfg.Metrics.Public,
	}))
	if err := dl.mount(mux, cfg, ca, logger.With("component", "downloads")); err != nil {
		return err
	}
	if err := mountConsole(ctx, mux, cfg.Console, reg, ca, hostnameRule, clk.Now, logger.With("component", "console")); err != nil {
		return err
	}
	srv, err := server.Listen(ctx, server.Options{
		Addr:      cfg.Listen,
		TLSConfig: ca.ServerTLS([]string{"h2", "http/1.1"}),
		Handler:   mux,
		HTTP3:     cfg.HTTP3,
		Logger:    logger.With("component", "server"),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening on %s\n", srv.Addr())
	logger.Info("listening", "addr", srv.Addr(), "http3", srv.HTTP3(), "data_dir", cfg.DataDir)
	if err := srv.Serve(ctx); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("migrate", stderr)
	var d dataFlags
	d.register(fset)
	if err := parse(fset, args); err != nil {
		return err
	}
	dir, sc, err := d.store()
	if err != nil {
		return err
	}
	if err := prepareDataDir(dir); err != nil {
		return err
	}
	reg, err := registry.OpenStore(ctx, sc, newLogger(stderr, "warn", "auto"))
	if err != nil {
		return err
	}
	defer reg.Close()
	applied, err := reg.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "database is up to date")
	}
	for _, v := range applied {
		fmt.Fprintf(stdout, "applied migration %d\n", v)
	}
	return reg.Ready(ctx)
}

// localActor is the actor of a command run on the collector's host with
// direct access to its data directory: the audit log says so.
func localActor(ctx context.Context, command string) context.Context {
	who := "unknown user"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	return access.WithActor(ctx, access.Actor{Principal: access.Principal{
		ID: "local:" + who, Name: "roster-collector " + command + " (local user " + who + ")", Kind: access.KindCollector,
	}})
}

func tokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("token create", stderr)
	var d dataFlags
	d.register(fset)
	name := fset.String("name", "", "the principal the token belongs to (a person or an automation, e.g. alice, offboarding-runbook)")
	role := fset.String("role", "", "the principal's `role` (admin, helpdesk, auditor, automation); required for a new principal")
	kind := fset.String("kind", "person", "person or automation (a new principal)")
	email := fset.String("email", "", "the principal's email or owner (a new principal)")
	expires := config.Duration(registry.DefaultTokenLifetime)
	fset.Var(&expires, "expires", "the token's lifetime as a Go duration, e.g. 2160h (at most 366 days)")
	if err := parse(fset, args); err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return usageErrorf("--name NAME is required")
	}
	reg, err := d.openCurrent(ctx, stderr)
	if err != nil {
		return err
	}
	defer reg.Close()
	_, tok, err := reg.CreateToken(localActor(ctx, "token create"), registry.TokenInput{
		Principal: *name, Kind: *kind, Email: *email, Role: *role, ExpiresIn: time.Duration(expires),
	}, time.Now())
	if err != nil {
		if errors.Is(err, registry.ErrInvalid) {
			return usageErrorf("%s", err)
		}
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

func caFingerprint(args []string, stdout, stderr io.Writer) error {
	dir, err := dataDirOnly("ca fingerprint", args, stderr)
	if err != nil {
		return err
	}
	ca, err := pki.Load(filepath.Join(dir, pkiDir))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no CA in %s: start `roster-collector serve --data %s` first", filepath.Join(dir, pkiDir), dir)
		}
		return fmt.Errorf("load CA: %w", err)
	}
	fmt.Fprintln(stdout, ca.Fingerprint())
	return nil
}
