package api

// GET /api/v1/evidence: the auditor's evidence bundle for a period
// (collector/evidence), streamed as a zip signed by the command key.

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/evidence"
)

// evidenceWriteTime is how long a bundle may take to stream: longer than
// the server's write timeout, which is sized for ordinary answers.
const evidenceWriteTime = 30 * time.Minute

func (s *server) evidenceRoutes() []route {
	return []route{
		{"/api/v1/evidence", map[string]endpoint{"GET": ep(access.EvidenceExport, s.exportEvidence)}},
	}
}

func evidenceContracts() map[string]contract {
	return map[string]contract{
		"GET /api/v1/evidence": op("exportEvidence", "The evidence bundle for a period (zip with a signed manifest)").
			query(qstr("from", "start of the period, inclusive: a date (2026-07-01, UTC) or RFC 3339; required"),
				qstr("to", "end of the period, exclusive: a date or RFC 3339; default now")).
			outAs("application/zip", nil),
	}
}

func (s *server) exportEvidence(w http.ResponseWriter, r *http.Request) {
	if s.ca == nil || s.ca.Command == nil {
		s.fail(w, r, errf(http.StatusServiceUnavailable, "unavailable", "the collector has no command-signing key to sign the bundle with"))
		return
	}
	now := s.now().UTC()
	q := r.URL.Query()
	from, to, err := evidence.ParsePeriod(q.Get("from"), q.Get("to"), now)
	var pe *evidence.PeriodError
	if errors.As(err, &pe) {
		s.fail(w, r, errf(http.StatusBadRequest, "bad_parameter", "%s", pe.Error()))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="roster-evidence-%s-%s.zip"`, from.Format("20060102T150405Z"), to.Format("20060102T150405Z")))
	if r.Method == http.MethodHead {
		// The headers alone: building a bundle nobody reads is not an export.
		w.WriteHeader(http.StatusOK)
		return
	}
	period := map[string]string{"from": from.Format(time.RFC3339), "to": to.Format(time.RFC3339)}
	if !s.sensitiveRead(w, r, "evidence.exported", "evidence", period) {
		return
	}
	collector, _ := os.Hostname()
	a := access.ActorFrom(r.Context())
	// A streamed answer cannot turn into an error once it has begun: a
	// failure part way aborts the connection, and the client is left with
	// a truncated zip that neither unzips nor verifies.
	if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(evidenceWriteTime)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.logger.Warn("extend the write deadline for an evidence export", "err", err)
	}
	w.WriteHeader(http.StatusOK)
	start := time.Now()
	sum, err := evidence.Export(r.Context(), w, evidence.Options{
		Registry: s.reg, Key: s.ca.Command, From: from, To: to, Now: now,
		Exporter: a.Principal, Collector: collector, HostnameRule: s.hostnameRule, MaxUncovered: s.maxUncovered(), Logger: s.logger,
	})
	if err != nil {
		s.logger.Error("evidence export failed part way; connection aborted", "principal", a.Name, "from", period["from"], "to", period["to"], "err", err)
		panic(http.ErrAbortHandler)
	}
	s.logger.Info("evidence exported", "principal", a.Name, "from", period["from"], "to", period["to"],
		"files", len(sum.Manifest.Files), "bytes", sum.Bytes, "took", time.Since(start))
}
