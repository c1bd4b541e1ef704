package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
)

// loadCA loads (or makes) the collector's CA in dir. With a key file the
// CA and command-signing key are the store's shared ones (the join step
// of several collectors on one PostgreSQL; collector/pki/shared.go):
// taken from the store when another collector published them, else this
// collector's own (made now if pki/ is empty) published for the others.
// created is true only when this collector made the CA every collector of
// the store now uses: the one first start that prints a bootstrap token.
func loadCA(ctx context.Context, reg *registry.Registry, dir, keyFile string, hostnames []string, logger *slog.Logger) (ca *pki.CA, created bool, err error) {
	now := time.Now()
	if keyFile == "" {
		return pki.LoadOrCreate(dir, hostnames, now)
	}
	id, err := pki.LoadKeyFile(keyFile)
	if err != nil {
		return nil, false, fmt.Errorf("store.key_file: %w", err)
	}
	held, found, err := reg.LoadSharedKeys(ctx)
	if err != nil {
		return nil, false, err
	}
	if !found {
		if ca, created, err = pki.LoadOrCreate(dir, hostnames, now); err != nil {
			return nil, false, err
		}
		bundle, err := pki.ExportBundle(dir)
		if err != nil {
			return nil, false, err
		}
		sealed, err := bundle.Seal(id)
		if err != nil {
			return nil, false, err
		}
		var published bool
		held, published, err = reg.PublishSharedKeys(ctx, registry.SharedKeys{
			CAFingerprint: ca.Fingerprint(), Sealed: sealed, CreatedBy: collectorName(),
		}, now)
		if err != nil {
			return nil, false, err
		}
		if published {
			logger.Info("published this collector's CA and command-signing key to the store, sealed to the key file", "fingerprint", ca.Fingerprint())
			return ca, created, nil
		}
		// Another collector published first (it started at the same
		// moment): a CA made a moment ago gives way to the store's; one
		// this collector already had is compared with it below.
		if created {
			if err := pki.RemoveCA(dir); err != nil {
				return nil, false, fmt.Errorf("replace the CA made at start with the store's: %w", err)
			}
		}
	}
	bundle, err := pki.OpenBundle(held.Sealed, id)
	if err != nil {
		return nil, false, err
	}
	if fp, _ := bundle.Fingerprint(); fp != held.CAFingerprint {
		return nil, false, fmt.Errorf("the store's shared keys hold CA %s but are labelled %s: the row was altered", fp, held.CAFingerprint)
	}
	local, err := pki.Load(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := pki.InstallBundle(dir, bundle); err != nil {
			return nil, false, err
		}
		logger.Info("joined the store's collectors: took their CA and command-signing key", "fingerprint", held.CAFingerprint, "published_by", held.CreatedBy)
	case err != nil:
		return nil, false, fmt.Errorf("load CA: %w", err)
	case local.Fingerprint() != held.CAFingerprint:
		return nil, false, joinConflict(dir, local.Fingerprint(), held)
	}
	ca, _, err = pki.LoadOrCreate(dir, hostnames, now)
	if err != nil {
		return nil, false, err
	}
	if want, _ := pki.ParseCommandKeyPEM(bundle.CommandKey); want == nil || ca.Command.KeyID() != want.KeyID() {
		return nil, false, fmt.Errorf("%s holds the store's CA but another command-signing key than the store's: move %s/command.key aside to take the store's", dir, dir)
	}
	return ca, false, nil
}

func joinConflict(dir, local string, held registry.SharedKeys) error {
	return fmt.Errorf("%s holds CA %s, but the collectors of this store share CA %s (published by %s at %s): "+
		"agents enrolled through one would not be trusted by the other. Move %s aside to join with the store's CA, "+
		"or point this collector at its own store", dir, local, held.CAFingerprint, held.CreatedBy, held.CreatedAt.Format(time.RFC3339), dir)
}

// collectorName says which collector published the keys.
func collectorName() string {
	h, err := os.Hostname()
	if err != nil {
		return fmt.Sprintf("pid %d", os.Getpid())
	}
	return fmt.Sprintf("%s (pid %d)", h, os.Getpid())
}

// keyfileCreate is `roster-collector keyfile create FILE`.
func keyfileCreate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keyfile create", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErrorf("keyfile create needs one FILE to write")
	}
	id, err := pki.CreateKeyFile(fs.Arg(0))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (public key %s); set store.key_file to it on every collector of the store\n", fs.Arg(0), id.Recipient())
	return nil
}
