package main

// The web console (collector/console) on the collector's port: /ui/ and
// the redirect from /, with OIDC single sign-on when console.oidc is set.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"time"

	"github.com/rosterhq/roster/collector/config"
	"github.com/rosterhq/roster/collector/console"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/sso"
)

// mountConsole adds the console to mux when the configuration has it on.
func mountConsole(ctx context.Context, mux *http.ServeMux, cfg config.Console, reg *registry.Registry, ca *pki.CA, rule *regexp.Regexp,
	now func() time.Time, logger *slog.Logger) error {
	if !cfg.On() {
		logger.Info("web console off (console.enabled: false)")
		return nil
	}
	var provider *sso.Provider
	if cfg.OIDC != nil {
		var err error
		// The flow cookie's key comes from the command key, which every
		// collector sharing the store holds: a sign-in started on one
		// collector finishes on any other behind the same load balancer.
		cookieKey, err := ca.Command.DeriveKey("console oidc flow cookie")
		if err != nil {
			return err
		}
		if provider, err = newSSO(ctx, *cfg.OIDC, cookieKey, logger.With("component", "sso")); err != nil {
			return err
		}
	}
	c, err := console.New(console.Options{
		Registry: reg, Logger: logger, Now: now, SSO: provider, HostnameRule: rule,
		SessionIdle: time.Duration(cfg.SessionIdle), SessionAbsolute: time.Duration(cfg.SessionAbsolute),
	})
	if err != nil {
		return fmt.Errorf("web console: %w", err)
	}
	mux.Handle("/ui/", c)
	mux.Handle("/ui", c)
	mux.Handle("GET /{$}", c)
	return nil
}

// newSSO builds the OIDC relying party from the configuration: the client
// secret from the file when one is named, the issuer's TLS trusted through
// ca_file when set.
func newSSO(ctx context.Context, o config.OIDC, cookieKey []byte, logger *slog.Logger) (*sso.Provider, error) {
	secret, err := o.ReadClientSecret()
	if err != nil {
		return nil, fmt.Errorf("console.oidc: %w", err)
	}
	roles, err := o.RoleMap()
	if err != nil {
		return nil, fmt.Errorf("console.oidc: %w", err)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("console.oidc.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("console.oidc.ca_file %s: no PEM certificate in it", o.CAFile)
		}
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	// The provider's tokens are checked against real time, not the
	// collector's test clock: the browser and the provider live in it.
	p, err := sso.New(ctx, sso.Config{
		Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: secret, RedirectURL: o.RedirectURL,
		Scopes: o.ScopeList(), GroupsClaim: o.GroupsClaimName(), Roles: roles, HTTPClient: client,
		DisplayName: o.ButtonText(), Logger: logger, CookieKey: cookieKey,
	})
	if err != nil {
		return nil, fmt.Errorf("console.oidc: %w", err)
	}
	return p, nil
}
