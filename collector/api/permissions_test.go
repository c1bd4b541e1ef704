package api_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/api"
	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

// docTable reads the permission table of docs/api.md: rows
// "| METHOD | PATH | PERMISSION | ... |" between the permission-table
// markers.
func docTable(t *testing.T) map[string]access.Permission {
	t.Helper()
	f, err := os.Open("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| (GET|POST|PUT|PATCH|DELETE) +\\| `([^`]+)` +\\| `([a-z.]+)` +\\|")
	out := map[string]access.Permission{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, "<!-- permission-table -->"):
			in = true
		case strings.Contains(line, "<!-- /permission-table -->"):
			in = false
		case in:
			if m := row.FindStringSubmatch(line); m != nil {
				out[m[1]+" "+m[2]] = access.Permission(m[3])
			}
		}
	}
	return out
}

// TestRoutePermissions: every route declares a permission, and the
// declarations are exactly the table docs/api.md publishes.
func TestRoutePermissions(t *testing.T) {
	t.Parallel()
	doc := docTable(t)
	code := map[string]access.Permission{}
	known := append(access.Permissions(), access.Public, access.Agent)
	for _, r := range api.RouteTable(api.Options{TestClock: &offsetClock{}}) {
		key := r.Method + " " + r.Path
		if r.Perm == "" || !slices.Contains(known, r.Perm) {
			t.Errorf("%s declares no known permission (%q)", key, r.Perm)
		}
		code[key] = r.Perm
	}
	for k, p := range code {
		if dp, ok := doc[k]; !ok {
			t.Errorf("docs/api.md permission table lacks %s (%s)", k, p)
		} else if dp != p {
			t.Errorf("%s: code declares %s, docs/api.md says %s", k, p, dp)
		}
	}
	for k := range doc {
		if _, ok := code[k]; !ok {
			t.Errorf("docs/api.md lists %s, which no route serves", k)
		}
	}
}

// TestPermissionMatrix calls every route with every kind of credential and
// checks the guard's answer against the role table: refused exactly when
// the table says so, with 401 for a missing or bad credential and 403 for
// a role without the permission, and every refusal in the audit log.
func TestPermissionMatrix(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.VerifyClientCertIfGiven, func(o *api.Options) {
		o.TestClock = &offsetClock{}
		o.AuthFailureLimit = -1
	})
	ctx := context.Background()
	now := f.clock.Now()
	tokens := map[string]string{}
	for _, role := range access.Roles() {
		_, tok, err := f.reg.CreateToken(ctx, registry.TokenInput{Principal: "matrix-" + string(role), Role: string(role)}, now)
		if err != nil {
			t.Fatal(err)
		}
		tokens[string(role)] = tok
	}
	revokedRec, revoked, _ := f.reg.CreateToken(ctx, registry.TokenInput{Principal: "matrix-revoked", Role: "admin"}, now)
	if _, err := f.reg.RevokeToken(ctx, revokedRec.ID, now); err != nil {
		t.Fatal(err)
	}
	_, expired, _ := f.reg.CreateToken(ctx, registry.TokenInput{Principal: "matrix-expired", Role: "admin", ExpiresIn: time.Hour}, now.Add(-2*time.Hour))
	dev := f.enroll(t, f.newSecret(t, "").Secret, wire.IdentityOf(registrytest.Rich(t)))

	type cred struct {
		name  string
		token string
		cert  *tls.Certificate
		role  access.Role
	}
	creds := []cred{
		{name: "none"}, {name: "garbage", token: "rst_garbage"}, {name: "not-a-token", token: "hunter2"},
		{name: "revoked", token: revoked}, {name: "expired", token: expired},
		{name: "agent-cert-only", cert: &dev.cert},
	}
	for _, role := range access.Roles() {
		creds = append(creds, cred{name: string(role), token: tokens[string(role)], role: role})
	}
	fill := strings.NewReplacer("{ref}", "no-such-ref", "{tag}", "NO-SUCH-TAG", "{id}", "no-such-id", "{name}", "no-such-principal")
	denied := 0
	for _, r := range api.RouteTable(api.Options{TestClock: &offsetClock{}}) {
		// Moving the test clock would expire the matrix's tokens.
		if r.Path == "/api/v1/test/clock" && r.Method == "PUT" {
			continue
		}
		for _, c := range creds {
			name := fmt.Sprintf("%s %s as %s", r.Method, r.Path, c.name)
			hdr := map[string]string{"Content-Type": "application/json"}
			if c.token != "" {
				hdr["Authorization"] = "Bearer " + c.token
			}
			res := f.do(t, f.client(t, c.cert), r.Method, fill.Replace(r.Path), []byte("{}"), hdr)
			if r.Path == "/api/v1/tokens/self/rotate" && res.status == http.StatusCreated {
				// Rotating revoked the token the matrix holds: go on with
				// the new one.
				var rot struct {
					Token string `json:"token"`
				}
				decodeLoose[any](t, res, http.StatusCreated)
				if err := json.Unmarshal(res.body, &rot); err != nil || rot.Token == "" {
					t.Fatalf("rotate answer %s: %v", res.body, err)
				}
				for i := range creds {
					if creds[i].token == c.token {
						creds[i].token = rot.Token
					}
				}
			}
			var want int // 0: the guard lets it through
			switch r.Perm {
			case access.Public:
			case access.Agent:
				if c.cert == nil {
					want = http.StatusUnauthorized
				}
			default:
				switch {
				case c.role == "":
					want = http.StatusUnauthorized
				case !c.role.Can(r.Perm):
					want = http.StatusForbidden
				}
			}
			guardCode := ""
			if res.status == http.StatusUnauthorized || res.status == http.StatusForbidden {
				guardCode = res.errCode(t)
			}
			switch {
			case want == 0 && (guardCode == "unauthenticated" || guardCode == "forbidden"):
				t.Errorf("%s: refused %d %s, want the guard to let it through: %s", name, res.status, guardCode, res.body)
			case want != 0 && res.status != want:
				t.Errorf("%s: status %d, want %d: %s", name, res.status, want, res.body)
			case want != 0:
				denied++
			}
		}
	}
	// Every refusal is in the audit log, none carries a presented token.
	es, _, err := f.reg.ListAudit(ctx, registry.AuditFilter{Action: "request.denied", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for {
		for _, e := range es {
			if e.Outcome != audit.Denied {
				t.Errorf("entry %d outcome %q", e.Seq, e.Outcome)
			}
			for _, tok := range []string{revoked, expired, tokens["helpdesk"], "hunter2"} {
				if strings.Contains(e.Detail, tok) || strings.Contains(e.Target, tok) {
					t.Errorf("entry %d holds a presented credential: %+v", e.Seq, e)
				}
			}
		}
		n += len(es)
		if len(es) < 1000 {
			break
		}
		es, _, _ = f.reg.ListAudit(ctx, registry.AuditFilter{Action: "request.denied", Limit: 1000, AfterSeq: es[len(es)-1].Seq})
	}
	if n < denied {
		t.Errorf("%d refusals, %d request.denied audit entries", denied, n)
	}
	t.Logf("%d refusals checked", denied)
}

// TestAuthThrottle: a source that keeps failing is refused with 429 before
// its credentials are looked at, and the refusals are audited with the
// principal when one is known.
func TestAuthThrottle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.NoClientCert, func(o *api.Options) { o.AuthFailureLimit = 3 })
	for i := range 3 {
		res := f.do(t, f.client(t, nil), "GET", "/api/v1/devices", nil, map[string]string{"Authorization": "Bearer rst_wrong"})
		if res.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i+1, res.status)
		}
	}
	res := f.do(t, f.client(t, nil), "GET", "/api/v1/devices", nil, map[string]string{"Authorization": "Bearer " + f.token})
	if res.status != http.StatusTooManyRequests || res.errCode(t) != "too_many_failures" {
		t.Fatalf("after 3 failures even a good token: status %d %s, want 429", res.status, res.body)
	}
	f.clock.Add(time.Minute)
	if res := f.admin(t, "GET", "/api/v1/devices", nil); res.status != http.StatusOK {
		t.Errorf("a minute later: status %d, want 200", res.status)
	}
}

// Enrolment is a public route: guessing enrolment secrets must be
// throttled like guessing tokens, and a throttled source is refused before
// its secret is even looked at.
func TestEnrolThrottle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.NoClientCert, func(o *api.Options) { o.AuthFailureLimit = 3 })
	good := f.newSecret(t, "")
	snap := registrytest.Rich(t)
	for i := range 3 {
		req, _ := f.enrollReq(t, "rse_guess", wire.IdentityOf(snap))
		r := f.do(t, f.client(t, nil), "POST", "/api/v1/enroll", marshal(t, req), nil)
		if r.status != http.StatusForbidden || r.errCode(t) != "secret_invalid" {
			t.Fatalf("guess %d: status %d %s, want 403 secret_invalid", i+1, r.status, r.body)
		}
	}
	before := f.counts(t)
	req, _ := f.enrollReq(t, good.Secret, wire.IdentityOf(snap))
	r := f.do(t, f.client(t, nil), "POST", "/api/v1/enroll", marshal(t, req), nil)
	if r.status != http.StatusTooManyRequests || r.errCode(t) != "too_many_failures" {
		t.Fatalf("after 3 guesses even the right secret: status %d %s, want 429", r.status, r.body)
	}
	if diff := cmp.Diff(before, f.counts(t)); diff != "" {
		t.Errorf("a throttled enrolment changed the database:\n%s", diff)
	}
	f.clock.Add(time.Minute)
	f.enroll(t, good.Secret, wire.IdentityOf(snap))
}
