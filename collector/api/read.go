package api

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/rosterhq/roster/collector/apitypes"
	"github.com/rosterhq/roster/collector/registry"
)

func page(q url.Values) (registry.Page, *apiError) {
	p := registry.Page{Cursor: q.Get("cursor")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > registry.MaxLimit {
			return p, errf(http.StatusBadRequest, "bad_parameter", "limit must be 1 to %d, not %q", registry.MaxLimit, l)
		}
		p.Limit = n
	}
	return p, nil
}

func timeParam(q url.Values, name string) (*time.Time, *apiError) {
	v := q.Get(name)
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, errf(http.StatusBadRequest, "bad_parameter", "%s must be RFC 3339 (2006-01-02T15:04:05Z), not %q", name, v)
	}
	return &t, nil
}

// timeRange reads the since and until parameters every time-ranged list
// takes.
func timeRange(q url.Values) (since, until *time.Time, ae *apiError) {
	if since, ae = timeParam(q, "since"); ae != nil {
		return nil, nil, ae
	}
	if until, ae = timeParam(q, "until"); ae != nil {
		return nil, nil, ae
	}
	return since, until, nil
}

// knownParams refuses query parameters the endpoint does not take, the
// query-string twin of strict body decoding: a typo must not silently
// widen a filter. New calls it with the parameters each route's contract
// declares (contract.go), the list the OpenAPI document publishes.
func knownParams(q url.Values, names ...string) *apiError {
	for k := range q {
		ok := false
		for _, n := range names {
			if k == n {
				ok = true
				break
			}
		}
		if !ok {
			return errf(http.StatusBadRequest, "bad_parameter", "unknown query parameter %q", k)
		}
	}
	return nil
}

func (s *server) listDevices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, ae := page(q)
	if ae != nil {
		s.fail(w, r, ae)
		return
	}
	f := registry.DeviceFilter{
		Platform: q.Get("platform"), Hostname: q.Get("hostname"), Serial: q.Get("serial"), State: q.Get("state"),
		Compliance: q.Get("compliance"), Flag: q.Get("flag"),
		Software: q.Get("software"), SoftwareVersion: q.Get("software_version"),
	}
	if f.SeenAfter, ae = timeParam(q, "seen_after"); ae != nil {
		s.fail(w, r, ae)
		return
	}
	if f.SeenBefore, ae = timeParam(q, "seen_before"); ae != nil {
		s.fail(w, r, ae)
		return
	}
	items, next, err := s.reg.ListDevices(r.Context(), f, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listOf(items, next, toDevice))
}

func (s *server) deviceSnapshot(w http.ResponseWriter, r *http.Request) {
	snap, err := s.reg.DeviceSnapshot(r.Context(), r.PathValue("ref"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.sensitiveRead(w, r, "device.snapshot.read", "device:"+r.PathValue("ref"), nil) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(snap)
}

func (s *server) deviceSoftware(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, ae := page(q)
	if ae != nil {
		s.fail(w, r, ae)
		return
	}
	items, next, err := s.reg.DeviceSoftware(r.Context(), r.PathValue("ref"), p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listOf(items, next, toPackage))
}

func (s *server) deviceHistory(w http.ResponseWriter, r *http.Request) {
	s.history(w, r, r.PathValue("ref"))
}

func (s *server) fleetHistory(w http.ResponseWriter, r *http.Request) {
	s.history(w, r, "")
}

func (s *server) history(w http.ResponseWriter, r *http.Request, device string) {
	q := r.URL.Query()
	p, ae := page(q)
	if ae != nil {
		s.fail(w, r, ae)
		return
	}
	f := registry.HistoryFilter{Device: device, Kind: q.Get("kind")}
	if f.Since, f.Until, ae = timeRange(q); ae != nil {
		s.fail(w, r, ae)
		return
	}
	items, next, err := s.reg.History(r.Context(), f, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listOf(items, next, toHistoryEntry))
}

func (s *server) searchSoftware(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, ae := page(q)
	if ae != nil {
		s.fail(w, r, ae)
		return
	}
	items, next, err := s.reg.SearchSoftware(r.Context(), registry.SoftwareQuery{Name: q.Get("name"), Version: q.Get("version"), Source: q.Get("source")}, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listOf(items, next, toSoftwareHit))
}

func (s *server) revokeDevice(w http.ResponseWriter, r *http.Request) {
	d, err := s.reg.RevokeDevice(r.Context(), r.PathValue("ref"), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger.Info("device revoked", "device_id", d.ID)
	writeJSON(w, http.StatusOK, toDevice(d))
}

// parseExpiry takes Go durations plus a day unit ("30d"), which Go's
// time.ParseDuration lacks but people write.
func parseExpiry(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if n, ok := trimSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 || days > 3650 {
			return 0, errf(http.StatusBadRequest, "bad_request", "expires_in %q: days must be 1 to 3650", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errf(http.StatusBadRequest, "bad_request", "expires_in %q: want a positive duration such as 30d or 12h", s)
	}
	return d, nil
}

func trimSuffix(s, suffix string) (string, bool) {
	if len(s) > len(suffix) && s[len(s)-len(suffix):] == suffix {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}

func (s *server) createSecret(w http.ResponseWriter, r *http.Request) {
	var req apitypes.SecretRequest
	if ae := decodeJSON(w, r, maxJSONBody, &req); ae != nil {
		s.fail(w, r, ae)
		return
	}
	exp, err := parseExpiry(req.ExpiresIn)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if req.MaxUses < 0 {
		s.fail(w, r, errf(http.StatusBadRequest, "bad_request", "max_uses must be 0 (no limit) or more"))
		return
	}
	sec, plain, err := s.reg.CreateSecret(r.Context(), req.Label, exp, req.MaxUses, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger.Info("enrolment secret created", "id", sec.ID, "label", sec.Label)
	writeJSON(w, http.StatusCreated, apitypes.SecretCreated{ID: sec.ID, Secret: plain, Label: sec.Label, ExpiresAt: sec.ExpiresAt, MaxUses: sec.MaxUses})
}

func (s *server) listSecrets(w http.ResponseWriter, r *http.Request) {
	items, err := s.reg.ListSecrets(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listOf(items, "", toSecret))
}

func (s *server) revokeSecret(w http.ResponseWriter, r *http.Request) {
	sec, err := s.reg.RevokeSecret(r.Context(), r.PathValue("id"), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toSecret(sec))
}
