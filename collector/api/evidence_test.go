package api_test

import (
	"archive/zip"
	"bytes"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/evidence/bundle"
	"github.com/rosterhq/roster/collector/registry"
)

// TestEvidenceExport: an auditor gets a signed bundle that verifies
// offline and the export is in the audit log with who and which period;
// helpdesk is refused; a bad period is a 400 naming the parameter.
func TestEvidenceExport(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.NoClientCert)
	auditor := f.tokenFor(t, "erin", "auditor", "")
	helpdesk := f.tokenFor(t, "harry", "helpdesk", "")
	from := f.clock.Now().AddDate(0, 0, -3).Format(time.DateOnly)

	req, err := http.NewRequest("GET", f.srv.URL+"/api/v1/evidence?from="+from, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+auditor)
	resp, err := f.client(t, nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/zip" ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "roster-evidence-") {
		t.Fatalf("auditor export: %d %v %.200s", resp.StatusCode, resp.Header, body.Bytes())
	}
	zr, err := zip.NewReader(bytes.NewReader(body.Bytes()), int64(body.Len()))
	if err != nil {
		t.Fatal(err)
	}
	res, err := bundle.VerifyZip(zr, f.ca.Command.Public)
	if err != nil || !res.OK {
		t.Fatalf("bundle from the API: %v %v", err, res.Err())
	}
	if res.Manifest.Exporter != "erin" || res.Manifest.From.Format(time.DateOnly) != from {
		t.Errorf("manifest exporter %q from %v, want erin from %s", res.Manifest.Exporter, res.Manifest.From, from)
	}
	es, _, err := f.reg.ListAudit(t.Context(), registry.AuditFilter{Action: "evidence.exported"})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].PrincipalName != "erin" || !strings.Contains(es[0].Detail, from+"T00:00:00Z") {
		t.Errorf("audit of the export = %+v, want one entry by erin naming the period", es)
	}

	if r := f.as(t, auditor, "HEAD", "/api/v1/evidence?from="+from, nil); r.status != http.StatusOK || len(r.body) != 0 {
		t.Errorf("HEAD: %d with %d bytes, want 200 and no body", r.status, len(r.body))
	}
	if es, _, _ := f.reg.ListAudit(t.Context(), registry.AuditFilter{Action: "evidence.exported"}); len(es) != 1 {
		t.Errorf("HEAD was audited as an export: %d entries", len(es))
	}
	if r := f.as(t, helpdesk, "GET", "/api/v1/evidence?from="+from, nil); r.status != http.StatusForbidden || r.errCode(t) != "forbidden" {
		t.Errorf("helpdesk export: %d %s, want 403 forbidden", r.status, r.body)
	}
	for _, tt := range []struct{ query, want string }{
		{"", "from is required"},
		{"from=yesterday", "from must be a date"},
		{"from=" + from + "&to=2020-01-01", "must be before"},
		{"from=2030-01-01", "not in the past"},
		{"from=" + from + "&format=zip", "unknown query parameter"},
	} {
		r := f.as(t, auditor, "GET", "/api/v1/evidence?"+tt.query, nil)
		if r.status != http.StatusBadRequest || r.errCode(t) != "bad_parameter" || !strings.Contains(string(r.body), tt.want) {
			t.Errorf("?%s: %d %s, want 400 bad_parameter saying %q", tt.query, r.status, r.body, tt.want)
		}
	}
}
