package registry

// The wipe lifecycle as one transition table (state × event → state),
// decided in pure code: every place that moves a wipe names its event,
// asks nextWipeState, and transition() records the answer. A pair the
// table does not list is a conflict (409). A row whose target is its own
// state is a repeat: it is allowed and changes nothing (agents retry a
// status until they hear it was taken). docs/api.md shows the same table
// as a matrix.

// wipeEvent is something that may move a wipe.
type wipeEvent string

// Wipe events. The agent's are its command statuses (wire.CommandStatus),
// with completed split by whether its evidence proves the erase.
const (
	// wipeStart creates the request (from no request, "").
	wipeStart wipeEvent = "start"
	// The agent took the signed command, began, finished with proof,
	// finished without proof (a volume not erased, a keyslot left), or
	// could not or would not wipe.
	wipeAgentDelivered         wipeEvent = "agent_delivered"
	wipeAgentInProgress        wipeEvent = "agent_in_progress"
	wipeAgentCompleted         wipeEvent = "agent_completed"
	wipeAgentCompletedUnproven wipeEvent = "agent_completed_unproven"
	wipeAgentFailed            wipeEvent = "agent_failed"
	wipeAgentRefused           wipeEvent = "agent_refused"
	wipeAgentNotSupported      wipeEvent = "agent_not_supported"
	// wipeManualRecord records a wipe done elsewhere, with evidence.
	wipeManualRecord wipeEvent = "manual_record"
	// wipeCancel withdraws the request.
	wipeCancel wipeEvent = "cancel"
	// wipeExpire: the deadline passed before the device took the wipe.
	wipeExpire wipeEvent = "expire"
	// wipeVerify: the same hardware enrolled again after the wipe and
	// reported from a fresh installation.
	wipeVerify wipeEvent = "verify_by_reenrolment"
)

// wipeEvents lists every event, in the order of the documented matrix.
var wipeEvents = []wipeEvent{wipeStart, wipeAgentDelivered, wipeAgentInProgress, wipeAgentCompleted, wipeAgentCompletedUnproven,
	wipeAgentFailed, wipeAgentRefused, wipeAgentNotSupported, wipeManualRecord, wipeCancel, wipeExpire, wipeVerify}

// wipeStates lists every state, "" being no request yet, in the order of
// the documented matrix.
var wipeStates = []string{"", WipeRequested, WipeDelivered, WipeInProgress, WipeCompleted, WipeFailed, WipeVerified, WipeCancelled, WipeExpired}

type wipeStep struct {
	from string
	ev   wipeEvent
}

// wipeTable is the lifecycle. Rows worth a word:
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
var wipeTable = map[wipeStep]string{
	{"", wipeStart}: WipeRequested,

	{WipeRequested, wipeAgentDelivered}:         WipeDelivered,
	{WipeRequested, wipeAgentInProgress}:        WipeInProgress,
	{WipeRequested, wipeAgentCompleted}:         WipeCompleted,
	{WipeRequested, wipeAgentCompletedUnproven}: WipeFailed,
	{WipeRequested, wipeAgentFailed}:            WipeFailed,
	{WipeRequested, wipeAgentRefused}:           WipeFailed,
	{WipeRequested, wipeAgentNotSupported}:      WipeFailed,
	{WipeRequested, wipeManualRecord}:           WipeCompleted,
	{WipeRequested, wipeCancel}:                 WipeCancelled,
	{WipeRequested, wipeExpire}:                 WipeExpired,

	{WipeDelivered, wipeAgentDelivered}:         WipeDelivered, // repeat
	{WipeDelivered, wipeAgentInProgress}:        WipeInProgress,
	{WipeDelivered, wipeAgentCompleted}:         WipeCompleted,
	{WipeDelivered, wipeAgentCompletedUnproven}: WipeFailed,
	{WipeDelivered, wipeAgentFailed}:            WipeFailed,
	{WipeDelivered, wipeAgentRefused}:           WipeFailed,
	{WipeDelivered, wipeAgentNotSupported}:      WipeFailed,
	{WipeDelivered, wipeCancel}:                 WipeCancelled,

	{WipeInProgress, wipeAgentInProgress}:        WipeInProgress, // repeat
	{WipeInProgress, wipeAgentCompleted}:         WipeCompleted,
	{WipeInProgress, wipeAgentCompletedUnproven}: WipeFailed,
	{WipeInProgress, wipeAgentFailed}:            WipeFailed,
	{WipeInProgress, wipeAgentRefused}:           WipeFailed,
	{WipeInProgress, wipeAgentNotSupported}:      WipeFailed,

	{WipeCompleted, wipeAgentCompleted}:         WipeCompleted, // repeat
	{WipeCompleted, wipeAgentCompletedUnproven}: WipeCompleted, // repeat: a retried completed is not re-examined
	{WipeCompleted, wipeVerify}:                 WipeVerified,

	{WipeFailed, wipeAgentFailed}:       WipeFailed, // repeat
	{WipeFailed, wipeAgentRefused}:      WipeFailed, // repeat
	{WipeFailed, wipeAgentNotSupported}: WipeFailed, // repeat
	{WipeFailed, wipeManualRecord}:      WipeCompleted,
	{WipeFailed, wipeCancel}:            WipeCancelled,

	{WipeExpired, wipeManualRecord}: WipeCompleted,
	{WipeExpired, wipeCancel}:       WipeCancelled,
}

// nextWipeState is the lifecycle: the state ev moves a wipe in from to
// (from itself for a repeat), or ErrWipeConflict.
func nextWipeState(from string, ev wipeEvent) (string, error) {
	if to, ok := wipeTable[wipeStep{from, ev}]; ok {
		return to, nil
	}
	return from, ErrWipeConflict.Errorf("a wipe %s cannot take %s", wipeStateLabel(from), ev)
}

func wipeStateLabel(s string) string {
	if s == "" {
		return "not yet requested"
	}
	return s
}

// next is nextWipeState for w, its conflict naming the wipe.
func (w *Wipe) next(ev wipeEvent) (string, error) {
	to, err := nextWipeState(w.State, ev)
	if err != nil {
		return to, ErrWipeConflict.Errorf("wipe %s is %s and cannot take %s", w.ID, wipeStateLabel(w.State), ev)
	}
	return to, nil
}
