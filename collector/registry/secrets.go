package registry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Secret is an enrolment secret's record (never the secret itself).
type Secret struct {
	ID        string     `json:"id"`
	Label     string     `json:"label"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	MaxUses   int        `json:"max_uses"`
	Uses      int        `json:"uses"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// randomToken is prefix + 32 random bytes in unpadded base64url.
func randomToken(prefix string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// hashToken is what is stored: SHA-256 suffices because the tokens carry
// 256 random bits, so there is nothing to brute-force.
func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// CreateSecret makes an enrolment secret. expiresIn 0 means it never
// expires; maxUses 0 means no use limit. The secret is returned once.
func (r *Registry) CreateSecret(ctx context.Context, label string, expiresIn time.Duration, maxUses int, now time.Time) (Secret, string, error) {
	if expiresIn < 0 || maxUses < 0 {
		return Secret{}, "", fmt.Errorf("create secret: %w", ErrInvalid.Errorf("negative expiry or use limit"))
	}
	if err := checkText("label", label, false); err != nil {
		return Secret{}, "", fmt.Errorf("create secret: %w", err)
	}
	plain, err := randomToken("rse_")
	if err != nil {
		return Secret{}, "", err
	}
	s := Secret{ID: uuid.NewString(), Label: label, CreatedAt: now.UTC(), MaxUses: maxUses}
	if expiresIn > 0 {
		exp := now.Add(expiresIn).UTC()
		s.ExpiresAt = &exp
	}
	err = r.Write(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO enrol_secrets (id, label, hash, created_at, expires_at, max_uses) VALUES ($1, $2, $3, $4, $5, $6)`,
			s.ID, s.Label, hashToken(plain), fmtTime(now), nullTime(s.ExpiresAt), s.MaxUses)
		if err != nil {
			return err
		}
		return r.audit(ctx, tx, "secret.created", "secret:"+s.ID, map[string]any{"label": s.Label, "expires_at": nullTime(s.ExpiresAt), "max_uses": s.MaxUses})
	})
	if err != nil {
		return Secret{}, "", fmt.Errorf("create secret: %w", err)
	}
	return s, plain, nil
}

const secretCols = `id, label, created_at, expires_at, max_uses, uses, revoked_at`

func scanSecret(row interface{ Scan(...any) error }) (Secret, error) {
	var s Secret
	var created string
	var exp, rev sql.NullString
	if err := row.Scan(&s.ID, &s.Label, &created, &exp, &s.MaxUses, &s.Uses, &rev); err != nil {
		return Secret{}, err
	}
	s.CreatedAt = parseTime(created)
	s.ExpiresAt, s.RevokedAt = timePtr(exp), timePtr(rev)
	return s, nil
}

// ListSecrets returns every enrolment secret's record, newest first.
func (r *Registry) ListSecrets(ctx context.Context) ([]Secret, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT `+secretCols+` FROM enrol_secrets ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	defer rows.Close()
	out := []Secret{}
	for rows.Next() {
		s, err := scanSecret(rows)
		if err != nil {
			return nil, fmt.Errorf("list secrets: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	return out, nil
}

// RevokeSecret revokes a secret (a second revoke keeps the first time) and
// returns its record.
func (r *Registry) RevokeSecret(ctx context.Context, id string, now time.Time) (Secret, error) {
	var s Secret
	err := r.Write(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE enrol_secrets SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2`, fmtTime(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound.Errorf("no enrolment secret %s", id)
		}
		s, err = scanSecret(tx.QueryRowContext(ctx, `SELECT `+secretCols+` FROM enrol_secrets WHERE id = $1`, id))
		if err != nil {
			return err
		}
		return r.audit(ctx, tx, "secret.revoked", "secret:"+id, map[string]any{"label": s.Label})
	})
	if err != nil {
		return Secret{}, fmt.Errorf("revoke secret %s: %w", id, err)
	}
	return s, nil
}

// useSecret checks and consumes one use of an enrolment secret inside tx.
func useSecret(ctx context.Context, tx *Tx, plain string, now time.Time) error {
	var id string
	var exp, rev sql.NullString
	var maxUses, uses int
	err := tx.QueryRowContext(ctx, `SELECT id, expires_at, max_uses, uses, revoked_at FROM enrol_secrets WHERE hash = $1`, hashToken(plain)).
		Scan(&id, &exp, &maxUses, &uses, &rev)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrSecretInvalid.Errorf("enrolment secret unknown")
	}
	if err != nil {
		return err
	}
	switch {
	case rev.Valid:
		return ErrSecretInvalid.Errorf("enrolment secret revoked")
	case exp.Valid && !now.Before(parseTime(exp.String)):
		return ErrSecretInvalid.Errorf("enrolment secret expired")
	case maxUses > 0 && uses >= maxUses:
		return ErrSecretInvalid.Errorf("enrolment secret used up")
	}
	_, err = tx.ExecContext(ctx, `UPDATE enrol_secrets SET uses = uses + 1 WHERE id = $1`, id)
	return err
}
