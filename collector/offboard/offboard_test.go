package offboard

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/rosterhq/roster/shared/wire"
)

// matrix is the lifecycle written out as docs/api.md shows it, one
// row per state (in States() order), one column per event (in
// Events() order): the state the event moves the wipe to, "=" for a
// repeat that changes nothing, "—" for a conflict (409).
var matrix = map[string][]string{
	//               start        delivered    in_progress   completed    unproven  failed   refused  not_supp  manual       cancel       expire     verify
	"":         {"requested", "—", "—", "—", "—", "—", "—", "—", "—", "—", "—", "—"},
	Requested:  {"—", "delivered", "in_progress", "completed", "failed", "failed", "failed", "failed", "completed", "cancelled", "expired", "—"},
	Delivered:  {"—", "=", "in_progress", "completed", "failed", "failed", "failed", "failed", "—", "cancelled", "—", "—"},
	InProgress: {"—", "—", "=", "completed", "failed", "failed", "failed", "failed", "—", "—", "—", "—"},
	Completed:  {"—", "—", "—", "=", "=", "—", "—", "—", "—", "—", "—", "verified"},
	Failed:     {"—", "—", "—", "—", "—", "=", "=", "=", "completed", "cancelled", "—", "—"},
	Verified:   {"—", "—", "—", "—", "—", "—", "—", "—", "—", "—", "—", "—"},
	Cancelled:  {"—", "—", "—", "—", "—", "—", "—", "—", "—", "—", "—", "—"},
	Expired:    {"—", "—", "—", "—", "—", "—", "—", "—", "completed", "cancelled", "—", "—"},
}

// TestLifecycleTable checks every state × every event.
func TestLifecycleTable(t *testing.T) {
	t.Parallel()
	if len(matrix) != len(States()) {
		t.Fatalf("matrix has %d states, the lifecycle %d", len(matrix), len(States()))
	}
	for _, from := range States() {
		row, ok := matrix[from]
		if !ok || len(row) != len(Events()) {
			t.Fatalf("matrix row %q: %d cells, want one per event (%d)", from, len(row), len(Events()))
		}
		for i, ev := range Events() {
			t.Run(Label(from)+"×"+string(ev), func(t *testing.T) {
				t.Parallel()
				want := row[i]
				got, ok := Next(from, ev)
				switch want {
				case "—":
					if ok || got != from {
						t.Errorf("got %q, %v; want a conflict leaving %q", got, ok, from)
					}
				case "=":
					if !ok || got != from {
						t.Errorf("got %q, %v; want the repeat %q", got, ok, from)
					}
				default:
					if !ok || got != want {
						t.Errorf("got %q, %v; want %q", got, ok, want)
					}
				}
			})
		}
	}
	// Nothing in the table outside the states and events listed.
	for step := range table {
		if !slices.Contains(States(), step.from) || !slices.Contains(Events(), step.ev) {
			t.Errorf("table row %q × %q is outside the listed states and events", step.from, step.ev)
		}
	}
}

// TestEventTargets: each event leads to one state (whatever it leaves
// from), so an event's meaning does not depend on where the wipe is.
func TestEventTargets(t *testing.T) {
	t.Parallel()
	for _, ev := range Events() {
		targets := map[string]bool{}
		for step, to := range table {
			if step.ev == ev && step.from != to {
				targets[to] = true
			}
		}
		if len(targets) != 1 {
			t.Errorf("%s moves wipes to %v, want exactly one state", ev, targets)
		}
	}
}

// TestLifecycleReachable: every state is reached from no request, and
// only verified and cancelled (Final) are left by no event.
func TestLifecycleReachable(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{"": true}
	for queue := []string{""}; len(queue) > 0; queue = queue[1:] {
		for _, ev := range Events() {
			if to, ok := Next(queue[0], ev); ok && !seen[to] {
				seen[to] = true
				queue = append(queue, to)
			}
		}
	}
	for _, s := range States() {
		if !seen[s] {
			t.Errorf("state %q is unreachable", s)
		}
		if s == "" {
			continue
		}
		moves := false
		for _, ev := range Events() {
			if to, ok := Next(s, ev); ok && to != s {
				moves = true
			}
		}
		if final := Final(s); final == moves {
			t.Errorf("%s: Final() = %v, but an event moves it: %v", s, final, moves)
		}
	}
}

func TestAgentEvent(t *testing.T) {
	t.Parallel()
	proof := &wire.WipeEvidence{Volumes: []wire.WipedVolume{{Device: "/dev/sda3", Result: wire.WipeErased}}}
	keyslotLeft := &wire.WipeEvidence{Volumes: []wire.WipedVolume{{Device: "/dev/sda3", Result: wire.WipeErased, KeyslotsAfter: 1}}}
	tests := []struct {
		status   string
		evidence *wire.WipeEvidence
		want     Event
		problem  bool
		ok       bool
	}{
		{wire.CommandDelivered, nil, AgentDelivered, false, true},
		{wire.CommandInProgress, nil, AgentInProgress, false, true},
		{wire.CommandCompleted, proof, AgentCompleted, false, true},
		{wire.CommandCompleted, nil, AgentCompletedUnproven, true, true},
		{wire.CommandCompleted, &wire.WipeEvidence{}, AgentCompletedUnproven, true, true},
		{wire.CommandCompleted, keyslotLeft, AgentCompletedUnproven, true, true},
		{wire.CommandFailed, nil, AgentFailed, false, true},
		{wire.CommandRefused, nil, AgentRefused, false, true},
		{wire.CommandNotSupported, nil, AgentNotSupported, false, true},
		{"verified", nil, "", false, false},
		{"", nil, "", false, false},
	}
	for _, tt := range tests {
		got, problem, ok := AgentEvent(tt.status, tt.evidence)
		if got != tt.want || (problem != "") != tt.problem || ok != tt.ok {
			t.Errorf("AgentEvent(%q, %v) = %q, %q, %v; want %q, problem %v, %v", tt.status, tt.evidence, got, problem, ok, tt.want, tt.problem, tt.ok)
		}
	}
}

// TestMatrixDocumented: docs/api.md shows this very table.
func TestMatrixDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	if md := matrixMarkdown(); !strings.Contains(string(doc), md) {
		t.Errorf("docs/api.md does not show the wipe lifecycle table; want:\n%s", md)
	}
}

func matrixMarkdown() string {
	var b strings.Builder
	b.WriteString("| state \\ event |")
	for _, ev := range Events() {
		b.WriteString(" `" + string(ev) + "` |")
	}
	b.WriteString("\n|---|")
	b.WriteString(strings.Repeat("---|", len(Events())))
	b.WriteString("\n")
	for _, from := range States() {
		label := "`" + from + "`"
		if from == "" {
			label = "(no request)"
		}
		b.WriteString("| " + label + " |")
		for _, ev := range Events() {
			to, ok := Next(from, ev)
			switch {
			case !ok:
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
