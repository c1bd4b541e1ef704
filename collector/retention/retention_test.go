package retention_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/config"
	"github.com/rosterhq/roster/collector/retention"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func cp(seq int64, daysAfter int) audit.Checkpoint {
	return audit.Checkpoint{Seq: seq, At: t0.AddDate(0, 0, daysAfter)}
}

func seqs(cs []audit.Checkpoint) []int64 {
	var out []int64
	for _, c := range cs {
		out = append(out, c.Seq)
	}
	return out
}

func TestAuditPlan(t *testing.T) {
	t.Parallel()
	cps := []audit.Checkpoint{cp(4, 1), cp(8, 2), cp(9, 3), cp(20, 4), cp(30, 10)}
	cutoff := t0.AddDate(0, 0, 5) // checkpoints 4, 8, 9 and 20 qualify by time
	for _, c := range []struct {
		name        string
		first, head int64
		cutoff      time.Time
		batch       int
		want        []int64
	}{
		{"one step", 1, 40, cutoff, 100, []int64{20}},
		{"steps of at most 5 where checkpoints allow", 1, 40, cutoff, 5, []int64{4, 9, 20}},
		{"a step longer than the batch when no checkpoint is closer", 1, 40, cutoff, 2, []int64{4, 8, 9, 20}},
		{"already purged through 8", 9, 40, cutoff, 100, []int64{20}},
		{"already purged through 8, small steps", 9, 40, cutoff, 1, []int64{9, 20}},
		{"purged through 20: nothing left to do", 21, 40, cutoff, 100, nil},
		{"the head itself is never a purge point", 1, 20, cutoff, 100, []int64{9}},
		{"no checkpoint old enough", 1, 40, t0, 100, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := seqs(retention.AuditPlan(cps, c.first, c.head, c.cutoff, c.batch))
			if !slices.Equal(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestFromConfig(t *testing.T) {
	t.Parallel()
	c := config.DefaultRetention()
	c.Sessions = 0
	p := retention.FromConfig(c)
	if got := p.Rules[len(p.Rules)-1].Kind; got != retention.AuditLog {
		t.Errorf("last rule %s, want the audit log last", got)
	}
	if len(p.Rules) != len(c.Kinds()) {
		t.Errorf("%d rules for %d kinds", len(p.Rules), len(c.Kinds()))
	}
	for _, r := range p.Rules {
		cut, ok := r.Cutoff(t0)
		switch {
		case r.Kind == retention.Sessions && ok:
			t.Errorf("sessions kept for ever has a cutoff %v", cut)
		case r.Kind == retention.Events && (!ok || !cut.Equal(t0.Add(-config.DefaultEvents))):
			t.Errorf("events cutoff %v, want %v", cut, t0.Add(-config.DefaultEvents))
		}
	}
}

func TestReportPrint(t *testing.T) {
	t.Parallel()
	cut := t0
	r := retention.Report{DryRun: true, Kinds: []retention.KindReport{
		{Kind: retention.Events, Cutoff: &cut, Tables: map[string]int64{"events": 3, "webhook_deliveries": 5}},
		{Kind: retention.Sessions, Kept: true, Tables: map[string]int64{}},
	}}
	var b bytes.Buffer
	if err := r.Print(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"events  2026-03-01T00:00:00Z  webhook_deliveries  5", "sessions  kept for ever", "would remove 8 rows in total"} {
		if !strings.Contains(strings.Join(strings.Fields(b.String()), "  "), strings.Join(strings.Fields(want), "  ")) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
