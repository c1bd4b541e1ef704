package compliance

// Result diffing: what a new evaluation changes in a device's stored
// results. The registry loads the stored state and results, calls
// DiffResults and writes the row only when Changed, announcing Changes.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// StoredResult is one policy's result as the registry keeps it; times are
// in the registry's fixed-width text form. The encoding is deterministic,
// so an unchanged evaluation gives the same text and a fleet-wide
// evaluation compares strings instead of decoding every device's results.
type StoredResult struct {
	PolicyID     string `json:"policy_id"`
	Status       string `json:"status"`
	Reason       string `json:"reason,omitempty"`
	ExceptionID  string `json:"exception_id,omitempty"`
	FailingSince string `json:"failing_since,omitempty"`
}

// StatusChange is one policy whose status changed (Previous is "" for a
// policy the device had no result for), as the compliance.changed event
// lists it.
type StatusChange struct {
	PolicyID string `json:"policy_id"`
	Status   string `json:"status"`
	Previous string `json:"previous_status"`
	Reason   string `json:"reason"`
}

// Diff is a device's new results against its stored ones.
type Diff struct {
	State string
	// Results is the new results, Doc and Failing their stored forms;
	// Changed says whether they differ from the stored ones.
	Results      []StoredResult
	Doc, Failing string
	Changed      bool
	// Changes are the status changes, for the compliance.changed event.
	Changes []StatusChange
	// Removed are the stored results the new results lack (a policy
	// deleted since), in stored order: the compliance history records
	// them as leaving scope.
	Removed []StoredResult
}

// DecodeResults reads a stored results document ("" is none).
func DecodeResults(doc string) ([]StoredResult, error) {
	if doc == "" {
		return nil, nil
	}
	var out []StoredResult
	if err := json.Unmarshal([]byte(doc), &out); err != nil {
		return nil, fmt.Errorf("decode stored results: %w", err)
	}
	return out, nil
}

// EncodeFailing renders the failing-since times as the failing column:
// "POLICY=TIME" joined by ",", in result order ("" when nothing fails, the
// common case). It is read on every fleet evaluation, so it is not JSON.
func EncodeFailing(results []StoredResult) string {
	var b strings.Builder
	for _, r := range results {
		if r.FailingSince == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(r.PolicyID + "=" + r.FailingSince)
	}
	return b.String()
}

// DiffResults compares results with a device's stored state and results
// document (both "" when never evaluated); stamp writes a time as the
// registry stores it. Only when the document or the state differ is the
// stored document decoded, to list the status changes.
func DiffResults(state, doc string, results []Result, stamp func(time.Time) string) (Diff, error) {
	return DiffDecoded(state, doc, nil, false, results, stamp)
}

// DiffDecoded is DiffResults for a caller that may hold the stored
// document already decoded: when known, prev is doc's decoded form and doc
// is not decoded again.
func DiffDecoded(state, doc string, prev []StoredResult, known bool, results []Result, stamp func(time.Time) string) (Diff, error) {
	o := newDiff(results, stamp)
	if err := o.encode(); err != nil {
		return o, err
	}
	if o.Doc == doc && o.State == state {
		return o, nil
	}
	if !known {
		var err error
		if prev, err = DecodeResults(doc); err != nil {
			return o, err
		}
	}
	o.list(prev)
	return o, nil
}

// DiffStored is DiffResults for a caller that holds, instead of the
// stored document, the results it decodes to, and knows that document is
// this package's encoding of them (a fleet evaluation that decoded or
// wrote it): the encoding is deterministic and one-to-one, so comparing
// the results is comparing the documents, and only a changed outcome is
// encoded. An unchanged outcome's Doc and Failing are left empty.
func DiffStored(state string, prev []StoredResult, results []Result, stamp func(time.Time) string) (Diff, error) {
	o := newDiff(results, stamp)
	if o.State == state && slices.Equal(o.Results, prev) {
		return o, nil
	}
	if err := o.encode(); err != nil {
		return o, err
	}
	o.list(prev)
	return o, nil
}

func newDiff(results []Result, stamp func(time.Time) string) Diff {
	o := Diff{State: Worst(results), Results: make([]StoredResult, 0, len(results))}
	for _, r := range results {
		s := StoredResult{PolicyID: r.PolicyID, Status: r.Status, Reason: r.Reason, ExceptionID: r.ExceptionID}
		if !r.FailingSince.IsZero() {
			s.FailingSince = stamp(r.FailingSince)
		}
		o.Results = append(o.Results, s)
	}
	return o
}

// encode sets Doc and Failing, the stored forms of Results.
func (o *Diff) encode() error {
	b, err := json.Marshal(o.Results)
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	o.Doc, o.Failing = string(b), EncodeFailing(o.Results)
	return nil
}

// list marks o changed from the stored results prev and lists the status
// changes and the removed results. Both are in the order of the policy
// set that made them, so each policy is looked for just after the last
// one found and searched for only where the sets differ: a map per device
// was a tenth of what a fleet evaluation allocated.
func (o *Diff) list(prev []StoredResult) {
	o.Changed = true
	j := 0
	for _, r := range o.Results {
		k := locate(prev, j, r.PolicyID)
		if k < 0 {
			o.Changes = append(o.Changes, StatusChange{PolicyID: r.PolicyID, Status: r.Status, Reason: r.Reason})
			continue
		}
		if p := prev[k]; p.Status != r.Status {
			o.Changes = append(o.Changes, StatusChange{PolicyID: r.PolicyID, Status: r.Status, Previous: p.Status, Reason: r.Reason})
		}
		j = k + 1
	}
	j = 0
	for _, p := range prev {
		k := locate(o.Results, j, p.PolicyID)
		if k < 0 {
			o.Removed = append(o.Removed, p)
			continue
		}
		j = k + 1
	}
}

// locate returns the index of policy's result in rs, looking at index
// from first, or -1.
func locate(rs []StoredResult, from int, policy string) int {
	if from < len(rs) && rs[from].PolicyID == policy {
		return from
	}
	for i := range rs {
		if rs[i].PolicyID == policy {
			return i
		}
	}
	return -1
}
