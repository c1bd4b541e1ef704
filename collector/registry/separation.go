package registry

// Separation of duties, decided in pure code: the exception lifecycle as
// one transition table, and the rules a manual wipe record must pass
// (evidence, two people, not the principal who started the offboarding).
// The registry loads the rows, asks these functions, then writes.

import (
	"strings"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/fault"
)

// ErrSeparation is a change refused because the same principal or person
// would hold two duties that must be held by two (403).
var ErrSeparation = fault.New(fault.Forbidden, "separation_of_duties", "separation of duties")

// Stored exception states; the API's status adds expired (computed from
// the expiry) and shows approved as active.
const (
	exceptionPending  = "pending"
	exceptionApproved = "approved"
	exceptionDenied   = "denied"
	exceptionRevoked  = "revoked"
)

// Exception lifecycle events.
const (
	exceptionApprove = "approve"
	exceptionDeny    = "deny"
	exceptionRevoke  = "revoke"
)

// nextExceptionState is the exception lifecycle: state × event → state.
// Only a pending request is decided; a pending or approved one can be
// revoked (withdrawn); denied and revoked are final.
func nextExceptionState(state, event string) (string, bool) {
	switch {
	case state == exceptionPending && event == exceptionApprove:
		return exceptionApproved, true
	case state == exceptionPending && event == exceptionDeny:
		return exceptionDenied, true
	case (state == exceptionPending || state == exceptionApproved) && event == exceptionRevoke:
		return exceptionRevoked, true
	}
	return state, false
}

// checkDecider refuses an approval or denial by anyone but a principal
// holding the approve permission who is not the requester. Principals are
// compared by id; a request from before principals existed has none, and
// is compared by name.
func checkDecider(a access.Actor, requesterID, requester, verb string) error {
	switch {
	case a.ID == "" || a.Kind == access.KindCollector || a.Kind == access.KindDevice:
		return ErrSeparation.Errorf("an exception is %s by an authenticated person or automation holding the approve permission", verb)
	case !a.Role.Can(access.ExceptionsApprove):
		return ErrSeparation.Errorf("the %s role may not approve or deny exceptions", a.Role)
	case requesterID != "" && a.ID == requesterID, requesterID == "" && samePerson(a.Name, requester):
		return ErrSeparation.Errorf("you (%s) requested this exception, so it must be %s by someone else holding the approve permission", a.Name, verb)
	}
	return nil
}

// samePerson compares two names the way a reader would: ignoring case,
// surrounding space and runs of inner space.
func samePerson(a, b string) bool {
	fold := func(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }
	return fold(a) != "" && fold(a) == fold(b)
}

// manualRecordCheck is what a manual wipe record is checked against.
type manualRecordCheck struct {
	Record ManualWipe
	// Starter is the principal who started the offboarding (id, and the
	// name for requests that predate principal ids).
	StarterID, Starter string
	// Recorder is the principal recording the wipe.
	Recorder access.Actor
	// SinglePerson is offboarding.allow_single_person.
	SinglePerson bool
}

// checkManualRecord decides whether a manual wipe record may be stored. An
// evidence file is always required. Performed-by and verified-by must be
// two people, and the recorder must not be the principal who started the
// offboarding, unless single-person operation is allowed: then it returns
// which of those rules the record relied on being relaxed (nil when none),
// for the wipe and its certificate to say so. Refusals wrap ErrInvalid
// (what the record itself lacks) or ErrSeparation.
func checkManualRecord(c manualRecordCheck) ([]string, error) {
	if len(c.Record.Evidence) == 0 {
		return nil, ErrInvalid.Errorf("an evidence file is required (the wiping tool's report or the vendor's certificate): rosterctl offboard record-wipe ... --evidence FILE")
	}
	if c.Recorder.Kind == access.KindAutomation {
		return nil, ErrSeparation.Errorf("a manual wipe is recorded by a person, not by automation (%s)", c.Recorder.Name)
	}
	var relaxed []string
	if samePerson(c.Record.PerformedBy, c.Record.VerifiedBy) {
		if !c.SinglePerson {
			return nil, ErrInvalid.Errorf("performed_by and verified_by are both %q: a second person must verify the wipe", strings.TrimSpace(c.Record.PerformedBy))
		}
		relaxed = append(relaxed, "the same person performed and verified the wipe")
	}
	sameStarter := (c.StarterID != "" && c.Recorder.ID == c.StarterID) || (c.StarterID == "" && samePerson(c.Recorder.Name, c.Starter))
	if sameStarter {
		if !c.SinglePerson {
			return nil, ErrSeparation.Errorf("you (%s) started this offboarding, so someone else must record the wipe", c.Recorder.Name)
		}
		relaxed = append(relaxed, "the principal who recorded the wipe also started the offboarding")
	}
	return relaxed, nil
}

// singlePersonNote is the wipe's and the certificate's statement of the
// relaxed rules.
func singlePersonNote(relaxed []string) string {
	if len(relaxed) == 0 {
		return ""
	}
	return "single-person operation allowed by the collector's configuration (offboarding.allow_single_person): " + strings.Join(relaxed, "; ")
}
