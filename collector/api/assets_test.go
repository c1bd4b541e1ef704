package api_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

func (f *fixture) csv(t *testing.T, path, body, token string) response {
	t.Helper()
	if token == "" {
		token = f.token
	}
	return f.do(t, f.client(t, nil), "POST", path, []byte(body), map[string]string{"Authorization": "Bearer " + token, "Content-Type": "text/csv; charset=utf-8"})
}

type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

type rowsErr struct {
	Error struct {
		Code    string              `json:"code"`
		Message string              `json:"message"`
		Rows    []registry.RowError `json:"rows"`
	} `json:"error"`
}

func TestAssetImportOverAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.VerifyClientCertIfGiven)
	ok := "\uFEFFTag;Serial No;Owner;Status\nLAP-1;SN-1;Ada;in_service\n\nLAP-2;\"SN-2\";\"Bob; the builder\";In Stock\n"
	dry := decode[registry.ImportResult](t, f.csv(t, "/api/v1/assets/import?dry_run=true&map="+url.QueryEscape("Tag=asset_tag,Serial No=serial"), ok, ""), http.StatusOK)
	if !dry.DryRun || len(dry.Created) != 2 || dry.Created[1].Line != 4 {
		t.Fatalf("dry run: %+v, want two creations, the second on line 4", dry)
	}
	if got := decode[page[registry.Asset]](t, f.admin(t, "GET", "/api/v1/assets", nil), http.StatusOK); len(got.Items) != 0 {
		t.Fatalf("a dry run stored %d assets", len(got.Items))
	}
	res := decode[registry.ImportResult](t, f.csv(t, "/api/v1/assets/import?map="+url.QueryEscape("Tag=asset_tag,Serial No=serial"), ok, ""), http.StatusOK)
	if res.DryRun || len(res.Created) != 2 || res.FlagsSet != 1 {
		t.Errorf("import: %+v, want two created and LAP-1 flagged missing", res)
	}
	a := decode[registry.Asset](t, f.admin(t, "GET", "/api/v1/assets/lap-2", nil), http.StatusOK)
	if a.Owner != "Bob; the builder" || a.Status != "in_stock" || a.SerialNormalised != "SN-2" {
		t.Errorf("LAP-2 = %+v", a)
	}

	// All or nothing: one good update and two bad rows write nothing.
	bad := "asset_tag,owner,status\nLAP-1,Ada L,in_service\nLAP-2,Bob,disposed\nLAP-1,dup,in_service\n"
	before := f.counts(t)
	r := f.csv(t, "/api/v1/assets/import", bad, "")
	if r.status != http.StatusBadRequest {
		t.Fatalf("bad import: %d %s", r.status, r.body)
	}
	var re rowsErr
	if err := json.Unmarshal(r.body, &re); err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, row := range re.Error.Rows {
		lines = append(lines, row.Line)
	}
	if re.Error.Code != "invalid_rows" || !slices.Equal(lines, []int{3, 4}) {
		t.Errorf("bad import answer %s, want invalid_rows on lines 3 and 4", r.body)
	}
	if after := f.counts(t); !cmp.Equal(before, after) {
		t.Errorf("refused import changed counts: %v, was %v", after, before)
	}
	if a := decode[registry.Asset](t, f.admin(t, "GET", "/api/v1/assets/LAP-1", nil), http.StatusOK); a.Owner != "Ada" {
		t.Errorf("LAP-1 owner %q after a refused import", a.Owner)
	}

	_, helpdesk, err := f.reg.CreateToken(context.Background(), registry.TokenInput{Principal: "hd", Role: "helpdesk"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		resp   response
		status int
		code   string
	}{
		{"wrong type", f.do(t, f.client(t, nil), "POST", "/api/v1/assets/import", []byte(ok), map[string]string{"Authorization": "Bearer " + f.token, "Content-Type": "application/json"}), 415, "unsupported_media_type"},
		{"not admin", f.csv(t, "/api/v1/assets/import", ok, helpdesk), 403, "forbidden"},
		{"bad dry_run", f.csv(t, "/api/v1/assets/import?dry_run=maybe", ok, ""), 400, "bad_parameter"},
		{"bad map", f.csv(t, "/api/v1/assets/import?map=Tag", ok, ""), 400, "bad_parameter"},
		{"no header", f.csv(t, "/api/v1/assets/import", "", ""), 400, "bad_request"},
		{"unknown param", f.csv(t, "/api/v1/assets/import?force=1", ok, ""), 400, "bad_parameter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.resp.status != tc.status || tc.resp.errCode(t) != tc.code {
				t.Errorf("got %d %s, want %d %s", tc.resp.status, tc.resp.body, tc.status, tc.code)
			}
		})
	}
}

func TestAssetLifecycleAndDeviceOverAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.VerifyClientCertIfGiven)
	snap := registrytest.Rich(t)
	sec := f.newSecret(t, "1h")
	ag := f.enroll(t, sec.Secret, wire.IdentityOf(snap))
	if ack := f.report(t, ag, fullReport(t, snap, 1)); ack.Status != wire.AckApplied {
		t.Fatal(ack)
	}
	dev := decode[map[string]any](t, f.admin(t, "GET", "/api/v1/devices/"+ag.deviceID, nil), http.StatusOK)
	if flags, _ := dev["flags"].([]any); !slices.Contains(flags, any("unregistered")) {
		t.Errorf("device flags %v, want unregistered", dev["flags"])
	}
	created := decode[registry.Asset](t, f.admin(t, "POST", "/api/v1/assets", map[string]any{
		"asset_tag": "LAP-9", "serial": snap.Hardware.SystemSerial, "owner": "Ada", "owner_email": "ada@example.com",
		"classification": "Confidential", "location": "Berlin", "status": "in_service", "tags": []string{"eng"},
	}), http.StatusCreated)
	if created.Device == nil || created.Device.ID != ag.deviceID || created.Classification != "confidential" {
		t.Fatalf("created %+v, want linked to %s", created, ag.deviceID)
	}
	// devices show by asset tag carries the register's view.
	var d struct {
		ID          string               `json:"id"`
		Flags       []string             `json:"flags"`
		Asset       registry.DeviceAsset `json:"asset"`
		FlagDetails []registry.Flag      `json:"flag_details"`
	}
	r := f.admin(t, "GET", "/api/v1/devices/lap-9", nil)
	if err := json.Unmarshal(r.body, &d); err != nil || r.status != 200 {
		t.Fatalf("device by tag: %d %s", r.status, r.body)
	}
	if d.ID != ag.deviceID || d.Asset.Owner != "Ada" || d.Asset.Classification != "confidential" || d.Asset.Location != "Berlin" || d.Asset.Status != "in_service" || len(d.Flags) != 0 {
		t.Errorf("device by tag = %+v", d)
	}

	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"taken tag", "POST", "/api/v1/assets", map[string]any{"asset_tag": "lap-9", "status": "in_stock"}, 409, "conflict"},
		{"no status", "POST", "/api/v1/assets", map[string]any{"asset_tag": "X-1"}, 400, "invalid_rows"},
		{"unknown field", "PATCH", "/api/v1/assets/LAP-9", map[string]any{"colour": "red"}, 400, "unknown_field"},
		{"bad transition", "PATCH", "/api/v1/assets/LAP-9", map[string]any{"status": "in_stock"}, 400, "invalid_rows"},
		{"bad email", "PATCH", "/api/v1/assets/LAP-9", map[string]any{"owner_email": "Ada <ada@example.com>"}, 400, "invalid_rows"},
		{"unknown asset", "PATCH", "/api/v1/assets/NOPE", map[string]any{"owner": "x"}, 404, "not_found"},
		{"link without device", "POST", "/api/v1/assets/LAP-9/link", map[string]any{}, 400, "bad_request"},
		{"link unknown device", "POST", "/api/v1/assets/LAP-9/link", map[string]any{"device": "nope"}, 404, "not_found"},
		{"bad rule", "GET", "/api/v1/reconcile?hostname_rule=" + url.QueryEscape("^[a-z]+$"), nil, 400, "bad_parameter"},
		{"bad format", "GET", "/api/v1/assets/export?format=xml", nil, 400, "bad_parameter"},
		{"bad flag filter", "GET", "/api/v1/assets?flag=lost", nil, 400, "bad_parameter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.counts(t)
			r := f.admin(t, tc.method, tc.path, tc.body)
			var re rowsErr
			if err := json.Unmarshal(r.body, &re); err != nil || re.Error.Message == "" || (re.Error.Code == "invalid_rows") != (len(re.Error.Rows) > 0) {
				t.Errorf("error body %s: %v, want a message and rows exactly for invalid_rows", r.body, err)
			}
			if r.status != tc.status || re.Error.Code != tc.code {
				t.Errorf("got %d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
			if after := f.counts(t); !cmp.Equal(before, after) {
				t.Errorf("refused request changed counts: %v, was %v", after, before)
			}
		})
	}

	// The device leaves service: flagged, and the change is attributed.
	patched := decode[registry.Asset](t, f.admin(t, "PATCH", "/api/v1/assets/LAP-9", map[string]any{"status": "offboarding"}), http.StatusOK)
	if patched.Status != "offboarding" {
		t.Errorf("patched status %q", patched.Status)
	}
	hist := decode[page[registry.RegisterEntry]](t, f.admin(t, "GET", "/api/v1/assets/LAP-9/history?kind=asset.status_changed", nil), http.StatusOK)
	if len(hist.Items) != 1 || hist.Items[0].ActorName != "test" || hist.Items[0].New != "offboarding" {
		t.Errorf("status history %+v, want one change by token test", hist.Items)
	}
	fleet := decode[page[registry.RegisterEntry]](t, f.admin(t, "GET", "/api/v1/register/history?kind=device.not_in_service", nil), http.StatusOK)
	if len(fleet.Items) != 1 || fleet.Items[0].DeviceID != ag.deviceID {
		t.Errorf("not_in_service events %+v", fleet.Items)
	}

	// Manual link and unlink.
	decode[registry.Asset](t, f.admin(t, "POST", "/api/v1/assets", map[string]any{"asset_tag": "VM-1", "status": "in_service"}), http.StatusCreated)
	vm := decode[registry.Asset](t, f.admin(t, "POST", "/api/v1/assets/VM-1/link", map[string]any{"device": ag.deviceID}), http.StatusOK)
	if vm.Device == nil || vm.Device.LinkedBy != "manual" {
		t.Errorf("after link: %+v", vm.Device)
	}
	if lap := decode[registry.Asset](t, f.admin(t, "GET", "/api/v1/assets/LAP-9", nil), http.StatusOK); lap.Device != nil {
		t.Errorf("LAP-9 still linked to %+v after its device was linked by hand to VM-1", lap.Device)
	}
	vm = decode[registry.Asset](t, f.admin(t, "DELETE", "/api/v1/assets/VM-1/link", nil), http.StatusOK)
	if vm.Device != nil {
		t.Errorf("after unlink: %+v", vm.Device)
	}

	// Export reads back through the CSV reader; reconcile sees the pair.
	r = f.admin(t, "GET", "/api/v1/assets/export", nil)
	if r.status != 200 || !strings.HasPrefix(string(r.body), "asset_tag,serial,type,") || !strings.Contains(string(r.body), "LAP-9,"+snap.Hardware.SystemSerial+",,,Ada,ada@example.com,confidential,Berlin,offboarding,,,,eng\n") {
		t.Errorf("export: %d\n%s", r.status, r.body)
	}
	rec := decode[registry.Reconciliation](t, f.admin(t, "GET", "/api/v1/reconcile?hostname_rule="+url.QueryEscape(`^(?P<tag>[A-Z]+-\d+)`), nil), http.StatusOK)
	if rec.Summary.Matched != 1 || rec.Summary.NotInService != 1 || rec.Summary.Missing != 1 || rec.Summary.Mismatches != 1 {
		t.Errorf("reconcile summary %+v, want 1 matched (not in service, hostname off the rule) and VM-1 missing", rec.Summary)
	}
	ch := decode[registry.Changes](t, f.admin(t, "POST", "/api/v1/flags/refresh", nil), http.StatusOK)
	if ch != (registry.Changes{}) {
		t.Errorf("refresh right after changes: %+v, want nothing to change", ch)
	}
}
