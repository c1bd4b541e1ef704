package service

import (
	"time"

	"github.com/rosterhq/roster/agent/state"
)

// Freshness bounds for the status file: the run loop rewrites it at least
// at every heartbeat (5 min by default), so a file untouched for three of
// them means no loop is running; a later scheduled wake-up (the collector
// may lengthen the intervals) extends that by StatusGrace.
const (
	StatusStaleAfter = 15 * time.Minute
	StatusGrace      = 2 * time.Minute
)

// Fresh reports whether a running loop published st recently enough to be
// believed at now.
func Fresh(st state.Status, now time.Time) bool {
	if st.UpdatedAt.IsZero() {
		return false
	}
	deadline := st.UpdatedAt.Add(StatusStaleAfter)
	for _, next := range []*time.Time{st.NextHeartbeatAt, st.NextReportAt} {
		if next != nil && next.Add(StatusGrace).After(deadline) {
			deadline = next.Add(StatusGrace)
		}
	}
	return !now.After(deadline)
}
