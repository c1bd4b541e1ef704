package api

// Resolving identity conflicts and pre-authorising reinstalls
// (docs/api.md, "Enrolment and device identity"): an admin merges a new
// record into the old one it duplicates, or allows the next enrolment
// matching a device to continue it although the device looks alive.

import (
	"net/http"
	"strings"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/apitypes"
	"github.com/rosterhq/roster/collector/registry"
)

func (s *server) deviceAdminRoutes() []route {
	return []route{
		{"/api/v1/devices/{ref}/merge", map[string]endpoint{"POST": ep(access.DevicesAdmin, s.mergeDevice)}},
		{"/api/v1/devices/{ref}/allow-reenroll", map[string]endpoint{"POST": ep(access.DevicesAdmin, s.allowReenroll)}},
	}
}

func (s *server) mergeDevice(w http.ResponseWriter, r *http.Request) {
	var req apitypes.MergeRequest
	if ae := decodeJSON(w, r, maxJSONBody, &req); ae != nil {
		s.fail(w, r, ae)
		return
	}
	if strings.TrimSpace(req.Into) == "" {
		s.fail(w, r, errf(http.StatusBadRequest, "bad_request", "into is required: the device the new record duplicates"))
		return
	}
	res, err := s.reg.MergeDevices(r.Context(), r.PathValue("ref"), req.Into, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger.Info("devices merged", "device_id", res.Device.ID, "merged", res.Merged.ID, "by", access.ActorFrom(r.Context()).Name)
	writeJSON(w, http.StatusOK, toMergeResult(res))
}

func (s *server) allowReenroll(w http.ResponseWriter, r *http.Request) {
	var req apitypes.AllowReenrollRequest
	if ae := decodeJSON(w, r, maxJSONBody, &req); ae != nil {
		s.fail(w, r, ae)
		return
	}
	within := registry.DefaultReenrollAllowance
	if req.Within != "" {
		d, err := parseWipeDuration(req.Within)
		if err != nil {
			s.fail(w, r, errf(http.StatusBadRequest, "bad_request", "within %q: %v", req.Within, err))
			return
		}
		within = d
	}
	d, err := s.reg.AllowReenroll(r.Context(), r.PathValue("ref"), within, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger.Info("re-enrolment allowed", "device_id", d.ID, "until", d.ReenrollAllowedUntil, "by", access.ActorFrom(r.Context()).Name)
	writeJSON(w, http.StatusOK, toDevice(d))
}
