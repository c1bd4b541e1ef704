package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/console"
	"github.com/rosterhq/roster/collector/registry"
)

// TestRoutePermissionMatrix calls every console route without a session
// and as a signed-in person of each role, and checks the guard's answer
// against the API's role table (access.Role.Can), as the API's
// TestPermissionMatrix does for /api/v1: no session is sent to sign in
// (GET) or refused 401 (POST, audited); a role without the route's
// permission gets 403, audited; a role with it gets past the guard.
func TestRoutePermissionMatrix(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for _, u := range []registry.UserInput{{Name: "aud", Role: access.Auditor, Password: password}, {Name: "bot", Role: access.Automation, Password: password}} {
		if _, err := f.reg.CreateUser(ctx, u, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	users := map[access.Role]string{access.Admin: "ada", access.Helpdesk: "hal", access.Auditor: "aud", access.Automation: "bot"}
	browsers := map[access.Role]*browser{}
	for _, role := range access.Roles() {
		b := f.browser(t)
		b.signIn(users[role])
		browsers[role] = b
	}
	anonymous := f.browser(t)
	path := strings.NewReplacer("{id}", "no-such-id", "{$}", "")
	refused, anonymousPosts := 0, 0
	for _, rt := range console.RouteTable() {
		method, pattern, _ := strings.Cut(rt.Pattern, " ")
		p := path.Replace(pattern)
		call := func(b *browser) page {
			if method == http.MethodPost {
				return b.post(p, url.Values{"csrf": {b.csrf}})
			}
			return b.get(p)
		}
		if rt.Perm == access.Public {
			continue
		}
		got := call(anonymous)
		switch {
		case method == http.MethodGet && (got.status != http.StatusSeeOther || !strings.HasPrefix(got.header.Get("Location"), "/ui/login")):
			t.Errorf("%s without a session: %d %s, want 303 to /ui/login", rt.Pattern, got.status, got.header.Get("Location"))
		case method == http.MethodPost && got.status != http.StatusUnauthorized:
			t.Errorf("%s without a session: %d, want 401", rt.Pattern, got.status)
		case method == http.MethodPost:
			anonymousPosts++
		}
		if rt.Perm == console.SignedIn {
			// Every role holds it; calling sign-out would end the
			// browser's session for the routes after it.
			continue
		}
		for _, role := range access.Roles() {
			got := call(browsers[role])
			toLogin := got.status == http.StatusSeeOther && strings.HasPrefix(got.header.Get("Location"), "/ui/login")
			if role.Can(rt.Perm) {
				if got.status == http.StatusForbidden || got.status == http.StatusUnauthorized || toLogin {
					t.Errorf("%s as %s (holds %s): %d, want past the guard", rt.Pattern, role, rt.Perm, got.status)
				}
				continue
			}
			if got.status != http.StatusForbidden || !strings.Contains(got.body, "may not do this") {
				t.Errorf("%s as %s (lacks %s): %d, want 403 naming the role", rt.Pattern, role, rt.Perm, got.status)
				continue
			}
			refused++
		}
	}
	es, _, err := f.reg.ListAudit(ctx, registry.AuditFilter{Action: "request.denied", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var forbidden, unauthenticated int
	for _, e := range es {
		switch {
		case strings.Contains(e.Detail, `"status":403`) && e.PrincipalName != "":
			forbidden++
		case strings.Contains(e.Detail, `"status":401`) && e.PrincipalName == "" && e.Source != "":
			unauthenticated++
		}
	}
	if forbidden != refused || refused == 0 {
		t.Errorf("%d refusals by role, %d audited 403s naming the principal", refused, forbidden)
	}
	if unauthenticated != anonymousPosts || anonymousPosts == 0 {
		t.Errorf("%d forms sent without a session, %d audited 401s with the source", anonymousPosts, unauthenticated)
	}
	t.Logf("%d refusals by role and %d forms without a session checked", refused, anonymousPosts)
}
