package api_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/apitypes"
	"github.com/rosterhq/roster/collector/compliance"
)

// TestComplianceHistoryAPI: a device reported, then evaluated ten days
// later (its check-in policy fails, its other results go stale); the
// history route gives the states when a period began and the changes in
// it, the daily route the day rates; bad periods are clear 400s.
func TestComplianceHistoryAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.RequestClientCert)
	t0 := f.clock.Now()
	a := f.reportedDevice(t)
	f.clock.Add(10 * 24 * time.Hour)
	t1 := f.clock.Now()
	if _, err := f.reg.EvaluateAll(context.Background(), t1); err != nil {
		t.Fatal(err)
	}
	// to defaults to now and is exclusive: now is a minute later.
	f.clock.Add(time.Minute)
	now := f.clock.Now()
	date := func(t time.Time) string { return t.UTC().Format(time.DateOnly) }
	get := func(path string, q url.Values) response { return f.admin(t, "GET", path+"?"+q.Encode(), nil) }

	// The whole period: nothing before, every first result at t0, the
	// check-in failing at t1. The device is named by its hostname, as
	// on the other device routes.
	dev, err := f.reg.Device(context.Background(), a.deviceID)
	if err != nil {
		t.Fatal(err)
	}
	h := decode[apitypes.ComplianceHistory](t, get("/api/v1/compliance/history",
		url.Values{"device": {dev.Hostname}, "from": {date(t0)}}), http.StatusOK)
	if h.DeviceID != a.deviceID || len(h.States) != 0 || !h.To.Equal(now) || date(h.From) != date(t0) || h.From.Hour() != 0 {
		t.Errorf("history head %s %v..%v with %d states, want %s from %s to now and no states", h.DeviceID, h.From, h.To, len(h.States), a.deviceID, date(t0))
	}
	first, checkin := 0, ""
	for _, tr := range h.Transitions {
		switch {
		case tr.At.Equal(t0) && tr.Previous == "":
			first++
		case tr.PolicyID == "CFG-CHK-01":
			checkin = tr.Previous + "→" + tr.Status
			if !tr.At.Equal(t1) {
				t.Errorf("CFG-CHK-01 changed at %v, want %v", tr.At, t1)
			}
		}
	}
	set := compliance.Default()
	if first != len(set.Policies()) || checkin != "pass→fail" {
		t.Errorf("transitions %+v: want %d first results at t0 and CFG-CHK-01 pass→fail at t1", h.Transitions, len(set.Policies()))
	}

	// A period that begins between: the states at t0, one policy.
	h = decode[apitypes.ComplianceHistory](t, get("/api/v1/compliance/history",
		url.Values{"device": {a.deviceID}, "policy": {"CFG-CHK-01"}, "from": {t0.Add(time.Hour).Format(time.RFC3339)}}), http.StatusOK)
	if len(h.States) != 1 || h.States[0].Status != "pass" || !h.States[0].Since.Equal(t0) || len(h.Transitions) != 1 || h.Transitions[0].Status != "fail" {
		t.Errorf("CFG-CHK-01 from t0+1h: states %+v, transitions %+v; want pass since t0, then fail", h.States, h.Transitions)
	}

	d := decode[apitypes.DailyCompliance](t, get("/api/v1/compliance/daily",
		url.Values{"policy": {"CFG-CHK-01"}, "from": {date(t0)}, "to": {t1.Format(time.RFC3339)}}), http.StatusOK)
	if len(d.Days) != 11 {
		t.Fatalf("%d days from %s to %s, want 11", len(d.Days), date(t0), t1)
	}
	if r := d.Days[0]; r.Day != date(t0) || r.Pass != 1 || r.InScope != 1 || r.Compliant != 1 {
		t.Errorf("first day %+v, want 1 of 1 passing", r)
	}
	// The last day is cut at to (t1), where the evaluation counts.
	if r := d.Days[10]; r.Day != date(t1) || r.Fail != 0 || r.Pass != 1 {
		t.Errorf("last day %+v, want still passing before t1", r)
	}
	d = decode[apitypes.DailyCompliance](t, get("/api/v1/compliance/daily", url.Values{}), http.StatusOK)
	if len(d.Days) == 0 || d.Days[0].PolicyID != "" || !d.To.Equal(now) || !d.From.Equal(now.Add(-30*24*time.Hour)) {
		t.Errorf("default period: %v..%v, first row %+v; want 30 days to now, the fleet first", d.From, d.To, d.Days[0])
	}
	last := d.Days[len(d.Days)-len(set.Policies())-1]
	if last.PolicyID != "" || last.InScope != 1 || last.Fail != 1 {
		t.Errorf("today's fleet row %+v, want the device failing", last)
	}

	for _, bad := range []struct {
		path string
		q    url.Values
		code string
	}{
		{"/api/v1/compliance/history", url.Values{}, "bad_parameter"},
		{"/api/v1/compliance/history", url.Values{"device": {a.deviceID}, "from": {"2026-13-01"}}, "bad_parameter"},
		{"/api/v1/compliance/daily", url.Values{"from": {"2026-10-01"}, "to": {"2026-10-01"}}, "bad_parameter"},
		{"/api/v1/compliance/daily", url.Values{"from": {"2026-10-02"}, "to": {"2026-10-01"}}, "bad_parameter"},
		{"/api/v1/compliance/daily", url.Values{"from": {"2024-01-01"}, "to": {"2026-10-01"}}, "bad_parameter"},
		{"/api/v1/compliance/daily", url.Values{"days": {"7"}}, "bad_parameter"},
	} {
		if r := get(bad.path, bad.q); r.status != http.StatusBadRequest || r.errCode(t) != bad.code {
			t.Errorf("GET %s?%s: %d %s, want 400 %s", bad.path, bad.q.Encode(), r.status, r.body, bad.code)
		}
	}
	if r := get("/api/v1/compliance/history", url.Values{"device": {"no-such-device"}}); r.status != http.StatusNotFound {
		t.Errorf("unknown device: %d %s, want 404", r.status, r.body)
	}
}
