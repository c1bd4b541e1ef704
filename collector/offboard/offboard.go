// Package offboard is the wipe lifecycle of an offboarding, decided in
// pure code: the wipe states, the events that move a wipe, and the one
// transition table (state × event → state) between them, plus the reading
// of an agent's command status as an event. It touches no database: the
// registry (collector/registry, wipe.go) loads a wipe, asks Next, and
// writes the answer with its history, audit entry and webhook event in
// one transaction. docs/api.md shows the same table as a matrix.
package offboard

import (
	"fmt"

	"github.com/rosterhq/roster/shared/wire"
)

// Wipe states; "" is no request yet.
const (
	Requested  = "requested"
	Delivered  = "delivered"
	InProgress = "in_progress"
	Completed  = "completed"
	Failed     = "failed"
	Verified   = "verified"
	Cancelled  = "cancelled"
	Expired    = "expired"
)

// Event is something that may move a wipe.
type Event string

// Events. The agent's are its command statuses (wire.CommandStatus), with
// completed split by whether its evidence proves the erase.
const (
	// Start creates the request (from no request, "").
	Start Event = "start"
	// The agent took the signed command, began, finished with proof,
	// finished without proof (a volume not erased, a keyslot left), or
	// could not or would not wipe.
	AgentDelivered         Event = "agent_delivered"
	AgentInProgress        Event = "agent_in_progress"
	AgentCompleted         Event = "agent_completed"
	AgentCompletedUnproven Event = "agent_completed_unproven"
	AgentFailed            Event = "agent_failed"
	AgentRefused           Event = "agent_refused"
	AgentNotSupported      Event = "agent_not_supported"
	// ManualRecord records a wipe done elsewhere, with evidence.
	ManualRecord Event = "manual_record"
	// Cancel withdraws the request.
	Cancel Event = "cancel"
	// Expire: the deadline passed before the device took the wipe.
	Expire Event = "expire"
	// Verify: the same hardware enrolled again after the wipe and
	// reported from a fresh installation.
	Verify Event = "verify_by_reenrolment"
)

// Events lists every event, in the order of the documented matrix.
func Events() []Event {
	return []Event{Start, AgentDelivered, AgentInProgress, AgentCompleted, AgentCompletedUnproven,
		AgentFailed, AgentRefused, AgentNotSupported, ManualRecord, Cancel, Expire, Verify}
}

// States lists every state, "" being no request yet, in the order of the
// documented matrix.
func States() []string {
	return []string{"", Requested, Delivered, InProgress, Completed, Failed, Verified, Cancelled, Expired}
}

type step struct {
	from string
	ev   Event
}

// table is the lifecycle; it is never written after initialisation. Rows
// worth a word:
//   - an agent status may skip ahead (in_progress or completed straight
//     from requested: the agent need not report every step), never back;
//   - a completion without proof fails the wipe, and is a repeat on a
//     wipe already completed, like any status equal to the state;
//   - a manual record is taken while the request waits (requested), after
//     the agent failed, or after the request expired, but not while the
//     agent holds the command (delivered, in_progress);
//   - cancel is allowed until the device starts (requested, delivered)
//     and after a failure or expiry;
//   - expire and verify come from the collector itself; their callers
//     skip a wipe the table does not allow instead of refusing.
var table = map[step]string{
	{"", Start}: Requested,

	{Requested, AgentDelivered}:         Delivered,
	{Requested, AgentInProgress}:        InProgress,
	{Requested, AgentCompleted}:         Completed,
	{Requested, AgentCompletedUnproven}: Failed,
	{Requested, AgentFailed}:            Failed,
	{Requested, AgentRefused}:           Failed,
	{Requested, AgentNotSupported}:      Failed,
	{Requested, ManualRecord}:           Completed,
	{Requested, Cancel}:                 Cancelled,
	{Requested, Expire}:                 Expired,

	{Delivered, AgentDelivered}:         Delivered, // repeat
	{Delivered, AgentInProgress}:        InProgress,
	{Delivered, AgentCompleted}:         Completed,
	{Delivered, AgentCompletedUnproven}: Failed,
	{Delivered, AgentFailed}:            Failed,
	{Delivered, AgentRefused}:           Failed,
	{Delivered, AgentNotSupported}:      Failed,
	{Delivered, Cancel}:                 Cancelled,

	{InProgress, AgentInProgress}:        InProgress, // repeat
	{InProgress, AgentCompleted}:         Completed,
	{InProgress, AgentCompletedUnproven}: Failed,
	{InProgress, AgentFailed}:            Failed,
	{InProgress, AgentRefused}:           Failed,
	{InProgress, AgentNotSupported}:      Failed,

	{Completed, AgentCompleted}:         Completed, // repeat
	{Completed, AgentCompletedUnproven}: Completed, // repeat: a retried completed is not re-examined
	{Completed, Verify}:                 Verified,

	{Failed, AgentFailed}:       Failed, // repeat
	{Failed, AgentRefused}:      Failed, // repeat
	{Failed, AgentNotSupported}: Failed, // repeat
	{Failed, ManualRecord}:      Completed,
	{Failed, Cancel}:            Cancelled,

	{Expired, ManualRecord}: Completed,
	{Expired, Cancel}:       Cancelled,
}

// Next is the lifecycle: the state ev moves a wipe in from to (from itself
// for a repeat, which changes nothing: agents retry a status until they
// hear it was taken), and false for a pair the table does not list, which
// the caller refuses as a conflict.
func Next(from string, ev Event) (string, bool) {
	to, ok := table[step{from, ev}]
	if !ok {
		return from, false
	}
	return to, true
}

// Final reports whether no event moves a wipe in state s any more.
func Final(s string) bool { return s == Verified || s == Cancelled }

// Label names a state for a person ("" is "not yet requested").
func Label(s string) string {
	if s == "" {
		return "not yet requested"
	}
	return s
}

// AgentEvent is the lifecycle event of an agent's command status; problem
// is what a completed status's evidence fails to prove ("" when it proves
// the erase). ok is false for a status the agent cannot send.
func AgentEvent(status string, evidence *wire.WipeEvidence) (ev Event, problem string, ok bool) {
	switch status {
	case wire.CommandDelivered:
		return AgentDelivered, "", true
	case wire.CommandInProgress:
		return AgentInProgress, "", true
	case wire.CommandCompleted:
		if problem := CheckEvidence(evidence); problem != "" {
			return AgentCompletedUnproven, problem, true
		}
		return AgentCompleted, "", true
	case wire.CommandFailed:
		return AgentFailed, "", true
	case wire.CommandRefused:
		return AgentRefused, "", true
	case wire.CommandNotSupported:
		return AgentNotSupported, "", true
	}
	return "", "", false
}

// CheckEvidence says what the evidence fails to prove of a cryptographic
// erase: every volume erased with no keyslot left ("" when it proves it).
func CheckEvidence(e *wire.WipeEvidence) string {
	if e == nil || len(e.Volumes) == 0 {
		return "no evidence of an erased volume"
	}
	for _, v := range e.Volumes {
		if v.Result != wire.WipeErased || v.KeyslotsAfter != 0 {
			return fmt.Sprintf("volume %s: result %s with %d keyslots left", v.Device, v.Result, v.KeyslotsAfter)
		}
	}
	return ""
}
