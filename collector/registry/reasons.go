package registry

// The dictionary of compliance reasons (issue 17, migration 0027): a
// device's stored results document names each result's reason by its id
// in compliance_reasons instead of repeating its text
// (compliance.StoredResult). The texts were most of a document's ~1.2 KB,
// and most devices share them ("scope needs the classification: ...",
// "last check-in 0 days ago, limit 7"), so a policy change that rewrote
// every device's document wrote the same texts 100,000 times.
//
// The registry keeps the committed ids in memory (reasonDict): encoding a
// document looks its reasons up there, and only a reason never stored
// before costs a write, in the transaction that stores the document
// (assignReasons). An id joins the dictionary once that transaction has
// committed: on SQLite a rolled-back id can be given to another text.
//
// Rows are never changed, and deleted only by the retention purge's sweep
// (sweepReasons), which removes the rows no document or transition names
// and moves the dictionary's epoch (compliance_reasons_epoch). Every write
// transaction that stores ids first reads the epoch (Tx.syncReasons) and,
// if it moved, empties the in-memory dictionary before using any id from
// it; ids read in an older epoch are never added after that. So an id a
// collector writes always names a row that exists, on every collector
// sharing the database.

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"

	"github.com/rosterhq/roster/collector/compliance"
)

// reasonDict is the committed part of compliance_reasons this process has
// met, in one epoch. Its zero value is empty and of no epoch yet.
type reasonDict struct {
	mu    sync.RWMutex
	ids   map[string]int64
	texts map[int64]string
	// last is the highest id held.
	last int64
	// epoch is the compliance_reasons_epoch the entries were read in,
	// when synced.
	epoch  int64
	synced bool
}

// id is the dictionary as a compliance.ReasonIDs.
func (d *reasonDict) id(text string) (int64, bool) {
	d.mu.RLock()
	id, ok := d.ids[text]
	d.mu.RUnlock()
	return id, ok
}

func (d *reasonDict) text(id int64) (string, bool) {
	d.mu.RLock()
	t, ok := d.texts[id]
	d.mu.RUnlock()
	return t, ok
}

// state returns the epoch the entries are of and the highest id held.
func (d *reasonDict) state() (epoch int64, synced bool, last int64) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.epoch, d.synced, d.last
}

// sync makes the dictionary one of epoch e, emptying it when it was of
// another (or of none).
func (d *reasonDict) sync(e int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.synced && d.epoch == e {
		return
	}
	d.ids, d.texts, d.last, d.epoch, d.synced = nil, nil, 0, e, true
}

// add records committed rows, text by id, read in epoch e: rows of
// another epoch than the dictionary's are left out (a sweep since may have
// deleted them).
func (d *reasonDict) add(rows map[int64]string, e int64) {
	if len(rows) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.synced || d.epoch != e {
		return
	}
	if d.ids == nil {
		d.ids, d.texts = map[string]int64{}, map[int64]string{}
	}
	for id, t := range rows {
		d.ids[t], d.texts[id] = id, t
		d.last = max(d.last, id)
	}
}

// readEpoch reads the dictionary's epoch through q.
func readEpoch(ctx context.Context, q querier) (int64, error) {
	var e int64
	if err := q.QueryRowContext(ctx, `SELECT coalesce((SELECT epoch FROM compliance_reasons_epoch WHERE id = 1), 0)`).Scan(&e); err != nil {
		return 0, fmt.Errorf("read compliance reasons' epoch: %w", err)
	}
	return e, nil
}

// refreshReasons adds to the dictionary the reasons committed since the
// highest id it holds: by other collectors, or before this process
// started (all of them after a sweep). A fleet evaluation does this first,
// so that the documents of devices whose results did not change encode as
// they are stored, and are not rewritten. Within an epoch ids are given in
// the order they commit (no row is deleted, so SQLite's next rowid is the
// highest plus one; PostgreSQL's identity is drawn inside write
// transactions, which take one store-wide lock), so "higher than the
// highest held" misses none. It returns the epoch.
func (r *Registry) refreshReasons(ctx context.Context) (int64, error) {
	e, err := readEpoch(ctx, r.db)
	if err != nil {
		return 0, err
	}
	r.reasons.sync(e)
	_, _, after := r.reasons.state()
	read, err := readReasons(ctx, r.db, `WHERE id > $1`, []any{after})
	if err != nil {
		return 0, err
	}
	r.reasons.add(read, e)
	return e, nil
}

// syncReasons reads the dictionary's epoch in tx, once per transaction,
// and empties the in-memory dictionary if a sweep moved it: every write
// transaction that stores reason ids calls it before taking any id from
// the dictionary. It returns the epoch.
func (tx *Tx) syncReasons(ctx context.Context) (int64, error) {
	if tx.epochRead {
		return tx.epoch, nil
	}
	e, err := readEpoch(ctx, tx)
	if err != nil {
		return 0, err
	}
	tx.knowEpoch(e)
	return e, nil
}

// knowEpoch is syncReasons with the epoch e read in tx by a statement that
// read other things too (reportComplianceInputs).
func (tx *Tx) knowEpoch(e int64) {
	if tx.dict != nil {
		tx.dict.sync(e)
	}
	tx.epoch, tx.epochRead = e, true
}

// reasonChunk is how many texts one statement of reasonIDs names.
const reasonChunk = 200

// reasonIDs gives the texts the dictionary lacks ids in tx and returns
// the dictionary with the ids this transaction gave (Tx.given) as a
// compliance.ReasonIDs. Those join the dictionary when tx commits; texts
// a nil dictionary (a Tx made outside Write) lacks are all given ids.
func (tx *Tx) reasonIDs(ctx context.Context, texts []string) (compliance.ReasonIDs, error) {
	if _, err := tx.syncReasons(ctx); err != nil {
		return nil, err
	}
	ids := func(t string) (int64, bool) {
		if id, ok := tx.given[t]; ok {
			return id, true
		}
		if tx.dict == nil {
			return 0, false
		}
		return tx.dict.id(t)
	}
	var lack []string
	seen := map[string]bool{}
	for _, t := range texts {
		if t == "" || seen[t] {
			continue
		}
		seen[t] = true
		if _, ok := ids(t); !ok {
			lack = append(lack, t)
		}
	}
	if len(lack) == 0 {
		return ids, nil
	}
	if tx.given == nil {
		tx.given = map[string]int64{}
		if tx.dict != nil {
			tx.AfterCommit(func() {
				rows := make(map[int64]string, len(tx.given))
				for t, id := range tx.given {
					rows[id] = t
				}
				tx.dict.add(rows, tx.epoch)
			})
		}
	}
	for rest := lack; len(rest) > 0; {
		n := min(len(rest), reasonChunk)
		args := anys(rest[:n])
		// Another collector, or an earlier job of this group commit, may
		// have stored a text since: the insert leaves it and the select
		// reads its id.
		if _, err := tx.ExecContext(ctx, `INSERT INTO compliance_reasons (text) VALUES `+reasonRows(n)+` ON CONFLICT (text) DO NOTHING`, args...); err != nil {
			return nil, fmt.Errorf("store compliance reasons: %w", err)
		}
		read, err := readReasons(ctx, tx, `WHERE text IN (`+placeholders(1, n)+`)`, args)
		if err != nil {
			return nil, err
		}
		for id, t := range read {
			tx.given[t] = id
		}
		rest = rest[n:]
	}
	return ids, nil
}

// assignReasons stores the documents of the diffs that have none yet
// (compliance.Diff.Doc "": a reason without an id): it gives those reasons
// ids in tx (reasonIDs) and encodes the documents.
func assignReasons(ctx context.Context, tx *Tx, diffs []*compliance.Diff) error {
	var need []*compliance.Diff
	var texts []string
	for _, o := range diffs {
		if !o.Changed || o.Doc != "" {
			continue
		}
		need = append(need, o)
		for _, res := range o.Results {
			texts = append(texts, res.Reason)
		}
	}
	if len(need) == 0 {
		return nil
	}
	ids, err := tx.reasonIDs(ctx, texts)
	if err != nil {
		return err
	}
	for _, o := range need {
		if err := o.Encode(ids); err != nil {
			return err
		}
		if o.Doc == "" {
			return fmt.Errorf("store compliance: a reason got no id")
		}
	}
	return nil
}

// reasonRows is n rows of one parameter each: ($1), ($2), ...
func reasonRows(n int) string {
	var b strings.Builder
	valuesList(&b, n, 1, 1)
	return b.String()
}

// reasonTexts puts back the texts of results decoded from a document that
// names its reasons by id, reading those the dictionary lacks through q.
// Texts read outside a write transaction (q is the database) join the
// dictionary: they are committed.
func (r *Registry) reasonTexts(ctx context.Context, q querier, rs []compliance.StoredResult) error {
	// Rows read now exist now; they join the dictionary only if it is
	// still of the epoch it was before they were read.
	epoch, _, _ := r.reasons.state()
	var missing []any
	for i := range rs {
		res := &rs[i]
		if res.ReasonID == 0 {
			continue
		}
		if t, ok := r.reasons.text(res.ReasonID); ok {
			res.Reason, res.ReasonID = t, 0
			continue
		}
		missing = append(missing, res.ReasonID)
	}
	if len(missing) == 0 {
		return nil
	}
	read, err := readReasons(ctx, q, `WHERE id IN (`+placeholders(1, len(missing))+`)`, missing)
	if err != nil {
		return err
	}
	for i := range rs {
		res := &rs[i]
		if res.ReasonID == 0 {
			continue
		}
		t, ok := read[res.ReasonID]
		if !ok {
			return fmt.Errorf("read compliance reasons: no reason %d", res.ReasonID)
		}
		res.Reason, res.ReasonID = t, 0
	}
	if q == querier(r.db) {
		r.reasons.add(read, epoch)
	}
	return nil
}

// readReasons returns the rows of compliance_reasons matching where, text
// by id.
func readReasons(ctx context.Context, q querier, where string, args []any) (map[int64]string, error) {
	read := map[int64]string{}
	err := eachRow(ctx, q, `SELECT id, text FROM compliance_reasons `+where, args, func(rows *sql.Rows) error {
		var id int64
		var t string
		if err := rows.Scan(&id, &t); err != nil {
			return err
		}
		read[id] = t
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read compliance reasons: %w", err)
	}
	return read, nil
}
