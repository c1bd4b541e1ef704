package registry

// People who sign in to the web console: local accounts (a person
// principal with an argon2id password and an optional TOTP second factor,
// collector/password) and principals created just in time for an OIDC
// identity. Both are rows of principals, so roles, disabling, tokens and
// the access review treat them as any other principal. Passwords and TOTP
// secrets never reach the audit log or an error.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/fault"
	"github.com/rosterhq/roster/collector/password"
)

var (
	// ErrLocked is a sign-in refused because the account is locked after
	// repeated failures; the particular error says until when and carries
	// RetryAfter (the API answers 429 with Retry-After).
	ErrLocked = fault.New(fault.Throttled, "account_locked", "account locked after repeated failed sign-ins")
	// ErrTOTPRequired is a right password for an account with TOTP but no
	// code: the console asks for the code and signs in again. It is not
	// counted as a failure. It is a case of ErrUnauthenticated (errors.Is)
	// with a code of its own.
	ErrTOTPRequired = &fault.Error{Kind: fault.Unauthenticated, Code: "totp_required",
		Message: "a one-time code from the authenticator app is required", Err: ErrUnauthenticated}
)

// SourceLocal is UserRecord.Source of a principal that is not bound to an
// identity provider.
const SourceLocal = "local"

// Sign-in lockout: after lockAfter consecutive failures the account is
// locked for lockFirst, each further failure doubling it up to lockMax.
const (
	lockAfter = 5
	lockFirst = time.Minute
	lockMax   = time.Hour
	// totpIssuer names the collector in authenticator apps.
	totpIssuer = "Roster"
)

// Sign-in methods, as sessions and the audit log record them.
const (
	MethodPassword     = "password"
	MethodPasswordTOTP = "password+totp"
	MethodOIDC         = "oidc"
)

// lockoutFor is how long an account is locked after its failures-th
// consecutive failure: nothing before the fifth, then one minute doubling
// with each failure, at most an hour.
func lockoutFor(failures int) time.Duration {
	if failures < lockAfter {
		return 0
	}
	d := lockFirst
	for i := lockAfter; i < failures && d < lockMax; i++ {
		d *= 2
	}
	return min(d, lockMax)
}

// UserInput creates a local account.
type UserInput struct {
	Name, Email string
	Role        access.Role
	Password    string
}

// UserRecord is a person principal as an administrator sees it: never
// its password hash or TOTP secret, only whether it has them.
type UserRecord struct {
	ID             string      `json:"id"`
	Name           string      `json:"name"`
	Email          string      `json:"email"`
	Role           access.Role `json:"role"`
	Kind           string      `json:"kind"`
	CreatedAt      time.Time   `json:"created_at"`
	CreatedBy      string      `json:"created_by"`
	DisabledAt     *time.Time  `json:"disabled_at"`
	HasPassword    bool        `json:"has_password"`
	TOTP           bool        `json:"totp"`
	LockedUntil    *time.Time  `json:"locked_until"`
	FailedAttempts int         `json:"failed_attempts"`
	LastSignInAt   *time.Time  `json:"last_signin_at"`
	// Source is "local" or the OIDC issuer the principal is bound to.
	Source string `json:"source"`
}

const userSelect = `SELECT id, name, kind, email, role, created_at, created_by, disabled_at,
	CASE WHEN password_hash <> '' THEN 1 ELSE 0 END, CASE WHEN totp_secret <> '' THEN 1 ELSE 0 END,
	locked_until, failed_signins, last_signin_at, sso_issuer FROM principals`

func scanUser(row interface{ Scan(...any) error }, now time.Time) (UserRecord, error) {
	var u UserRecord
	var role, created string
	var hasPw, hasTOTP int
	var disabled, locked, last sql.NullString
	if err := row.Scan(&u.ID, &u.Name, &u.Kind, &u.Email, &role, &created, &u.CreatedBy, &disabled,
		&hasPw, &hasTOTP, &locked, &u.FailedAttempts, &last, &u.Source); err != nil {
		return UserRecord{}, err
	}
	u.Role, u.CreatedAt, u.DisabledAt, u.LastSignInAt = access.Role(role), parseTime(created), timePtr(disabled), timePtr(last)
	u.HasPassword, u.TOTP = hasPw == 1, hasTOTP == 1
	if l := timePtr(locked); l != nil && now.Before(*l) {
		u.LockedUntil = l
	}
	if u.Source == "" {
		u.Source = SourceLocal
	}
	return u, nil
}

func userByName(ctx context.Context, q querier, name string, now time.Time) (UserRecord, error) {
	u, err := scanUser(q.QueryRowContext(ctx, userSelect+` WHERE name = $1 AND kind = $2`, name, access.KindPerson), now)
	if errors.Is(err, sql.ErrNoRows) {
		return UserRecord{}, ErrNotFound.Errorf("no user %q", name)
	}
	return u, err
}

// User returns the person principal named name.
func (r *Registry) User(ctx context.Context, name string, now time.Time) (UserRecord, error) {
	u, err := userByName(ctx, r.db, name, now)
	if err != nil {
		return UserRecord{}, fmt.Errorf("user %s: %w", name, err)
	}
	return u, nil
}

// ListUsers returns every person principal, local and single sign-on, by
// name.
func (r *Registry) ListUsers(ctx context.Context, now time.Time) ([]UserRecord, error) {
	rows, err := r.db.QueryContext(ctx, userSelect+` WHERE kind = $1 ORDER BY name`, access.KindPerson)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	out := []UserRecord{}
	for rows.Next() {
		u, err := scanUser(rows, now)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// checkPassword is password.Check as the registry's public error.
func checkPassword(name, pw string) error {
	if err := password.Check(name, pw); err != nil {
		return ErrInvalid.Errorf("%v", err)
	}
	return nil
}

// CreateUser makes a local account: a person principal with a password.
// Its name must be free among all principals.
func (r *Registry) CreateUser(ctx context.Context, in UserInput, now time.Time) (UserRecord, error) {
	in.Name, in.Email = strings.TrimSpace(in.Name), strings.TrimSpace(in.Email)
	fail := func(err error) (UserRecord, error) {
		return UserRecord{}, fmt.Errorf("create user %s: %w", in.Name, err)
	}
	if err := checkText("name", in.Name, true); err != nil {
		return fail(err)
	}
	if err := checkText("email", in.Email, false); err != nil {
		return fail(err)
	}
	role, err := access.ParseRole(string(in.Role))
	if err != nil {
		return fail(ErrInvalid.Errorf("%w", err))
	}
	if err := checkPassword(in.Name, in.Password); err != nil {
		return fail(err)
	}
	hash, err := password.Hash(in.Password)
	if err != nil {
		return fail(err)
	}
	err = r.Write(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM principals WHERE name = $1`, in.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrExists.Errorf("a principal named %q already exists", in.Name)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO principals (id, name, kind, email, role, created_at, created_by, password_hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			uuid.NewString(), in.Name, access.KindPerson, in.Email, string(role), fmtTime(now), access.ActorFrom(ctx).Name, hash)
		if err != nil {
			return err
		}
		return r.audit(ctx, tx, "principal.created", "principal:"+in.Name, map[string]any{
			"kind": access.KindPerson, "email": in.Email, "role": role, "source": SourceLocal, "password": true})
	})
	if err != nil {
		return fail(err)
	}
	return r.User(ctx, in.Name, now)
}

// localUser loads name for a change only a local account can take.
func localUser(ctx context.Context, q querier, name string, now time.Time) (UserRecord, error) {
	u, err := userByName(ctx, q, name, now)
	if err != nil {
		return UserRecord{}, err
	}
	if u.Source != SourceLocal {
		return UserRecord{}, ErrInvalid.Errorf("%s signs in through %s: its password and second factor are kept there", name, u.Source)
	}
	return u, nil
}

// ResetPassword sets a local user's password, clears its lockout and ends
// all its sessions.
func (r *Registry) ResetPassword(ctx context.Context, name, pw string, now time.Time) error {
	if err := checkPassword(name, pw); err != nil {
		return fmt.Errorf("reset password of %s: %w", name, err)
	}
	hash, err := password.Hash(pw)
	if err != nil {
		return err
	}
	err = r.Write(ctx, func(tx *Tx) error {
		u, err := localUser(ctx, tx, name, now)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE principals SET password_hash = $1, failed_signins = 0, locked_until = NULL WHERE id = $2`, hash, u.ID); err != nil {
			return err
		}
		n, err := endSessions(ctx, tx, u.ID, now)
		if err != nil {
			return err
		}
		return r.audit(ctx, tx, "principal.password_reset", "principal:"+name, map[string]any{"sessions_ended": n})
	})
	if err != nil {
		return fmt.Errorf("reset password of %s: %w", name, err)
	}
	return nil
}

// EnableTOTP gives a local user a new TOTP secret (replacing any it had)
// and returns it with its otpauth:// URL, which are not shown again.
func (r *Registry) EnableTOTP(ctx context.Context, name string, now time.Time) (secret, otpauthURL string, err error) {
	secret, otpauthURL, err = password.NewTOTP(totpIssuer, name)
	if err != nil {
		return "", "", err
	}
	err = r.Write(ctx, func(tx *Tx) error {
		u, err := localUser(ctx, tx, name, now)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE principals SET totp_secret = $1, totp_last_step = 0 WHERE id = $2`, secret, u.ID); err != nil {
			return err
		}
		return r.audit(ctx, tx, "principal.totp_enabled", "principal:"+name, map[string]any{"replaced": u.TOTP})
	})
	if err != nil {
		return "", "", fmt.Errorf("enable TOTP for %s: %w", name, err)
	}
	return secret, otpauthURL, nil
}

// DisableTOTP removes a local user's second factor.
func (r *Registry) DisableTOTP(ctx context.Context, name string, now time.Time) error {
	err := r.Write(ctx, func(tx *Tx) error {
		u, err := localUser(ctx, tx, name, now)
		if err != nil || !u.TOTP {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE principals SET totp_secret = '', totp_last_step = 0 WHERE id = $1`, u.ID); err != nil {
			return err
		}
		return r.audit(ctx, tx, "principal.totp_disabled", "principal:"+name, nil)
	})
	if err != nil {
		return fmt.Errorf("disable TOTP for %s: %w", name, err)
	}
	return nil
}

// signinRow is what a sign-in reads of a principal.
type signinRow struct {
	id, name, role, hash, totpSecret string
	totpLast                         int64
	failed                           int
	locked, disabled                 sql.NullString
}

const signinSelect = `SELECT id, name, role, password_hash, totp_secret, totp_last_step, failed_signins, locked_until, disabled_at FROM principals`

func scanSignin(row *sql.Row) (signinRow, error) {
	var s signinRow
	err := row.Scan(&s.id, &s.name, &s.role, &s.hash, &s.totpSecret, &s.totpLast, &s.failed, &s.locked, &s.disabled)
	return s, err
}

// errBadCredentials is the one answer for an unknown name and a wrong
// password, so the answer does not tell which names exist.
func errBadCredentials() error { return ErrUnauthenticated.Errorf("wrong user name or password") }

func lockedError(until, now time.Time) error {
	wait := until.Sub(now)
	e := ErrLocked.Errorf("too many failed sign-ins: the account is locked until %s; try again in %s",
		until.UTC().Format(time.RFC3339), roundUp(wait))
	e.RetryAfter = wait
	return e
}

// roundUp says a wait in whole seconds or minutes, never less than it is.
func roundUp(d time.Duration) string {
	if d <= time.Minute {
		return fmt.Sprintf("%d s", int((d+time.Second-1)/time.Second))
	}
	return fmt.Sprintf("%d min", int((d+time.Minute-1)/time.Minute))
}

// SignIn checks a local password (and the TOTP code when the user has
// TOTP). Failures are audited ("signin.failed", outcome denied, never the
// password) and counted: after 5 consecutive failures the account is
// locked with exponential back-off (1 min, doubling, max 1 h); ErrLocked
// (a fault with a RetryAfter) is returned while locked even for the right
// password. Unknown user names take the same time as known ones (verify
// against a dummy hash). Success resets the counter, records last sign-in,
// audits "signin". A right password without the code an account with TOTP
// needs is ErrTOTPRequired and does not count as a failure.
func (r *Registry) SignIn(ctx context.Context, name, pw, totpCode string, now time.Time) (access.Principal, error) {
	target := "principal:" + name
	if checkText("name", name, true) != nil {
		target = "principal:(invalid name)"
	}
	failed := func(reason string, detail map[string]any) error {
		if detail == nil {
			detail = map[string]any{}
		}
		detail["reason"] = reason
		return r.AuditOutside(ctx, "signin.failed", target, audit.Denied, detail)
	}
	row, err := scanSignin(r.db.QueryRowContext(ctx, signinSelect+` WHERE name = $1 AND kind = $2`, name, access.KindPerson))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && row.hash == "") {
		password.Verify(password.Dummy, pw)
		reason := "unknown user"
		if err == nil {
			reason = "no local password"
		}
		if err := failed(reason, nil); err != nil {
			return access.Principal{}, fmt.Errorf("sign in: %w", err)
		}
		return access.Principal{}, errBadCredentials()
	}
	if err != nil {
		return access.Principal{}, fmt.Errorf("sign in %s: %w", name, err)
	}
	if l := timePtr(row.locked); l != nil && now.Before(*l) {
		if err := failed("locked", map[string]any{"locked_until": fmtTime(*l)}); err != nil {
			return access.Principal{}, fmt.Errorf("sign in: %w", err)
		}
		return access.Principal{}, lockedError(*l, now)
	}
	ok, err := password.Verify(row.hash, pw)
	if err != nil {
		return access.Principal{}, fmt.Errorf("sign in %s: stored password hash: %w", name, err)
	}
	var rehash string
	if ok && password.NeedsRehash(row.hash) {
		if rehash, err = password.Hash(pw); err != nil {
			return access.Principal{}, err
		}
	}
	switch {
	case ok && row.disabled.Valid:
		if err := failed("disabled", nil); err != nil {
			return access.Principal{}, fmt.Errorf("sign in: %w", err)
		}
		return access.Principal{}, ErrUnauthenticated.Errorf("the account %s is disabled", name)
	case ok && row.totpSecret != "" && strings.TrimSpace(totpCode) == "":
		if err := failed("one-time code required", nil); err != nil {
			return access.Principal{}, fmt.Errorf("sign in: %w", err)
		}
		return access.Principal{}, ErrTOTPRequired
	}
	p := access.Principal{ID: row.id, Name: row.name, Kind: access.KindPerson, Role: access.Role(row.role)}
	var outcome error
	err = r.Write(ctx, func(tx *Tx) error {
		cur, err := scanSignin(tx.QueryRowContext(ctx, signinSelect+` WHERE id = $1`, row.id))
		if err != nil {
			return err
		}
		reason, method := "", MethodPassword
		step := cur.totpLast
		switch {
		case !ok:
			reason = "wrong password"
		case cur.totpSecret != "":
			var good bool
			if step, good = password.ValidateTOTP(cur.totpSecret, strings.TrimSpace(totpCode), now, cur.totpLast); !good {
				reason = "wrong or reused one-time code"
			}
			method = MethodPasswordTOTP
		}
		if reason != "" {
			n := cur.failed + 1
			detail := map[string]any{"reason": reason, "failures": n}
			var locked any
			outcome = ErrUnauthenticated.Errorf("wrong user name or password")
			if reason != "wrong password" {
				outcome = ErrUnauthenticated.Errorf("wrong or already used one-time code")
			}
			if d := lockoutFor(n); d > 0 {
				locked = fmtTime(now.Add(d))
				detail["locked_until"] = locked
				outcome = lockedError(now.Add(d), now)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE principals SET failed_signins = $1, locked_until = $2 WHERE id = $3`, n, locked, row.id); err != nil {
				return err
			}
			_, err := appendAudit(ctx, tx, access.ActorFrom(ctx), "signin.failed", target, audit.Denied, auditDetail(detail), time.Now())
			return err
		}
		outcome = nil
		p.Role = access.Role(cur.role)
		if _, err := tx.ExecContext(ctx, `UPDATE principals SET failed_signins = 0, locked_until = NULL, last_signin_at = $1, totp_last_step = $2 WHERE id = $3`,
			fmtTime(now), step, row.id); err != nil {
			return err
		}
		if rehash != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE principals SET password_hash = $1 WHERE id = $2`, rehash, row.id); err != nil {
				return err
			}
		}
		return r.audit(asPrincipal(ctx, p), tx, "signin", target, map[string]any{"method": method, "rehashed": rehash != ""})
	})
	if err != nil {
		return access.Principal{}, fmt.Errorf("sign in %s: %w", name, err)
	}
	if outcome != nil {
		return access.Principal{}, outcome
	}
	return p, nil
}

// asPrincipal is ctx acting as p (keeping the source address and request
// id), for what a principal does as it signs in.
func asPrincipal(ctx context.Context, p access.Principal) context.Context {
	a := access.ActorFrom(ctx)
	a.Principal = p
	return access.WithActor(ctx, a)
}

// SSOIdentity is who an OpenID provider says signed in, with the Roster
// role its groups map to (the mapping is the web console's configuration).
type SSOIdentity struct {
	Issuer, Subject, Name, Email string
	Role                         access.Role
	Groups                       []string
}

// SSOPrincipal finds the person principal bound to (Issuer, Subject) or
// creates it just in time (audited "principal.created" with source sso);
// on every sign-in the role is set from the identity's Role (audited
// "principal.role_changed" when it changes) and name/email refreshed; a
// disabled principal is refused with ErrUnauthenticated. A local user with
// the same name is not taken over: the SSO principal gets a distinct name
// (name@issuer-host). Every sign-in is audited "signin" with method oidc.
func (r *Registry) SSOPrincipal(ctx context.Context, id SSOIdentity, now time.Time) (access.Principal, error) {
	id.Issuer, id.Subject = strings.TrimSpace(id.Issuer), strings.TrimSpace(id.Subject)
	id.Name, id.Email = strings.TrimSpace(id.Name), strings.TrimSpace(id.Email)
	if id.Issuer == "" || id.Subject == "" {
		return access.Principal{}, fmt.Errorf("single sign-on: %w", ErrInvalid.Errorf("an identity needs its issuer and subject"))
	}
	if checkText("email", id.Email, false) != nil {
		id.Email = ""
	}
	want := ssoName(id)
	role, err := access.ParseRole(string(id.Role))
	if err != nil {
		target := "sso:" + id.Issuer + "#" + id.Subject
		if err := r.AuditOutside(ctx, "signin.failed", target, audit.Denied, map[string]any{"reason": "no role", "groups": id.Groups, "name": want}); err != nil {
			return access.Principal{}, fmt.Errorf("single sign-on: %w", err)
		}
		return access.Principal{}, ErrUnauthenticated.Errorf("none of your groups at the identity provider grants a Roster role")
	}
	var p access.Principal
	var disabled bool
	err = r.Write(ctx, func(tx *Tx) error {
		disabled = false
		p = access.Principal{Kind: access.KindPerson, Role: role}
		var name, email, have string
		var off sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT id, name, email, role, disabled_at FROM principals WHERE sso_issuer = $1 AND sso_subject = $2`,
			id.Issuer, id.Subject).Scan(&p.ID, &name, &email, &have, &off)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if p.Name, err = freeName(ctx, tx, want, id, ""); err != nil {
				return err
			}
			p.ID = uuid.NewString()
			_, err := tx.ExecContext(ctx, `INSERT INTO principals (id, name, kind, email, role, created_at, created_by, sso_issuer, sso_subject, last_signin_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				p.ID, p.Name, access.KindPerson, id.Email, string(role), fmtTime(now), "sso", id.Issuer, id.Subject, fmtTime(now))
			if err != nil {
				return err
			}
			if err := r.audit(ctx, tx, "principal.created", "principal:"+p.Name, map[string]any{
				"kind": access.KindPerson, "email": id.Email, "role": role, "source": "sso", "issuer": id.Issuer, "subject": id.Subject, "groups": id.Groups}); err != nil {
				return err
			}
		case err != nil:
			return err
		case off.Valid:
			disabled, p.Name = true, name
			return nil
		default:
			if p.Name, err = freeName(ctx, tx, want, id, p.ID); err != nil {
				return err
			}
			if have != string(role) {
				if _, err := tx.ExecContext(ctx, `UPDATE principals SET role = $1 WHERE id = $2`, string(role), p.ID); err != nil {
					return err
				}
				if err := r.audit(ctx, tx, "principal.role_changed", "principal:"+name, map[string]any{
					"role": role, "old_role": have, "source": "sso", "groups": id.Groups}); err != nil {
					return err
				}
			}
			if p.Name != name || id.Email != email {
				if _, err := tx.ExecContext(ctx, `UPDATE principals SET name = $1, email = $2 WHERE id = $3`, p.Name, id.Email, p.ID); err != nil {
					return err
				}
				if err := r.audit(ctx, tx, "principal.updated", "principal:"+p.Name, map[string]any{
					"old_name": name, "name": p.Name, "old_email": email, "email": id.Email, "source": "sso"}); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE principals SET last_signin_at = $1 WHERE id = $2`, fmtTime(now), p.ID); err != nil {
				return err
			}
		}
		return r.audit(asPrincipal(ctx, p), tx, "signin", "principal:"+p.Name, map[string]any{"method": MethodOIDC, "issuer": id.Issuer})
	})
	if err != nil {
		return access.Principal{}, fmt.Errorf("single sign-on %s: %w", want, err)
	}
	if disabled {
		if err := r.AuditOutside(ctx, "signin.failed", "principal:"+p.Name, audit.Denied, map[string]any{"reason": "disabled", "method": MethodOIDC}); err != nil {
			return access.Principal{}, fmt.Errorf("single sign-on: %w", err)
		}
		return access.Principal{}, ErrUnauthenticated.Errorf("the account %s is disabled", p.Name)
	}
	return p, nil
}

// ssoName is the name an identity asks for: its name claim, else its
// email, else its subject, made one clean line.
func ssoName(id SSOIdentity) string {
	for _, n := range []string{id.Name, id.Email, id.Subject} {
		if n != "" && checkText("name", n, true) == nil && len(n) <= 200 {
			return n
		}
	}
	sum := sha256.Sum256([]byte(id.Subject))
	return "sso-" + hex.EncodeToString(sum[:6])
}

// freeName is want when no other principal holds it, else
// want@issuer-host, else that with a digest of the subject: a local user
// is never taken over by an identity that happens to share its name.
func freeName(ctx context.Context, tx *Tx, want string, id SSOIdentity, self string) (string, error) {
	host := id.Issuer
	if u, err := url.Parse(id.Issuer); err == nil && u.Host != "" {
		host = u.Hostname()
	}
	sum := sha256.Sum256([]byte(id.Subject))
	for _, n := range []string{want, want + "@" + host, want + "@" + host + "-" + hex.EncodeToString(sum[:4])} {
		var other string
		err := tx.QueryRowContext(ctx, `SELECT id FROM principals WHERE name = $1`, n).Scan(&other)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && other == self) {
			return n, nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", ErrExists.Errorf("no free principal name for %s at %s", want, id.Issuer)
}
