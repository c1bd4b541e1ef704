package backup

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
)

// Report is a restore test's result: what was checked, with counts and
// durations. Printed as text or JSON, it is the evidence that the backup
// restores.
type Report struct {
	File      string    `json:"file"`
	CheckedAt time.Time `json:"checked_at"`
	// Host and By say where and by whom the test was run (the command
	// fills them in).
	Host string `json:"host,omitempty"`
	By   string `json:"by,omitempty"`
	// Backup is what the backup's manifest says of itself.
	CreatedAt        time.Time `json:"created_at,omitzero"`
	CollectorVersion string    `json:"collector_version,omitempty"`
	SchemaVersion    int       `json:"schema_version,omitempty"`
	// MigratedTo is the schema the restored copy was brought to.
	MigratedTo int `json:"migrated_to,omitempty"`
	// Members and Bytes are the files restored (the manifest aside).
	Members int   `json:"members,omitempty"`
	Bytes   int64 `json:"bytes,omitempty"`
	// Tables are the restored copy's row counts.
	Tables        map[string]int64 `json:"tables,omitempty"`
	Audit         *audit.Result    `json:"audit,omitempty"`
	CAFingerprint string           `json:"ca_fingerprint,omitempty"`
	CommandKey    string           `json:"command_key,omitempty"`
	Checks        []Check          `json:"checks"`
	DurationMS    int64            `json:"duration_ms"`
	OK            bool             `json:"ok"`
	// Problem is the failed check's message.
	Problem string `json:"problem,omitempty"`
}

// Check is one step of a restore test.
type Check struct {
	Name       string `json:"name"`
	OK         bool   `json:"ok"`
	Detail     string `json:"detail"`
	DurationMS int64  `json:"duration_ms"`
}

// CheckOptions tune Verify.
type CheckOptions struct {
	// PublicKey, when set, is the command-signing public key the backup's
	// own key must equal (kept apart from the backup by whoever checks).
	PublicKey ed25519.PublicKey
	// Parent is where the backup is extracted (default: the system's
	// temporary directory).
	Parent string
	Now    func() time.Time
	Logger *slog.Logger
}

// Verify decrypts and extracts file and runs every restore check on it. It
// returns the extracted backup for a restore to install when every check
// passed (the caller removes it); otherwise nil, and nothing is left.
func Verify(ctx context.Context, file string, keys Keys, opt CheckOptions) (x *Extracted, rep Report) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	start := opt.Now()
	rep = Report{File: file, CheckedAt: start.UTC()}
	step := rep.step
	defer func() { rep.DurationMS = opt.Now().Sub(start).Milliseconds(); rep.OK = rep.Problem == "" }()

	t := time.Now()
	x, openErr := Open(ctx, file, keys, opt.Parent)
	if openErr != nil {
		name := "decrypt"
		var of *openFailure
		if errors.As(openErr, &of) {
			name = of.check
		}
		rep.Checks = append(rep.Checks, Check{Name: name, Detail: openErr.Error(), DurationMS: time.Since(t).Milliseconds()})
		rep.Problem = name + ": " + openErr.Error()
		return nil, rep
	}
	m := x.Manifest
	rep.CreatedAt, rep.CollectorVersion, rep.SchemaVersion = m.CreatedAt, m.CollectorVersion, m.SchemaVersion
	rep.Members = len(x.Members)
	for _, mem := range x.Members {
		rep.Bytes += mem.Size
	}
	rep.Checks = append(rep.Checks, Check{Name: "decrypt", OK: true, DurationMS: time.Since(t).Milliseconds(),
		Detail: fmt.Sprintf("decrypted with %s and extracted %d members and the manifest (%d bytes); backup made %s by collector %s",
			keys.Name, rep.Members, rep.Bytes, m.CreatedAt.Format(time.RFC3339), m.CollectorVersion)})

	ok := step("members", func() (string, error) { return checkMembers(m.Members, x.Members) }) &&
		step("keys", func() (string, error) {
			var err error
			rep.CAFingerprint, rep.CommandKey, err = checkKeys(x.PKIPath(), opt.PublicKey)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("CA %s and command-signing key %s load", rep.CAFingerprint, rep.CommandKey), nil
		})
	var restored Manifest
	ok = ok && step("integrity", func() (string, error) {
		db, err := openSQLite(ctx, x.DBPath())
		if err != nil {
			return "", fmt.Errorf("open the restored database: %w", err)
		}
		defer db.Close()
		if err := integrity(ctx, db); err != nil {
			return "", err
		}
		if restored, err = describe(ctx, db); err != nil {
			return "", err
		}
		return "PRAGMA integrity_check: ok; PRAGMA foreign_key_check: no violations", nil
	}) && step("counts", func() (string, error) {
		rep.Tables = restored.Tables
		return compareCounts(m, restored)
	})
	if !ok {
		x.Remove()
		return nil, rep
	}
	var reg *registry.Registry
	defer func() {
		if reg != nil {
			reg.Close()
		}
	}()
	ok = step("migrations", func() (string, error) {
		want, err := registry.SchemaVersion(registry.EngineSQLite)
		if err != nil {
			return "", err
		}
		if m.SchemaVersion > want {
			return "", fmt.Errorf("the backup's schema is at migration %d, newer than this collector's %d: verify or restore it with a collector at least as new as %s", m.SchemaVersion, want, m.CollectorVersion)
		}
		if reg, err = registry.Open(ctx, x.DBPath(), opt.Logger); err != nil {
			return "", err
		}
		applied, err := reg.Migrate(ctx)
		if err != nil {
			return "", fmt.Errorf("the backup's schema (migration %d) does not migrate: %w", m.SchemaVersion, err)
		}
		if err := reg.Ready(ctx); err != nil {
			return "", err
		}
		rep.MigratedTo = want
		if len(applied) == 0 {
			return fmt.Sprintf("schema at migration %d, current", want), nil
		}
		return fmt.Sprintf("schema at migration %d, migrated to %d (applied %v)", m.SchemaVersion, want, applied), nil
	}) && step("audit", func() (string, error) {
		key, err := pki.LoadCommandKey(x.PKIPath())
		if err != nil {
			return "", err
		}
		res, err := reg.VerifyAudit(ctx, key.Public, manifestCheckpoint(m), audit.Options{})
		if err != nil {
			return "", err
		}
		rep.Audit = &res
		if err := res.Err(); err != nil {
			return "", err
		}
		if res.HeadSeq < m.Audit.HeadSeq {
			return "", fmt.Errorf("the chain ends at entry %d, the manifest's head is %d", res.HeadSeq, m.Audit.HeadSeq)
		}
		return fmt.Sprintf("%d entries verified with the backup's command-signing key, head %d, %d signed checkpoints, covered through entry %d",
			res.Entries, res.HeadSeq, res.Checkpoints, res.Covered), nil
	})
	if reg != nil {
		reg.Close()
		reg = nil
	}
	if !ok {
		x.Remove()
		return nil, rep
	}
	return x, rep
}

// step runs one check, records it with its duration and, when it fails,
// makes its error the report's problem; it says whether the check passed.
func (rep *Report) step(name string, fn func() (string, error)) bool {
	t := time.Now()
	detail, err := fn()
	c := Check{Name: name, OK: err == nil, Detail: detail, DurationMS: time.Since(t).Milliseconds()}
	if err != nil {
		c.Detail = err.Error()
		rep.Problem = name + ": " + err.Error()
	}
	rep.Checks = append(rep.Checks, c)
	return err == nil
}

// manifestCheckpoint is the manifest's newest checkpoint as a witness: the
// chain must agree with it too.
func manifestCheckpoint(m Manifest) []audit.Checkpoint {
	if m.Audit.Checkpoint == nil {
		return nil
	}
	return []audit.Checkpoint{*m.Audit.Checkpoint}
}

// checkMembers compares what was extracted with the manifest's list.
func checkMembers(want, got []Member) (string, error) {
	byName := map[string]Member{}
	for _, g := range got {
		byName[g.Name] = g
	}
	var bytes int64
	for _, w := range want {
		g, ok := byName[w.Name]
		if !ok {
			return "", fmt.Errorf("member %s is listed in the manifest but missing", w.Name)
		}
		delete(byName, w.Name)
		if g.SHA256 != w.SHA256 || g.Size != w.Size {
			return "", fmt.Errorf("member %s does not match the manifest: SHA-256 %s (%d bytes), manifest %s (%d bytes)", w.Name, g.SHA256, g.Size, w.SHA256, w.Size)
		}
		bytes += g.Size
	}
	if len(byName) > 0 {
		return "", fmt.Errorf("members not in the manifest: %s", strings.Join(slices.Sorted(maps.Keys(byName)), ", "))
	}
	if _, ok := byNameOf(want)[DBName]; !ok {
		return "", fmt.Errorf("the backup holds no %s", DBName)
	}
	return fmt.Sprintf("%d members match their SHA-256 in the manifest (%d bytes)", len(want), bytes), nil
}

func byNameOf(ms []Member) map[string]Member {
	out := map[string]Member{}
	for _, m := range ms {
		out[m.Name] = m
	}
	return out
}

// checkKeys loads the CA and the command-signing key from dir and, when
// want is set, compares the command key with it.
func checkKeys(dir string, want ed25519.PublicKey) (fingerprint, commandKey string, err error) {
	ca, err := pki.Load(dir)
	if err != nil {
		return "", "", fmt.Errorf("the backup's CA does not load: %w", err)
	}
	key, err := pki.LoadCommandKey(dir)
	if err != nil {
		return "", "", fmt.Errorf("the backup's command-signing key does not load: %w", err)
	}
	if want != nil && !key.Public.Equal(want) {
		return "", "", fmt.Errorf("the backup's command-signing key %s is not the expected %s (--public-key)", key.PublicBase64(), base64Key(want))
	}
	return ca.Fingerprint(), key.PublicBase64(), nil
}

// integrity runs SQLite's own consistency checks on the restored copy.
func integrity(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return fmt.Errorf("PRAGMA integrity_check: %w", err)
	}
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return fmt.Errorf("PRAGMA integrity_check: %w", err)
		}
		if s != "ok" && len(problems) < 5 {
			problems = append(problems, s)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("PRAGMA integrity_check: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("PRAGMA integrity_check: %s", strings.Join(problems, "; "))
	}
	rows, err = db.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return fmt.Errorf("PRAGMA foreign_key_check: %w", err)
	}
	defer rows.Close()
	if rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fkid int
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return fmt.Errorf("PRAGMA foreign_key_check: %w", err)
		}
		return fmt.Errorf("PRAGMA foreign_key_check: row %d of %s refers to a missing %s row", rowid.Int64, table, parent)
	}
	return rows.Err()
}

// compareCounts compares the restored copy's rows and audit head with
// the manifest's.
func compareCounts(want, got Manifest) (string, error) {
	var total int64
	for _, t := range slices.Sorted(maps.Keys(want.Tables)) {
		n, ok := got.Tables[t]
		if !ok {
			return "", fmt.Errorf("table %s (%d rows in the manifest) is missing", t, want.Tables[t])
		}
		if n != want.Tables[t] {
			return "", fmt.Errorf("table %s has %d rows, the manifest says %d", t, n, want.Tables[t])
		}
		total += n
	}
	for t := range got.Tables {
		if _, ok := want.Tables[t]; !ok {
			return "", fmt.Errorf("table %s is not in the manifest", t)
		}
	}
	if got.SchemaVersion != want.SchemaVersion || !slices.Equal(got.Migrations, want.Migrations) {
		return "", fmt.Errorf("migrations applied %v, the manifest says %v", got.Migrations, want.Migrations)
	}
	if got.Audit.HeadSeq != want.Audit.HeadSeq || got.Audit.HeadHash != want.Audit.HeadHash {
		return "", fmt.Errorf("audit log head is entry %d %s, the manifest says %d %s", got.Audit.HeadSeq, got.Audit.HeadHash, want.Audit.HeadSeq, want.Audit.HeadHash)
	}
	return fmt.Sprintf("%d tables, %d rows, audit head %d: as in the manifest", len(want.Tables), total, want.Audit.HeadSeq), nil
}

func base64Key(k ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(k) }
