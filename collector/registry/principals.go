package registry

// Principals and their API tokens: who may call the API, with which role,
// until when, and when each token was last used. A token is only ever
// stored as its SHA-256; the plaintext is returned once, at creation or
// rotation.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/collector/access"
)

// Token lifetimes.
const (
	DefaultTokenLifetime   = 90 * 24 * time.Hour
	BootstrapTokenLifetime = 24 * time.Hour
	// MaxTokenLifetime bounds any token: a credential nobody reviews for
	// over a year is one an access review cannot vouch for.
	MaxTokenLifetime = 366 * 24 * time.Hour
	// lastUseEvery throttles the last-use write: one per minute per token
	// (or at once when the address changes) keeps reads from turning into
	// writes.
	lastUseEvery = time.Minute
)

// Token statuses as the API shows them.
const (
	TokenActive  = "active"
	TokenExpired = "expired"
	TokenRevoked = "revoked"
)

// TokenRecord is an API token's record, never the token (API keys).
type TokenRecord struct {
	ID            string      `json:"id"`
	PrincipalID   string      `json:"principal_id"`
	Principal     string      `json:"principal"`
	Kind          string      `json:"kind"`
	Email         string      `json:"email"`
	Role          access.Role `json:"role"`
	Description   string      `json:"description"`
	CreatedAt     time.Time   `json:"created_at"`
	CreatedBy     string      `json:"created_by"`
	ExpiresAt     time.Time   `json:"expires_at"`
	LastUsedAt    *time.Time  `json:"last_used_at"`
	LastUsedFrom  string      `json:"last_used_from"`
	RevokedAt     *time.Time  `json:"revoked_at"`
	RevokedBy     string      `json:"revoked_by"`
	RotatedFrom   string      `json:"rotated_from"`
	Status        string      `json:"status"`
	PrincipalDown bool        `json:"principal_disabled"`
}

// TokenInput creates a token for a principal, creating the principal when
// it does not exist yet (then Role is required).
type TokenInput struct {
	Principal   string
	Kind        string
	Email       string
	Role        string
	Description string
	// ExpiresIn 0 means DefaultTokenLifetime.
	ExpiresIn time.Duration
}

const tokenSelect = `SELECT t.id, t.principal_id, p.name, p.kind, p.email, p.role, t.description, t.created_at, t.created_by,
	coalesce(t.expires_at, ''), t.last_used_at, t.last_used_from, t.revoked_at, t.revoked_by, t.rotated_from, p.disabled_at
	FROM api_tokens t JOIN principals p ON p.id = t.principal_id`

func scanToken(row interface{ Scan(...any) error }, now time.Time) (TokenRecord, error) {
	var t TokenRecord
	var role, created, expires string
	var used, revoked, disabled sql.NullString
	if err := row.Scan(&t.ID, &t.PrincipalID, &t.Principal, &t.Kind, &t.Email, &role, &t.Description, &created, &t.CreatedBy,
		&expires, &used, &t.LastUsedFrom, &revoked, &t.RevokedBy, &t.RotatedFrom, &disabled); err != nil {
		return TokenRecord{}, err
	}
	t.Role = access.Role(role)
	t.CreatedAt, t.ExpiresAt = parseTime(created), parseTime(expires)
	t.LastUsedAt, t.RevokedAt = timePtr(used), timePtr(revoked)
	t.PrincipalDown = disabled.Valid
	switch {
	case t.RevokedAt != nil:
		t.Status = TokenRevoked
	case !now.Before(t.ExpiresAt):
		t.Status = TokenExpired
	default:
		t.Status = TokenActive
	}
	return t, nil
}

func tokenByID(ctx context.Context, q querier, id string, now time.Time) (TokenRecord, error) {
	t, err := scanToken(q.QueryRowContext(ctx, tokenSelect+` WHERE t.id = $1`, id), now)
	if errors.Is(err, sql.ErrNoRows) {
		return TokenRecord{}, ErrNotFound.Errorf("no token %s", id)
	}
	return t, err
}

// CreateToken makes a token for in.Principal and returns its record and
// the token, which is never seen again.
func (r *Registry) CreateToken(ctx context.Context, in TokenInput, now time.Time) (TokenRecord, string, error) {
	in.Principal, in.Email = strings.TrimSpace(in.Principal), strings.TrimSpace(in.Email)
	bad := func(format string, a ...any) (TokenRecord, string, error) {
		return TokenRecord{}, "", fmt.Errorf("create token: %w", ErrInvalid.Errorf(format, a...))
	}
	if in.Principal == "" {
		return bad("a principal name is required")
	}
	for field, v := range map[string]string{"principal": in.Principal, "email": in.Email, "description": in.Description} {
		if err := checkText(field, v, false); err != nil {
			return TokenRecord{}, "", fmt.Errorf("create token: %w", err)
		}
	}
	if in.ExpiresIn == 0 {
		in.ExpiresIn = DefaultTokenLifetime
	}
	if in.ExpiresIn < 0 || in.ExpiresIn > MaxTokenLifetime {
		return bad("expiry must be between now and %d days", int(MaxTokenLifetime/(24*time.Hour)))
	}
	var role access.Role
	if in.Role != "" {
		var err error
		if role, err = access.ParseRole(in.Role); err != nil {
			return bad("%v", err)
		}
	}
	if in.Kind == "" {
		in.Kind = access.KindPerson
	}
	if in.Kind != access.KindPerson && in.Kind != access.KindAutomation {
		return bad("kind %q: want person or automation", in.Kind)
	}
	plain, err := randomToken("rst_")
	if err != nil {
		return TokenRecord{}, "", err
	}
	id := uuid.NewString()
	err = r.Write(ctx, func(tx *Tx) error {
		pid, err := r.ensurePrincipal(ctx, tx, in, role, now)
		if err != nil {
			return err
		}
		by := access.ActorFrom(ctx).Name
		_, err = tx.ExecContext(ctx, `INSERT INTO api_tokens (id, name, role, hash, created_at, principal_id, expires_at, created_by, description)
			VALUES ($1, $2, '', $3, $4, $5, $6, $7, $8)`,
			id, in.Principal, hashToken(plain), fmtTime(now), pid, fmtTime(now.Add(in.ExpiresIn)), by, in.Description)
		if err != nil {
			return err
		}
		return r.audit(ctx, tx, "token.created", "principal:"+in.Principal, map[string]any{
			"token_id": id, "expires_at": fmtTime(now.Add(in.ExpiresIn)), "description": in.Description})
	})
	if err != nil {
		return TokenRecord{}, "", fmt.Errorf("create token: %w", err)
	}
	t, err := tokenByID(ctx, r.db, id, now)
	return t, plain, err
}

// ensurePrincipal returns the named principal's id, creating it with role
// when absent. An existing principal keeps its role: a token request that
// names another is refused rather than silently changing who may do what.
func (r *Registry) ensurePrincipal(ctx context.Context, tx *Tx, in TokenInput, role access.Role, now time.Time) (string, error) {
	var id, have string
	var disabled sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT id, role, disabled_at FROM principals WHERE name = $1`, in.Principal).Scan(&id, &have, &disabled)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if role == "" {
			return "", ErrInvalid.Errorf("principal %q does not exist yet: give its role", in.Principal)
		}
		id = uuid.NewString()
		_, err := tx.ExecContext(ctx, `INSERT INTO principals (id, name, kind, email, role, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			id, in.Principal, in.Kind, in.Email, string(role), fmtTime(now), access.ActorFrom(ctx).Name)
		if err != nil {
			return "", err
		}
		return id, r.audit(ctx, tx, "principal.created", "principal:"+in.Principal, map[string]any{"kind": in.Kind, "email": in.Email, "role": role})
	case err != nil:
		return "", err
	case disabled.Valid:
		return "", ErrInvalid.Errorf("principal %q is disabled", in.Principal)
	case role != "" && string(role) != have:
		return "", ErrInvalid.Errorf("principal %q has role %s, not %s (change it with rosterctl principals set-role)", in.Principal, have, role)
	}
	return id, nil
}

// AuthenticateToken returns the principal a token belongs to, or
// ErrUnauthenticated (wrapping why: unknown, revoked, expired, disabled)
// and records the token's last use from source.
func (r *Registry) AuthenticateToken(ctx context.Context, token, source string, now time.Time) (access.Principal, error) {
	if !strings.HasPrefix(token, "rst_") {
		return access.Principal{}, ErrUnauthenticated.Errorf("API token refused: not a Roster API token")
	}
	t, err := scanToken(r.db.QueryRowContext(ctx, tokenSelect+` WHERE t.hash = $1`, hashToken(token)), now)
	if errors.Is(err, sql.ErrNoRows) {
		return access.Principal{}, ErrUnauthenticated.Errorf("API token refused: unknown token")
	}
	if err != nil {
		return access.Principal{}, fmt.Errorf("authenticate token: %w", err)
	}
	p := access.Principal{ID: t.PrincipalID, Name: t.Principal, Kind: t.Kind, Role: t.Role, TokenID: t.ID}
	switch {
	case t.Status == TokenRevoked:
		return p, ErrUnauthenticated.Errorf("API token refused: token revoked")
	case t.Status == TokenExpired:
		return p, ErrUnauthenticated.Errorf("API token refused: token expired at %s", t.ExpiresAt.Format(time.RFC3339))
	case t.PrincipalDown:
		return p, ErrUnauthenticated.Errorf("API token refused: principal disabled")
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= lastUseEvery || t.LastUsedFrom != source {
		err := r.Write(ctx, func(tx *Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = $1, last_used_from = $2 WHERE id = $3`, fmtTime(now), source, t.ID)
			return err
		})
		if err != nil {
			return access.Principal{}, fmt.Errorf("authenticate token: record last use: %w", err)
		}
	}
	return p, nil
}

// TokenFilter selects tokens; zero fields match all.
type TokenFilter struct {
	Principal string
	// All includes revoked and expired tokens.
	All bool
}

// ListTokens returns tokens, newest first.
func (r *Registry) ListTokens(ctx context.Context, f TokenFilter, now time.Time) ([]TokenRecord, error) {
	q := query{}
	if f.Principal != "" {
		q.add("(p.name = ? OR p.id = ?)", f.Principal, f.Principal)
	}
	if !f.All {
		q.add("t.revoked_at IS NULL AND t.expires_at > ?", fmtTime(now))
	}
	rows, err := r.db.QueryContext(ctx, tokenSelect+q.sql()+` ORDER BY t.created_at DESC, t.id`, q.args...)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	out := []TokenRecord{}
	for rows.Next() {
		t, err := scanToken(rows, now)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Token returns one token's record.
func (r *Registry) Token(ctx context.Context, id string, now time.Time) (TokenRecord, error) {
	return tokenByID(ctx, r.db, id, now)
}

// RevokeToken revokes a token (a second revoke keeps the first time).
func (r *Registry) RevokeToken(ctx context.Context, id string, now time.Time) (TokenRecord, error) {
	err := r.Write(ctx, func(tx *Tx) error {
		t, err := tokenByID(ctx, tx, id, now)
		if err != nil {
			return err
		}
		if t.RevokedAt != nil {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $1, revoked_by = $2 WHERE id = $3`, fmtTime(now), access.ActorFrom(ctx).Name, id); err != nil {
			return err
		}
		return r.audit(ctx, tx, "token.revoked", "principal:"+t.Principal, map[string]any{"token_id": id})
	})
	if err != nil {
		return TokenRecord{}, fmt.Errorf("revoke token %s: %w", id, err)
	}
	return tokenByID(ctx, r.db, id, now)
}

// RotateToken replaces a token with a new one for the same principal: the
// old one is revoked in the same transaction. expiresIn 0 keeps the old
// token's lifetime.
func (r *Registry) RotateToken(ctx context.Context, id string, expiresIn time.Duration, now time.Time) (TokenRecord, string, error) {
	plain, err := randomToken("rst_")
	if err != nil {
		return TokenRecord{}, "", err
	}
	newID := uuid.NewString()
	err = r.Write(ctx, func(tx *Tx) error {
		old, err := tokenByID(ctx, tx, id, now)
		if err != nil {
			return err
		}
		if old.Status != TokenActive || old.PrincipalDown {
			return ErrInvalid.Errorf("token %s is %s: create a new one instead", id, old.Status)
		}
		if expiresIn == 0 {
			expiresIn = old.ExpiresAt.Sub(old.CreatedAt)
		}
		if expiresIn <= 0 || expiresIn > MaxTokenLifetime {
			return ErrInvalid.Errorf("expiry must be between now and %d days", int(MaxTokenLifetime/(24*time.Hour)))
		}
		by := access.ActorFrom(ctx).Name
		if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $1, revoked_by = $2 WHERE id = $3`, fmtTime(now), by, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO api_tokens (id, name, role, hash, created_at, principal_id, expires_at, created_by, description, rotated_from)
			VALUES ($1, $2, '', $3, $4, $5, $6, $7, $8, $9)`,
			newID, old.Principal, hashToken(plain), fmtTime(now), old.PrincipalID, fmtTime(now.Add(expiresIn)), by, old.Description, id)
		if err != nil {
			return err
		}
		return r.audit(ctx, tx, "token.rotated", "principal:"+old.Principal, map[string]any{"old_token_id": id, "token_id": newID, "expires_at": fmtTime(now.Add(expiresIn))})
	})
	if err != nil {
		return TokenRecord{}, "", fmt.Errorf("rotate token %s: %w", id, err)
	}
	t, err := tokenByID(ctx, r.db, newID, now)
	return t, plain, err
}

// PrincipalRecord is a principal with its tokens (API keys).
type PrincipalRecord struct {
	ID         string        `json:"id"`
	Name       string        `json:"name"`
	Kind       string        `json:"kind"`
	Email      string        `json:"email"`
	Role       access.Role   `json:"role"`
	CreatedAt  time.Time     `json:"created_at"`
	CreatedBy  string        `json:"created_by"`
	DisabledAt *time.Time    `json:"disabled_at"`
	LastUsedAt *time.Time    `json:"last_used_at"`
	Tokens     []TokenRecord `json:"tokens"`
}

// ListPrincipals returns every principal with all its tokens.
func (r *Registry) ListPrincipals(ctx context.Context, now time.Time) ([]PrincipalRecord, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT id, name, kind, email, role, created_at, created_by, disabled_at FROM principals ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list principals: %w", err)
	}
	var out []PrincipalRecord
	idx := map[string]int{}
	for rows.Next() {
		var p PrincipalRecord
		var role, created string
		var disabled sql.NullString
		if err := rows.Scan(&p.ID, &p.Name, &p.Kind, &p.Email, &role, &created, &p.CreatedBy, &disabled); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list principals: %w", err)
		}
		p.Role, p.CreatedAt, p.DisabledAt = access.Role(role), parseTime(created), timePtr(disabled)
		p.Tokens = []TokenRecord{}
		idx[p.ID] = len(out)
		out = append(out, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list principals: %w", err)
	}
	toks, err := r.ListTokens(ctx, TokenFilter{All: true}, now)
	if err != nil {
		return nil, err
	}
	for _, t := range toks {
		i, ok := idx[t.PrincipalID]
		if !ok {
			continue
		}
		p := &out[i]
		p.Tokens = append(p.Tokens, t)
		if t.LastUsedAt != nil && (p.LastUsedAt == nil || t.LastUsedAt.After(*p.LastUsedAt)) {
			p.LastUsedAt = t.LastUsedAt
		}
	}
	return out, nil
}

// SetPrincipalRole changes a principal's role (for every token it holds).
func (r *Registry) SetPrincipalRole(ctx context.Context, name, role string) error {
	ro, err := access.ParseRole(role)
	if err != nil {
		return fmt.Errorf("set role: %w", ErrInvalid.Errorf("%w", err))
	}
	return r.principalChange(ctx, name, "principal.role_changed", map[string]any{"role": ro}, `UPDATE principals SET role = $1 WHERE name = $2`, string(ro), nil)
}

// DisablePrincipal disables a principal: none of its tokens authenticate
// and its web console sessions end.
func (r *Registry) DisablePrincipal(ctx context.Context, name string, now time.Time) error {
	return r.principalChange(ctx, name, "principal.disabled", nil, `UPDATE principals SET disabled_at = coalesce(disabled_at, $1) WHERE name = $2`, fmtTime(now),
		func(tx *Tx, id string) error {
			n, err := endSessions(ctx, tx, id, now)
			if err != nil || n == 0 {
				return err
			}
			return r.audit(ctx, tx, "sessions.ended", "principal:"+name, map[string]any{"sessions": n, "reason": "principal disabled"})
		})
}

// principalChange runs stmt on the named principal and audits it; also,
// when given, makes the change's other writes in the same transaction.
func (r *Registry) principalChange(ctx context.Context, name, action string, detail any, stmt string, arg any, also func(tx *Tx, id string) error) error {
	err := r.Write(ctx, func(tx *Tx) error {
		var id, old string
		if err := tx.QueryRowContext(ctx, `SELECT id, role FROM principals WHERE name = $1`, name).Scan(&id, &old); errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound.Errorf("no principal %q", name)
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, stmt, arg, name); err != nil {
			return err
		}
		if d, ok := detail.(map[string]any); ok {
			d["old_role"] = old
		}
		if err := r.audit(ctx, tx, action, "principal:"+name, detail); err != nil {
			return err
		}
		if also != nil {
			return also(tx, id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", action, name, err)
	}
	return nil
}
