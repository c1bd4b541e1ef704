package registry

import (
	"errors"
	"strings"
	"testing"

	"github.com/rosterhq/roster/collector/offboard"
)

// TestWipeOpenStates: the states SQL treats as "a command may still
// travel" (openWipeStates, and StartWipe's "already under way") are those
// an agent's completion may still move.
func TestWipeOpenStates(t *testing.T) {
	t.Parallel()
	var open []string
	for _, s := range offboard.States() {
		if to, ok := offboard.Next(s, offboard.AgentCompleted); ok && to != s {
			open = append(open, "'"+s+"'")
		}
	}
	if got, want := openWipeStates, "("+strings.Join(open, ", ")+")"; got != want {
		t.Errorf("openWipeStates = %s, want %s", got, want)
	}
}

func TestWipeConflictNamesTheWipe(t *testing.T) {
	t.Parallel()
	w := &Wipe{ID: "w-1", State: WipeCompleted}
	_, err := w.next(offboard.Cancel)
	if !errors.Is(err, ErrWipeConflict) || !strings.Contains(err.Error(), "wipe w-1 is completed and cannot take cancel") {
		t.Errorf("got %v, want a conflict naming the wipe, its state and the event", err)
	}
}
