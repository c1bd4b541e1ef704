package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/access"
)

// Console configures the web console served under /ui/ and how people sign
// in to it (docs/roster-collector.md, "Web console").
type Console struct {
	// Enabled serves the web console under /ui/ (default true; false
	// serves the API only).
	Enabled *bool `yaml:"enabled"`
	// SessionIdle ends a console session nobody used for this long.
	SessionIdle Duration `yaml:"session_idle"`
	// SessionAbsolute ends a console session this long after sign-in,
	// however busy.
	SessionAbsolute Duration `yaml:"session_absolute"`
	// OIDC adds single sign-on through an OpenID provider beside local
	// accounts; nil means local accounts only.
	OIDC *OIDC `yaml:"oidc"`
}

// OIDC is the OpenID Connect relying party the console signs people in
// with: the authorisation code flow with PKCE, roles from a groups claim.
type OIDC struct {
	// Issuer is the provider's issuer URL, from which discovery
	// (/.well-known/openid-configuration) is read.
	Issuer   string `yaml:"issuer"`
	ClientID string `yaml:"client_id"`
	// ClientSecret or, better, ClientSecretFile (readable by the collector
	// only); neither makes a public client that relies on PKCE alone.
	ClientSecret     string `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// RedirectURL is the console's callback as registered with the
	// provider: https://collector.example.org:8443/ui/auth/oidc/callback.
	RedirectURL string `yaml:"redirect_url"`
	// Scopes requested (default openid profile email groups).
	Scopes []string `yaml:"scopes"`
	// GroupsClaim is the claim listing the user's groups (default groups).
	GroupsClaim string `yaml:"groups_claim"`
	// Roles maps a group to the role its members get. A user in several
	// mapped groups gets the first of admin, auditor, helpdesk, automation.
	Roles map[string]string `yaml:"roles"`
	// CAFile is a PEM bundle to trust for the issuer's TLS, when its
	// certificate is not from a public CA.
	CAFile string `yaml:"ca_file"`
	// DisplayName is the sign-in button's text (default "single sign-on").
	DisplayName string `yaml:"display_name"`
}

// Console defaults.
const (
	DefaultSessionIdle     = 30 * time.Minute
	DefaultSessionAbsolute = 12 * time.Hour
	DefaultGroupsClaim     = "groups"
	DefaultOIDCDisplayName = "single sign-on"
	// OIDCCallbackPath is where the console receives the provider's
	// answer; redirect_url must end with it.
	OIDCCallbackPath = "/ui/auth/oidc/callback"
)

// DefaultOIDCScopes are the scopes requested when oidc.scopes is unset.
func DefaultOIDCScopes() []string { return []string{"openid", "profile", "email", "groups"} }

// On reports whether the web console is served (the default).
func (c Console) On() bool { return c.Enabled == nil || *c.Enabled }

// SSO reports whether single sign-on is configured.
func (c Console) SSO() bool { return c.OIDC != nil }

// ScopeList is Scopes with its default.
func (o OIDC) ScopeList() []string {
	if len(o.Scopes) == 0 {
		return DefaultOIDCScopes()
	}
	return o.Scopes
}

// GroupsClaimName is GroupsClaim with its default.
func (o OIDC) GroupsClaimName() string {
	if o.GroupsClaim == "" {
		return DefaultGroupsClaim
	}
	return o.GroupsClaim
}

// ButtonText is DisplayName with its default.
func (o OIDC) ButtonText() string {
	if o.DisplayName == "" {
		return DefaultOIDCDisplayName
	}
	return o.DisplayName
}

// RoleMap is Roles parsed: group to role.
func (o OIDC) RoleMap() (map[string]access.Role, error) {
	m := make(map[string]access.Role, len(o.Roles))
	for group, name := range o.Roles {
		r, err := access.ParseRole(name)
		if err != nil {
			return nil, fmt.Errorf("console.oidc.roles[%q]: %w", group, err)
		}
		m[group] = r
	}
	return m, nil
}

// ReadClientSecret returns the client secret, reading client_secret_file
// when that is how it is given (surrounding white space dropped, as for
// webhook secrets). An empty secret means a public client.
func (o OIDC) ReadClientSecret() (string, error) {
	if o.ClientSecretFile == "" {
		return o.ClientSecret, nil
	}
	b, err := os.ReadFile(o.ClientSecretFile)
	if err != nil {
		return "", fmt.Errorf("read console.oidc.client_secret_file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("console.oidc.client_secret_file %s is empty", o.ClientSecretFile)
	}
	return s, nil
}

func (c Console) validate() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	idle, abs := time.Duration(c.SessionIdle), time.Duration(c.SessionAbsolute)
	if idle < time.Minute || idle > 24*time.Hour {
		add("console.session_idle %s must be from 1m to 24h", idle)
	}
	if abs < 10*time.Minute || abs > 30*24*time.Hour {
		add("console.session_absolute %s must be from 10m to 720h (30 days)", abs)
	} else if abs < idle {
		add("console.session_absolute %s must be at least console.session_idle %s", abs, idle)
	}
	o := c.OIDC
	if o == nil {
		return errs
	}
	if err := checkOIDCURL(o.Issuer); err != nil {
		add("console.oidc.issuer %q %v", o.Issuer, err)
	}
	if err := checkOIDCURL(o.RedirectURL); err != nil {
		add("console.oidc.redirect_url %q %v", o.RedirectURL, err)
	} else if u, _ := url.Parse(o.RedirectURL); !strings.HasSuffix(u.Path, OIDCCallbackPath) {
		add("console.oidc.redirect_url %q must end with %s, where the console receives the provider's answer", o.RedirectURL, OIDCCallbackPath)
	}
	if strings.TrimSpace(o.ClientID) == "" {
		add("console.oidc.client_id is required (the client registered with the provider)")
	}
	if o.ClientSecret != "" && o.ClientSecretFile != "" {
		add("console.oidc: give at most one of client_secret and client_secret_file (neither for a public client)")
	}
	if len(o.Scopes) > 0 {
		openid := false
		for _, s := range o.Scopes {
			openid = openid || s == "openid"
			if s == "" || strings.ContainsAny(s, " \t\"") {
				add("console.oidc.scopes: %q is not a scope", s)
			}
		}
		if !openid {
			add("console.oidc.scopes must include openid")
		}
	}
	if strings.TrimSpace(o.GroupsClaimName()) != o.GroupsClaimName() {
		add("console.oidc.groups_claim %q must not have surrounding spaces", o.GroupsClaim)
	}
	if len(o.Roles) == 0 {
		add("console.oidc.roles must map at least one group to a role (admin, helpdesk, auditor or automation), " +
			"or nobody could sign in through it")
	}
	for group, name := range o.Roles {
		if strings.TrimSpace(group) == "" {
			add("console.oidc.roles: a group name is empty")
		}
		if _, err := access.ParseRole(name); err != nil {
			add("console.oidc.roles[%q]: %v", group, err)
		}
	}
	return errs
}

// checkOIDCURL accepts an absolute https URL, or http on a loopback host
// (a provider on the same machine, as in tests): tokens and codes must not
// cross a network in the clear.
func checkOIDCURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return fmt.Errorf("is required")
	case err != nil || !u.IsAbs() || u.Host == "":
		return fmt.Errorf("must be an absolute URL (https://host/...)")
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("must not have a query or fragment")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	default:
		return fmt.Errorf("must be https (http only on a loopback address)")
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
