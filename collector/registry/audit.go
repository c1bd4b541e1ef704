package registry

// The audit log's storage: every change appends one entry in the same
// transaction as the change (audit), denied requests and sensitive reads
// append in a transaction of their own (AuditOutside), the collector signs
// the head at intervals (Checkpoint) and VerifyAudit streams the chain
// through collector/audit's verifier.

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/audit"
)

// auditDetail renders detail for an entry: a string as is, anything else
// as compact JSON (map keys sorted, so the text is stable).
func auditDetail(detail any) string {
	switch d := detail.(type) {
	case nil:
		return ""
	case string:
		return d
	}
	b, err := json.Marshal(detail)
	if err != nil {
		return fmt.Sprintf("%v", detail)
	}
	return string(b)
}

// audit appends one entry for a change made in tx by the actor ctx carries
// (the collector itself when none). It is called inside the change's own
// transaction, so the change and its record commit or vanish together.
func (r *Registry) audit(ctx context.Context, tx txn, action, target string, detail any) error {
	_, err := appendAudit(ctx, tx, access.ActorFrom(ctx), action, target, audit.OK, auditDetail(detail), time.Now())
	return err
}

// txn is what appending to the audit log needs of a write transaction:
// a *Tx, or the *sql.Tx inside one.
type txn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func appendAudit(ctx context.Context, tx txn, a access.Actor, action, target, outcome, detail string, now time.Time) (audit.Entry, error) {
	e := audit.Entry{
		At: now.UTC(), PrincipalID: a.ID, PrincipalName: a.Name, PrincipalKind: a.Kind, Role: string(a.Role),
		Source: a.Source, RequestID: a.RequestID, Action: action, Target: target, Outcome: outcome, Detail: detail,
	}
	var prev audit.Entry
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&prev.Seq, &prev.Hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		e.Seal(nil)
	case err != nil:
		return audit.Entry{}, fmt.Errorf("audit %s: read chain head: %w", action, err)
	default:
		e.Seal(&prev)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_log (seq, at, principal_id, principal_name, principal_kind, role, source, request_id, action, target, outcome, detail, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		e.Seq, fmtTime(e.At), e.PrincipalID, e.PrincipalName, e.PrincipalKind, e.Role, e.Source, e.RequestID, e.Action, e.Target, e.Outcome, e.Detail, e.PrevHash, e.Hash)
	if err != nil {
		return audit.Entry{}, fmt.Errorf("audit %s: %w", action, err)
	}
	return e, nil
}

// AuditOutside appends an entry in a transaction of its own: a denied
// request (outcome audit.Denied), a sensitive read, a sign-off, a failed
// attempt. The actor is the one ctx carries.
func (r *Registry) AuditOutside(ctx context.Context, action, target, outcome string, detail any) error {
	_, err := r.Record(ctx, action, target, outcome, detail)
	return err
}

// Record is AuditOutside returning the entry written, for an answer that
// names it (a sign-off).
func (r *Registry) Record(ctx context.Context, action, target, outcome string, detail any) (audit.Entry, error) {
	var e audit.Entry
	err := r.Write(ctx, func(tx *Tx) error {
		var err error
		e, err = appendAudit(ctx, tx, access.ActorFrom(ctx), action, target, outcome, auditDetail(detail), time.Now())
		return err
	})
	return e, err
}

// AuditFilter selects audit entries; zero fields match everything.
type AuditFilter struct {
	Since, Until time.Time
	// Principal matches the principal's id or name.
	Principal string
	// Action matches exactly or, ending in '*', by prefix ("wipe.*").
	Action string
	Target string
	// AfterSeq pages: entries with a greater sequence.
	AfterSeq int64
	Limit    int
}

const auditCols = `seq, at, principal_id, principal_name, principal_kind, role, source, request_id, action, target, outcome, detail, prev_hash, hash`

func scanAudit(row interface{ Scan(...any) error }) (audit.Entry, error) {
	var e audit.Entry
	var at string
	err := row.Scan(&e.Seq, &at, &e.PrincipalID, &e.PrincipalName, &e.PrincipalKind, &e.Role, &e.Source, &e.RequestID,
		&e.Action, &e.Target, &e.Outcome, &e.Detail, &e.PrevHash, &e.Hash)
	e.At = parseTime(at)
	return e, err
}

// ListAudit returns entries in sequence order with the cursor of the next
// page (0: none).
func (r *Registry) ListAudit(ctx context.Context, f AuditFilter) ([]audit.Entry, int64, error) {
	q := query{}
	if !f.Since.IsZero() {
		q.add("at >= ?", fmtTime(f.Since))
	}
	if !f.Until.IsZero() {
		q.add("at < ?", fmtTime(f.Until))
	}
	if f.Principal != "" {
		q.add("(principal_id = ? OR principal_name = ?)", f.Principal, f.Principal)
	}
	if f.Action != "" {
		if prefix, ok := strings.CutSuffix(f.Action, "*"); ok && prefix != "" {
			// A range, not substr(), so the action index serves it: every
			// action with the prefix sorts between it and the prefix with
			// its last byte incremented.
			q.add("action >= ? AND action < ?", prefix, prefix[:len(prefix)-1]+string(prefix[len(prefix)-1]+1))
		} else {
			q.add("action = ?", f.Action)
		}
	}
	if f.Target != "" {
		q.add("target = ?", f.Target)
	}
	if f.AfterSeq > 0 {
		q.add("seq > ?", f.AfterSeq)
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := r.db.QueryContext(ctx, `SELECT `+auditCols+` FROM audit_log`+q.sql()+` ORDER BY seq`+q.limitArg(limit+1), q.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list audit log: %w", err)
	}
	defer rows.Close()
	out := []audit.Entry{}
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list audit log: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list audit log: %w", err)
	}
	var next int64
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].Seq
	}
	return out, next, nil
}

// Checkpoint signs the chain's head when it moved since the last
// checkpoint, and returns the checkpoint (nil when nothing was new).
func (r *Registry) Checkpoint(ctx context.Context, keyID string, sign func([]byte) string, now time.Time) (*audit.Checkpoint, error) {
	var cp *audit.Checkpoint
	err := r.Write(ctx, func(tx *Tx) error {
		cp = nil // a retried run may find the head already signed
		var head audit.Entry
		err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&head.Seq, &head.Hash)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		var last sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT max(seq) FROM audit_checkpoints`).Scan(&last); err != nil {
			return err
		}
		if last.Valid && last.Int64 >= head.Seq {
			return nil
		}
		c := audit.Sign(head.Seq, head.Hash, now, keyID, sign)
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES ($1, $2, $3, $4, $5)`,
			c.Seq, c.Hash, fmtTime(c.At), c.KeyID, c.Signature); err != nil {
			return err
		}
		cp = &c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	return cp, nil
}

// AuditCheckpoints returns every stored checkpoint in order.
func (r *Registry) AuditCheckpoints(ctx context.Context) ([]audit.Checkpoint, error) {
	return checkpointsIn(ctx, r.db)
}

func checkpointsIn(ctx context.Context, q Querier) ([]audit.Checkpoint, error) {
	rows, err := q.QueryContext(ctx, `SELECT seq, hash, at, key_id, signature FROM audit_checkpoints ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoints: %w", err)
	}
	defer rows.Close()
	var out []audit.Checkpoint
	for rows.Next() {
		var c audit.Checkpoint
		var at string
		if err := rows.Scan(&c.Seq, &c.Hash, &at, &c.KeyID, &c.Signature); err != nil {
			return nil, fmt.Errorf("read audit checkpoints: %w", err)
		}
		c.At = parseTime(at)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit checkpoints: %w", err)
	}
	return out, nil
}

// VerifyAudit streams the whole chain through the verifier with the stored
// checkpoints plus extra ones the caller kept elsewhere (a witness copy), so
// deleting the checkpoints table does not hide a rewrite from them.
func (r *Registry) VerifyAudit(ctx context.Context, pub ed25519.PublicKey, extra []audit.Checkpoint, opt audit.Options) (audit.Result, error) {
	return verifyIn(ctx, r.db, pub, extra, opt)
}

// VerifyAuditIn is VerifyAudit over the tables q sees, for a chain that is
// not yet committed (a store being moved) and so not visible to a
// Registry's own connections.
func VerifyAuditIn(ctx context.Context, q Querier, pub ed25519.PublicKey, opt audit.Options) (audit.Result, error) {
	return verifyIn(ctx, q, pub, nil, opt)
}

func verifyIn(ctx context.Context, q Querier, pub ed25519.PublicKey, extra []audit.Checkpoint, opt audit.Options) (audit.Result, error) {
	cps, err := checkpointsIn(ctx, q)
	if err != nil {
		return audit.Result{}, err
	}
	v := audit.NewVerifier(pub, append(cps, extra...), opt)
	rows, err := q.QueryContext(ctx, `SELECT `+auditCols+` FROM audit_log ORDER BY seq`)
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
