package registry

// What `roster-collector migrate-store` needs from the registry to move it
// between engines: the schema version this binary writes, and the audit
// chain verified inside the move's uncommitted transaction, so that a copy
// that does not verify is rolled back rather than found later.

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"

	"github.com/rosterhq/roster/collector/audit"
)

// SchemaVersion is the newest migration this binary has for engine
// (EngineSQLite or EnginePostgres): the schema version OpenStore brings a
// store to.
func SchemaVersion(engine string) (int, error) {
	ms, err := migrations(engine)
	if err != nil {
		return 0, err
	}
	if len(ms) == 0 {
		return 0, fmt.Errorf("no migrations for engine %q", engine)
	}
	return ms[len(ms)-1].version, nil
}

// Querier is what VerifyAuditIn reads through: a *sql.DB or a *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// VerifyAuditIn is VerifyAudit over the tables q sees, for a chain that is
// not yet committed (a store being moved) and so not visible to a
// Registry's own connections.
func VerifyAuditIn(ctx context.Context, q Querier, pub ed25519.PublicKey, opt audit.Options) (audit.Result, error) {
	var cps []audit.Checkpoint
	rows, err := q.QueryContext(ctx, `SELECT seq, hash, at, key_id, signature FROM audit_checkpoints ORDER BY seq`)
	if err != nil {
		return audit.Result{}, fmt.Errorf("read audit checkpoints: %w", err)
	}
	for rows.Next() {
		var c audit.Checkpoint
		var at string
		if err := rows.Scan(&c.Seq, &c.Hash, &at, &c.KeyID, &c.Signature); err != nil {
			rows.Close()
			return audit.Result{}, fmt.Errorf("read audit checkpoints: %w", err)
		}
		c.At = parseTime(at)
		cps = append(cps, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return audit.Result{}, fmt.Errorf("read audit checkpoints: %w", err)
	}
	v := audit.NewVerifier(pub, cps, opt)
	rows, err = q.QueryContext(ctx, `SELECT `+auditCols+` FROM audit_log ORDER BY seq`)
	if err != nil {
		return audit.Result{}, fmt.Errorf("verify audit log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return audit.Result{}, fmt.Errorf("verify audit log: %w", err)
		}
		if !v.Add(e) {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return audit.Result{}, fmt.Errorf("verify audit log: %w", err)
	}
	return v.Finish(), nil
}
