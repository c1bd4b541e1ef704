package main

// Backups: `roster-collector backup`, `verify-backup` and `restore`, and the
// scheduled backups of serve (docs/backup.md). The archive, its checks and
// its rotation are collector/backup's; this file reads the command line and
// the config, records the audit entries and prints the restore report.

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"filippo.io/age"
	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/backup"
	"github.com/rosterhq/roster/collector/config"
	"github.com/rosterhq/roster/collector/registry"
)

// errPostgresBackup is what backup says on a PostgreSQL store.
var errPostgresBackup = errors.New("the store is PostgreSQL: back it up with PostgreSQL's own tools (pg_dump, or base backups with WAL archiving) and check a dump with `roster-collector verify-backup --pg-dump FILE --scratch-dsn DSN`; see docs/backup.md")

// stringsFlag is a flag that may be given several times.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// parseInterspersed parses flags given before or after the one positional
// argument (FILE), which the flag package alone would stop at.
func parseInterspersed(fs *flag.FlagSet, args []string) (pos []string, err error) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageErrorf("%s", err)
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func backupCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("backup", stderr)
	var d dataFlags
	d.register(fset)
	out := fset.String("out", "", "the backup `file` to write (mode 0600)")
	var rcpts stringsFlag
	fset.Var(&rcpts, "recipient", "an age public `key` (age1…) to encrypt to; may be repeated (default: the config's backup.recipients)")
	rcptFile := fset.String("recipients-file", "", "a `file` of age recipients, one a line (default: the config's backup.recipients_file)")
	if err := parse(fset, args); err != nil {
		return err
	}
	if *out == "" {
		return usageErrorf("--out FILE is required")
	}
	cfg := config.Default()
	if d.configFile != "" {
		if err := config.LoadFile(d.configFile, &cfg); err != nil {
			return err
		}
	}
	if d.data != "" {
		cfg.DataDir = d.data
	}
	if cfg.Store.Engine == config.StorePostgres {
		return errPostgresBackup
	}
	if cfg.DataDir == "" {
		return usageErrorf("--data DIR is required")
	}
	if len(rcpts) == 0 && *rcptFile == "" {
		rcpts, *rcptFile = cfg.Backup.Recipients, cfg.Backup.RecipientsFile
	}
	recipients, err := backup.ParseRecipients(rcpts, *rcptFile)
	if err != nil {
		return usageErrorf("%s", err)
	}
	if len(recipients) == 0 {
		return usageErrorf("no age recipient: give --recipient age1… or --recipients-file F (or backup.recipients in --config); backups are always encrypted")
	}
	if _, err := existingDB(cfg.DataDir); err != nil {
		return err
	}
	reg, err := registry.Open(ctx, filepath.Join(cfg.DataDir, dbFile), newLogger(stderr, "warn", "auto"))
	if err != nil {
		return err
	}
	defer reg.Close()
	res, err := takeBackup(localActor(ctx, "backup"), reg, cfg.DataDir, *out, recipients, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes): %d devices, audit log head %d, schema %d\n",
		res.Path, res.Size, res.Manifest.Tables["devices"], res.Manifest.Audit.HeadSeq, res.Manifest.SchemaVersion)
	return nil
}

// takeBackup writes one backup of dataDir and records it (or its failure)
// in the audit log as the actor ctx carries.
func takeBackup(ctx context.Context, reg *registry.Registry, dataDir, out string, to []age.Recipient, now time.Time) (backup.Result, error) {
	res, err := backup.Create(ctx, backup.Options{DataDir: dataDir, Out: out, Recipients: to, CollectorVersion: version, Now: now})
	if err != nil {
		if aerr := reg.AuditOutside(context.WithoutCancel(ctx), "backup.created", out, audit.Failed, map[string]any{"error": err.Error()}); aerr != nil {
			return res, fmt.Errorf("%w (and recording the failure in the audit log: %v)", err, aerr)
		}
		return res, err
	}
	detail := map[string]any{
		"bytes": res.Size, "devices": res.Manifest.Tables["devices"], "audit_head": res.Manifest.Audit.HeadSeq,
		"schema": res.Manifest.SchemaVersion, "recipients": len(to),
	}
	if err := reg.AuditOutside(ctx, "backup.created", out, audit.OK, detail); err != nil {
		return res, fmt.Errorf("backup written to %s, but recording it in the audit log failed: %w", out, err)
	}
	return res, nil
}

// checkFlags are verify-backup's and restore's common flags.
type checkFlags struct {
	identity, publicKey string
	asJSON              bool
}

func (c *checkFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.identity, "identity", "", "the age identity `file` the backup is encrypted to (kept away from the collector)")
	fs.StringVar(&c.publicKey, "public-key", "", "the collector's command-signing public `key` (base64, `roster-collector ca command-key`) the backup's key must equal")
	fs.BoolVar(&c.asJSON, "json", false, "print the restore report as JSON")
}

func (c *checkFlags) options(stderr io.Writer) (backup.Keys, backup.CheckOptions, error) {
	if c.identity == "" {
		return backup.Keys{}, backup.CheckOptions{}, usageErrorf("--identity KEYFILE is required: the age identity the backup was encrypted to")
	}
	keys, err := backup.LoadIdentities(c.identity)
	if err != nil {
		return backup.Keys{}, backup.CheckOptions{}, err
	}
	opt := backup.CheckOptions{Logger: newLogger(stderr, "warn", "auto")}
	if c.publicKey != "" {
		if opt.PublicKey, err = parsePublicKey(c.publicKey); err != nil {
			return backup.Keys{}, backup.CheckOptions{}, usageErrorf("--public-key: %s", err)
		}
	}
	return keys, opt, nil
}

func parsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("want the base64 of a %d-byte Ed25519 key (roster-collector ca command-key)", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

func verifyBackupCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("verify-backup", stderr)
	var c checkFlags
	c.register(fset)
	pgDump := fset.String("pg-dump", "", "check this PostgreSQL dump `file` (pg_dump -Fc, optionally age-encrypted) instead of a collector backup")
	scratch := fset.String("scratch-dsn", "", "with --pg-dump: a PostgreSQL `DSN` whose server the dump is restored on, into a temporary database")
	keyFile := fset.String("key-file", "", "with --pg-dump: the collectors' key `file` (store.key_file) that unseals the command-signing key in the dump")
	pos, err := parseInterspersed(fset, args)
	if err != nil {
		return err
	}
	if *pgDump != "" {
		if len(pos) > 0 {
			return usageErrorf("verify-backup --pg-dump FILE takes no other file (got %q)", pos[0])
		}
		return verifyPGDumpCmd(ctx, *pgDump, *scratch, *keyFile, c, stdout, stderr)
	}
	if len(pos) != 1 {
		return usageErrorf("verify-backup needs one backup FILE")
	}
	keys, opt, err := c.options(stderr)
	if err != nil {
		return err
	}
	x, rep := backup.Verify(ctx, pos[0], keys, opt)
	if x != nil {
		x.Remove()
	}
	return printReport(stdout, rep, c.asJSON)
}

func restoreCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("restore", stderr)
	var c checkFlags
	c.register(fset)
	data := fset.String("data", "", "the data `directory` to restore into")
	force := fset.Bool("force", false, "restore over a database DIR holds, moving it (and pki/) aside to NAME.before-restore-TIMESTAMP")
	pos, err := parseInterspersed(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("restore needs one backup FILE")
	}
	if *data == "" {
		return usageErrorf("--data DIR is required")
	}
	keys, opt, err := c.options(stderr)
	if err != nil {
		return err
	}
	if err := prepareDataDir(*data); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(*data, dbFile)); err == nil && !*force {
		return fmt.Errorf("%s already holds a database: restore into a new directory, or give --force to move the old one aside", *data)
	}
	// Extracted inside the target so that installing is a rename.
	opt.Parent = *data
	x, rep := backup.Verify(ctx, pos[0], keys, opt)
	if x == nil {
		return printReport(stdout, rep, c.asJSON)
	}
	defer x.Remove()
	if err := recordRestore(localActor(ctx, "restore"), x, pos[0], rep); err != nil {
		return err
	}
	aside, err := backup.Install(x, *data, *force, time.Now())
	if err != nil {
		return err
	}
	if err := printReport(stdout, rep, c.asJSON); err != nil {
		return err
	}
	if !c.asJSON {
		for _, a := range aside {
			fmt.Fprintf(stdout, "moved aside: %s\n", a)
		}
		fmt.Fprintf(stdout, "restored into %s; start it with: roster-collector serve --data %s\n", *data, *data)
	}
	return nil
}

// recordRestore records the restore in the restored database before it is
// installed (the restores row, which lets agents holding certificates
// issued since the backup continue, and backup.restored in the audit log).
func recordRestore(ctx context.Context, x *backup.Extracted, file string, rep backup.Report) error {
	reg, err := registry.Open(ctx, x.DBPath(), nil)
	if err != nil {
		return fmt.Errorf("record the restore: %w", err)
	}
	defer reg.Close()
	// A backup from an older collector gets the schema the restore
	// records into (serve would apply the same migrations at start).
	if _, err := reg.Migrate(ctx); err != nil {
		return fmt.Errorf("record the restore: %w", err)
	}
	by := ""
	if u, err := user.Current(); err == nil {
		by = u.Username
	}
	rec := registry.RestoreRecord{BackupCreatedAt: x.Manifest.CreatedAt, RestoredAt: time.Now(), File: filepath.Base(file), By: by}
	err = reg.RecordRestore(ctx, rec, map[string]any{
		"file": file, "created_at": x.Manifest.CreatedAt.Format(time.RFC3339), "collector_version": x.Manifest.CollectorVersion,
		"audit_head": x.Manifest.Audit.HeadSeq, "devices": x.Manifest.Tables["devices"], "checks": len(rep.Checks),
	})
	if err != nil {
		return fmt.Errorf("record the restore: %w", err)
	}
	return nil
}

// printReport prints the restore report, the evidence of a restore test,
// and turns a failed one into the command's error.
func printReport(w io.Writer, rep backup.Report, asJSON bool) error {
	if h, err := os.Hostname(); err == nil {
		rep.Host = h
	}
	if u, err := user.Current(); err == nil {
		rep.By = u.Username
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		writeReport(w, rep)
	}
	if !rep.OK {
		return fmt.Errorf("backup does not verify: %s", rep.Problem)
	}
	return nil
}

func writeReport(w io.Writer, rep backup.Report) {
	fmt.Fprintf(w, "Restore test of %s\n", rep.File)
	fmt.Fprintf(w, "checked %s on %s by %s in %.1f s\n", rep.CheckedAt.Format(time.RFC3339), rep.Host, rep.By, float64(rep.DurationMS)/1000)
	if !rep.CreatedAt.IsZero() {
		fmt.Fprintf(w, "backup made %s by collector %s, schema %d, %d members, %d bytes\n",
			rep.CreatedAt.Format(time.RFC3339), rep.CollectorVersion, rep.SchemaVersion, rep.Members, rep.Bytes)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\ncheck\tresult\ttime\tdetail")
	for _, c := range rep.Checks {
		res := "ok"
		if !c.OK {
			res = "FAILED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d ms\t%s\n", c.Name, res, c.DurationMS, c.Detail)
	}
	tw.Flush()
	if len(rep.Tables) > 0 {
		fmt.Fprintln(w, "\nrows restored per table:")
		for _, t := range slices.Sorted(maps.Keys(rep.Tables)) {
			fmt.Fprintf(w, "  %-28s %10d\n", t, rep.Tables[t])
		}
	}
	if rep.OK {
		fmt.Fprintln(w, "\nRESULT: PASSED: every check passed; the backup restores into a working registry whose audit chain verifies")
		return
	}
	fmt.Fprintf(w, "\nRESULT: FAILED: %s\n", rep.Problem)
}

// startBackups takes the scheduled backups of cfg.Backup under a lease.
func startBackups(ctx context.Context, cfg config.Config, reg *registry.Registry, leases *jobLeases, logger *slog.Logger) (stop func(), err error) {
	b := cfg.Backup
	if !b.Scheduled() {
		return func() {}, nil
	}
	if cfg.Store.Engine == config.StorePostgres {
		return nil, fmt.Errorf("backup.interval is set, but %w", errPostgresBackup)
	}
	recipients, err := backup.ParseRecipients(b.Recipients, b.RecipientsFile)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	s := backupSchedule{
		dataDir: cfg.DataDir, dir: b.Dir, keep: b.Keep, every: time.Duration(b.Interval),
		recipients: recipients, reg: reg, logger: logger,
	}
	if s.dir == "" {
		s.dir = filepath.Join(cfg.DataDir, config.DefaultBackupSubdir)
	}
	if s.keep == 0 {
		s.keep = config.DefaultBackupKeep
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("backup: create backup.dir: %w", err)
	}
	if err := os.Chmod(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("backup: make backup.dir private: %w", err)
	}
	return s.start(ctx, leases), nil
}

// backupSchedule is serve's backup job.
type backupSchedule struct {
	dataDir, dir string
	keep         int
	every        time.Duration
	recipients   []age.Recipient
	reg          *registry.Registry
	logger       *slog.Logger
}

// due is when the next backup is: an interval after the newest in dir, so
// that restarts neither skip nor repeat one.
func (s *backupSchedule) due() time.Time {
	_, times, err := backup.List(s.dir)
	if err != nil || len(times) == 0 {
		return time.Time{}
	}
	return times[len(times)-1].Add(s.every)
}

// take writes one backup, then deletes the oldest beyond keep.
func (s *backupSchedule) take(ctx context.Context, now time.Time) {
	out := filepath.Join(s.dir, backup.Name(now))
	t := time.Now()
	res, err := takeBackup(ctx, s.reg, s.dataDir, out, s.recipients, now)
	if err != nil {
		s.logger.Error("scheduled backup failed", "file", out, "err", err)
		return
	}
	s.logger.Info("backup written", "file", out, "bytes", res.Size, "devices", res.Manifest.Tables["devices"],
		"audit_head", res.Manifest.Audit.HeadSeq, "took", time.Since(t).Round(time.Millisecond))
	removed, err := backup.Rotate(s.dir, s.keep)
	if err != nil {
		s.logger.Error("rotate backups", "err", err)
	}
	if len(removed) > 0 {
		s.logger.Info("old backups deleted", "keep", s.keep, "deleted", removed)
	}
}

// start checks every minute (or every interval when shorter) whether a
// backup is due and takes it when this instance holds the job's lease.
func (s *backupSchedule) start(ctx context.Context, leases *jobLeases) (stop func()) {
	lease := leases.lease(leaseBackup, s.every)
	check := min(s.every, time.Minute)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(check)
		defer t.Stop()
		for {
			if now := time.Now(); !now.Before(s.due()) && lease.hold(ctx) {
				s.take(ctx, now)
			}
			select {
			case <-ctx.Done():
				lease.release(ctx)
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}
