package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
)

// wipeSweepInterval is how often wipe deadlines are checked; a deadline is
// days long, so a minute late is nothing.
const wipeSweepInterval = time.Minute

// startWipeSweep expires wipe requests whose deadline passed (the
// escalation) until ctx ends, in the instance holding the job's lease;
// stop waits for it to finish.
func startWipeSweep(ctx context.Context, reg *registry.Registry, leases *jobLeases, now func() time.Time, logger *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	lease := leases.lease(leaseWipeExpiry, wipeSweepInterval)
	go func() {
		defer close(done)
		defer lease.release(ctx)
		t := time.NewTicker(wipeSweepInterval)
		defer t.Stop()
		for {
			if lease.hold(ctx) {
				if _, err := reg.ExpireWipes(ctx, now()); err != nil && ctx.Err() == nil {
					logger.Error("expire wipes", "err", err)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// caCommandKey prints the command-signing public key (base64), what
// rosterctl offboard verify-certificate checks certificates with offline.
func caCommandKey(args []string, stdout, stderr io.Writer) error {
	dir, err := dataDirOnly("ca command-key", args, stderr)
	if err != nil {
		return err
	}
	k, err := pki.LoadCommandKey(filepath.Join(dir, pkiDir))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no command-signing key in %s: start `roster-collector serve --data %s` first", filepath.Join(dir, pkiDir), dir)
		}
		return err
	}
	fmt.Fprintln(stdout, k.PublicBase64())
	return nil
}

// dataDirOnly parses the flags of a command that takes only --data.
func dataDirOnly(name string, args []string, stderr io.Writer) (string, error) {
	fset := newFlagSet(name, stderr)
	var d dataFlags
	d.register(fset)
	if err := parse(fset, args); err != nil {
		return "", err
	}
	return d.dir()
}
