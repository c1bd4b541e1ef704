package registry

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/rosterhq/roster/shared/wire"
)

// wipeMatrix is the lifecycle written out as docs/api.md shows it, one
// row per state (in wipeStates order), one column per event (in
// wipeEvents order): the state the event moves the wipe to, "=" for a
// repeat that changes nothing, "—" for a conflict (409).
var wipeMatrix = map[string][]string{
	//               start        delivered    in_progress   completed    unproven  failed   refused  not_supp  manual       cancel       expire     verify
	"":             {"requested", "—", "—", "—", "—", "—", "—", "—", "—", "—", "—", "—"},
	WipeRequested:  {"—", "delivered", "in_progress", "completed", "failed", "failed", "failed", "failed", "completed", "cancelled", "expired", "—"},
	WipeDelivered:  {"—", "=", "in_progress", "completed", "failed", "failed", "failed", "failed", "—", "cancelled", "—", "—"},
	WipeInProgress: {"—", "—", "=", "completed", "failed", "failed", "failed", "failed", "—", "—", "—", "—"},
	WipeCompleted:  {"—", "—", "—", "=", "=", "—", "—", "—", "—", "—", "—", "verified"},
	WipeFailed:     {"—", "—", "—", "—", "—", "=", "=", "=", "completed", "cancelled", "—", "—"},
	WipeVerified:   {"—", "—", "—", "—", "—", "—", "—", "—", "—", "—", "—", "—"},
	WipeCancelled:  {"—", "—", "—", "—", "—", "—", "—", "—", "—", "—", "—", "—"},
	WipeExpired:    {"—", "—", "—", "—", "—", "—", "—", "—", "completed", "cancelled", "—", "—"},
}

// TestWipeLifecycleTable checks every state × every event.
func TestWipeLifecycleTable(t *testing.T) {
	t.Parallel()
	if len(wipeMatrix) != len(wipeStates) {
		t.Fatalf("matrix has %d states, the lifecycle %d", len(wipeMatrix), len(wipeStates))
	}
	for _, from := range wipeStates {
		row, ok := wipeMatrix[from]
		if !ok || len(row) != len(wipeEvents) {
			t.Fatalf("matrix row %q: %d cells, want one per event (%d)", from, len(row), len(wipeEvents))
		}
		for i, ev := range wipeEvents {
			t.Run(wipeStateLabel(from)+"×"+string(ev), func(t *testing.T) {
				t.Parallel()
				want := row[i]
				got, err := nextWipeState(from, ev)
				switch want {
				case "—":
					if !errors.Is(err, ErrWipeConflict) || got != from {
						t.Errorf("got %q, %v; want a conflict leaving %q", got, err, from)
					}
				case "=":
					if err != nil || got != from {
						t.Errorf("got %q, %v; want the repeat %q", got, err, from)
					}
				default:
					if err != nil || got != want {
						t.Errorf("got %q, %v; want %q", got, err, want)
					}
				}
			})
		}
	}
	// Nothing in the table outside the states and events listed.
	for step := range wipeTable {
		if !slices.Contains(wipeStates, step.from) || !slices.Contains(wipeEvents, step.ev) {
			t.Errorf("table row %q × %q is outside the listed states and events", step.from, step.ev)
		}
	}
}

// TestWipeEventTargets: each event leads to one state (whatever it leaves
// from), so an event's meaning does not depend on where the wipe is.
func TestWipeEventTargets(t *testing.T) {
	t.Parallel()
	for _, ev := range wipeEvents {
		targets := map[string]bool{}
		for step, to := range wipeTable {
			if step.ev == ev && step.from != to {
				targets[to] = true
			}
		}
		if len(targets) != 1 {
			t.Errorf("%s moves wipes to %v, want exactly one state", ev, targets)
		}
	}
}

// TestWipeLifecycleReachable: every state is reached from no request, and
// only verified and cancelled (Final) are left by no event.
func TestWipeLifecycleReachable(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{"": true}
	for queue := []string{""}; len(queue) > 0; queue = queue[1:] {
		for _, ev := range wipeEvents {
			if to, err := nextWipeState(queue[0], ev); err == nil && !seen[to] {
				seen[to] = true
				queue = append(queue, to)
			}
		}
	}
	for _, s := range wipeStates {
		if !seen[s] {
			t.Errorf("state %q is unreachable", s)
		}
		if s == "" {
			continue
		}
		moves := false
		for _, ev := range wipeEvents {
			if to, err := nextWipeState(s, ev); err == nil && to != s {
				moves = true
			}
		}
		if final := (&Wipe{State: s}).Final(); final == moves {
			t.Errorf("%s: Final() = %v, but an event moves it: %v", s, final, moves)
		}
	}
}

// TestWipeOpenStates: the states SQL treats as "a command may still
// travel" (openWipeStates, and StartWipe's "already under way") are those
// an agent's completion may still move.
func TestWipeOpenStates(t *testing.T) {
	t.Parallel()
	var open []string
	for _, s := range wipeStates {
		if to, err := nextWipeState(s, wipeAgentCompleted); err == nil && to != s {
			open = append(open, "'"+s+"'")
		}
	}
	if got, want := openWipeStates, "("+strings.Join(open, ", ")+")"; got != want {
		t.Errorf("openWipeStates = %s, want %s", got, want)
	}
}

func TestAgentWipeEvent(t *testing.T) {
	t.Parallel()
	proof := &wire.WipeEvidence{Volumes: []wire.WipedVolume{{Device: "/dev/sda3", Result: wire.WipeErased}}}
	keyslotLeft := &wire.WipeEvidence{Volumes: []wire.WipedVolume{{Device: "/dev/sda3", Result: wire.WipeErased, KeyslotsAfter: 1}}}
	tests := []struct {
		status   string
		evidence *wire.WipeEvidence
		want     wipeEvent
		problem  bool
		ok       bool
	}{
		{wire.CommandDelivered, nil, wipeAgentDelivered, false, true},
		{wire.CommandInProgress, nil, wipeAgentInProgress, false, true},
		{wire.CommandCompleted, proof, wipeAgentCompleted, false, true},
		{wire.CommandCompleted, nil, wipeAgentCompletedUnproven, true, true},
		{wire.CommandCompleted, &wire.WipeEvidence{}, wipeAgentCompletedUnproven, true, true},
		{wire.CommandCompleted, keyslotLeft, wipeAgentCompletedUnproven, true, true},
		{wire.CommandFailed, nil, wipeAgentFailed, false, true},
		{wire.CommandRefused, nil, wipeAgentRefused, false, true},
		{wire.CommandNotSupported, nil, wipeAgentNotSupported, false, true},
		{"verified", nil, "", false, false},
		{"", nil, "", false, false},
	}
	for _, tt := range tests {
		got, problem, ok := agentWipeEvent(tt.status, tt.evidence)
		if got != tt.want || (problem != "") != tt.problem || ok != tt.ok {
			t.Errorf("agentWipeEvent(%q, %v) = %q, %q, %v; want %q, problem %v, %v", tt.status, tt.evidence, got, problem, ok, tt.want, tt.problem, tt.ok)
		}
	}
}

func TestWipeConflictNamesTheWipe(t *testing.T) {
	t.Parallel()
	w := &Wipe{ID: "w-1", State: WipeCompleted}
	_, err := w.next(wipeCancel)
	if !errors.Is(err, ErrWipeConflict) || !strings.Contains(err.Error(), "wipe w-1 is completed and cannot take cancel") {
		t.Errorf("got %v, want a conflict naming the wipe, its state and the event", err)
	}
}

// TestWipeMatrixDocumented: docs/api.md shows this very table.
func TestWipeMatrixDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	if md := wipeMatrixMarkdown(); !strings.Contains(string(doc), md) {
		t.Errorf("docs/api.md does not show the wipe lifecycle table; want:\n%s", md)
	}
}

func wipeMatrixMarkdown() string {
	var b strings.Builder
	b.WriteString("| state \\ event |")
	for _, ev := range wipeEvents {
		b.WriteString(" `" + string(ev) + "` |")
	}
	b.WriteString("\n|---|")
	b.WriteString(strings.Repeat("---|", len(wipeEvents)))
	b.WriteString("\n")
	for _, from := range wipeStates {
		label := "`" + from + "`"
		if from == "" {
			label = "(no request)"
		}
		b.WriteString("| " + label + " |")
		for _, ev := range wipeEvents {
			to, err := nextWipeState(from, ev)
			switch {
			case err != nil:
				b.WriteString(" — |")
			case to == from:
				b.WriteString(" = |")
			default:
				b.WriteString(" " + to + " |")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
