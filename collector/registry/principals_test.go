package registry_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/registry"
)

func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := access.WithActor(context.Background(), access.Actor{Principal: access.Principal{ID: "p-root", Name: "root", Kind: access.KindPerson, Role: access.Admin}, Source: "127.0.0.1"})
	rec, tok, err := e.reg.CreateToken(admin, registry.TokenInput{Principal: "ops", Email: "ops@example.org", Role: "helpdesk", ExpiresIn: 48 * time.Hour}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != registry.TokenActive || rec.Role != access.Helpdesk || rec.CreatedBy != "root" || !rec.ExpiresAt.Equal(t0.Add(48*time.Hour)) {
		t.Errorf("created record %+v", rec)
	}
	p, err := e.reg.AuthenticateToken(admin, tok, "10.1.2.3", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "ops" || p.Role != access.Helpdesk || p.TokenID != rec.ID {
		t.Errorf("authenticated %+v, want ops/helpdesk/%s", p, rec.ID)
	}
	got, _ := e.reg.Token(admin, rec.ID, t0.Add(time.Hour))
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(t0.Add(time.Hour)) || got.LastUsedFrom != "10.1.2.3" {
		t.Errorf("last use: %v from %q, want %v from 10.1.2.3", got.LastUsedAt, got.LastUsedFrom, t0.Add(time.Hour))
	}

	// Unknown, malformed, expired.
	for _, bad := range []string{"", "rst_", tok + "x", "Bearer " + tok} {
		if _, err := e.reg.AuthenticateToken(admin, bad, "x", t0); !errors.Is(err, registry.ErrUnauthenticated) {
			t.Errorf("AuthenticateToken(%q): got %v, want ErrUnauthenticated", bad, err)
		}
	}
	if _, err := e.reg.AuthenticateToken(admin, tok, "x", t0.Add(48*time.Hour)); !errors.Is(err, registry.ErrUnauthenticated) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("at expiry: got %v, want expired", err)
	}

	// A second token for the same principal keeps its role; another role
	// is refused rather than silently changing who may do what.
	if _, _, err := e.reg.CreateToken(admin, registry.TokenInput{Principal: "ops", Role: "admin"}, t0); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("role change through create: got %v, want ErrInvalid", err)
	}
	if _, _, err := e.reg.CreateToken(admin, registry.TokenInput{Principal: "newbie"}, t0); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("new principal without role: got %v, want ErrInvalid", err)
	}
	if _, _, err := e.reg.CreateToken(admin, registry.TokenInput{Principal: "x", Role: "root"}, t0); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("role root: got %v, want ErrInvalid", err)
	}
	if _, _, err := e.reg.CreateToken(admin, registry.TokenInput{Principal: "x", Role: "admin", ExpiresIn: 400 * 24 * time.Hour}, t0); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("400-day token: got %v, want ErrInvalid", err)
	}

	// Rotate: the new token works, the old one is revoked at once.
	rot, tok2, err := e.reg.RotateToken(admin, rec.ID, 0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if rot.RotatedFrom != rec.ID || !rot.ExpiresAt.Equal(t0.Add(49*time.Hour)) {
		t.Errorf("rotated %+v: want rotated_from %s and the same 48h lifetime", rot, rec.ID)
	}
	if _, err := e.reg.AuthenticateToken(admin, tok, "x", t0.Add(2*time.Hour)); !errors.Is(err, registry.ErrUnauthenticated) || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("old token after rotation: got %v, want revoked", err)
	}
	if _, err := e.reg.AuthenticateToken(admin, tok2, "x", t0.Add(2*time.Hour)); err != nil {
		t.Errorf("new token: %v", err)
	}
	if _, _, err := e.reg.RotateToken(admin, rec.ID, 0, t0.Add(2*time.Hour)); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("rotating a revoked token: got %v, want ErrInvalid", err)
	}

	// Listing never shows a token, and only active ones unless asked.
	active, _ := e.reg.ListTokens(admin, registry.TokenFilter{Principal: "ops"}, t0.Add(2*time.Hour))
	all, _ := e.reg.ListTokens(admin, registry.TokenFilter{Principal: "ops", All: true}, t0.Add(2*time.Hour))
	if len(active) != 1 || active[0].ID != rot.ID || len(all) != 2 {
		t.Errorf("list: %d active (want 1: %s), %d all (want 2)", len(active), rot.ID, len(all))
	}

	// Revoke, then disable the principal.
	if r, err := e.reg.RevokeToken(admin, rot.ID, t0.Add(3*time.Hour)); err != nil || r.Status != registry.TokenRevoked || r.RevokedBy != "root" {
		t.Errorf("revoke: %+v, %v", r, err)
	}
	_, tok3, _ := e.reg.CreateToken(admin, registry.TokenInput{Principal: "ops"}, t0.Add(3*time.Hour))
	if err := e.reg.DisablePrincipal(admin, "ops", t0.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.AuthenticateToken(admin, tok3, "x", t0.Add(5*time.Hour)); !errors.Is(err, registry.ErrUnauthenticated) || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("token of a disabled principal: got %v, want disabled", err)
	}

	// Only hashes are stored.
	db := e.rawDB(t)
	var n int
	for _, plain := range []string{tok, tok2, tok3} {
		db.QueryRow("SELECT count(*) FROM api_tokens WHERE hash = $1 OR id = $1", plain).Scan(&n)
		if n != 0 {
			t.Error("token stored in clear")
		}
	}

	// Every change is in the audit log with its actor.
	es, _, err := e.reg.ListAudit(admin, registry.AuditFilter{Target: "principal:ops"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range es {
		if en.PrincipalName != "root" || en.Source != "127.0.0.1" {
			t.Errorf("entry %d actor %q from %q, want root from 127.0.0.1", en.Seq, en.PrincipalName, en.Source)
		}
		actions = append(actions, en.Action)
	}
	want := "principal.created token.created token.rotated token.revoked token.created principal.disabled"
	if got := strings.Join(actions, " "); got != want {
		t.Errorf("audit actions:\n got %s\nwant %s", got, want)
	}
}
