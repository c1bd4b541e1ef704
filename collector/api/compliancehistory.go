package api

// Compliance over time (issue 16): GET /api/v1/compliance/history (one
// device's policy statuses over a period) and GET /api/v1/compliance/daily
// (the daily compliance rate per policy), both from the registry's
// compliance transitions.

import (
	"net/http"
	"net/url"
	"time"

	"github.com/rosterhq/roster/collector/apitypes"
	"github.com/rosterhq/roster/collector/registry"
)

// defaultPeriod is the period a history covers when from is not given.
const defaultPeriod = 30 * 24 * time.Hour

// periodTime reads a from/to parameter: a date (UTC midnight) or RFC 3339.
func periodTime(q url.Values, name string) (time.Time, bool, *apiError) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, false, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, true, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, false, errf(http.StatusBadRequest, "bad_parameter", "%s must be a date (2006-01-02, UTC midnight) or RFC 3339 (2006-01-02T15:04:05Z), not %q", name, v)
	}
	return t.UTC(), true, nil
}

// period reads from and to: to defaults to now, from to 30 days before
// to; from must be before to, and the span at most registry.MaxHistoryDays.
func period(q url.Values, now time.Time) (from, to time.Time, ae *apiError) {
	to, ok, ae := periodTime(q, "to")
	if ae != nil {
		return from, to, ae
	}
	if !ok {
		to = now.UTC()
	}
	from, ok, ae = periodTime(q, "from")
	if ae != nil {
		return from, to, ae
	}
	if !ok {
		from = to.Add(-defaultPeriod)
	}
	switch {
	case !from.Before(to):
		return from, to, errf(http.StatusBadRequest, "bad_parameter", "from (%s) must be before to (%s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	case to.Sub(from) > registry.MaxHistoryDays*24*time.Hour:
		return from, to, errf(http.StatusBadRequest, "bad_parameter", "from %s to %s spans more than %d days; ask for a shorter period",
			from.Format(time.RFC3339), to.Format(time.RFC3339), registry.MaxHistoryDays)
	}
	return from, to, nil
}

// complianceHistory is GET /api/v1/compliance/history: the device's status
// per policy in force just before from, then its transitions in [from, to).
func (s *server) complianceHistory(w http.ResponseWriter, r *http.Request) {
	ctx, q := r.Context(), r.URL.Query()
	if q.Get("device") == "" {
		s.fail(w, r, errf(http.StatusBadRequest, "bad_parameter", "device is required (a device id, serial, hostname or asset tag)"))
		return
	}
	from, to, ae := period(q, s.now())
	if ae != nil {
		s.fail(w, r, ae)
		return
	}
	d, err := s.reg.Device(ctx, q.Get("device"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := apitypes.ComplianceHistory{DeviceID: d.ID, Hostname: d.Hostname, From: from, To: to,
		States: []apitypes.PolicyState{}, Transitions: []apitypes.ComplianceTransition{}}
	f := registry.HistoryFilter{DeviceID: d.ID, PolicyID: q.Get("policy"), From: from, To: from.Add(-time.Nanosecond)}
	err = s.reg.ComplianceStatesAt(ctx, f, func(p registry.PolicyState) error {
		out.States = append(out.States, apitypes.PolicyState{PolicyID: p.PolicyID, Status: p.Status, Reason: p.Reason, Since: p.Since})
		return nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.To = to
	err = s.reg.ComplianceTransitions(ctx, f, func(t registry.ComplianceTransition) error {
		out.Transitions = append(out.Transitions, apitypes.ComplianceTransition(t))
		return nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// complianceDaily is GET /api/v1/compliance/daily: one row per UTC day of
// [from, to) for the policy, or for the fleet and every policy.
func (s *server) complianceDaily(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, to, ae := period(q, s.now())
	if ae != nil {
		s.fail(w, r, ae)
		return
	}
	days, err := s.reg.DailyComplianceRates(r.Context(), q.Get("policy"), from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apitypes.DailyCompliance{PolicyID: q.Get("policy"), From: from, To: to,
		Days: each(days, func(d registry.DayRate) apitypes.DayRate { return apitypes.DayRate(d) })})
}
