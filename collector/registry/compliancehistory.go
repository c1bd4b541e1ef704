package registry

// Compliance history (issue 16): every change of a device's status for a
// policy is a row of compliance_transitions, written in the transaction
// that writes the device's results, so "was this device compliant on
// 2026-10-01" and "the share of in-scope devices compliant each day of the
// quarter" are answered from what was recorded at the time, not rebuilt.
// A device that leaves scope (revoked, merged into another record) and a
// policy a device no longer has a result for (deleted, narrowed) get a
// "removed" transition.

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/rosterhq/roster/collector/compliance"
)

// StatusRemoved is a transition's status when the device stopped having a
// result for the policy.
const StatusRemoved = "removed"

// ComplianceTransition is one change of a device's status for one policy.
type ComplianceTransition struct {
	DeviceID string
	PolicyID string
	At       time.Time
	// Status is the new status (compliance.Status*), or StatusRemoved
	// ("removed") when the device stopped having a result for the policy
	// (the policy was deleted or narrowed, or the device retired/revoked).
	Status   string
	Previous string // "" for the device's first result for the policy
	Reason   string
}

// transitionRows buffers a transaction's transitions and writes them as
// rows of compliance_changes, one per device and instant (migration 0029:
// the view compliance_transitions gives them back one per policy), with
// multi-row INSERTs: a policy change can change a status of every device
// in one fleet evaluation, where a statement per row would add a round
// trip (PostgreSQL) or a statement's overhead (SQLite) per row. A device
// is its number (devices.num) and the time Unix nanoseconds.
type transitionRows struct {
	at   int64
	rows []transitionRow
	// buf and args are reused across flushes (a fleet evaluation's
	// batches): the changes' JSON and the statement's arguments.
	buf  []byte
	args []any
}

type transitionRow struct {
	device                           int64
	policy, status, previous, reason string
}

// changeCols is the number of columns an INSERT names; changeChunk rows
// per statement stay far below both engines' parameter limits.
const (
	changeCols  = 3
	changeChunk = 200
)

func newTransitionRows(now time.Time) *transitionRows {
	return &transitionRows{at: historyTime(now)}
}

// historyTime is a time as compliance_changes stores it: Unix
// nanoseconds, which order as the times do.
func historyTime(t time.Time) int64 { return t.UnixNano() }

func (w *transitionRows) add(device int64, policy, status, previous, reason string) {
	w.rows = append(w.rows, transitionRow{device, policy, status, previous, reason})
}

// addOutcome adds what an evaluation changed: the status changes the diff
// lists and a "removed" for every stored result the new results lack.
// Reason-only changes are not transitions.
func (w *transitionRows) addOutcome(o *outcome) {
	for _, c := range o.Changes {
		w.add(o.dev.num, c.PolicyID, c.Status, c.Previous, c.Reason)
	}
	for _, p := range o.Removed {
		w.add(o.dev.num, p.PolicyID, StatusRemoved, p.Status, "")
	}
}

// change is one element of a compliance_changes row: a policy's new
// status, the one before it and the reason's id (0 for none).
type change struct {
	policy, status, previous string
	reason                   int64
}

// merge puts c into cs, which holds one element per policy: a second
// change of the same policy at the same instant (an injected clock) keeps
// the first one's previous status and takes the later status and reason.
func merge(cs []change, c change) []change {
	for i := range cs {
		if cs[i].policy == c.policy {
			cs[i].status, cs[i].reason = c.status, c.reason
			return cs
		}
	}
	return append(cs, c)
}

// appendChanges appends cs as a row's JSON array, in policy order.
func appendChanges(b []byte, cs []change) []byte {
	slices.SortFunc(cs, byPolicy)
	b = append(b, '[')
	for i, c := range cs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b, _ = jsontext.AppendQuote(b, c.policy) // valid UTF-8 or replaced: ids and statuses are
		b = append(b, ',')
		b, _ = jsontext.AppendQuote(b, c.status)
		b = append(b, ',')
		b, _ = jsontext.AppendQuote(b, c.previous)
		b = append(b, ',')
		b = strconv.AppendInt(b, c.reason, 10)
		b = append(b, ']')
	}
	return append(b, ']')
}

// parseChanges appends the changes of a compliance_changes row's JSON
// array to out, in policy order. Rows as flush writes them (and as the
// migration and PostgreSQL's jsonb give them back, with spaces) are read
// by hand, their strings sliced from doc; anything else (escapes,
// non-ASCII, other number forms) goes through encoding/json, with the same
// result (FuzzParseChanges).
func parseChanges(doc string, out []change) ([]change, error) {
	n := len(out)
	p := changeParser{doc: doc}
	got, ok := p.array(out)
	if !ok {
		return decodeChanges(doc, out[:n])
	}
	if !slices.IsSortedFunc(got[n:], byPolicy) {
		slices.SortStableFunc(got[n:], byPolicy)
	}
	return got, nil
}

func byPolicy(a, b change) int { return strings.Compare(a.policy, b.policy) }

// changeParser reads the plain form of a row's changes: strings of
// printable ASCII without escapes, ids as unsigned decimals.
type changeParser struct {
	doc string
	i   int
}

func (p *changeParser) ws() {
	for p.i < len(p.doc) && (p.doc[p.i] == ' ' || p.doc[p.i] == '\n' || p.doc[p.i] == '\t' || p.doc[p.i] == '\r') {
		p.i++
	}
}

func (p *changeParser) byte(c byte) bool {
	p.ws()
	if p.i < len(p.doc) && p.doc[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *changeParser) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start := p.i
	for ; p.i < len(p.doc); p.i++ {
		switch c := p.doc[p.i]; {
		case c == '"':
			p.i++
			return p.doc[start : p.i-1], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", false
		}
	}
	return "", false
}

func (p *changeParser) int() (int64, bool) {
	p.ws()
	start := p.i
	for p.i < len(p.doc) && p.doc[p.i] >= '0' && p.doc[p.i] <= '9' {
		p.i++
	}
	digits := p.doc[start:p.i]
	if len(digits) > 1 && digits[0] == '0' {
		return 0, false
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	return v, err == nil && v < 1<<53
}

func (p *changeParser) array(out []change) ([]change, bool) {
	if !p.byte('[') {
		return out, false
	}
	if p.byte(']') {
		return out, p.end()
	}
	for {
		var c change
		var ok bool
		if !p.byte('[') {
			return out, false
		}
		if c.policy, ok = p.str(); !ok || !p.byte(',') {
			return out, false
		}
		if c.status, ok = p.str(); !ok || !p.byte(',') {
			return out, false
		}
		if c.previous, ok = p.str(); !ok || !p.byte(',') {
			return out, false
		}
		if c.reason, ok = p.int(); !ok || !p.byte(']') {
			return out, false
		}
		out = append(out, c)
		if p.byte(']') {
			return out, p.end()
		}
		if !p.byte(',') {
			return out, false
		}
	}
}

func (p *changeParser) end() bool {
	p.ws()
	return p.i == len(p.doc)
}

// decodeChanges is parseChanges through encoding/json: an array of
// [policy, status, previous, reason id] arrays, the id a whole number
// from 0 to 2^53.
func decodeChanges(doc string, out []change) ([]change, error) {
	var raw [][]any
	if err := json.Unmarshal([]byte(doc), &raw); err != nil {
		return nil, fmt.Errorf("read compliance changes: %w", err)
	}
	n := len(out)
	for _, e := range raw {
		if len(e) != 4 {
			return nil, fmt.Errorf("read compliance changes: %d values in an element, want 4", len(e))
		}
		p, ok1 := e[0].(string)
		s, ok2 := e[1].(string)
		prev, ok3 := e[2].(string)
		id, ok4 := e[3].(float64)
		if !ok1 || !ok2 || !ok3 || !ok4 || id < 0 || id >= 1<<53 || id != float64(int64(id)) {
			return nil, fmt.Errorf("read compliance changes: malformed element %v", e)
		}
		out = append(out, change{p, s, prev, int64(id)})
	}
	slices.SortStableFunc(out[n:], byPolicy)
	return out, nil
}

// flush writes the buffered rows in tx and empties the buffer: one row per
// device, the rows of a device together wherever they were added. A device
// that already has a row at this instant (an injected clock, or a report
// and a fleet evaluation in the same nanosecond) gets its changes merged
// into that row.
func (w *transitionRows) flush(ctx context.Context, tx *Tx) error {
	if len(w.rows) == 0 {
		return nil
	}
	texts := make([]string, len(w.rows))
	for i := range w.rows {
		texts[i] = w.rows[i].reason
	}
	ids, err := tx.reasonIDs(ctx, texts)
	if err != nil {
		return fmt.Errorf("record compliance transitions: %w", err)
	}
	// The fleet evaluation adds its devices in order; others add one device.
	slices.SortStableFunc(w.rows, func(a, b transitionRow) int { return cmp.Compare(a.device, b.device) })
	type row struct {
		device int64
		cs     []change
	}
	var rows []row
	// Every row's changes are a part of one slice, as a device's rows are
	// together: a slice per device, grown a change at a time, was a
	// twentieth of what a fleet evaluation allocated.
	all := make([]change, len(w.rows))
	next := 0 // where the next device's changes start in all
	for _, r := range w.rows {
		var reason int64
		if r.reason != "" {
			var ok bool
			if reason, ok = ids(r.reason); !ok {
				return fmt.Errorf("record compliance transitions: reason %q got no id", r.reason)
			}
		}
		if len(rows) == 0 || rows[len(rows)-1].device != r.device {
			if len(rows) > 0 {
				next += len(rows[len(rows)-1].cs)
			}
			rows = append(rows, row{device: r.device, cs: all[next:next]})
		}
		last := &rows[len(rows)-1]
		last.cs = merge(last.cs, change{r.policy, r.status, r.previous, reason})
	}
	var full string // the statement of a whole chunk, built once
	var conflicts []row
	for rest := rows; len(rest) > 0; {
		n := min(len(rest), changeChunk)
		stmt := full
		if n < changeChunk || full == "" {
			stmt = insertChanges(n)
			if n == changeChunk {
				full = stmt
			}
		}
		w.args = w.args[:0]
		for _, r := range rest[:n] {
			w.buf = appendChanges(w.buf[:0], r.cs)
			w.args = append(w.args, w.at, r.device, string(w.buf))
		}
		inserted, err := insertedDevices(ctx, tx, stmt, w.args)
		if err != nil {
			return fmt.Errorf("record compliance transitions: %w", err)
		}
		if len(inserted) < n {
			for _, r := range rest[:n] {
				if !slices.Contains(inserted, r.device) {
					conflicts = append(conflicts, r)
				}
			}
		}
		rest = rest[n:]
	}
	for _, r := range conflicts {
		var doc string
		if err := tx.QueryRowContext(ctx, `SELECT changes FROM compliance_changes WHERE at = $1 AND device_num = $2`, w.at, r.device).Scan(&doc); err != nil {
			return fmt.Errorf("record compliance transitions: read device %d's changes: %w", r.device, err)
		}
		cs, err := parseChanges(doc, nil)
		if err != nil {
			return fmt.Errorf("record compliance transitions: %w", err)
		}
		for _, c := range r.cs {
			cs = merge(cs, c)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE compliance_changes SET changes = $1 WHERE at = $2 AND device_num = $3`,
			string(appendChanges(nil, cs)), w.at, r.device); err != nil {
			return fmt.Errorf("record compliance transitions: %w", err)
		}
	}
	w.rows = w.rows[:0] // kept for the next rows (the fleet evaluation's batches)
	return nil
}

// insertedDevices runs an insertChanges statement and returns the device
// numbers it inserted.
func insertedDevices(ctx context.Context, tx *Tx, stmt string, args []any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var d int64
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// insertChanges is the INSERT of n compliance_changes rows, returning the
// devices of those inserted: a device with a row at that instant already
// is left to flush's merge.
func insertChanges(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO compliance_changes (at, device_num, changes) VALUES `)
	valuesList(&b, n, changeCols, 1)
	b.WriteString(` ON CONFLICT (at, device_num) DO NOTHING RETURNING device_num`)
	return b.String()
}

// latestTransitions returns a device's newest status per policy
// ("removed" included), for the writes below that keep the history in
// step with a device leaving or re-entering scope.
func latestTransitions(ctx context.Context, q querier, device string) (map[string]string, error) {
	out := map[string]string{}
	err := eachState(ctx, q, HistoryFilter{DeviceID: device}, false, func(_ int64, _ string, s policyState) error {
		out[s.policy] = s.status
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read compliance history of %s: %w", device, err)
	}
	return out, nil
}

// removeFromCompliance records that a device left scope (revoked, merged
// away): a "removed" transition for every policy it has a status for.
func removeFromCompliance(ctx context.Context, tx *Tx, device string, now time.Time) error {
	num, err := deviceNum(ctx, tx, device)
	if err != nil {
		return err
	}
	latest, err := latestTransitions(ctx, tx, device)
	if err != nil {
		return err
	}
	w := newTransitionRows(now)
	for p, s := range latest {
		if s != StatusRemoved {
			w.add(num, p, StatusRemoved, s, "")
		}
	}
	return w.flush(ctx, tx)
}

// restoreToCompliance records that a device came back into scope (a
// revoked record continued by a re-enrolment): its stored results count
// again from now, until its next report is evaluated.
func (r *Registry) restoreToCompliance(ctx context.Context, tx *Tx, device string, now time.Time) error {
	var doc string
	err := tx.QueryRowContext(ctx, `SELECT coalesce((SELECT results FROM device_compliance WHERE device_id = $1), '')`, device).Scan(&doc)
	if err != nil {
		return fmt.Errorf("read compliance of %s: %w", device, err)
	}
	stored, err := compliance.DecodeResults(doc)
	if err == nil {
		err = r.reasonTexts(ctx, tx, stored)
	}
	if err != nil || len(stored) == 0 {
		return err
	}
	num, err := deviceNum(ctx, tx, device)
	if err != nil {
		return err
	}
	latest, err := latestTransitions(ctx, tx, device)
	if err != nil {
		return err
	}
	w := newTransitionRows(now)
	for _, r := range stored {
		if s := latest[r.PolicyID]; s != r.Status {
			w.add(num, r.PolicyID, r.Status, s, r.Reason)
		}
	}
	return w.flush(ctx, tx)
}

// deviceNum is a device's number (devices.num), which keys its
// compliance history.
func deviceNum(ctx context.Context, q querier, device string) (int64, error) {
	var num int64
	if err := q.QueryRowContext(ctx, `SELECT num FROM devices WHERE id = $1`, device).Scan(&num); err != nil {
		return 0, fmt.Errorf("read the number of device %s: %w", device, err)
	}
	return num, nil
}

// historyWhere builds the conditions on a compliance_changes row c from
// f: placeholders numbered from first, in order of appearance. atOp
// compares at with f.To ("<" for transitions, "<=" for states). A policy
// is only a first cut, the rows whose changes contain its id as a JSON
// string (policy ids have no characters JSON escapes or LIKE matches
// specially: compliance's idPattern); readers pick its changes from those
// rows.
func historyWhere(f HistoryFilter, atOp string, withFrom bool) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, strings.Replace(cond, "?", "$"+strconv.Itoa(len(args)), 1))
	}
	if f.DeviceID != "" {
		add("c.device_num = (SELECT num FROM devices WHERE id = ?)", f.DeviceID)
	}
	if f.PolicyID != "" {
		add("c.changes LIKE ?", `%"`+f.PolicyID+`"%`)
	}
	if withFrom && !f.From.IsZero() {
		add("c.at >= ?", historyTime(f.From))
	}
	if !f.To.IsZero() {
		add("c.at "+atOp+" ?", historyTime(f.To))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// changesQuery selects the compliance_changes rows c f selects, in order:
// device number, device id (empty without ids: no join with devices), at,
// changes.
func changesQuery(f HistoryFilter, atOp string, withFrom, ids bool, order string) (string, []any) {
	where, args := historyWhere(f, atOp, withFrom)
	id, join := `''`, ""
	if ids {
		id, join = "d.id", " JOIN devices d ON d.num = c.device_num"
	}
	return `SELECT c.device_num, ` + id + `, c.at, c.changes FROM compliance_changes c` + join + where + ` ORDER BY ` + order, args
}

// eachChanges runs a changesQuery and calls fn with each row's changes in
// policy order (the slice is reused).
func eachChanges(ctx context.Context, q querier, query string, args []any, fn func(num int64, id string, at int64, cs []change) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var cs []change
	for rows.Next() {
		var num, at int64
		var id, doc string
		if err := rows.Scan(&num, &id, &at, &doc); err != nil {
			return err
		}
		if cs, err = parseChanges(doc, cs[:0]); err != nil {
			return err
		}
		if err := fn(num, id, at, cs); err != nil {
			return err
		}
	}
	return rows.Err()
}

// reasonReader gives reasons' texts by id for one read: from the
// registry's dictionary, else from the store (one query per id it lacks,
// remembered for the read).
type reasonReader struct {
	r    *Registry
	read map[int64]string
}

func (rr *reasonReader) text(ctx context.Context, id int64) (string, error) {
	if id == 0 {
		return "", nil
	}
	if t, ok := rr.r.reasons.text(id); ok {
		return t, nil
	}
	if t, ok := rr.read[id]; ok {
		return t, nil
	}
	var t string
	if err := rr.r.db.QueryRowContext(ctx, `SELECT text FROM compliance_reasons WHERE id = $1`, id).Scan(&t); err != nil {
		return "", fmt.Errorf("read compliance reason %d: %w", id, err)
	}
	if rr.read == nil {
		rr.read = map[int64]string{}
	}
	rr.read[id] = t
	return t, nil
}

// ComplianceTransitions streams transitions in time order; those of one
// instant (a fleet evaluation's) in the order the devices enrolled, then
// by PolicyID.
func (r *Registry) ComplianceTransitions(ctx context.Context, f HistoryFilter, fn func(ComplianceTransition) error) error {
	return r.eachTransition(ctx, f, true, func(_ int64, t ComplianceTransition) error { return fn(t) })
}

// eachTransition is ComplianceTransitions giving each transition's device
// number too; without ids the device ids and reasons are left out (no join
// with devices, no reasons read: DailyComplianceRates only tells devices
// apart and counts statuses).
func (r *Registry) eachTransition(ctx context.Context, f HistoryFilter, ids bool, fn func(num int64, t ComplianceTransition) error) error {
	q, args := changesQuery(f, "<", true, ids, "c.at, c.device_num")
	reasons := reasonReader{r: r}
	err := eachChanges(ctx, r.db, q, args, func(num int64, id string, at int64, cs []change) error {
		for _, c := range cs {
			if f.PolicyID != "" && c.policy != f.PolicyID {
				continue
			}
			t := ComplianceTransition{DeviceID: id, PolicyID: c.policy, At: time.Unix(0, at).UTC(), Status: c.status, Previous: c.previous}
			if ids {
				var err error
				if t.Reason, err = reasons.text(ctx, c.reason); err != nil {
					return err
				}
			}
			if err := fn(num, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read compliance transitions: %w", err)
	}
	return nil
}

// PolicyState is a device's status for one policy in force at a moment.
type PolicyState struct {
	DeviceID, PolicyID, Status, Reason string
	Since                              time.Time // when that status began
}

// policyState is a device's newest change for one policy as eachState
// finds it.
type policyState struct {
	policy, status string
	at, reason     int64
}

// eachState calls fn, for every (device, policy) f selects, with the newest
// change at or before f.To (all of them when To is zero), removed ones
// included, in (device number, policy) order. It reads each device's rows
// in time order (the device index) and keeps the newest change per policy;
// id is empty without ids (no join with devices).
func eachState(ctx context.Context, q querier, f HistoryFilter, ids bool, fn func(num int64, id string, s policyState) error) error {
	query, args := statesQuery(f, ids)
	var cur []policyState
	var curNum int64
	var curID string
	flush := func() error {
		slices.SortFunc(cur, func(a, b policyState) int { return strings.Compare(a.policy, b.policy) })
		for _, s := range cur {
			if err := fn(curNum, curID, s); err != nil {
				return err
			}
		}
		cur = cur[:0]
		return nil
	}
	err := eachChanges(ctx, q, query, args, func(num int64, id string, at int64, cs []change) error {
		if num != curNum {
			if err := flush(); err != nil {
				return err
			}
			curNum, curID = num, id
		}
	next:
		for _, c := range cs {
			if f.PolicyID != "" && c.policy != f.PolicyID {
				continue
			}
			s := policyState{policy: c.policy, status: c.status, at: at, reason: c.reason}
			for i := range cur {
				if cur[i].policy == c.policy {
					cur[i] = s // rows come in time order
					continue next
				}
			}
			cur = append(cur, s)
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return err
}

// statesQuery is eachState's query: the rows f selects up to f.To, by
// device number then time.
func statesQuery(f HistoryFilter, ids bool) (string, []any) {
	return changesQuery(f, "<=", false, ids, "c.device_num, c.at")
}

// ComplianceStatesAt streams, for every device (or f.DeviceID) and policy
// (or f.PolicyID), the status in force at f.To: the newest transition with
// At <= f.To, skipping "removed". f.From is ignored; a zero f.To means the
// newest. Order: devices in the order they enrolled, then PolicyID.
func (r *Registry) ComplianceStatesAt(ctx context.Context, f HistoryFilter, fn func(PolicyState) error) error {
	reasons := reasonReader{r: r}
	err := eachState(ctx, r.db, f, true, func(_ int64, id string, s policyState) error {
		if s.status == StatusRemoved {
			return nil
		}
		reason, err := reasons.text(ctx, s.reason)
		if err != nil {
			return err
		}
		return fn(PolicyState{DeviceID: id, PolicyID: s.policy, Status: s.status, Reason: reason, Since: time.Unix(0, s.at).UTC()})
	})
	if err != nil {
		return fmt.Errorf("read compliance states: %w", err)
	}
	return nil
}

// DayRate is one UTC day's compliance for one policy, from the statuses in
// force at the day's end (or at now for today).
type DayRate struct {
	Day                                         string // YYYY-MM-DD, UTC
	PolicyID                                    string // "" is the whole fleet, each device counted once by its worst status
	Pass, Fail, InGrace, Exempt, Unknown, Stale int
	// InScope is the devices the policy applied to (every status above;
	// not_applicable and removed are out of scope).
	InScope int
	// Compliant is (Pass+Exempt)/InScope, 0 when InScope is 0.
	Compliant float64
}

// MaxHistoryDays caps the days DailyComplianceRates reports at once.
const MaxHistoryDays = 800

// rateStatuses are the in-scope statuses, worst first (compliance.Worst's
// order); a status's code is its index plus one, 0 is out of scope.
var rateStatuses = [...]string{compliance.StatusFail, compliance.StatusUnknown, compliance.StatusStale,
	compliance.StatusInGrace, compliance.StatusExempt, compliance.StatusPass}

func rateCode(status string) uint8 {
	for i, s := range rateStatuses {
		if s == status {
			return uint8(i + 1)
		}
	}
	return 0
}

// rateCounts counts devices by status code.
type rateCounts [len(rateStatuses) + 1]int

func (c *rateCounts) rate(day, policy string) DayRate {
	d := DayRate{Day: day, PolicyID: policy, Fail: c[1], Unknown: c[2], Stale: c[3], InGrace: c[4], Exempt: c[5], Pass: c[6]}
	d.InScope = d.Fail + d.Unknown + d.Stale + d.InGrace + d.Exempt + d.Pass
	if d.InScope > 0 {
		d.Compliant = float64(d.Pass+d.Exempt) / float64(d.InScope)
	}
	return d
}

// rateTally is the fleet's statuses at one moment, moved forward one
// transition at a time: each device's status per policy, the counts per
// policy, and the fleet's counts by each device's worst status.
type rateTally struct {
	policies []string
	policyIx map[string]int
	devices  map[int64]int // by device number
	status   [][]uint8     // [device][policy] status code
	perPol   []rateCounts
	fleet    rateCounts
}

func newRateTally() *rateTally {
	return &rateTally{policyIx: map[string]int{}, devices: map[int64]int{}}
}

func (t *rateTally) policy(id string) int {
	p, ok := t.policyIx[id]
	if !ok {
		p = len(t.policies)
		t.policyIx[id] = p
		t.policies = append(t.policies, id)
		t.perPol = append(t.perPol, rateCounts{})
	}
	return p
}

func worstCode(st []uint8) uint8 {
	var w uint8
	for _, c := range st {
		if c != 0 && (w == 0 || c < w) {
			w = c
		}
	}
	return w
}

// set puts device's status for policy in force.
func (t *rateTally) set(device int64, policy, status string) {
	d, ok := t.devices[device]
	if !ok {
		d = len(t.status)
		t.devices[device] = d
		t.status = append(t.status, nil)
	}
	p := t.policy(policy)
	st := t.status[d]
	for len(st) <= p {
		st = append(st, 0)
	}
	t.status[d] = st
	code := rateCode(status)
	old := st[p]
	if old == code {
		return
	}
	before := worstCode(st)
	st[p] = code
	t.perPol[p][old]--
	t.perPol[p][code]++
	if after := worstCode(st); after != before {
		t.fleet[before]--
		t.fleet[after]++
	}
}

// DailyComplianceRates gives one DayRate per day in [from, to) for policyID,
// or for every policy plus the fleet row ("") when policyID is "", ordered by
// Day then PolicyID (the fleet row first). A day's statuses are those in
// force at its end (midnight UTC, exclusive) or at to when that is sooner;
// the days run from from's date to the date of to's last instant. Every
// policy any device had a status for during the days has a row each day,
// and so has every policy in force. It reads the statuses in force at the
// first day's start and then the days' transitions once, in time order.
func (r *Registry) DailyComplianceRates(ctx context.Context, policyID string, from, to time.Time) ([]DayRate, error) {
	from, to = from.UTC(), to.UTC()
	if !from.Before(to) {
		return nil, ErrInvalid.Errorf("the period is empty: from %s is not before to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	start := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	days := int(to.Sub(start)/(24*time.Hour)) + 1
	if !start.Add(time.Duration(days-1) * 24 * time.Hour).Before(to) {
		days-- // to is a midnight: its day is not in the period
	}
	if days > MaxHistoryDays {
		return nil, ErrInvalid.Errorf("the period spans %d days; at most %d at once", days, MaxHistoryDays)
	}
	t := newRateTally()
	if policyID != "" {
		t.policy(policyID)
	} else {
		for _, p := range r.compState().set.Policies() {
			t.policy(p.ID)
		}
	}
	// The statuses in force when the first day starts.
	err := eachState(ctx, r.db, HistoryFilter{PolicyID: policyID, To: start.Add(-time.Nanosecond)}, false, func(dev int64, _ string, s policyState) error {
		t.set(dev, s.policy, s.status)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("daily compliance rates: %w", err)
	}
	// Each day's rows, by policy index: a policy first seen later in the
	// period had no device in scope on the days before.
	type dayRows struct {
		fleet    DayRate
		policies []DayRate
	}
	var kept []dayRows
	day := 0
	emit := func() {
		name := dayOf(start.Add(time.Duration(day) * 24 * time.Hour))
		d := dayRows{fleet: t.fleet.rate(name, ""), policies: make([]DayRate, len(t.policies))}
		for p, id := range t.policies {
			d.policies[p] = t.perPol[p].rate(name, id)
		}
		kept = append(kept, d)
		day++
	}
	end := func() time.Time { // the current day's cut-off
		e := start.Add(time.Duration(day+1) * 24 * time.Hour)
		if e.After(to) {
			return to
		}
		return e
	}
	cut := end()
	err = r.eachTransition(ctx, HistoryFilter{PolicyID: policyID, From: start, To: to}, false, func(dev int64, tr ComplianceTransition) error {
		for !tr.At.Before(cut) {
			emit()
			cut = end()
		}
		t.set(dev, tr.PolicyID, tr.Status)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("daily compliance rates: %w", err)
	}
	for day < days {
		emit()
	}
	order := make([]int, len(t.policies))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(t.policies[a], t.policies[b]) })
	out := make([]DayRate, 0, len(kept)*(len(order)+1))
	for _, d := range kept {
		if policyID == "" {
			out = append(out, d.fleet)
		}
		for _, p := range order {
			if p < len(d.policies) {
				out = append(out, d.policies[p])
			} else {
				out = append(out, DayRate{Day: d.fleet.Day, PolicyID: t.policies[p]})
			}
		}
	}
	return out, nil
}
