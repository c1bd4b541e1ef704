package main

import (
	"context"
	"io"

	"github.com/rosterhq/roster/collector/backup"
)

// verifyPGDumpCmd is `verify-backup --pg-dump FILE --scratch-dsn DSN`: a
// PostgreSQL store is backed up by pg_dump, and its dump is checked by
// restoring it into a temporary database on a scratch server.
func verifyPGDumpCmd(ctx context.Context, dump, scratchDSN, keyFile string, c checkFlags, stdout, stderr io.Writer) error {
	if scratchDSN == "" {
		return usageErrorf("--pg-dump needs --scratch-dsn DSN: the server the dump is restored on, into a temporary database")
	}
	opt := backup.PGOptions{ScratchDSN: scratchDSN, KeyFile: keyFile, Logger: newLogger(stderr, "warn", "auto")}
	if c.identity != "" {
		keys, err := backup.LoadIdentities(c.identity)
		if err != nil {
			return err
		}
		opt.Keys = &keys
	}
	if c.publicKey != "" {
		k, err := parsePublicKey(c.publicKey)
		if err != nil {
			return usageErrorf("--public-key: %s", err)
		}
		opt.PublicKey = k
	}
	if keyFile == "" && opt.PublicKey == nil {
		return usageErrorf("--pg-dump needs --key-file F (the collectors' store.key_file) or --public-key KEY to verify the audit chain with")
	}
	var err error
	if opt.PGRestore, err = backup.FindPGRestore(); err != nil {
		return err
	}
	return printReport(stdout, backup.VerifyPGDump(ctx, dump, opt), c.asJSON)
}
