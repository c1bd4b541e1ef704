package api_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/api"
	"github.com/rosterhq/roster/collector/registry"
)

// TestMetricsAccess: GET /metrics needs a token with metrics.read unless
// the configuration (metrics.public, Options.MetricsPublic) opens it, and
// then it needs nothing, so a token without the permission does not turn
// the answer into a refusal either.
func TestMetricsAccess(t *testing.T) {
	t.Parallel()
	for _, public := range []bool{false, true} {
		f := newFixture(t, tls.NoClientCert, func(o *api.Options) { o.MetricsPublic = public })
		_, desk, err := f.reg.CreateToken(context.Background(), registry.TokenInput{Principal: "desk", Role: "helpdesk"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		wantNone, wantDesk := http.StatusUnauthorized, http.StatusForbidden
		if public {
			wantNone, wantDesk = http.StatusOK, http.StatusOK
		}
		for _, tc := range []struct {
			who, token string
			want       int
		}{{"no credential", "", wantNone}, {"helpdesk", desk, wantDesk}, {"admin", f.token, http.StatusOK}} {
			hdr := map[string]string{}
			if tc.token != "" {
				hdr["Authorization"] = "Bearer " + tc.token
			}
			res := f.do(t, f.client(t, nil), "GET", "/metrics", nil, hdr)
			if res.status != tc.want {
				t.Errorf("public=%v, %s: status %d, want %d: %.200s", public, tc.who, res.status, tc.want, res.body)
				continue
			}
			if res.status == http.StatusOK && !strings.Contains(string(res.body), "# TYPE roster_") {
				t.Errorf("public=%v, %s: 200 without the roster metrics: %.200s", public, tc.who, res.body)
			}
		}
	}
}
