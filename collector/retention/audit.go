package retention

import (
	"time"

	"github.com/rosterhq/roster/collector/audit"
)

// AuditPlan is how far the audit log may be purged and in which steps.
// The log is hash-chained, so only a prefix can go, and only up to a
// signed checkpoint: the verifier accepts a chain whose first entry
// follows a signed checkpoint (audit.Result.Anchor) and calls anything
// else entries deleted. A checkpoint qualifies when it was signed before
// cutoff (every entry it vouches for is older still) and at least one
// entry follows it (the chain keeps a head to append to and to verify).
//
// cps are the stored checkpoints in sequence order, first and head the
// log's first and last sequence. The result is the checkpoints to purge
// through, ascending, each step at most batch entries past the previous
// one where checkpoints allow (a step never stops between checkpoints, so
// the chain verifies after every step's commit); nil when nothing
// qualifies.
func AuditPlan(cps []audit.Checkpoint, first, head int64, cutoff time.Time, batch int) []audit.Checkpoint {
	var ok []audit.Checkpoint
	for _, c := range cps {
		if c.At.Before(cutoff) && c.Seq < head && c.Seq >= first {
			ok = append(ok, c)
		}
	}
	if len(ok) == 0 {
		return nil
	}
	var steps []audit.Checkpoint
	prev := first - 1
	for i := 0; i < len(ok); {
		// The furthest checkpoint within batch entries of prev, or the
		// next one when none is that close.
		j := i
		for j+1 < len(ok) && ok[j+1].Seq-prev <= int64(batch) {
			j++
		}
		steps = append(steps, ok[j])
		prev = ok[j].Seq
		i = j + 1
	}
	return steps
}
