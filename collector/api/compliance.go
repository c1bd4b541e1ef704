package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/apitypes"
	"github.com/rosterhq/roster/collector/registry"
)

// maxPolicyBody limits PUT /api/v1/policies: a policy file is a few
// kilobytes; a megabyte leaves room for hundreds of policies.
const maxPolicyBody = 1 << 20

// recentChanges is how many history entries the device view carries.
const recentChanges = 20

// TestClock lets an end-to-end test move the collector's clock (see
// Options.TestClock). Production never has one.
type TestClock interface {
	SetOffset(d time.Duration)
	Offset() time.Duration
}

func (s *server) listPolicies(w http.ResponseWriter, r *http.Request) {
	set, rec, err := s.reg.PolicySet(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apitypes.PolicySet{Set: toPolicySetRecord(rec), Items: nonNil(each(set.Policies(), toPolicy))})
}

func (s *server) getPolicy(w http.ResponseWriter, r *http.Request) {
	set, _, err := s.reg.PolicySet(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, ok := set.Policy(r.PathValue("id"))
	if !ok {
		s.fail(w, r, errf(http.StatusNotFound, "not_found", "no policy %q in force", r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, toPolicy(p))
}

// putPolicies replaces the policy set with the body, a policy file in YAML
// or JSON (JSON is YAML), validated exactly as the --policies file is.
func (s *server) putPolicies(w http.ResponseWriter, r *http.Request) {
	switch mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.ToLower(strings.TrimSpace(mt)) {
	case "", "application/json", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml":
	default:
		s.fail(w, r, errf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/yaml or application/json, not %q", mt))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPolicyBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(w, r, errf(http.StatusRequestEntityTooLarge, "too_large", "body over the %d-byte limit", maxPolicyBody))
			return
		}
		s.fail(w, r, errf(http.StatusBadRequest, "bad_request", "read body: %v", err))
		return
	}
	set, rec, stats, err := s.reg.ReplacePolicies(r.Context(), body, actor(r), s.now())
	if err != nil {
		if set == nil {
			s.fail(w, r, err)
			return
		}
		// Stored and in force; only the re-evaluation failed, and the
		// periodic evaluation will catch up.
		s.logger.Error("re-evaluate after policy change", "err", err)
	}
	s.logger.Info("policy set replaced", "id", rec.ID, "by", rec.CreatedBy, "policies", len(set.Policies()), "devices", stats.Devices, "changed", stats.Changed)
	writeJSON(w, http.StatusOK, apitypes.PolicySet{Set: toPolicySetRecord(rec), Items: nonNil(each(set.Policies(), toPolicy)), Evaluation: ptr(&stats, toEvalStats)})
}

func nonNil[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}

// actor names the token behind a request, for created_by fields.
func actor(r *http.Request) string {
	return access.ActorFrom(r.Context()).Name
}

func (s *server) createException(w http.ResponseWriter, r *http.Request) {
	var req apitypes.ExceptionRequest
	if ae := decodeJSON(w, r, maxJSONBody, &req); ae != nil {
		if ae.code == "unknown_field" && strings.Contains(ae.message, `"approver"`) {
			ae = errf(http.StatusBadRequest, "unknown_field", "approver is no longer accepted: an exception is requested pending, "+
				"and a different principal approves it with POST /api/v1/exceptions/{id}/approve (rosterctl exceptions approve ID)")
		}
		s.fail(w, r, ae)
		return
	}
	now := s.now()
	var exp time.Time
	switch {
	case req.ExpiresAt != "" && req.ExpiresIn != "":
		s.fail(w, r, errf(http.StatusBadRequest, "bad_request", "give expires_at or expires_in, not both"))
		return
	case req.ExpiresAt != "":
		t, err := time.Parse(time.RFC3339, req.ExpiresAt)
		if err != nil {
			if t, err = time.Parse(time.DateOnly, req.ExpiresAt); err != nil {
				s.fail(w, r, errf(http.StatusBadRequest, "bad_request", "expires_at %q: want RFC 3339 or a date (2026-12-31)", req.ExpiresAt))
				return
			}
		}
		exp = t
	case req.ExpiresIn != "":
		d, err := parseExpiry(req.ExpiresIn)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		exp = now.Add(d)
	default:
		s.fail(w, r, errf(http.StatusBadRequest, "bad_request", "an expiry is required: expires_at or expires_in"))
		return
	}
	e, err := s.reg.RequestException(r.Context(), registry.ExceptionInput{
		PolicyID: req.PolicyID, Device: req.Device, AssetTag: req.AssetTag, Reason: req.Reason,
		CompensatingControl: req.CompensatingControl, ExpiresAt: exp,
	}, now)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger.Info("exception requested", "id", e.ID, "policy", e.PolicyID, "device_id", e.DeviceID, "asset_tag", e.AssetTag, "by", e.RequestedBy, "expires_at", e.ExpiresAt)
	writeJSON(w, http.StatusCreated, toException(e))
}

func (s *server) approveException(w http.ResponseWriter, r *http.Request) {
	s.decideException(w, r, s.reg.ApproveException)
}

func (s *server) denyException(w http.ResponseWriter, r *http.Request) {
	s.decideException(w, r, s.reg.DenyException)
}

func (s *server) decideException(w http.ResponseWriter, r *http.Request,
	decide func(context.Context, string, string, time.Time) (registry.ExceptionRecord, error)) {
	var req apitypes.ExceptionDecision
	if ae := decodeJSON(w, r, maxJSONBody, &req); ae != nil && !(ae.code == "malformed_json" && ae.message == "empty body") {
		s.fail(w, r, ae)
		return
	}
	e, err := decide(r.Context(), r.PathValue("id"), req.Note, s.now())
	if err != nil {
		s.failDuty(w, r, err)
		return
	}
	s.logger.Info("exception "+e.Status, "id", e.ID, "policy", e.PolicyID, "requested_by", e.RequestedBy, "approver", e.Approver, "denied_by", e.DeniedBy)
	writeJSON(w, http.StatusOK, toException(e))
}

// failDuty answers a separation-of-duties refusal with 403; the registry
// has already audited it as denied, so it does not go through fail, which
// would record it a second time. Anything else goes to fail.
func (s *server) failDuty(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, registry.ErrSeparation) {
		s.fail(w, r, err)
		return
	}
	ae := s.classify(err)
	a := access.ActorFrom(r.Context())
	s.logger.Warn("request denied", "method", r.Method, "path", r.URL.Path, "source", a.Source, "principal", a.Name, "status", ae.status,
		"reason", ae.message, "request_id", a.RequestID)
	writeError(w, ae.status, ae.code, ae.message)
}

func (s *server) listExceptions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := registry.ExceptionFilter{Device: q.Get("device"), PolicyID: q.Get("policy"), Status: q.Get("status")}
	switch q.Get("active") {
	case "", "false":
	case "true":
		f.Active = true
	default:
		s.fail(w, r, errf(http.StatusBadRequest, "bad_parameter", "active must be true or false, not %q", q.Get("active")))
		return
	}
	items, err := s.reg.ListExceptions(r.Context(), f, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listOf(items, "", toException))
}

func (s *server) getException(w http.ResponseWriter, r *http.Request) {
	e, err := s.reg.Exception(r.Context(), r.PathValue("id"), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toException(e))
}

func (s *server) revokeException(w http.ResponseWriter, r *http.Request) {
	e, err := s.reg.RevokeException(r.Context(), r.PathValue("id"), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger.Info("exception revoked", "id", e.ID, "by", e.RevokedBy)
	writeJSON(w, http.StatusOK, toException(e))
}

func (s *server) complianceSummary(w http.ResponseWriter, r *http.Request) {
	sum, err := s.reg.Summary(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toComplianceSummary(sum))
}

func (s *server) getDeviceDetail(w http.ResponseWriter, r *http.Request) {
	ctx, ref := r.Context(), r.PathValue("ref")
	d, err := s.reg.Device(ctx, ref)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	comp, err := s.reg.DeviceComplianceOf(ctx, d.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	excs, err := s.reg.ListExceptions(ctx, registry.ExceptionFilter{Device: d.ID, Active: true}, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	changes, err := s.reg.RecentChanges(ctx, d.ID, recentChanges)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apitypes.DeviceDetail{
		Device: toDevice(d), Compliance: toDeviceCompliance(comp),
		Exceptions: each(excs, toException), RecentChanges: each(changes, toHistoryEntry),
	})
}

// setTestClock moves the collector's clock and re-evaluates the fleet, as
// the periodic evaluation would once that much time had passed.
func (s *server) setTestClock(w http.ResponseWriter, r *http.Request) {
	var req apitypes.ClockRequest
	if ae := decodeJSON(w, r, maxJSONBody, &req); ae != nil {
		s.fail(w, r, ae)
		return
	}
	neg := strings.HasPrefix(req.Offset, "-")
	abs := strings.TrimPrefix(req.Offset, "-")
	var d time.Duration
	if abs != "0" && abs != "" {
		var err error
		if d, err = parseExpiry(abs); err != nil {
			s.fail(w, r, errf(http.StatusBadRequest, "bad_request", "offset %q: want a duration such as 400d or -2h", req.Offset))
			return
		}
	}
	if neg {
		d = -d
	}
	s.testClock.SetOffset(d)
	s.logger.Warn("TEST CLOCK moved", "offset", d)
	stats, err := s.reg.EvaluateAll(r.Context(), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apitypes.ClockView{Now: s.now().UTC(), Offset: s.testClock.Offset().String(), Evaluation: toEvalStats(stats)})
}
