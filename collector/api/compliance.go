package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/compliance"
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

// policySetView is GET/PUT /api/v1/policies.
type policySetView struct {
	Set   registry.PolicySetRecord `json:"set"`
	Items []compliance.Policy      `json:"items"`
	// Evaluation is what the re-evaluation after a PUT did.
	Evaluation *registry.EvalStats `json:"evaluation,omitempty"`
}

func (s *server) listPolicies(w http.ResponseWriter, r *http.Request) {
	set, rec, err := s.reg.PolicySet(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, policySetView{Set: rec, Items: nonNil(set.Policies())})
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
	writeJSON(w, http.StatusOK, p)
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
	writeJSON(w, http.StatusOK, policySetView{Set: rec, Items: nonNil(set.Policies()), Evaluation: &stats})
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

// exceptionRequest is POST /api/v1/exceptions. Give device or asset_tag,
// and expires_at (RFC 3339 or a date, meaning its midnight UTC) or
// expires_in ("30d", "12h"). There is no approver: the requester is the
// token's principal, and whoever approves it is the approver.
type exceptionRequest struct {
	PolicyID            string `json:"policy_id"`
	Device              string `json:"device"`
	AssetTag            string `json:"asset_tag"`
	Reason              string `json:"reason"`
	CompensatingControl string `json:"compensating_control"`
	ExpiresAt           string `json:"expires_at"`
	ExpiresIn           string `json:"expires_in"`
}

func (s *server) createException(w http.ResponseWriter, r *http.Request) {
	var req exceptionRequest
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
	writeJSON(w, http.StatusCreated, e)
}

// exceptionDecision is POST /api/v1/exceptions/{id}/approve and /deny; the
// body is optional. The decider is the token's principal.
type exceptionDecision struct {
	Note string `json:"note"`
}

func (s *server) approveException(w http.ResponseWriter, r *http.Request) {
	s.decideException(w, r, s.reg.ApproveException)
}

func (s *server) denyException(w http.ResponseWriter, r *http.Request) {
	s.decideException(w, r, s.reg.DenyException)
}

func (s *server) decideException(w http.ResponseWriter, r *http.Request,
	decide func(context.Context, string, string, time.Time) (registry.ExceptionRecord, error)) {
	var req exceptionDecision
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
	writeJSON(w, http.StatusOK, e)
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
	writeJSON(w, http.StatusOK, list[registry.ExceptionRecord]{Items: items})
}

func (s *server) getException(w http.ResponseWriter, r *http.Request) {
	e, err := s.reg.Exception(r.Context(), r.PathValue("id"), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func (s *server) revokeException(w http.ResponseWriter, r *http.Request) {
	e, err := s.reg.RevokeException(r.Context(), r.PathValue("id"), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger.Info("exception revoked", "id", e.ID, "by", e.RevokedBy)
	writeJSON(w, http.StatusOK, e)
}

func (s *server) complianceSummary(w http.ResponseWriter, r *http.Request) {
	sum, err := s.reg.Summary(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

// deviceDetail is GET /api/v1/devices/{ref}: the device's keys, then what
// the helpdesk needs beside them.
type deviceDetail struct {
	registry.Device
	Compliance    registry.DeviceCompliance  `json:"compliance"`
	Exceptions    []registry.ExceptionRecord `json:"exceptions"`
	RecentChanges []registry.HistoryEntry    `json:"recent_changes"`
}

func (s *server) getDeviceDetail(w http.ResponseWriter, r *http.Request) {
	ctx, ref := r.Context(), r.PathValue("ref")
	d, err := s.reg.Device(ctx, ref)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := deviceDetail{Device: d}
	if out.Compliance, err = s.reg.DeviceComplianceOf(ctx, d.ID); err == nil {
		if out.Exceptions, err = s.reg.ListExceptions(ctx, registry.ExceptionFilter{Device: d.ID, Active: true}, s.now()); err == nil {
			out.RecentChanges, err = s.reg.RecentChanges(ctx, d.ID, recentChanges)
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// clockRequest is PUT /api/v1/test/clock.
type clockRequest struct {
	// Offset moves the clock from the real time: a Go duration or days
	// ("400d", "-2h").
	Offset string `json:"offset"`
}

type clockView struct {
	Now        time.Time          `json:"now"`
	Offset     string             `json:"offset"`
	Evaluation registry.EvalStats `json:"evaluation"`
}

// setTestClock moves the collector's clock and re-evaluates the fleet, as
// the periodic evaluation would once that much time had passed.
func (s *server) setTestClock(w http.ResponseWriter, r *http.Request) {
	var req clockRequest
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
	writeJSON(w, http.StatusOK, clockView{Now: s.now().UTC(), Offset: s.testClock.Offset().String(), Evaluation: stats})
}
