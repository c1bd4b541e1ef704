package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/collector/access"
)

const consoleOIDC = `
data_dir: /var/lib/roster
console:
  session_idle: 15m
  session_absolute: 8h
  oidc:
    issuer: https://login.example.org/realms/it
    client_id: roster
    client_secret_file: /etc/roster/oidc.secret
    redirect_url: https://collector.example.org:8443/ui/auth/oidc/callback
    roles:
      it-admins: admin
      helpdesk: Helpdesk
`

func TestConsoleDefaults(t *testing.T) {
	t.Parallel()
	c := Default()
	c.DataDir = "/d"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !c.Console.On() || c.Console.SSO() {
		t.Errorf("On, SSO = %v, %v; want true, false", c.Console.On(), c.Console.SSO())
	}
	if got := time.Duration(c.Console.SessionIdle); got != 30*time.Minute {
		t.Errorf("session_idle %s, want 30m", got)
	}
	if got := time.Duration(c.Console.SessionAbsolute); got != 12*time.Hour {
		t.Errorf("session_absolute %s, want 12h", got)
	}
	if err := Decode([]byte("console:\n  enabled: false\n"), &c); err != nil {
		t.Fatal(err)
	}
	if c.Console.On() {
		t.Error("console.enabled: false still serves the console")
	}
}

func TestConsoleOIDC(t *testing.T) {
	t.Parallel()
	c := Default()
	if err := Decode([]byte(consoleOIDC), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	o := c.Console.OIDC
	if !c.Console.SSO() || o == nil {
		t.Fatal("oidc not read")
	}
	if diff := cmp.Diff([]string{"openid", "profile", "email", "groups"}, o.ScopeList()); diff != "" {
		t.Errorf("default scopes (-want +got):\n%s", diff)
	}
	if o.GroupsClaimName() != "groups" || o.ButtonText() != "single sign-on" {
		t.Errorf("defaults: claim %q, button %q", o.GroupsClaimName(), o.ButtonText())
	}
	roles, err := o.RoleMap()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]access.Role{"it-admins": access.Admin, "helpdesk": access.Helpdesk}, roles); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
	if time.Duration(c.Console.SessionIdle) != 15*time.Minute || time.Duration(c.Console.SessionAbsolute) != 8*time.Hour {
		t.Errorf("sessions %s, %s; want 15m, 8h", c.Console.SessionIdle, c.Console.SessionAbsolute)
	}
}

func TestConsoleStrictKeys(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ yaml, key string }{
		{"console:\n  session_idel: 5m\n", `"console.session_idel"`},
		{"console:\n  oidc:\n    issuer: https://a.example\n    client_secret_fil: x\n", `"console.oidc.client_secret_fil"`},
	} {
		c := Default()
		err := Decode([]byte(tt.yaml), &c)
		if err == nil || !strings.Contains(err.Error(), tt.key) {
			t.Errorf("Decode(%q) = %v, want an error naming %s", tt.yaml, err, tt.key)
		}
	}
	c := Default()
	if err := Decode([]byte("console:\n  oidc:\n"), &c); err != nil || c.Console.OIDC != nil {
		t.Errorf("an empty oidc key: err %v, oidc %v; want no error, nil", err, c.Console.OIDC)
	}
}

func TestConsoleValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*Console)
		want   string // in the error; "" for valid
	}{
		{"valid", func(*Console) {}, ""},
		{"public client", func(c *Console) { c.OIDC.ClientSecretFile = "" }, ""},
		{"inline secret", func(c *Console) { c.OIDC.ClientSecretFile, c.OIDC.ClientSecret = "", "s" }, ""},
		{"loopback http", func(c *Console) {
			c.OIDC.Issuer = "http://127.0.0.1:5556/dex"
			c.OIDC.RedirectURL = "http://localhost:8443/ui/auth/oidc/callback"
		}, ""},
		{"both secrets", func(c *Console) { c.OIDC.ClientSecret = "s" }, "at most one of client_secret and client_secret_file"},
		{"no issuer", func(c *Console) { c.OIDC.Issuer = "" }, "console.oidc.issuer \"\" is required"},
		{"relative issuer", func(c *Console) { c.OIDC.Issuer = "login.example.org" }, "must be an absolute URL"},
		{"http issuer", func(c *Console) { c.OIDC.Issuer = "http://login.example.org" }, "must be https"},
		{"issuer query", func(c *Console) { c.OIDC.Issuer = "https://login.example.org/?a=b" }, "query or fragment"},
		{"redirect path", func(c *Console) { c.OIDC.RedirectURL = "https://c.example.org/callback" }, "must end with /ui/auth/oidc/callback"},
		{"no client id", func(c *Console) { c.OIDC.ClientID = " " }, "client_id is required"},
		{"no roles", func(c *Console) { c.OIDC.Roles = nil }, "roles must map at least one group"},
		{"bad role", func(c *Console) { c.OIDC.Roles = map[string]string{"g": "root"} }, `roles["g"]: role "root"`},
		{"scopes without openid", func(c *Console) { c.OIDC.Scopes = []string{"profile"} }, "must include openid"},
		{"idle too short", func(c *Console) { c.SessionIdle = Duration(time.Second) }, "console.session_idle 1s"},
		{"absolute below idle", func(c *Console) {
			c.SessionIdle, c.SessionAbsolute = Duration(2*time.Hour), Duration(time.Hour)
		}, "must be at least console.session_idle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			if err := Decode([]byte(consoleOIDC), &c); err != nil {
				t.Fatal(err)
			}
			tt.change(&c.Console)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestConsoleClientSecretFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "oidc.secret")
	if err := os.WriteFile(p, []byte("  s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := OIDC{ClientSecretFile: p}.ReadClientSecret()
	if err != nil || got != "s3cret" {
		t.Errorf("got %q, %v; want s3cret", got, err)
	}
	if _, err := (OIDC{ClientSecretFile: p + ".missing"}).ReadClientSecret(); err == nil {
		t.Error("a missing secret file was accepted")
	}
}
