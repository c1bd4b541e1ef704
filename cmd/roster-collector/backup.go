package main

// Backups: `roster-collector backup`, `verify-backup` and `restore`, and the
// scheduled backups of serve (docs/backup.md).

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/rosterhq/roster/collector/config"
	"github.com/rosterhq/roster/collector/registry"
)

var errBackupNotBuilt = errors.New("backups are being built (issue 16)")

func backupCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errBackupNotBuilt
}

func verifyBackupCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errBackupNotBuilt
}

func restoreCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errBackupNotBuilt
}

// startBackups takes the scheduled backups of cfg.Backup under a lease.
func startBackups(ctx context.Context, cfg config.Config, reg *registry.Registry, leases *jobLeases, logger *slog.Logger) (stop func(), err error) {
	return func() {}, nil
}
