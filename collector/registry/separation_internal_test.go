package registry

import (
	"errors"
	"testing"

	"github.com/rosterhq/roster/collector/access"
)

func TestExceptionLifecycleTable(t *testing.T) {
	t.Parallel()
	states := []string{exceptionPending, exceptionApproved, exceptionDenied, exceptionRevoked}
	events := []string{exceptionApprove, exceptionDeny, exceptionRevoke}
	want := map[[2]string]string{
		{exceptionPending, exceptionApprove}: exceptionApproved,
		{exceptionPending, exceptionDeny}:    exceptionDenied,
		{exceptionPending, exceptionRevoke}:  exceptionRevoked,
		{exceptionApproved, exceptionRevoke}: exceptionRevoked,
	}
	for _, s := range states {
		for _, e := range events {
			got, ok := nextExceptionState(s, e)
			w, allowed := want[[2]string{s, e}]
			if ok != allowed || (allowed && got != w) || (!allowed && got != s) {
				t.Errorf("%s × %s = %s, %v; want %q, %v", s, e, got, ok, w, allowed)
			}
		}
	}
}

func TestCheckDecider(t *testing.T) {
	t.Parallel()
	person := func(id, name string, role access.Role) access.Actor {
		return access.Actor{Principal: access.Principal{ID: id, Name: name, Kind: access.KindPerson, Role: role}}
	}
	tests := []struct {
		name                   string
		actor                  access.Actor
		requesterID, requester string
		want                   error
	}{
		{"another admin", person("p-bob", "bob", access.Admin), "p-alice", "alice", nil},
		{"the requester", person("p-alice", "alice", access.Admin), "p-alice", "alice", ErrSeparation},
		{"the requester renamed", person("p-alice", "alice2", access.Admin), "p-alice", "alice", ErrSeparation},
		{"same name, another principal", person("p-alice-2", "alice", access.Admin), "p-alice", "alice", nil},
		{"a pre-principal request by name", person("p-alice", " Alice ", access.Admin), "", "alice", ErrSeparation},
		{"a pre-principal request by another", person("p-bob", "bob", access.Admin), "", "alice", nil},
		{"helpdesk", person("p-bob", "bob", access.Helpdesk), "p-alice", "alice", ErrSeparation},
		{"auditor", person("p-bob", "bob", access.Auditor), "p-alice", "alice", ErrSeparation},
		{"no principal", access.Actor{Principal: access.CollectorPrincipal()}, "p-alice", "alice", ErrSeparation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := checkDecider(tt.actor, tt.requesterID, tt.requester, "approved"); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCheckManualRecord(t *testing.T) {
	t.Parallel()
	admin := func(id, name string) access.Actor {
		return access.Actor{Principal: access.Principal{ID: id, Name: name, Kind: access.KindPerson, Role: access.Admin}}
	}
	good := manualRecordCheck{
		Record:    ManualWipe{Method: "crypto erase", Tool: "Blancco", PerformedBy: "Bob (IT)", VerifiedBy: "Carol (IT)", Evidence: []byte("report")},
		StarterID: "p-hr", Starter: "hr-automation", Recorder: admin("p-admin", "admin"),
	}
	tests := []struct {
		name        string
		edit        func(*manualRecordCheck)
		want        error
		wantRelaxed int
	}{
		{"two people, another recorder", func(*manualRecordCheck) {}, nil, 0},
		{"no evidence", func(c *manualRecordCheck) { c.Record.Evidence = nil }, ErrInvalid, 0},
		{"no evidence, single person allowed", func(c *manualRecordCheck) { c.Record.Evidence, c.SinglePerson = nil, true }, ErrInvalid, 0},
		{"same performer and verifier", func(c *manualRecordCheck) { c.Record.VerifiedBy = "bob (it)" }, ErrInvalid, 0},
		{"same performer and verifier, spaced", func(c *manualRecordCheck) { c.Record.VerifiedBy = "  BOB   (IT) " }, ErrInvalid, 0},
		{"recorder started it", func(c *manualRecordCheck) { c.Recorder = admin("p-hr", "hr-automation") }, ErrSeparation, 0},
		{"recorder started it, by name before principal ids", func(c *manualRecordCheck) { c.StarterID, c.Recorder = "", admin("p-x", "HR-Automation") }, ErrSeparation, 0},
		{"automation records", func(c *manualRecordCheck) { c.Recorder.Kind = access.KindAutomation }, ErrSeparation, 0},
		{"automation records, single person allowed", func(c *manualRecordCheck) { c.Recorder.Kind, c.SinglePerson = access.KindAutomation, true }, ErrSeparation, 0},
		{"single person: one performer", func(c *manualRecordCheck) { c.Record.VerifiedBy, c.SinglePerson = "Bob (IT)", true }, nil, 1},
		{"single person: recorder started it", func(c *manualRecordCheck) { c.Recorder, c.SinglePerson = admin("p-hr", "hr"), true }, nil, 1},
		{"single person: both", func(c *manualRecordCheck) {
			c.Record.VerifiedBy, c.Recorder, c.SinglePerson = "Bob (IT)", admin("p-hr", "hr"), true
		}, nil, 2},
		{"single person allowed but two people", func(c *manualRecordCheck) { c.SinglePerson = true }, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := good
			tt.edit(&c)
			relaxed, err := checkManualRecord(c)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if len(relaxed) != tt.wantRelaxed {
				t.Errorf("relaxed %q, want %d rules", relaxed, tt.wantRelaxed)
			}
			if (singlePersonNote(relaxed) != "") != (tt.wantRelaxed > 0) {
				t.Errorf("note %q for %d relaxed rules", singlePersonNote(relaxed), len(relaxed))
			}
		})
	}
}
