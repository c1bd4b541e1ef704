package registry

// Web console sessions: a person principal signed in from one browser.
// The cookie holds a random secret of which only the SHA-256 is stored;
// every request looks the session up, so ending it (sign-out, sign out
// everywhere, a password reset, disabling the principal) takes effect on
// the next request on every collector, and a role change is seen at once
// because the role is read from the principal, never copied into the
// session.

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

// Session lifetimes when SessionInput leaves them zero, and the bound on
// either.
const (
	DefaultSessionIdle     = 30 * time.Minute
	DefaultSessionAbsolute = 12 * time.Hour
	// MaxSessionLifetime is the longest console.session_absolute the
	// collector's configuration accepts (30 days).
	MaxSessionLifetime = 30 * 24 * time.Hour
	// sessionSeenEvery throttles the last-seen write, as lastUseEvery does
	// for tokens: an idle timeout is counted to the minute.
	sessionSeenEvery = time.Minute
	maxUserAgent     = 512
)

// SessionInput starts a session for a principal that has just signed in.
type SessionInput struct {
	Principal access.Principal
	// Method is how it signed in (MethodPassword, MethodPasswordTOTP,
	// MethodOIDC).
	Method string
	// Source is the client's address, UserAgent its browser.
	Source, UserAgent string
	// Idle and Absolute are the timeouts; zero means DefaultSessionIdle and
	// DefaultSessionAbsolute.
	Idle, Absolute time.Duration
}

// Session is a live session. Principal carries the principal's current
// role; TokenID is empty.
type Session struct {
	ID        string
	Principal access.Principal
	Method    string
	// CSRF is the token every form of the session carries (empty in
	// ListSessions).
	CSRF                             string
	CreatedAt, LastSeenAt, ExpiresAt time.Time
	Idle                             time.Duration
	Source, UserAgent                string
}

const sessionSelect = `SELECT s.id, s.principal_id, p.name, p.role, s.method, s.csrf, s.created_at, s.last_seen_at, s.expires_at,
	s.idle_seconds, s.source, s.user_agent, s.ended_at, p.disabled_at
	FROM sessions s JOIN principals p ON p.id = s.principal_id`

// sessionRow is a session as stored, with what decides whether it is live.
type sessionRow struct {
	Session
	ended, disabled bool
}

func scanSession(row interface{ Scan(...any) error }) (sessionRow, error) {
	var s sessionRow
	var role, created, seen, expires string
	var idle int64
	var ended, disabled sql.NullString
	if err := row.Scan(&s.ID, &s.Principal.ID, &s.Principal.Name, &role, &s.Method, &s.CSRF, &created, &seen, &expires,
		&idle, &s.Source, &s.UserAgent, &ended, &disabled); err != nil {
		return sessionRow{}, err
	}
	s.Principal.Kind, s.Principal.Role = access.KindPerson, access.Role(role)
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = parseTime(created), parseTime(seen), parseTime(expires)
	s.Idle = time.Duration(idle) * time.Second
	s.ended, s.disabled = ended.Valid, disabled.Valid
	return s, nil
}

// liveAt says why s is not live at now, or "" when it is.
func (s sessionRow) deadAt(now time.Time) string {
	switch {
	case s.ended:
		return "signed out"
	case s.disabled:
		return "principal disabled"
	case !now.Before(s.ExpiresAt):
		return "expired"
	case now.Sub(s.LastSeenAt) > s.Idle:
		return "idle too long"
	}
	return ""
}

// CreateSession stores a new session and returns it with its secret (the
// cookie value; 32 random bytes, base64url). Only the SHA-256 of the
// secret is stored. CSRF is a separate random token stored with it.
func (r *Registry) CreateSession(ctx context.Context, in SessionInput, now time.Time) (Session, string, error) {
	if in.Idle == 0 {
		in.Idle = DefaultSessionIdle
	}
	if in.Absolute == 0 {
		in.Absolute = DefaultSessionAbsolute
	}
	if in.Idle < time.Minute || in.Absolute < time.Minute || in.Idle > MaxSessionLifetime || in.Absolute > MaxSessionLifetime {
		return Session{}, "", fmt.Errorf("create session: %w", ErrInvalid.Errorf("session timeouts must be between a minute and %d days", int(MaxSessionLifetime/(24*time.Hour))))
	}
	if in.Principal.ID == "" || strings.TrimSpace(in.Method) == "" {
		return Session{}, "", fmt.Errorf("create session: %w", ErrInvalid.Errorf("a session needs its principal and sign-in method"))
	}
	secret, err := randomToken("")
	if err != nil {
		return Session{}, "", err
	}
	csrf, err := randomToken("")
	if err != nil {
		return Session{}, "", err
	}
	ua := strings.ToValidUTF8(in.UserAgent, "?")
	if len(ua) > maxUserAgent {
		ua = strings.ToValidUTF8(ua[:maxUserAgent], "")
	}
	s := Session{ID: uuid.NewString(), Method: in.Method, CSRF: csrf, CreatedAt: now.UTC(), LastSeenAt: now.UTC(),
		ExpiresAt: now.Add(in.Absolute).UTC(), Idle: in.Idle.Truncate(time.Second), Source: in.Source, UserAgent: ua}
	err = r.Write(ctx, func(tx *Tx) error {
		var role string
		var disabled sql.NullString
		s.Principal = access.Principal{ID: in.Principal.ID, Kind: access.KindPerson}
		err := tx.QueryRowContext(ctx, `SELECT name, role, disabled_at FROM principals WHERE id = $1 AND kind = $2`, in.Principal.ID, access.KindPerson).
			Scan(&s.Principal.Name, &role, &disabled)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return ErrUnauthenticated.Errorf("no person principal %s", in.Principal.ID)
		case err != nil:
			return err
		case disabled.Valid:
			return ErrUnauthenticated.Errorf("the account %s is disabled", s.Principal.Name)
		}
		s.Principal.Role = access.Role(role)
		_, err = tx.ExecContext(ctx, `INSERT INTO sessions (id, principal_id, hash, csrf, method, source, user_agent, created_at, last_seen_at, expires_at, idle_seconds)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			s.ID, s.Principal.ID, hashToken(secret), csrf, s.Method, s.Source, s.UserAgent, fmtTime(now), fmtTime(now), fmtTime(s.ExpiresAt), int64(s.Idle/time.Second))
		if err != nil {
			return err
		}
		return r.audit(asPrincipal(ctx, s.Principal), tx, "session.created", "principal:"+s.Principal.Name, map[string]any{
			"session_id": s.ID, "method": s.Method, "expires_at": fmtTime(s.ExpiresAt), "idle_seconds": int64(s.Idle / time.Second)})
	})
	if err != nil {
		return Session{}, "", fmt.Errorf("create session: %w", err)
	}
	return s, secret, nil
}

// SessionBySecret returns the live session for a cookie value:
// ErrUnauthenticated when unknown, revoked, idle longer than Idle, past
// ExpiresAt (absolute), or its principal disabled. It moves LastSeenAt
// (written at most once a minute per session, to keep reads cheap).
func (r *Registry) SessionBySecret(ctx context.Context, secret string, now time.Time) (Session, error) {
	if secret == "" {
		return Session{}, ErrUnauthenticated.Errorf("not signed in")
	}
	s, err := scanSession(r.db.QueryRowContext(ctx, sessionSelect+` WHERE s.hash = $1`, hashToken(secret)))
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrUnauthenticated.Errorf("session unknown: sign in again")
	}
	if err != nil {
		return Session{}, fmt.Errorf("look up session: %w", err)
	}
	if why := s.deadAt(now); why != "" {
		return Session{}, ErrUnauthenticated.Errorf("session %s: sign in again", why)
	}
	if now.Sub(s.LastSeenAt) >= sessionSeenEvery {
		err := r.Write(ctx, func(tx *Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND ended_at IS NULL`, fmtTime(now), s.ID)
			return err
		})
		if err != nil {
			return Session{}, fmt.Errorf("session %s: record last seen: %w", s.ID, err)
		}
		s.LastSeenAt = now.UTC()
	}
	return s.Session, nil
}

// endSessions ends every session of a principal still open and says how
// many it ended.
func endSessions(ctx context.Context, tx *Tx, principalID string, now time.Time) (int64, error) {
	res, err := tx.ExecContext(ctx, `UPDATE sessions SET ended_at = $1, ended_by = $2 WHERE principal_id = $3 AND ended_at IS NULL`,
		fmtTime(now), access.ActorFrom(ctx).Name, principalID)
	if err != nil {
		return 0, fmt.Errorf("end sessions: %w", err)
	}
	return res.RowsAffected()
}

// EndSession ends one session (sign-out), audited "signout". Ending an
// ended session changes nothing.
func (r *Registry) EndSession(ctx context.Context, id string, now time.Time) error {
	err := r.Write(ctx, func(tx *Tx) error {
		s, err := scanSession(tx.QueryRowContext(ctx, sessionSelect+` WHERE s.id = $1`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound.Errorf("no session %s", id)
		}
		if err != nil || s.ended {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET ended_at = $1, ended_by = $2 WHERE id = $3`, fmtTime(now), access.ActorFrom(ctx).Name, id); err != nil {
			return err
		}
		return r.audit(ctx, tx, "signout", "principal:"+s.Principal.Name, map[string]any{"session_id": id})
	})
	if err != nil {
		return fmt.Errorf("end session %s: %w", id, err)
	}
	return nil
}

// EndSessions signs a principal out everywhere, audited
// "sessions.ended", and says how many sessions it ended.
func (r *Registry) EndSessions(ctx context.Context, principalID string, now time.Time) (int, error) {
	var n int64
	err := r.Write(ctx, func(tx *Tx) error {
		var name string
		err := tx.QueryRowContext(ctx, `SELECT name FROM principals WHERE id = $1`, principalID).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound.Errorf("no principal %s", principalID)
		}
		if err != nil {
			return err
		}
		if n, err = endSessions(ctx, tx, principalID, now); err != nil {
			return err
		}
		return r.audit(ctx, tx, "sessions.ended", "principal:"+name, map[string]any{"sessions": n})
	})
	if err != nil {
		return 0, fmt.Errorf("end sessions of %s: %w", principalID, err)
	}
	return int(n), nil
}

// ListSessions returns a principal's live sessions, newest first, without
// their CSRF tokens.
func (r *Registry) ListSessions(ctx context.Context, principalID string, now time.Time) ([]Session, error) {
	rows, err := r.db.QueryContext(ctx, sessionSelect+` WHERE s.principal_id = $1 AND s.ended_at IS NULL AND s.expires_at > $2
		ORDER BY s.created_at DESC, s.id`, principalID, fmtTime(now))
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	out := []Session{}
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		if s.deadAt(now) == "" {
			s.CSRF = ""
			out = append(out, s.Session)
		}
	}
	return out, rows.Err()
}
