package registry

// The wipe lifecycle's states, events and transition table are pure code
// in collector/offboard. Every place in the registry that moves a wipe
// names its event, asks offboard.Next (through Wipe.next, which turns a
// pair the table does not list into ErrWipeConflict, 409), and transition
// (wipe.go) records the answer.

import "github.com/rosterhq/roster/collector/offboard"

// next is offboard.Next for w, its conflict naming the wipe.
func (w *Wipe) next(ev offboard.Event) (string, error) {
	to, ok := offboard.Next(w.State, ev)
	if !ok {
		return to, ErrWipeConflict.Errorf("wipe %s is %s and cannot take %s", w.ID, offboard.Label(w.State), ev)
	}
	return to, nil
}
