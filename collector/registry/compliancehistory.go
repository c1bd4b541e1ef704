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
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

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

// transitionRows buffers a transaction's transitions and writes them with
// multi-row INSERTs: a policy change can change a status of every device
// in one fleet evaluation, where a statement per row would add a round
// trip (PostgreSQL) or a statement's overhead (SQLite) per row. Rows are
// kept as strings and boxed into arguments a chunk at a time, into one
// reused slice: a fleet evaluation buffers hundreds of thousands. A
// device is its number (devices.num) and the time Unix nanoseconds
// (migration 0025).
type transitionRows struct {
	at   int64
	rows []transitionRow
}

type transitionRow struct {
	device                           int64
	policy, status, previous, reason string
}

// transitionCols is the number of columns an INSERT names; transitionChunk
// rows per statement stay far below both engines' parameter limits.
const (
	transitionCols  = 6
	transitionChunk = 200
)

func newTransitionRows(now time.Time) *transitionRows {
	return &transitionRows{at: historyTime(now)}
}

// historyTime is a time as compliance_transitions stores it: Unix
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

// flush writes the buffered rows in tx and empties the buffer. Two
// changes of one device and policy at the same instant (an injected clock)
// keep one row, the later status.
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
	var full string // the statement of a whole chunk, built once
	args := make([]any, 0, min(len(w.rows), transitionChunk)*transitionCols)
	for rest := w.rows; len(rest) > 0; {
		n := min(len(rest), transitionChunk)
		stmt := full
		if n < transitionChunk || full == "" {
			stmt = insertTransitions(n)
			if n == transitionChunk {
				full = stmt
			}
		}
		args = args[:0]
		for _, r := range rest[:n] {
			var reason int64
			if r.reason != "" {
				var ok bool
				if reason, ok = ids(r.reason); !ok {
					return fmt.Errorf("record compliance transitions: reason %q got no id", r.reason)
				}
			}
			args = append(args, r.device, r.policy, w.at, r.status, r.previous, reason)
		}
		if _, err := tx.ExecContext(ctx, stmt, args...); err != nil {
			return fmt.Errorf("record compliance transitions: %w", err)
		}
		rest = rest[n:]
	}
	w.rows = w.rows[:0] // kept for the next rows (the fleet evaluation's batches)
	return nil
}

// insertTransitions is the INSERT of n transition rows.
func insertTransitions(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO compliance_transitions (device_num, policy_id, at, status, previous, reason_id) VALUES `)
	valuesList(&b, n, transitionCols, 1)
	b.WriteString(` ON CONFLICT (at, device_num, policy_id) DO UPDATE SET status = excluded.status, reason_id = excluded.reason_id`)
	return b.String()
}

// latestTransitions returns a device's newest status per policy
// ("removed" included), for the writes below that keep the history in
// step with a device leaving or re-entering scope.
func latestTransitions(ctx context.Context, q querier, device string) (map[string]string, error) {
	query, args := statesQuery(HistoryFilter{DeviceID: device}, false)
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read compliance history of %s: %w", device, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var d, p, s, reason string
		var num, at int64
		if err := rows.Scan(&num, &d, &p, &at, &s, &reason); err != nil {
			return nil, fmt.Errorf("read compliance history of %s: %w", device, err)
		}
		out[p] = s
	}
	if err := rows.Err(); err != nil {
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

// historyWhere builds the conditions of a transitions query from f:
// placeholders numbered from first, in order of appearance. atOp compares
// at with f.To ("<" for transitions, "<=" for states).
func historyWhere(f HistoryFilter, atOp string, withFrom bool) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, strings.Replace(cond, "?", "$"+strconv.Itoa(len(args)), 1))
	}
	if f.DeviceID != "" {
		add("device_num = (SELECT num FROM devices WHERE id = ?)", f.DeviceID)
	}
	if f.PolicyID != "" {
		add("policy_id = ?", f.PolicyID)
	}
	if withFrom && !f.From.IsZero() {
		add("at >= ?", historyTime(f.From))
	}
	if !f.To.IsZero() {
		add("at "+atOp+" ?", historyTime(f.To))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// ComplianceTransitions streams transitions in time order; those of one
// instant (a fleet evaluation's) in the order the devices enrolled, then
// by PolicyID.
func (r *Registry) ComplianceTransitions(ctx context.Context, f HistoryFilter, fn func(ComplianceTransition) error) error {
	return r.eachTransition(ctx, f, true, func(_ int64, t ComplianceTransition) error { return fn(t) })
}

// eachTransition is ComplianceTransitions giving each transition's device
// number too; without ids the device ids and reasons are left out (no join
// with devices or reasons: DailyComplianceRates only tells devices apart
// and counts statuses).
func (r *Registry) eachTransition(ctx context.Context, f HistoryFilter, ids bool, fn func(num int64, t ComplianceTransition) error) error {
	where, args := historyWhere(f, "<", true)
	id, reason, join := `''`, `''`, ""
	if ids {
		id, reason, join = "d.id", "coalesce(cr.text, '')", ` JOIN devices d ON d.num = t.device_num`+reasonJoin
	}
	rows, err := r.db.QueryContext(ctx, `SELECT t.device_num, `+id+`, t.policy_id, t.at, t.status, t.previous, `+reason+`
		FROM (SELECT * FROM compliance_transitions`+where+`) t`+join+`
		ORDER BY t.at, t.device_num, t.policy_id`, args...)
	if err != nil {
		return fmt.Errorf("read compliance transitions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t ComplianceTransition
		var num, at int64
		if err := rows.Scan(&num, &t.DeviceID, &t.PolicyID, &at, &t.Status, &t.Previous, &t.Reason); err != nil {
			return fmt.Errorf("read compliance transitions: %w", err)
		}
		t.At = time.Unix(0, at).UTC()
		if err := fn(num, t); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read compliance transitions: %w", err)
	}
	return nil
}

// PolicyState is a device's status for one policy in force at a moment.
type PolicyState struct {
	DeviceID, PolicyID, Status, Reason string
	Since                              time.Time // when that status began
}

// reasonJoin reads a transition t's reason text (cr.text, NULL for none).
const reasonJoin = ` LEFT JOIN compliance_reasons cr ON cr.id = t.reason_id`

// statesQuery selects, for every (device, policy) f selects, the newest
// transition at or before f.To (all of them when To is zero), removed
// ones included, in (device number, policy) order: device number, device
// id, policy id, at (Unix nanoseconds), status, reason (id and reason
// empty without ids: no join with devices or reasons).
func statesQuery(f HistoryFilter, ids bool) (string, []any) {
	where, args := historyWhere(f, "<=", false)
	id, reason, join := `''`, `''`, ""
	if ids {
		id, reason, join = "d.id", "coalesce(cr.text, '')", `
		JOIN devices d ON d.num = t.device_num`+reasonJoin
	}
	return `SELECT t.device_num, ` + id + `, t.policy_id, t.at, t.status, ` + reason + ` FROM compliance_transitions t
		JOIN (SELECT device_num, policy_id, max(at) AS at FROM compliance_transitions` + where + ` GROUP BY device_num, policy_id) m
		ON t.device_num = m.device_num AND t.policy_id = m.policy_id AND t.at = m.at` + join + `
		ORDER BY t.device_num, t.policy_id`, args
}

// ComplianceStatesAt streams, for every device (or f.DeviceID) and policy
// (or f.PolicyID), the status in force at f.To: the newest transition with
// At <= f.To, skipping "removed". f.From is ignored; a zero f.To means the
// newest. Order: devices in the order they enrolled, then PolicyID.
func (r *Registry) ComplianceStatesAt(ctx context.Context, f HistoryFilter, fn func(PolicyState) error) error {
	q, args := statesQuery(f, true)
	rows, err := r.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read compliance states: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s PolicyState
		var num, at int64
		if err := rows.Scan(&num, &s.DeviceID, &s.PolicyID, &at, &s.Status, &s.Reason); err != nil {
			return fmt.Errorf("read compliance states: %w", err)
		}
		if s.Status == StatusRemoved {
			continue
		}
		s.Since = time.Unix(0, at).UTC()
		if err := fn(s); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
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
	q, args := statesQuery(HistoryFilter{PolicyID: policyID, To: start.Add(-time.Nanosecond)}, false)
	rows, err := r.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("daily compliance rates: %w", err)
	}
	for rows.Next() {
		var id, pol, status, reason string
		var dev, at int64
		if err := rows.Scan(&dev, &id, &pol, &at, &status, &reason); err != nil {
			rows.Close()
			return nil, fmt.Errorf("daily compliance rates: %w", err)
		}
		t.set(dev, pol, status)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
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
