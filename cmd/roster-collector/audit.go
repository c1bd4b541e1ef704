package main

// The audit log on the collector's host: the checkpoint job that signs the
// chain's head while serving, and `roster-collector audit verify`, which
// checks the database directly (no API, no token), for an operator or an
// auditor holding a copy of the data directory.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
)

// startCheckpoints signs the audit log's head at start, every interval and
// at stop, so a truncated or rewritten chain has a signed statement against
// it; among instances sharing a database, the holder of the job's lease
// signs. Checkpoints use the wall clock: the audit log's times are real ones
// even under the test clock.
func startCheckpoints(ctx context.Context, reg *registry.Registry, leases *jobLeases, key *pki.CommandKey, every time.Duration, logger *slog.Logger) (stop func()) {
	lease := leases.lease(leaseAuditCheckpoint, every)
	sign := func(ctx context.Context) {
		if !lease.hold(ctx) {
			return
		}
		cp, err := reg.Checkpoint(ctx, key.KeyID(), key.Sign, time.Now())
		if err != nil {
			logger.Error("audit checkpoint", "err", err)
			return
		}
		if cp != nil {
			logger.Debug("audit checkpoint", "seq", cp.Seq)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	sign(ctx)
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				// The last entries of a clean shutdown are covered too.
				sign(context.WithoutCancel(ctx))
				lease.release(ctx)
				return
			case <-t.C:
				sign(ctx)
			}
		}
	}()
	return func() { cancel(); <-done }
}

// auditVerify checks the whole chain and its checkpoints with the
// collector's public key (or --public-key), plus a witness checkpoint kept
// elsewhere (--checkpoint FILE, as `rosterctl audit verify` saves them).
// Exit 0: verified; 1: tampering found (the first bad entry is named).
func auditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("audit verify", stderr)
	var d dataFlags
	d.register(fset)
	witness := fset.String("checkpoint", "", "a checkpoint `file` kept outside the collector (JSON), checked against the chain too")
	asJSON := fset.Bool("json", false, "print the result as JSON")
	if err := parse(fset, args); err != nil {
		return err
	}
	dir, sc, err := d.store()
	if err != nil {
		return err
	}
	if err := existingStore(sc); err != nil {
		return err
	}
	key, err := pki.LoadCommandKey(filepath.Join(dir, pkiDir))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no signing key in %s to check checkpoints with", filepath.Join(dir, pkiDir))
		}
		return err
	}
	var extra []audit.Checkpoint
	if *witness != "" {
		b, err := os.ReadFile(*witness)
		if err != nil {
			return fmt.Errorf("read witness checkpoint: %w", err)
		}
		var c audit.Checkpoint
		if err := json.Unmarshal(b, &c); err != nil {
			return fmt.Errorf("read witness checkpoint %s: %w", *witness, err)
		}
		extra = append(extra, c)
	}
	reg, err := registry.OpenStore(ctx, sc, newLogger(stderr, "warn", "auto"))
	if err != nil {
		return err
	}
	defer reg.Close()
	// Offline there is no "now" to measure uncovered entries against: the
	// collector may have stopped long ago. A crash leaves at most the tail
	// since the last checkpoint uncovered, which the next start signs.
	res, err := reg.VerifyAudit(ctx, key.Public, extra, audit.Options{})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		printVerify(stdout, res)
	}
	if !res.OK {
		return errVerifyFailed
	}
	return nil
}

// errVerifyFailed exits 1 without repeating the message printed.
var errVerifyFailed = errors.New("audit log does not verify")

func printVerify(w io.Writer, res audit.Result) {
	if res.OK {
		fmt.Fprintf(w, "audit log verified: %d entries, head %d %s, %d signed checkpoints, covered through entry %d\n",
			res.Entries, res.HeadSeq, res.HeadHash, res.Checkpoints, res.Covered)
		if res.Anchor > 0 {
			fmt.Fprintf(w, "entries 1 to %d were purged by retention: the chain starts at %d, anchored on signed checkpoint %d\n", res.Anchor, res.FirstSeq, res.Anchor)
		}
		return
	}
	fmt.Fprintf(w, "AUDIT LOG DOES NOT VERIFY: %s\n", res.Problem.Message)
	if res.Problem.Seq > 0 {
		fmt.Fprintf(w, "first bad entry: %d\n", res.Problem.Seq)
	}
	fmt.Fprintf(w, "entries verified before it: %d (covered by a signed checkpoint through %d)\n", res.Entries, res.Covered)
}
