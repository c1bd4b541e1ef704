package registry_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/fault"
	"github.com/rosterhq/roster/collector/registry"
)

func adminCtx() context.Context {
	return access.WithActor(context.Background(), access.Actor{
		Principal: access.Principal{ID: "p-root", Name: "root", Kind: access.KindPerson, Role: access.Admin}, Source: "127.0.0.1"})
}

// browserCtx is a sign-in request: a source address, nobody yet.
func browserCtx() context.Context {
	return access.WithActor(context.Background(), access.Actor{Source: "192.0.2.7", RequestID: "req-1"})
}

const alicePw = "correct horse battery"

func (e *env) user(t *testing.T, name string, role access.Role) registry.UserRecord {
	t.Helper()
	u, err := e.reg.CreateUser(adminCtx(), registry.UserInput{Name: name, Email: name + "@example.org", Role: role, Password: alicePw}, t0)
	if err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return u
}

// auditActions lists the actions of the audit entries about target.
func (e *env) auditActions(t *testing.T, target string) []string {
	t.Helper()
	es, _, err := e.reg.ListAudit(context.Background(), registry.AuditFilter{Target: target, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, en := range es {
		if strings.Contains(en.Detail, alicePw) {
			t.Errorf("audit entry %d holds the password: %s", en.Seq, en.Detail)
		}
		out = append(out, en.Action)
	}
	return out
}

func TestCreateUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.user(t, "alice", access.Helpdesk)
	if u.Name != "alice" || u.Role != access.Helpdesk || u.Kind != access.KindPerson || !u.HasPassword || u.TOTP ||
		u.Source != registry.SourceLocal || u.CreatedBy != "root" || u.Email != "alice@example.org" {
		t.Errorf("created %+v", u)
	}
	for _, tt := range []struct {
		name string
		in   registry.UserInput
		want error
		says string
	}{
		{"short password", registry.UserInput{Name: "bob", Role: access.Admin, Password: "x7q"}, registry.ErrInvalid, "at least 12"},
		{"password is the name", registry.UserInput{Name: "bobby-tables-1", Role: access.Admin, Password: "Bobby-Tables-1"}, registry.ErrInvalid, "user name"},
		{"no role", registry.UserInput{Name: "bob", Password: alicePw}, registry.ErrInvalid, "role"},
		{"no name", registry.UserInput{Role: access.Admin, Password: alicePw}, registry.ErrInvalid, "name is required"},
		{"taken", registry.UserInput{Name: "alice", Role: access.Admin, Password: alicePw}, registry.ErrExists, "already exists"},
		{"line break", registry.UserInput{Name: "bo\nb", Role: access.Admin, Password: alicePw}, registry.ErrInvalid, "name"},
	} {
		_, err := e.reg.CreateUser(adminCtx(), tt.in, t0)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%s: got %v, want %v saying %q", tt.name, err, tt.want, tt.says)
		}
		if err != nil && tt.in.Password != "" && strings.Contains(err.Error(), tt.in.Password) {
			t.Errorf("%s: the error holds the password: %v", tt.name, err)
		}
	}
	// A token principal's name is taken too.
	if _, _, err := e.reg.CreateToken(adminCtx(), registry.TokenInput{Principal: "ci", Kind: access.KindAutomation, Role: "automation"}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.CreateUser(adminCtx(), registry.UserInput{Name: "ci", Role: access.Admin, Password: alicePw}, t0); !errors.Is(err, registry.ErrExists) {
		t.Errorf("a user named as an automation principal: got %v, want ErrExists", err)
	}
	us, err := e.reg.ListUsers(context.Background(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 1 || us[0].Name != "alice" {
		t.Errorf("ListUsers: %+v, want alice alone (ci is automation)", us)
	}
	if got := e.auditActions(t, "principal:alice"); len(got) != 1 || got[0] != "principal.created" {
		t.Errorf("audit %v", got)
	}
}

func TestSignInLockout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, "alice", access.Helpdesk)
	ctx := browserCtx()
	now := t0
	p, err := e.reg.SignIn(ctx, "alice", alicePw, "", now)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "alice" || p.Role != access.Helpdesk || p.Kind != access.KindPerson || p.TokenID != "" || p.ID == "" {
		t.Errorf("signed in %+v", p)
	}
	u, _ := e.reg.User(ctx, "alice", now)
	if u.LastSignInAt == nil || !u.LastSignInAt.Equal(now) {
		t.Errorf("last sign-in %v, want %v", u.LastSignInAt, now)
	}

	wrong := func(at time.Time) error {
		_, err := e.reg.SignIn(ctx, "alice", "not the password", "", at)
		return err
	}
	// Four failures only count; the fifth locks for a minute.
	for i := 1; i <= 4; i++ {
		if err := wrong(now); !errors.Is(err, registry.ErrUnauthenticated) || errors.Is(err, registry.ErrLocked) {
			t.Fatalf("failure %d: got %v, want ErrUnauthenticated", i, err)
		}
	}
	err = wrong(now)
	var fe *fault.Error
	if !errors.Is(err, registry.ErrLocked) || !errors.As(err, &fe) || fe.RetryAfter != time.Minute || fe.Kind.HTTPStatus() != 429 {
		t.Fatalf("fifth failure: got %v (%+v), want ErrLocked retrying after 1m", err, fe)
	}
	if !strings.Contains(err.Error(), "try again in 60 s") {
		t.Errorf("locked message %q does not say when to retry", err)
	}
	u, _ = e.reg.User(ctx, "alice", now)
	if u.FailedAttempts != 5 || u.LockedUntil == nil || !u.LockedUntil.Equal(now.Add(time.Minute)) {
		t.Errorf("after 5 failures: %d failures, locked until %v", u.FailedAttempts, u.LockedUntil)
	}
	// While locked even the right password is refused, and the refusal
	// neither counts nor extends the lock.
	if _, err := e.reg.SignIn(ctx, "alice", alicePw, "", now.Add(59*time.Second)); !errors.Is(err, registry.ErrLocked) ||
		!errors.As(err, &fe) || fe.RetryAfter != time.Second {
		t.Errorf("right password while locked: got %v, want ErrLocked for 1s more", err)
	}
	// Back-off: each further failure doubles the lock, up to an hour.
	at := now.Add(time.Minute)
	for _, want := range []time.Duration{2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour} {
		err := wrong(at)
		if !errors.As(err, &fe) || !errors.Is(err, registry.ErrLocked) || fe.RetryAfter != want {
			t.Fatalf("failure after the lock at %v: got %v, want locked for %v", at, err, want)
		}
		at = at.Add(want)
	}
	// Success once the lock is over resets everything.
	if _, err := e.reg.SignIn(ctx, "alice", alicePw, "", at); err != nil {
		t.Fatalf("right password after the lock: %v", err)
	}
	u, _ = e.reg.User(ctx, "alice", at)
	if u.FailedAttempts != 0 || u.LockedUntil != nil {
		t.Errorf("after success: %d failures, locked until %v", u.FailedAttempts, u.LockedUntil)
	}
	if err := wrong(at); errors.Is(err, registry.ErrLocked) {
		t.Errorf("one failure after a success locks: %v", err)
	}

	// A reset clears the lockout at once.
	for range 5 {
		wrong(at)
	}
	if err := e.reg.ResetPassword(adminCtx(), "alice", "a brand new passphrase", at); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.SignIn(ctx, "alice", "a brand new passphrase", "", at); err != nil {
		t.Errorf("after reset: %v", err)
	}
	if _, err := e.reg.SignIn(ctx, "alice", alicePw, "", at); !errors.Is(err, registry.ErrUnauthenticated) {
		t.Errorf("old password after reset: got %v", err)
	}

	// Every attempt is in the audit log, never the password.
	acts := e.auditActions(t, "principal:alice")
	count := map[string]int{}
	for _, a := range acts {
		count[a]++
	}
	if count["signin"] != 3 || count["signin.failed"] < 14 || count["principal.password_reset"] != 1 {
		t.Errorf("audit actions %v", count)
	}
}

func TestSignInUnknownAndDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, "alice", access.Helpdesk)
	ctx := browserCtx()
	_, errUnknown := e.reg.SignIn(ctx, "nobody", alicePw, "", t0)
	_, errWrong := e.reg.SignIn(ctx, "alice", "not the password", "", t0)
	if !errors.Is(errUnknown, registry.ErrUnauthenticated) || errUnknown.Error() != errWrong.Error() {
		t.Errorf("unknown user %q and wrong password %q must read alike", errUnknown, errWrong)
	}
	// Unknown names never lock (there is nothing to lock) and are audited.
	for range 6 {
		if _, err := e.reg.SignIn(ctx, "nobody", alicePw, "", t0); errors.Is(err, registry.ErrLocked) {
			t.Fatalf("unknown name locked: %v", err)
		}
	}
	if got := e.auditActions(t, "principal:nobody"); len(got) != 7 || got[0] != "signin.failed" {
		t.Errorf("unknown name audit %v", got)
	}
	// A token-only person has no password to sign in with.
	if _, _, err := e.reg.CreateToken(adminCtx(), registry.TokenInput{Principal: "tok", Role: "admin"}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.SignIn(ctx, "tok", "", "", t0); !errors.Is(err, registry.ErrUnauthenticated) {
		t.Errorf("token-only principal: got %v", err)
	}
	if err := e.reg.DisablePrincipal(adminCtx(), "alice", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.SignIn(ctx, "alice", alicePw, "", t0); !errors.Is(err, registry.ErrUnauthenticated) || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("disabled user: got %v", err)
	}
}

func TestSignInTOTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, "alice", access.Admin)
	secret, url, err := e.reg.EnableTOTP(adminCtx(), "alice", t0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(url, "otpauth://totp/Roster:alice?") {
		t.Errorf("otpauth URL %q", url)
	}
	if u, _ := e.reg.User(adminCtx(), "alice", t0); !u.TOTP {
		t.Error("TOTP not shown as on")
	}
	ctx := browserCtx()
	now := t0.Add(time.Hour)
	code := func(at time.Time) string {
		c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: 6})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := e.reg.SignIn(ctx, "alice", alicePw, "", now); !errors.Is(err, registry.ErrTOTPRequired) || !errors.Is(err, registry.ErrUnauthenticated) {
		t.Fatalf("no code: got %v, want ErrTOTPRequired, a case of ErrUnauthenticated", err)
	}
	if u, _ := e.reg.User(ctx, "alice", now); u.FailedAttempts != 0 {
		t.Errorf("a missing code counted as a failure: %d", u.FailedAttempts)
	}
	if _, err := e.reg.SignIn(ctx, "alice", "not the password", code(now), now); !errors.Is(err, registry.ErrUnauthenticated) || errors.Is(err, registry.ErrTOTPRequired) {
		t.Errorf("wrong password, right code: got %v", err)
	}
	if _, err := e.reg.SignIn(ctx, "alice", alicePw, "000000", now); !errors.Is(err, registry.ErrUnauthenticated) {
		t.Errorf("wrong code: got %v", err)
	}
	if _, err := e.reg.SignIn(ctx, "alice", alicePw, code(now.Add(-30*time.Second)), now); err != nil {
		t.Fatalf("code of the step before: %v", err)
	}
	if _, err := e.reg.SignIn(ctx, "alice", alicePw, code(now.Add(-30*time.Second)), now); err == nil {
		t.Error("the same code was accepted twice")
	}
	if _, err := e.reg.SignIn(ctx, "alice", alicePw, code(now.Add(-30*time.Second)), now.Add(10*time.Second)); err == nil {
		t.Error("a used code was accepted again later in its window")
	}
	if _, err := e.reg.SignIn(ctx, "alice", alicePw, code(now), now); err != nil {
		t.Errorf("next step's code: %v", err)
	}
	if err := e.reg.DisableTOTP(adminCtx(), "alice", now); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.SignIn(ctx, "alice", alicePw, "", now); err != nil {
		t.Errorf("after TOTP off: %v", err)
	}
	acts := strings.Join(e.auditActions(t, "principal:alice"), " ")
	for _, want := range []string{"principal.totp_enabled", "principal.totp_disabled"} {
		if !strings.Contains(acts, want) {
			t.Errorf("audit lacks %s: %s", want, acts)
		}
	}
	es, _, _ := e.reg.ListAudit(context.Background(), registry.AuditFilter{Target: "principal:alice", Limit: 1000})
	for _, en := range es {
		if strings.Contains(en.Detail, secret) {
			t.Errorf("audit entry %d holds the TOTP secret", en.Seq)
		}
	}
}

func TestSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, "alice", access.Helpdesk)
	ctx := browserCtx()
	p, err := e.reg.SignIn(ctx, "alice", alicePw, "", t0)
	if err != nil {
		t.Fatal(err)
	}
	in := registry.SessionInput{Principal: p, Method: registry.MethodPassword, Source: "192.0.2.7", UserAgent: "Firefox", Idle: 30 * time.Minute, Absolute: 8 * time.Hour}
	s, secret, err := e.reg.CreateSession(ctx, in, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 43 || s.CSRF == "" || s.CSRF == secret || s.Principal.Role != access.Helpdesk || s.Principal.TokenID != "" ||
		!s.ExpiresAt.Equal(t0.Add(8*time.Hour)) || s.Idle != 30*time.Minute {
		t.Errorf("session %+v, secret %q", s, secret)
	}
	// Only the secret's hash is stored.
	var n int
	if err := e.rawDB(t).QueryRow(`SELECT count(*) FROM sessions WHERE hash = $1 OR csrf = $1`, secret).Scan(&n); err != nil || n != 0 {
		t.Errorf("the plain secret is stored (%d rows, %v)", n, err)
	}

	// Activity keeps it alive; the last-seen write is throttled.
	at := t0
	for range 20 {
		at = at.Add(20 * time.Minute)
		got, err := e.reg.SessionBySecret(ctx, secret, at)
		if err != nil {
			t.Fatalf("at %v: %v", at, err)
		}
		if got.ID != s.ID || got.CSRF != s.CSRF || !got.LastSeenAt.Equal(at) {
			t.Fatalf("at %v: %+v", at, got)
		}
		if at.Sub(t0) >= 7*time.Hour {
			break
		}
	}
	got, _ := e.reg.SessionBySecret(ctx, secret, at.Add(30*time.Second))
	if !got.LastSeenAt.Equal(at) {
		t.Errorf("last seen moved after 30s: %v, want %v (one write a minute)", got.LastSeenAt, at)
	}
	// Absolute expiry, however active.
	if _, err := e.reg.SessionBySecret(ctx, secret, t0.Add(8*time.Hour)); !errors.Is(err, registry.ErrUnauthenticated) {
		t.Errorf("at the absolute expiry: got %v", err)
	}

	// Idle expiry.
	s2, secret2, _ := e.reg.CreateSession(ctx, in, t0)
	if _, err := e.reg.SessionBySecret(ctx, secret2, t0.Add(30*time.Minute)); err != nil {
		t.Errorf("idle exactly 30m: %v", err)
	}
	if _, err := e.reg.SessionBySecret(ctx, secret2, t0.Add(61*time.Minute)); !errors.Is(err, registry.ErrUnauthenticated) || !strings.Contains(err.Error(), "idle") {
		t.Errorf("idle 31m: got %v", err)
	}

	// Unknown secrets.
	for _, bad := range []string{"", "x", secret + "x"} {
		if _, err := e.reg.SessionBySecret(ctx, bad, t0); !errors.Is(err, registry.ErrUnauthenticated) {
			t.Errorf("secret %q: got %v", bad, err)
		}
	}

	// Sign-out ends one session.
	s3, secret3, _ := e.reg.CreateSession(ctx, in, t0)
	s4, secret4, _ := e.reg.CreateSession(ctx, in, t0.Add(time.Minute))
	ls, err := e.reg.ListSessions(ctx, p.ID, t0.Add(2*time.Minute))
	if err != nil || len(ls) != 4 || ls[0].ID != s4.ID || ls[0].CSRF != "" {
		t.Errorf("ListSessions: %+v, %v; want 4, newest first, no CSRF", ls, err)
	}
	if err := e.reg.EndSession(asAlice(ctx, p), s3.ID, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.EndSession(ctx, s3.ID, t0.Add(3*time.Minute)); err != nil {
		t.Errorf("second sign-out: %v", err)
	}
	if err := e.reg.EndSession(ctx, "no-such", t0); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("unknown session: %v", err)
	}
	if _, err := e.reg.SessionBySecret(ctx, secret3, t0.Add(2*time.Minute)); !errors.Is(err, registry.ErrUnauthenticated) {
		t.Errorf("signed-out session: got %v", err)
	}
	if _, err := e.reg.SessionBySecret(ctx, secret4, t0.Add(2*time.Minute)); err != nil {
		t.Errorf("another session after a sign-out: %v", err)
	}

	// A role change is seen by the live session at once.
	if err := e.reg.SetPrincipalRole(adminCtx(), "alice", "auditor"); err != nil {
		t.Fatal(err)
	}
	if got, err := e.reg.SessionBySecret(ctx, secret4, t0.Add(3*time.Minute)); err != nil || got.Principal.Role != access.Auditor {
		t.Errorf("after set-role: %+v, %v; want auditor", got.Principal, err)
	}

	// Sign out everywhere.
	n2, err := e.reg.EndSessions(adminCtx(), p.ID, t0.Add(4*time.Minute))
	if err != nil || n2 != 3 { // s, s2 (expired but never ended) and s4
		t.Errorf("EndSessions: %d, %v; want 3", n2, err)
	}
	if _, err := e.reg.SessionBySecret(ctx, secret4, t0.Add(4*time.Minute)); !errors.Is(err, registry.ErrUnauthenticated) {
		t.Errorf("after sign out everywhere: got %v", err)
	}
	_ = s2

	// Disabling the principal ends its sessions and refuses new ones.
	_, secret5, _ := e.reg.CreateSession(ctx, in, t0.Add(5*time.Minute))
	if err := e.reg.DisablePrincipal(adminCtx(), "alice", t0.Add(6*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.SessionBySecret(ctx, secret5, t0.Add(6*time.Minute)); !errors.Is(err, registry.ErrUnauthenticated) {
		t.Errorf("disabled principal's session: got %v", err)
	}
	if _, _, err := e.reg.CreateSession(ctx, in, t0.Add(7*time.Minute)); !errors.Is(err, registry.ErrUnauthenticated) {
		t.Errorf("new session for a disabled principal: got %v", err)
	}
	acts := strings.Join(e.auditActions(t, "principal:alice"), " ")
	for _, want := range []string{"session.created", "signout", "sessions.ended", "principal.role_changed", "principal.disabled"} {
		if !strings.Contains(acts, want) {
			t.Errorf("audit lacks %s: %s", want, acts)
		}
	}
}

func asAlice(ctx context.Context, p access.Principal) context.Context {
	a := access.ActorFrom(ctx)
	a.Principal = p
	return access.WithActor(ctx, a)
}

// TestPasswordResetEndsSessions: a reset password signs the user out
// everywhere.
func TestPasswordResetEndsSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.user(t, "alice", access.Helpdesk)
	_, secret, err := e.reg.CreateSession(browserCtx(), registry.SessionInput{Principal: access.Principal{ID: u.ID}, Method: registry.MethodPassword}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.reg.ResetPassword(adminCtx(), "alice", "short", t0); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("short password: %v", err)
	}
	if _, err := e.reg.SessionBySecret(browserCtx(), secret, t0); err != nil {
		t.Fatalf("a refused reset ended the session: %v", err)
	}
	if err := e.reg.ResetPassword(adminCtx(), "alice", "another long passphrase", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.SessionBySecret(browserCtx(), secret, t0); !errors.Is(err, registry.ErrUnauthenticated) {
		t.Errorf("session after a reset: got %v", err)
	}
	if err := e.reg.ResetPassword(adminCtx(), "nobody", "another long passphrase", t0); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
}

func TestSSOPrincipal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, "alice", access.Admin)
	ctx := browserCtx()
	id := registry.SSOIdentity{Issuer: "https://login.example.org/realms/it", Subject: "u-123", Name: "bob", Email: "bob@example.org",
		Role: access.Helpdesk, Groups: []string{"it-helpdesk"}}
	p, err := e.reg.SSOPrincipal(ctx, id, t0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "bob" || p.Role != access.Helpdesk || p.Kind != access.KindPerson || p.TokenID != "" {
		t.Errorf("created %+v", p)
	}
	u, err := e.reg.User(ctx, "bob", t0)
	if err != nil || u.Source != id.Issuer || u.HasPassword || u.LastSignInAt == nil {
		t.Errorf("SSO user %+v, %v", u, err)
	}
	// Signing in again finds the same principal; the role follows the
	// identity provider, the email is refreshed.
	id.Role, id.Email = access.Auditor, "robert@example.org"
	p2, err := e.reg.SSOPrincipal(ctx, id, t0.Add(time.Hour))
	if err != nil || p2.ID != p.ID || p2.Role != access.Auditor {
		t.Errorf("second sign-in %+v, %v; want %s as auditor", p2, err, p.ID)
	}
	if u, _ := e.reg.User(ctx, "bob", t0); u.Email != "robert@example.org" || u.Role != access.Auditor {
		t.Errorf("after refresh %+v", u)
	}
	// Same identity, no change: no role_changed entry.
	if _, err := e.reg.SSOPrincipal(ctx, id, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, a := range e.auditActions(t, "principal:bob") {
		count[a]++
	}
	if count["principal.created"] != 1 || count["principal.role_changed"] != 1 || count["signin"] != 3 || count["principal.updated"] != 1 {
		t.Errorf("audit %v", count)
	}

	// A local user's name is not taken over.
	other := registry.SSOIdentity{Issuer: "https://login.example.org/realms/it", Subject: "u-999", Name: "alice", Role: access.Admin}
	pa, err := e.reg.SSOPrincipal(ctx, other, t0)
	if err != nil || pa.Name != "alice@login.example.org" {
		t.Errorf("SSO alice: %+v, %v; want alice@login.example.org", pa, err)
	}
	if _, err := e.reg.SignIn(ctx, "alice", alicePw, "", t0); err != nil {
		t.Errorf("the local alice still signs in: %v", err)
	}
	// And a second identity with the same name from another realm on the
	// same host gets a third name.
	third := registry.SSOIdentity{Issuer: "https://login.example.org/realms/ops", Subject: "u-1", Name: "alice", Role: access.Auditor}
	p3, err := e.reg.SSOPrincipal(ctx, third, t0)
	if err != nil || p3.Name == "alice" || p3.Name == pa.Name || !strings.HasPrefix(p3.Name, "alice@login.example.org-") {
		t.Errorf("third alice: %+v, %v", p3, err)
	}
	// An SSO principal has no password here.
	if err := e.reg.ResetPassword(adminCtx(), pa.Name, "a long passphrase here", t0); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("reset an SSO user's password: %v", err)
	}
	if _, _, err := e.reg.EnableTOTP(adminCtx(), pa.Name, t0); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("TOTP for an SSO user: %v", err)
	}

	// No role: refused; disabled: refused.
	if _, err := e.reg.SSOPrincipal(ctx, registry.SSOIdentity{Issuer: id.Issuer, Subject: "u-5", Name: "eve"}, t0); !errors.Is(err, registry.ErrUnauthenticated) {
		t.Errorf("no role: got %v", err)
	}
	if _, err := e.reg.User(ctx, "eve", t0); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("a principal was made for an identity without a role: %v", err)
	}
	if err := e.reg.DisablePrincipal(adminCtx(), "bob", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.SSOPrincipal(ctx, id, t0.Add(3*time.Hour)); !errors.Is(err, registry.ErrUnauthenticated) {
		t.Errorf("disabled SSO principal: got %v", err)
	}
	if _, err := e.reg.SSOPrincipal(ctx, registry.SSOIdentity{Subject: "x", Role: access.Admin}, t0); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("no issuer: got %v", err)
	}
	us, _ := e.reg.ListUsers(ctx, t0)
	if len(us) != 4 {
		t.Errorf("ListUsers: %d users, want alice, bob and two SSO alices", len(us))
	}
}
