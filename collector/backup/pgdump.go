package backup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
)

// PGOptions say how VerifyPGDump checks a PostgreSQL store's dump.
type PGOptions struct {
	// ScratchDSN names a server (and a database to connect to for
	// CREATE DATABASE) where a temporary database is made, restored into,
	// checked and dropped. Its user needs CREATEDB.
	ScratchDSN string
	// Keys decrypt a dump that was age-encrypted; nil for a plain one.
	Keys *Keys
	// KeyFile is the collectors' key file (store.key_file): it unseals
	// the command-signing key the dump's shared_keys row holds.
	KeyFile string
	// PublicKey is the command-signing public key, when no key file is
	// given, or the one the unsealed key must equal.
	PublicKey ed25519.PublicKey
	// PGRestore is the pg_restore binary (FindPGRestore).
	PGRestore string
	Now       func() time.Time
	Logger    *slog.Logger
}

// FindPGRestore returns the newest PostgreSQL's pg_restore: Debian keeps
// the binaries in /usr/lib/postgresql/<major>/bin, off PATH.
func FindPGRestore() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_restore")
	slices.SortFunc(found, func(a, b string) int { return pgMajor(a) - pgMajor(b) })
	if len(found) > 0 {
		return found[len(found)-1], nil
	}
	p, err := exec.LookPath("pg_restore")
	if err != nil {
		return "", errors.New("no pg_restore: install PostgreSQL's client programs (Debian: postgresql-client)")
	}
	return p, nil
}

func pgMajor(p string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
	return n
}

// ageHeader starts every age-encrypted file (binary format).
const ageHeader = "age-encryption.org/v1\n"

// VerifyPGDump restores a pg_dump (custom format, optionally
// age-encrypted) into a new temporary database on the scratch server and
// checks it as Verify checks a backup: the schema's migrations, the row
// counts, the shared keys and the audit chain. The database is dropped
// afterwards whatever happens.
func VerifyPGDump(ctx context.Context, dump string, opt PGOptions) (rep Report) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	start := opt.Now()
	rep = Report{File: dump, CheckedAt: start.UTC()}
	defer func() { rep.DurationMS = opt.Now().Sub(start).Milliseconds(); rep.OK = rep.Problem == "" }()
	step := rep.step

	file := dump
	if encrypted, err := isAgeFile(dump); err != nil {
		step("decrypt", func() (string, error) { return "", err })
		return rep
	} else if encrypted {
		tmp, err := os.MkdirTemp("", "roster-pgdump-")
		if err != nil {
			step("decrypt", func() (string, error) { return "", err })
			return rep
		}
		defer os.RemoveAll(tmp)
		file = filepath.Join(tmp, "dump")
		if !step("decrypt", func() (string, error) { return decryptFile(dump, file, opt.Keys) }) {
			return rep
		}
	}

	admin, err := sql.Open("pgx", opt.ScratchDSN)
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		step("restore", func() (string, error) { return "", fmt.Errorf("connect to the scratch server: %w", err) })
		return rep
	}
	defer admin.Close()
	var rnd [6]byte
	rand.Read(rnd[:])
	name := "roster_verify_" + hex.EncodeToString(rnd[:])
	dsn, err := withDatabase(opt.ScratchDSN, name)
	if err != nil {
		step("restore", func() (string, error) { return "", err })
		return rep
	}
	if !step("restore", func() (string, error) {
		if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
			return "", fmt.Errorf("create the scratch database %s: %w", name, err)
		}
		cmd := exec.CommandContext(ctx, opt.PGRestore, "--no-owner", "--no-privileges", "--exit-on-error", "--dbname", dsn, file)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("pg_restore into %s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
		}
		return fmt.Sprintf("pg_restore into the new database %s", name), nil
	}) {
		dropDatabase(ctx, admin, name)
		return rep
	}
	defer dropDatabase(ctx, admin, name)

	reg, err := registry.OpenStore(ctx, registry.StoreConfig{Engine: registry.EnginePostgres, DSN: dsn}, opt.Logger)
	if err != nil {
		step("migrations", func() (string, error) { return "", err })
		return rep
	}
	defer reg.Close()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		step("counts", func() (string, error) { return "", err })
		return rep
	}
	defer db.Close()
	var pub ed25519.PublicKey
	_ = step("counts", func() (string, error) {
		m, err := describePG(ctx, db)
		if err != nil {
			return "", err
		}
		rep.Tables, rep.SchemaVersion = m.Tables, m.SchemaVersion
		var rows int64
		for _, n := range m.Tables {
			rows += n
		}
		return fmt.Sprintf("%d tables, %d rows, audit head %d", len(m.Tables), rows, m.Audit.HeadSeq), nil
	}) && step("migrations", func() (string, error) {
		want, err := registry.SchemaVersion(registry.EnginePostgres)
		if err != nil {
			return "", err
		}
		if rep.SchemaVersion > want {
			return "", fmt.Errorf("the dump's schema is at migration %d, newer than this collector's %d", rep.SchemaVersion, want)
		}
		applied, err := reg.Migrate(ctx)
		if err != nil {
			return "", fmt.Errorf("the dump's schema (migration %d) does not migrate: %w", rep.SchemaVersion, err)
		}
		rep.MigratedTo = want
		if len(applied) == 0 {
			return fmt.Sprintf("schema at migration %d, current", want), nil
		}
		return fmt.Sprintf("schema at migration %d, migrated to %d (applied %v)", rep.SchemaVersion, want, applied), nil
	}) && step("keys", func() (string, error) {
		pub, err = pgCommandKey(ctx, reg, opt, &rep)
		return fmt.Sprintf("command-signing key %s", rep.CommandKey), err
	}) && step("audit", func() (string, error) {
		res, err := reg.VerifyAudit(ctx, pub, nil, audit.Options{})
		if err != nil {
			return "", err
		}
		rep.Audit = &res
		if err := res.Err(); err != nil {
			return "", err
		}
		return fmt.Sprintf("%d entries verified with the command-signing key, head %d, %d signed checkpoints, covered through entry %d",
			res.Entries, res.HeadSeq, res.Checkpoints, res.Covered), nil
	})
	return rep
}

// pgCommandKey is the key the audit chain is verified with: unsealed from
// the dump's shared_keys with the key file, or the given public key (which
// an unsealed key must equal).
func pgCommandKey(ctx context.Context, reg *registry.Registry, opt PGOptions, rep *Report) (ed25519.PublicKey, error) {
	pub := opt.PublicKey
	if opt.KeyFile != "" {
		id, err := pki.LoadKeyFile(opt.KeyFile)
		if err != nil {
			return nil, err
		}
		held, found, err := reg.LoadSharedKeys(ctx)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, errors.New("the dump holds no shared keys (shared_keys is empty): give the command-signing key with --public-key")
		}
		bundle, err := pki.OpenBundle(held.Sealed, id)
		if err != nil {
			return nil, err
		}
		if rep.CAFingerprint, err = bundle.Fingerprint(); err != nil {
			return nil, err
		}
		key, err := pki.ParseCommandKeyPEM(bundle.CommandKey)
		if err != nil {
			return nil, err
		}
		if pub != nil && !key.Public.Equal(pub) {
			return nil, fmt.Errorf("the dump's command-signing key %s is not the expected %s (--public-key)", key.PublicBase64(), base64Key(pub))
		}
		pub = key.Public
	}
	if pub == nil {
		return nil, errors.New("no command-signing key to verify the audit chain with: give the collectors' key file (--key-file) or the public key (--public-key)")
	}
	rep.CommandKey = base64Key(pub)
	return pub, nil
}

func isAgeFile(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("open dump: %w", err)
	}
	defer f.Close()
	head := make([]byte, len(ageHeader))
	n, _ := io.ReadFull(f, head)
	return string(head[:n]) == ageHeader, nil
}

func decryptFile(src, dst string, keys *Keys) (string, error) {
	if keys == nil {
		return "", fmt.Errorf("%s is age-encrypted: give the identity file (--identity)", src)
	}
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	dec, err := age.Decrypt(bufio.NewReaderSize(in, 1<<20), keys.Identities...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return "", fmt.Errorf("%s is not encrypted to any identity in %s", src, keys.Name)
		}
		return "", fmt.Errorf("decrypt %s: %w", src, err)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	n, err := io.Copy(out, dec)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("decrypt %s: the encrypted data does not authenticate (the file was altered or damaged): %w", src, err)
	}
	return fmt.Sprintf("decrypted with %s (%d bytes)", keys.Name, n), nil
}

// withDatabase is dsn (a URL or key=value string) naming database db.
func withDatabase(dsn, db string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("scratch dsn: %w", err)
		}
		u.Path = "/" + db
		return u.String(), nil
	}
	return dsn + " dbname=" + db, nil
}

func dropDatabase(ctx context.Context, admin *sql.DB, name string) {
	// WITH (FORCE) ends connections a failed check left behind.
	_, _ = admin.ExecContext(context.WithoutCancel(ctx), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
}

// describePG is describe for a PostgreSQL database.
func describePG(ctx context.Context, db *sql.DB) (Manifest, error) {
	m := Manifest{Engine: "postgres", Tables: map[string]int64{}}
	rows, err := db.QueryContext(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		return m, fmt.Errorf("list tables: %w", err)
	}
	tables, err := scanStrings(rows)
	if err != nil {
		return m, fmt.Errorf("list tables: %w", err)
	}
	return m, fillManifest(ctx, db, tables, &m)
}
