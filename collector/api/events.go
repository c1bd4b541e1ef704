package api

import (
	"net/http"

	"github.com/rosterhq/roster/collector/registry"
)

// listEvents is GET /api/v1/events: drift and compliance events in the
// order they were recorded.
func (s *server) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, ae := page(q)
	if ae != nil {
		s.fail(w, r, ae)
		return
	}
	f := registry.EventFilter{Kind: q.Get("kind"), Device: q.Get("device")}
	if f.Since, f.Until, ae = timeRange(q); ae != nil {
		s.fail(w, r, ae)
		return
	}
	items, next, err := s.reg.Events(r.Context(), f, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listOf(items, next, toEvent))
}
