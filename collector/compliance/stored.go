package compliance

// Result diffing: what a new evaluation changes in a device's stored
// results. The registry loads the stored state and results, calls
// DiffResults and writes the row only when Changed, announcing Changes.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/go-json-experiment/json/jsontext"
)

// StoredResult is one policy's result as the registry keeps it; times are
// in the registry's fixed-width text form. The encoding is deterministic,
// so an unchanged evaluation gives the same text and a fleet-wide
// evaluation compares strings instead of decoding every device's results.
//
// A stored document names each reason by its id in the registry's
// dictionary of reasons (ReasonID, with ReasonIDs) instead of repeating
// its text: the reasons were most of a document's ~1.2 KB, and most
// devices share them, so a policy change that rewrites every device's
// document wrote them 100,000 times. Documents stored before carry the
// text (Reason) and still read. In memory Reason is the text and ReasonID
// 0; a decoded document has ReasonID set and Reason empty until the
// registry looks the text up.
//
// A document is a JSON array with one array per result, [policy_id,
// status, reason_id] followed, only when one is set, by [reason,
// exception_id, failing_since]: without the keys it is less than half the
// size of an array of objects, and a policy change rewrites every
// device's document. Documents stored as arrays of objects (the JSON
// names below) still read, in Go and in the registry's SQL.
type StoredResult struct {
	PolicyID     string `json:"policy_id"`
	Status       string `json:"status"`
	Reason       string `json:"reason,omitempty"`
	ReasonID     int64  `json:"reason_id,omitempty"`
	ExceptionID  string `json:"exception_id,omitempty"`
	FailingSince string `json:"failing_since,omitempty"`
}

// ReasonIDs returns a reason text's id in the registry's dictionary of
// reasons, and false when it has none yet. A nil ReasonIDs stores the
// texts themselves.
type ReasonIDs func(reason string) (int64, bool)

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
	Results []StoredResult
	// Doc is "" when Changed and a reason has no id yet (ReasonIDs): the
	// caller gives it one and calls Encode.
	Doc, Failing string
	Changed      bool
	// Changes are the status changes, for the compliance.changed event.
	Changes []StatusChange
	// Removed are the stored results the new results lack (a policy
	// deleted since), in stored order: the compliance history records
	// them as leaving scope.
	Removed []StoredResult
}

// DecodeResults reads a stored results document ("" is none), in either
// form (see StoredResult).
func DecodeResults(doc string) ([]StoredResult, error) {
	if doc == "" {
		return nil, nil
	}
	if !objectsForm(doc) {
		var elems []resultElem
		if err := json.Unmarshal([]byte(doc), &elems); err != nil {
			return nil, fmt.Errorf("decode stored results: %w", err)
		}
		out := make([]StoredResult, len(elems))
		for i, e := range elems {
			out[i] = StoredResult(e)
		}
		return out, nil
	}
	var out []StoredResult
	if err := json.Unmarshal([]byte(doc), &out); err != nil {
		return nil, fmt.Errorf("decode stored results: %w", err)
	}
	return out, nil
}

// objectsForm says whether doc is an array of objects, the form before
// results became arrays.
func objectsForm(doc string) bool {
	i := strings.IndexFunc(doc, func(r rune) bool { return r != '[' && r != ' ' && r != '\t' && r != '\n' && r != '\r' })
	return i > 0 && doc[i] == '{'
}

// resultElem is a StoredResult in the array form.
type resultElem StoredResult

func (e *resultElem) UnmarshalJSON(b []byte) error {
	var vals []any
	if err := json.Unmarshal(b, &vals); err != nil {
		return err
	}
	if len(vals) < 3 || len(vals) > 6 {
		return fmt.Errorf("a result of %d values, want 3 to 6", len(vals))
	}
	var ok [6]bool
	e.PolicyID, ok[0] = vals[0].(string)
	e.Status, ok[1] = vals[1].(string)
	id, isNum := vals[2].(float64)
	ok[2] = isNum && id >= 0 && id < 1<<53 && id == float64(int64(id))
	e.ReasonID = int64(id)
	ok[3], ok[4], ok[5] = true, true, true
	for i, dst := range []*string{&e.Reason, &e.ExceptionID, &e.FailingSince} {
		if 3+i < len(vals) {
			*dst, ok[3+i] = vals[3+i].(string)
		}
	}
	if ok != [6]bool{true, true, true, true, true, true} {
		return fmt.Errorf("a result %v of other types than [string, string, id, string, string, string]", vals)
	}
	return nil
}

// EncodeFailing renders the failing-since times as the failing column:
// "POLICY=TIME" joined by ",", in result order ("" when nothing fails, the
// common case). It is read on every fleet evaluation, so it is not JSON.
// It is measured first and written in one allocation, none when nothing
// fails: it is made for every device whose outcome changed.
func EncodeFailing(results []StoredResult) string {
	n := 0
	for _, r := range results {
		if r.FailingSince != "" {
			n += len(",") + len(r.PolicyID) + len("=") + len(r.FailingSince)
		}
	}
	if n == 0 {
		return ""
	}
	var b strings.Builder
	b.Grow(n - len(","))
	for _, r := range results {
		if r.FailingSince == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(r.PolicyID)
		b.WriteByte('=')
		b.WriteString(r.FailingSince)
	}
	return b.String()
}

// DiffResults compares results with a device's stored state and results
// document (both "" when never evaluated); stamp writes a time as the
// registry stores it. Only when the document or the state differ is the
// stored document decoded, to list the status changes.
func DiffResults(state, doc string, results []Result, stamp func(time.Time) string, ids ReasonIDs) (Diff, error) {
	return DiffDecoded(state, doc, nil, false, results, stamp, ids)
}

// DiffDecoded is DiffResults for a caller that may hold the stored
// document already decoded: when known, prev is doc's decoded form and doc
// is not decoded again.
func DiffDecoded(state, doc string, prev []StoredResult, known bool, results []Result, stamp func(time.Time) string, ids ReasonIDs) (Diff, error) {
	o := newDiff(nil, results, stamp)
	if err := o.Encode(ids); err != nil {
		return o, err
	}
	// A document with a reason the dictionary lacks (Doc "") differs from
	// the stored one.
	if o.Doc != "" && o.Doc == doc && o.State == state {
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
func DiffStored(state string, prev []StoredResult, results []Result, stamp func(time.Time) string, ids ReasonIDs) (Diff, error) {
	return DiffStoredInto(nil, state, prev, results, stamp, ids)
}

// DiffStoredInto is DiffStored with the outcome's Results in buf's
// storage (grown when too short), for a caller that evaluates one device
// after another: they are the caller's until it passes buf again, so an
// outcome kept beyond that needs its Results copied
// (ResultsInterner.Intern does). Most devices of a fleet evaluation keep
// results they share with others, or none: a new slice each was a tenth
// of what an evaluation allocated.
func DiffStoredInto(buf []StoredResult, state string, prev []StoredResult, results []Result, stamp func(time.Time) string, ids ReasonIDs) (Diff, error) {
	o := newDiff(buf, results, stamp)
	if o.State == state && slices.Equal(o.Results, prev) {
		return o, nil
	}
	if err := o.Encode(ids); err != nil {
		return o, err
	}
	o.list(prev)
	return o, nil
}

// newDiff starts an outcome from results, its Results in buf's storage
// (nil: a new slice).
func newDiff(buf []StoredResult, results []Result, stamp func(time.Time) string) Diff {
	if cap(buf) < len(results) {
		buf = make([]StoredResult, 0, len(results))
	}
	o := Diff{State: Worst(results), Results: buf[:0]}
	for _, r := range results {
		s := StoredResult{PolicyID: r.PolicyID, Status: r.Status, Reason: r.Reason, ExceptionID: r.ExceptionID}
		if !r.FailingSince.IsZero() {
			s.FailingSince = stamp(r.FailingSince)
		}
		o.Results = append(o.Results, s)
	}
	return o
}

// Encode sets Doc and Failing, the stored forms of Results, naming the
// reasons by their ids (nil ids: by their texts). Doc is left "" when a
// reason has no id yet.
func (o *Diff) Encode(ids ReasonIDs) error {
	o.Failing = EncodeFailing(o.Results)
	o.Doc = ""
	if ids == nil {
		doc, err := encodeResults(o.Results, nil)
		o.Doc = doc
		return err
	}
	// Every reason's id first (a policy set rarely has more than a few
	// dozen policies: no allocation), then the document with the ids in
	// place of the texts. Results are only read: a fleet evaluation's are
	// shared between devices (ResultsInterner).
	var buf [32]int64
	rids := buf[:0]
	for _, r := range o.Results {
		var id int64
		if r.Reason != "" {
			var ok bool
			if id, ok = ids(r.Reason); !ok {
				return nil
			}
		}
		rids = append(rids, id)
	}
	doc, err := encodeResults(o.Results, rids)
	o.Doc = doc
	return err
}

// encodeResults returns the array form of rs (see StoredResult), each
// reason named by its id in rids where that is not 0 (rids nil: by the
// result's own ReasonID and Reason). The document is made for every
// device whose outcome changed: it is written into one buffer measured
// first, its strings quoted by jsontext.
func encodeResults(rs []StoredResult, rids []int64) (string, error) {
	// Measured exactly, but for escapes, with room for a few (more
	// grow the buffer): documents with reason ids are small, and a fixed
	// allowance per result was most of their bytes.
	n := 2 + 16
	for i := range rs {
		id, tail := storedParts(&rs[i], rids, i)
		n += len(`,["","",]`) + len(rs[i].PolicyID) + len(rs[i].Status) + decimalLen(id)
		for _, v := range tail {
			n += len(`,""`) + len(v)
		}
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i := range rs {
		r := &rs[i]
		if i > 0 {
			b = append(b, ',')
		}
		id, tail := storedParts(r, rids, i)
		b = append(b, '[')
		b = appendString(b, r.PolicyID)
		b = append(b, ',')
		b = appendString(b, r.Status)
		b = append(b, ',')
		b = strconv.AppendInt(b, id, 10)
		for _, v := range tail {
			b = append(b, ',')
			b = appendString(b, v)
		}
		b = append(b, ']')
	}
	b = append(b, ']')
	return unsafe.String(unsafe.SliceData(b), len(b)), nil
}

// storedParts is the reason id and the trailing strings (reason,
// exception, failing since, without the empty ones at the end) that
// encodeResults writes for r, the i-th result: the reason is named by
// its id in rids where that is not 0 (rids nil: by r's own).
func storedParts(r *StoredResult, rids []int64, i int) (int64, []string) {
	id, reason := r.ReasonID, r.Reason
	if rids != nil && rids[i] != 0 {
		id, reason = rids[i], ""
	}
	tail := [...]string{reason, r.ExceptionID, r.FailingSince}
	k := len(tail)
	for k > 0 && tail[k-1] == "" {
		k--
	}
	return id, tail[:k]
}

// decimalLen is how many bytes strconv.AppendInt writes for v.
func decimalLen(v int64) int {
	n := 1
	if v < 0 {
		n++
	}
	for v <= -10 || v >= 10 {
		v /= 10
		n++
	}
	return n
}

// appendString appends s as a JSON string. Invalid UTF-8 (an agent's error
// text can carry any bytes) becomes U+FFFD, as encoding/json writes it;
// jsontext's error saying so is not one here.
func appendString(b []byte, s string) []byte {
	b, _ = jsontext.AppendQuote(b, s)
	return b
}

// list marks o changed from the stored results prev and lists the status
// changes and the removed results. Both are in the order of the policy
// set that made them, so each policy is looked for just after the last
// one found and searched for only where the sets differ: a map per device
// was a tenth of what a fleet evaluation allocated. Each list is counted
// before it is made, so that it is allocated once at its length (and stays
// nil when empty): grown an append at a time, a first evaluation's list
// of every policy was reallocated at each doubling.
func (o *Diff) list(prev []StoredResult) {
	o.Changed = true
	n, j := 0, 0
	for i := range o.Results {
		if _, ok := statusChange(prev, &j, &o.Results[i]); ok {
			n++
		}
	}
	if n > 0 {
		o.Changes, j = make([]StatusChange, 0, n), 0
		for i := range o.Results {
			if c, ok := statusChange(prev, &j, &o.Results[i]); ok {
				o.Changes = append(o.Changes, c)
			}
		}
	}
	n, j = 0, 0
	for i := range prev {
		if removed(o.Results, &j, prev[i].PolicyID) {
			n++
		}
	}
	if n > 0 {
		o.Removed, j = make([]StoredResult, 0, n), 0
		for i := range prev {
			if removed(o.Results, &j, prev[i].PolicyID) {
				o.Removed = append(o.Removed, prev[i])
			}
		}
	}
}

// statusChange returns r's status change from the stored results prev, if
// its status changed or it has no stored result. It looks for r's stored
// result from index *j and moves *j past the one it finds.
func statusChange(prev []StoredResult, j *int, r *StoredResult) (StatusChange, bool) {
	k := locate(prev, *j, r.PolicyID)
	if k < 0 {
		return StatusChange{PolicyID: r.PolicyID, Status: r.Status, Reason: r.Reason}, true
	}
	*j = k + 1
	if p := &prev[k]; p.Status != r.Status {
		return StatusChange{PolicyID: r.PolicyID, Status: r.Status, Previous: p.Status, Reason: r.Reason}, true
	}
	return StatusChange{}, false
}

// removed reports whether policy has no result in rs, looking from index
// *j and moving *j past the result it finds.
func removed(rs []StoredResult, j *int, policy string) bool {
	k := locate(rs, *j, policy)
	if k < 0 {
		return true
	}
	*j = k + 1
	return false
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
