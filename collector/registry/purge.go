package registry

// The retention purge (issue 16, docs/retention.md): Purge removes, kind
// by kind, what collector/retention's policy says is past retention, in
// batches of one transaction each, so that a year's backlog never holds
// the store's write lock for long and a failed batch leaves nothing half
// applied. Each kind it removed something of is recorded in the audit log
// (retention.purged, or audit.purged for the audit log itself) in the
// transaction of the kind's last batch. PurgePlan counts the same rows
// without writing: `roster-collector retention run --dry-run`.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/assetcsv"
	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/retention"
)

// purgeStep is one table's rows past retention: those of table (alias x)
// matching where, in which $1 is the kind's cutoff and args follow. A
// batch deletes the first rows along order (an indexed column, int or
// text) from where the previous batch stopped, so batches walk the index
// once instead of scanning again the rows a rule keeps. Times are the
// registry's time text, or Unix nanoseconds in a table whose timeInt says
// so (compliance_transitions): the cutoff and order are then integers.
type purgeStep struct {
	table    string
	keys     []string
	order    string
	orderInt bool
	timeInt  bool
	where    string
	args     []any
}

func (s purgeStep) params(cutoff time.Time) []any {
	var c any = fmtTime(cutoff)
	if s.timeInt {
		c = historyTime(cutoff)
	}
	return append([]any{c}, s.args...)
}

func (s purgeStep) prefixed() string {
	return "x." + strings.Join(s.keys, ", x.")
}

func (s purgeStep) countSQL() string {
	return `SELECT count(*) FROM ` + s.table + ` x WHERE (` + s.where + `)`
}

// deleteSQL deletes one batch and returns the order values of the rows
// it deleted; the placeholder after the step's args is the batch's start.
func (s purgeStep) deleteSQL(limit int) string {
	return fmt.Sprintf(`DELETE FROM %s WHERE (%s) IN (SELECT %s FROM %s x WHERE (%s) AND x.%s >= $%d ORDER BY x.%s LIMIT %d) RETURNING %s`,
		s.table, strings.Join(s.keys, ", "), s.prefixed(), s.table, s.where, s.order, len(s.args)+2, s.order, limit, s.order)
}

// The register history is turned into events by a cursor
// (events.go: registerEvents); what it has not passed must stay.
const purgeRegisterWhere = `x.at < $1 AND x.id <= $2`

// stepsOf are the delete steps of the kinds that only delete rows, in the
// order they run (a row is deleted before the row it references).
func stepsOf(kind string, registerCursor int64) []purgeStep {
	switch kind {
	case retention.DeviceHistory:
		return []purgeStep{
			{table: "history", keys: []string{"id"}, order: "at", where: `x.at < $1`},
			{table: "register_history", keys: []string{"id"}, order: "at", where: purgeRegisterWhere, args: []any{registerCursor}},
		}
	case retention.Events:
		// A delivery still pending (first attempt or retrying) stays, and
		// so does its event, which the worker sends.
		return []purgeStep{
			{table: "webhook_deliveries", keys: []string{"id"}, order: "event_n", orderInt: true,
				where: `x.state <> '` + DeliveryPending + `' AND EXISTS (SELECT 1 FROM events e WHERE e.n = x.event_n AND e.at < $1)`},
			// The step above removed the other deliveries of these events
			// (one delivered in between makes this batch fail on its foreign
			// key and roll back; the next period removes both).
			{table: "events", keys: []string{"n"}, order: "at",
				where: `x.at < $1 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_n = x.n AND d.state = '` + DeliveryPending + `')`},
		}
	case retention.ReportBookkeeping:
		// A device's newest applied report stays; deltas are not history
		// but the current snapshot's encoding (snapshot.go), so only those
		// of a device with no snapshot to apply them to go (with no age of
		// their own: "$1 <> ''" only keeps the cutoff as $1).
		return []purgeStep{
			{table: "reports_applied", keys: []string{"device_id", "seq"}, order: "applied_at",
				where: `x.applied_at < $1 AND EXISTS (SELECT 1 FROM reports_applied y WHERE y.device_id = x.device_id AND y.seq > x.seq)`},
			{table: "snapshot_deltas", keys: []string{"id"}, order: "id", orderInt: true,
				where: `$1 <> '' AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.device_id = x.device_id)`},
		}
	case retention.Sessions:
		return []purgeStep{{table: "sessions", keys: []string{"id"}, order: "expires_at",
			where: `x.expires_at < $1 OR x.ended_at < $1`}}
	}
	return nil
}

// Purge removes what is past retention at now under policy p and reports
// it per kind. A kind that fails is recorded in the audit log as a failed
// purge with what its committed batches removed; the other kinds still
// run, and the error names every kind that failed.
func (r *Registry) Purge(ctx context.Context, p retention.Policy, now time.Time) (retention.Report, error) {
	return r.purge(ctx, p, now, false)
}

// PurgePlan is Purge's dry run: per kind, the rows it would remove now.
func (r *Registry) PurgePlan(ctx context.Context, p retention.Policy, now time.Time) (retention.Report, error) {
	return r.purge(ctx, p, now, true)
}

func (r *Registry) purge(ctx context.Context, p retention.Policy, now time.Time, dry bool) (retention.Report, error) {
	now = now.UTC()
	rep := retention.Report{DryRun: dry, At: now}
	var errs []error
	for _, rule := range p.Rules {
		kr := retention.KindReport{Kind: rule.Kind, Tables: map[string]int64{}}
		cutoff, ok := rule.Cutoff(now)
		if !ok {
			kr.Kept = true
			rep.Kinds = append(rep.Kinds, kr)
			continue
		}
		kr.Cutoff = &cutoff
		start := time.Now()
		pk := &kindPurge{r: r, kr: &kr, cutoff: cutoff, now: now, batch: p.BatchSize(), dry: dry}
		err := pk.run(ctx)
		kr.Duration = time.Since(start)
		if err != nil {
			err = fmt.Errorf("purge %s: %w", rule.Kind, err)
			if !dry && kr.Rows() > 0 {
				// What the committed batches removed is on record even
				// though the kind's last batch (which records it) failed.
				if _, aerr := r.Record(context.WithoutCancel(ctx), pk.action(), pk.target(), audit.Failed, pk.detail(err)); aerr != nil {
					err = errors.Join(err, aerr)
				}
			}
			errs = append(errs, err)
		}
		rep.Kinds = append(rep.Kinds, kr)
	}
	return rep, errors.Join(errs...)
}

// kindPurge is one kind's purge or dry run.
type kindPurge struct {
	r      *Registry
	kr     *retention.KindReport
	cutoff time.Time
	now    time.Time
	batch  int
	dry    bool
	// anchor is the audit log's purge point once reached.
	anchor *audit.Checkpoint
}

func (k *kindPurge) action() string {
	if k.kr.Kind == retention.AuditLog {
		return "audit.purged"
	}
	return "retention.purged"
}

func (k *kindPurge) target() string {
	if k.kr.Kind == retention.AuditLog {
		return "audit-log"
	}
	return "retention:" + k.kr.Kind
}

func (k *kindPurge) detail(failure error) map[string]any {
	d := map[string]any{"kind": k.kr.Kind, "cutoff": fmtTime(k.cutoff), "tables": k.kr.Tables}
	if k.kr.Items > 0 {
		d["items"] = k.kr.Items
	}
	if k.anchor != nil {
		d["through_seq"] = k.anchor.Seq
		d["anchor"] = map[string]any{"seq": k.anchor.Seq, "hash": k.anchor.Hash, "at": fmtTime(k.anchor.At), "key_id": k.anchor.KeyID}
	}
	if failure != nil {
		d["error"] = failure.Error()
	}
	return d
}

// record appends the kind's audit entry in tx, the transaction of its last
// batch, when the kind removed anything.
func (k *kindPurge) record(ctx context.Context, tx *Tx, tables map[string]int64, items int64) error {
	var n int64
	for _, v := range tables {
		n += v
	}
	if n == 0 {
		return nil
	}
	kr := *k.kr
	kr.Tables, kr.Items = tables, items
	kp := *k
	kp.kr = &kr
	return k.r.audit(ctx, tx, k.action(), k.target(), kp.detail(nil))
}

func (k *kindPurge) run(ctx context.Context) error {
	switch k.kr.Kind {
	case retention.RetiredDevices:
		return k.retired(ctx)
	case retention.DisposedOwners:
		return k.owners(ctx)
	case retention.AuditLog:
		return k.auditLog(ctx)
	case retention.ComplianceHistory:
		return k.complianceHistory(ctx)
	}
	var cursor int64
	if k.kr.Kind == retention.DeviceHistory {
		err := k.r.db.QueryRowContext(ctx, `SELECT value FROM event_cursors WHERE name = $1`, registerCursor).Scan(&cursor)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read register event cursor: %w", err)
		}
	}
	steps := stepsOf(k.kr.Kind, cursor)
	if steps == nil {
		return fmt.Errorf("unknown kind of data %q", k.kr.Kind)
	}
	if k.dry {
		for _, s := range steps {
			var n int64
			if err := k.r.db.QueryRowContext(ctx, s.countSQL(), s.params(k.cutoff)...).Scan(&n); err != nil {
				return fmt.Errorf("count %s: %w", s.table, err)
			}
			k.kr.Tables[s.table] = n
		}
		return nil
	}
	for i, s := range steps {
		if err := k.deleteStep(ctx, s, i == len(steps)-1); err != nil {
			return err
		}
	}
	return nil
}

// complianceHistory purges the compliance history: a device's row of
// changes at one instant (compliance_changes) older than the cutoff goes
// once every policy it names changed again later, so that each device and
// policy keeps its newest transition, however old. It ends with the sweep
// of the reasons nothing names any more, which records the kind.
//
// The rows that go are found outside the write lock, in one pass over the
// rows from the newest, and deleted by key in batches under it as the
// pass goes. Deleting from a pass that
// other writes overtake is sound: a row superseded stays superseded, only
// the purge deletes, and writers write at their own time, after any
// cutoff, so no row older than the cutoff changes meanwhile. Checking
// each old row against the device's newer ones in SQL instead parsed every
// newer row under the write lock, and again at every purge for the rows
// the rule keeps: work that grew with each device's whole history.
func (k *kindPurge) complianceHistory(ctx context.Context) error {
	const table = "compliance_changes"
	k.kr.Tables[table] = 0
	var batch []changeKey
	flush := func() error {
		if k.dry || len(batch) == 0 {
			k.kr.Tables[table] += int64(len(batch))
			batch = batch[:0]
			return nil
		}
		var n int64
		err := k.r.Write(ctx, func(tx *Tx) error {
			n = 0
			del, err := tx.PrepareContext(ctx, `DELETE FROM compliance_changes WHERE at = $1 AND device_num = $2`)
			if err != nil {
				return fmt.Errorf("delete from %s: %w", table, err)
			}
			defer del.Close()
			for _, key := range batch {
				res, err := del.ExecContext(ctx, key.at, key.device)
				if err != nil {
					return fmt.Errorf("delete from %s: %w", table, err)
				}
				m, err := res.RowsAffected()
				if err != nil {
					return fmt.Errorf("delete from %s: %w", table, err)
				}
				n += m
			}
			return nil
		})
		if err != nil {
			return err
		}
		k.kr.Tables[table] += n
		batch = batch[:0]
		return nil
	}
	// named are the reasons the rows that stay name (the dry run's count
	// of what the sweep would delete).
	named := map[int64]bool{}
	err := supersededChanges(ctx, k.r.db, historyTime(k.cutoff), named, func(key changeKey) error {
		batch = append(batch, key)
		if len(batch) == k.batch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	if !k.dry {
		return k.sweepReasons(ctx)
	}
	rows, err := k.r.db.QueryContext(ctx, `SELECT id FROM compliance_reasons WHERE `+unnamedByDocuments(k.r.dia))
	if err != nil {
		return fmt.Errorf("count compliance_reasons: %w", err)
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("count compliance_reasons: %w", err)
		}
		if !named[id] {
			n++
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("count compliance_reasons: %w", err)
	}
	k.kr.Tables["compliance_reasons"] = n
	return nil
}

// changeKey is a compliance_changes row's key.
type changeKey struct{ at, device int64 }

// supersededChanges reads the compliance_changes rows newest first, in
// key order (the table itself, not the device index: a row read through
// the index costs a lookup of the table), and calls fn with the key of
// each row older than cutoff whose every policy has a newer change on its
// device; it adds the reasons the other rows name to named. It holds the
// (device, policy) pairs it has met, policies numbered.
func supersededChanges(ctx context.Context, q querier, cutoff int64, named map[int64]bool, fn func(changeKey) error) error {
	type pair struct {
		device int64
		policy int
	}
	policies := map[string]int{}
	seen := map[pair]bool{}
	var ps []int
	err := eachChanges(ctx, q, `SELECT c.device_num, '', c.at, c.changes FROM compliance_changes c ORDER BY c.at DESC, c.device_num DESC`, nil,
		func(num int64, _ string, at int64, cs []change) error {
			gone := at < cutoff
			ps = ps[:0]
			for _, c := range cs {
				p, ok := policies[c.policy]
				if !ok {
					p = len(policies)
					policies[strings.Clone(c.policy)] = p // c.policy is a slice of the row
				}
				ps = append(ps, p)
				gone = gone && seen[pair{num, p}]
			}
			for i, c := range cs {
				if !gone && c.reason != 0 {
					named[c.reason] = true
				}
				seen[pair{num, ps[i]}] = true
			}
			if gone {
				return fn(changeKey{at, num})
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("read compliance_changes: %w", err)
	}
	return nil
}

// unnamedReasons selects the rows of compliance_reasons that no stored
// results document and no compliance_changes row names.
func unnamedReasons(dia dialect) string {
	return `id NOT IN (SELECT CAST(e.value ->> 3 AS BIGINT) FROM compliance_changes x, ` + dia.jsonArray("x.changes", "e") + `)
		AND ` + unnamedByDocuments(dia)
}

// unnamedByDocuments selects the rows of compliance_reasons that no stored
// results document names.
func unnamedByDocuments(dia dialect) string {
	return `id NOT IN (SELECT CAST(` + resultField("j", "reason_id", 2) + ` AS BIGINT) FROM device_compliance c, ` + dia.jsonArray("c.results", "j") + `
			WHERE ` + resultField("j", "reason_id", 2) + ` IS NOT NULL)`
}

// sweepReasons deletes the reasons nothing names any more (a document
// rewritten since, transitions purged) and moves the dictionary's epoch,
// so that every collector drops the ids it holds before writing one
// (reasons.go), in one transaction that records the kind. Without it the
// dictionary would keep every text for ever: an in_grace result's reason
// carries its grace end, one text per device and failing episode. It
// reads every document and every transition's reason id under the write
// lock, once per purge.
func (k *kindPurge) sweepReasons(ctx context.Context) error {
	var n int64
	err := k.r.Write(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM compliance_reasons WHERE `+unnamedReasons(k.r.dia))
		if err != nil {
			return fmt.Errorf("delete from compliance_reasons: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("delete from compliance_reasons: %w", err)
		}
		if n > 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO compliance_reasons_epoch (id, epoch) VALUES (1, 1)
				ON CONFLICT (id) DO UPDATE SET epoch = compliance_reasons_epoch.epoch + 1`); err != nil {
				return fmt.Errorf("move compliance reasons' epoch: %w", err)
			}
		}
		tables := maps.Clone(k.kr.Tables)
		tables["compliance_reasons"] = n
		return k.record(ctx, tx, tables, 0)
	})
	if err != nil {
		return err
	}
	k.kr.Tables["compliance_reasons"] = n
	return nil
}

// deleteStep deletes s's rows batch by batch; the last step's last batch
// records the kind.
func (k *kindPurge) deleteStep(ctx context.Context, s purgeStep, last bool) error {
	q := s.deleteSQL(k.batch)
	var from any = ""
	if s.orderInt {
		from = int64(0)
	}
	for {
		var n int64
		var next any
		err := k.r.Write(ctx, func(tx *Tx) error {
			n, next = 0, from
			rows, err := tx.QueryContext(ctx, q, append(s.params(k.cutoff), from)...)
			if err != nil {
				return fmt.Errorf("delete from %s: %w", s.table, err)
			}
			for rows.Next() {
				var vi int64
				var vs string
				if s.orderInt {
					err = rows.Scan(&vi)
					next = max(next.(int64), vi)
				} else {
					err = rows.Scan(&vs)
					next = max(next.(string), vs)
				}
				if err != nil {
					rows.Close()
					return fmt.Errorf("delete from %s: %w", s.table, err)
				}
				n++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("delete from %s: %w", s.table, err)
			}
			if last && n < int64(k.batch) {
				tables := maps.Clone(k.kr.Tables)
				tables[s.table] += n
				return k.record(ctx, tx, tables, 0)
			}
			return nil
		})
		if err != nil {
			return err
		}
		k.kr.Tables[s.table] += n
		if n < int64(k.batch) {
			return nil
		}
		from = next
	}
}

// retiredSince is when a device's asset entered its current status: the
// register history's newest status change to it, or the asset's last
// update when retention already removed that history (later than the
// status change, so never too early).
const assetStatusSince = `coalesce((SELECT max(h.at) FROM register_history h WHERE h.asset_id = a.id AND h.kind = '` + KindAssetStatusChanged + `' AND h.new = a.status), a.updated_at)`

// retiredWhere selects devices d retired before $1 whose snapshot, facts
// or software are still stored: every certificate revoked before it, or
// linked to an asset decommissioned or disposed before it; in both cases
// silent since before it too, so a machine still reporting is left alone.
const retiredWhere = `d.last_seen < $1 AND (
	(EXISTS (SELECT 1 FROM certificates c WHERE c.device_id = d.id)
	 AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.device_id = d.id AND (c.revoked_at IS NULL OR c.revoked_at >= $1)))
	OR EXISTS (SELECT 1 FROM asset_links l JOIN assets a ON a.id = l.asset_id WHERE l.device_id = d.id
	 AND a.status IN ('` + assetcsv.StatusDecommissioned + `', '` + assetcsv.StatusDisposed + `') AND ` + assetStatusSince + ` < $1))
	AND (EXISTS (SELECT 1 FROM snapshots s WHERE s.device_id = d.id) OR EXISTS (SELECT 1 FROM device_facts f WHERE f.device_id = d.id)
	 OR EXISTS (SELECT 1 FROM device_packages w WHERE w.device_num = d.num) OR EXISTS (SELECT 1 FROM snapshot_deltas sd WHERE sd.device_id = d.id))`

// retiredTables are what a retired device ($1) loses: its rows of each
// table (unaliased columns), device_packages' by its device number; its
// device_software rows go with them (deleteSoftware).
func retiredTables() []itemRows {
	return []itemRows{
		{"device_packages", `device_num = (SELECT num FROM devices WHERE id = $1)`},
		{"snapshot_deltas", `device_id = $1`}, {"snapshots", `device_id = $1`}, {"device_facts", `device_id = $1`},
	}
}

// retired removes retired devices' snapshots, deltas, facts and software,
// RetiredItemBatch devices per transaction, and marks each device so its
// pages say the facts were purged (unknown is not false). The device row,
// its identity, certificates, enrolments and history stay.
func (k *kindPurge) retired(ctx context.Context) error {
	const sel = `SELECT d.id FROM devices d WHERE ` + retiredWhere
	if k.dry {
		return k.countItems(ctx, sel, "retired devices", retiredTables())
	}
	ts := fmtTime(k.now)
	return k.eachItem(ctx, sel, "d.id", func(tx *Tx, id string, tables map[string]int64) error {
		var num int64
		if err := tx.QueryRowContext(ctx, `SELECT num FROM devices WHERE id = $1`, id).Scan(&num); err != nil {
			return fmt.Errorf("purge software of device %s: %w", id, err)
		}
		// counted as device_packages rows below, as the dry run counts
		if err := deleteSoftware(ctx, tx, num); err != nil {
			return err
		}
		for _, t := range retiredTables() {
			res, err := tx.ExecContext(ctx, `DELETE FROM `+t.table+` WHERE `+t.where, id)
			if err != nil {
				return fmt.Errorf("purge %s of device %s: %w", t.table, id, err)
			}
			n, _ := res.RowsAffected()
			tables[t.table] += n
		}
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET snapshot_purged_at = $1, last_hash = '', delta_count = 0, delta_bytes = 0 WHERE id = $2`, ts, id); err != nil {
			return fmt.Errorf("mark device %s purged: %w", id, err)
		}
		return nil
	})
}

// itemRows are the rows of table (alias h) where selects of one item ($1).
type itemRows struct{ table, where string }

// countItems is a per-item kind's dry run: the items sel selects ($1 the
// cutoff), and per table the rows of them a purge removes or changes.
func (k *kindPurge) countItems(ctx context.Context, sel, what string, counts []itemRows) error {
	rows, err := k.r.db.QueryContext(ctx, sel, fmtTime(k.cutoff))
	if err != nil {
		return fmt.Errorf("find %s: %w", what, err)
	}
	ids, err := scanStrings(rows)
	if err != nil {
		return fmt.Errorf("find %s: %w", what, err)
	}
	k.kr.Items = int64(len(ids))
	for _, c := range counts {
		k.kr.Tables[c.table] = 0
		for _, id := range ids {
			var n int64
			if err := k.r.db.QueryRowContext(ctx, `SELECT count(*) FROM `+c.table+` h WHERE `+c.where, id).Scan(&n); err != nil {
				return fmt.Errorf("count %s of %s: %w", c.table, id, err)
			}
			k.kr.Tables[c.table] += n
		}
	}
	return nil
}

// eachItem runs fn on every item sel selects ($1 the cutoff; idCol its
// id), RetiredItemBatch items per transaction, fn adding the rows it
// changed per table; the last batch records the kind.
func (k *kindPurge) eachItem(ctx context.Context, sel, idCol string, fn func(tx *Tx, id string, tables map[string]int64) error) error {
	q := sel + ` AND ` + idCol + ` > $2 ORDER BY ` + idCol + ` LIMIT ` + fmt.Sprint(retention.RetiredItemBatch)
	after := ""
	for {
		var ids []string
		var tables map[string]int64
		err := k.r.Write(ctx, func(tx *Tx) error {
			tables = map[string]int64{}
			rows, err := tx.QueryContext(ctx, q, fmtTime(k.cutoff), after)
			if err != nil {
				return fmt.Errorf("find %s past retention: %w", k.kr.Kind, err)
			}
			if ids, err = scanStrings(rows); err != nil {
				return fmt.Errorf("find %s past retention: %w", k.kr.Kind, err)
			}
			for _, id := range ids {
				if err := fn(tx, id, tables); err != nil {
					return err
				}
			}
			if len(ids) < retention.RetiredItemBatch {
				sum := maps.Clone(k.kr.Tables)
				for t, n := range tables {
					sum[t] += n
				}
				return k.record(ctx, tx, sum, k.kr.Items+int64(len(ids)))
			}
			return nil
		})
		if err != nil {
			return err
		}
		k.kr.Items += int64(len(ids))
		for t, n := range tables {
			k.kr.Tables[t] += n
		}
		if len(ids) < retention.RetiredItemBatch {
			return nil
		}
		after = ids[len(ids)-1]
	}
}

// markerLike matches a value retention already replaced.
const markerLike = `'` + retention.MarkerPrefix + `%'`

// ownerFields are the register history subjects that copy an owner.
const ownerFields = `('` + assetcsv.ColOwner + `', '` + assetcsv.ColOwnerEmail + `')`

func personal(col string) string {
	return `(` + col + ` <> '' AND ` + col + ` NOT LIKE ` + markerLike + `)`
}

// ownerStored says the asset (alias a) still holds its owner's name or
// email.
func ownerStored(a string) string {
	return `(` + personal(a+".owner") + ` OR ` + a + `.owner_email <> '')`
}

// disposedWhere selects assets a disposed of before $1 whose owner's name
// or email is still stored: on the asset, in its register history, or in
// a wipe request's copy of the asset.
func disposedWhere() string {
	return `a.status = '` + assetcsv.StatusDisposed + `' AND ` + assetStatusSince + ` < $1 AND (` + ownerStored("a") + `
	OR EXISTS (SELECT 1 FROM register_history h WHERE h.asset_id = a.id AND h.subject IN ` + ownerFields + ` AND (` + personal("h.old") + ` OR ` + personal("h.new") + `))
	OR EXISTS (SELECT 1 FROM wipe_requests w WHERE w.asset_id = a.id AND ` + personal("w.owner") + `))`
}

// owners replaces the owner's name and email of assets disposed of past
// retention with retention.OwnerMarker: on the asset (the email emptied,
// since the register's email field holds only addresses), in its search
// keys, in its register history and in its wipe requests. The audit log's
// entries are hash-chained and cannot be edited; they leave with the
// audit log's own retention (docs/retention.md).
func (k *kindPurge) owners(ctx context.Context) error {
	sel := `SELECT a.id FROM assets a WHERE ` + disposedWhere()
	if k.dry {
		// The rows redactOwner changes.
		return k.countItems(ctx, sel, "disposed assets", []itemRows{
			{"assets", `h.id = $1 AND ` + ownerStored("h")},
			{"register_history", `h.asset_id = $1 AND h.subject IN ` + ownerFields + ` AND (` + personal("h.old") + ` OR ` + personal("h.new") + `)`},
			{"wipe_requests", `h.asset_id = $1 AND ` + personal("h.owner")},
			{"search_keys", `h.asset_id = $1 AND h.asset_id <> '' AND h.kind IN ('` + MatchOwnerName + `', '` + MatchOwnerEmail + `')
				AND EXISTS (SELECT 1 FROM assets a WHERE a.id = $1 AND ` + ownerStored("a") + `)`},
		})
	}
	marker := retention.OwnerMarker(k.now)
	return k.eachItem(ctx, sel, "a.id", func(tx *Tx, id string, tables map[string]int64) error {
		n, err := redactOwner(ctx, tx, id, marker)
		if err != nil {
			return fmt.Errorf("remove the owner of asset %s: %w", id, err)
		}
		for t, v := range n {
			tables[t] += v
		}
		return nil
	})
}

// redactOwner replaces one asset's owner everywhere it is copied and says
// how many rows of each table changed.
func redactOwner(ctx context.Context, tx *Tx, id, marker string) (map[string]int64, error) {
	out := map[string]int64{}
	var owner, email string
	if err := tx.QueryRowContext(ctx, `SELECT owner, owner_email FROM assets WHERE id = $1`, id).Scan(&owner, &email); err != nil {
		return nil, err
	}
	if (owner != "" && !strings.HasPrefix(owner, retention.MarkerPrefix)) || email != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE assets SET owner = $1, owner_email = '' WHERE id = $2`, marker, id); err != nil {
			return nil, err
		}
		out["assets"] = 1
		before, err := countSearchOwner(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		if err := syncAssetSearchKeys(ctx, tx, id); err != nil {
			return nil, err
		}
		out["search_keys"] = before
	}
	for _, u := range []struct{ table, sql string }{
		{"register_history", `UPDATE register_history SET
			old = CASE WHEN old <> '' THEN $1 ELSE '' END, new = CASE WHEN new <> '' THEN $1 ELSE '' END
			WHERE asset_id = $2 AND subject IN ` + ownerFields + ` AND (` + personal("old") + ` OR ` + personal("new") + `)`},
		{"wipe_requests", `UPDATE wipe_requests SET owner = $1 WHERE asset_id = $2 AND ` + personal("owner")},
	} {
		res, err := tx.ExecContext(ctx, u.sql, marker, id)
		if err != nil {
			return nil, err
		}
		n, _ := res.RowsAffected()
		out[u.table] = n
	}
	return out, nil
}

// countSearchOwner counts an asset's owner search keys (those the purge
// replaces).
func countSearchOwner(ctx context.Context, tx *Tx, id string) (int64, error) {
	var n int64
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM search_keys WHERE asset_id = $1 AND asset_id <> '' AND kind IN ($2, $3)`, id, MatchOwnerName, MatchOwnerEmail).Scan(&n)
	return n, err
}

// auditLog deletes the audit log's oldest entries up to the newest signed
// checkpoint signed before the cutoff (retention.AuditPlan), one step per
// checkpoint it passes so that the chain verifies after every commit; the
// checkpoints stay. The last step records audit.purged with the anchor.
func (k *kindPurge) auditLog(ctx context.Context) error {
	var first, head sql.NullInt64
	if err := k.r.db.QueryRowContext(ctx, `SELECT min(seq), max(seq) FROM audit_log`).Scan(&first, &head); err != nil {
		return fmt.Errorf("read the audit log's ends: %w", err)
	}
	if !head.Valid {
		return nil
	}
	cps, err := k.r.AuditCheckpoints(ctx)
	if err != nil {
		return err
	}
	steps := retention.AuditPlan(cps, first.Int64, head.Int64, k.cutoff, k.batch)
	if len(steps) == 0 {
		k.kr.Note = "no signed checkpoint older than the cutoff with entries after it"
		return nil
	}
	target := steps[len(steps)-1]
	if k.dry {
		k.kr.Tables["audit_log"] = target.Seq - first.Int64 + 1
		k.kr.ThroughSeq = target.Seq
		return nil
	}
	k.kr.Tables["audit_log"] = 0
	for i, c := range steps {
		var n int64
		err := k.r.Write(ctx, func(tx *Tx) error {
			// The entry a checkpoint vouches for must be the one stored:
			// purging up to a checkpoint the chain contradicts would
			// erase the evidence of tampering.
			var hash string
			if err := tx.QueryRowContext(ctx, `SELECT hash FROM audit_log WHERE seq = $1`, c.Seq).Scan(&hash); err != nil {
				return fmt.Errorf("read audit entry %d: %w", c.Seq, err)
			}
			if hash != c.Hash {
				return fmt.Errorf("audit entry %d differs from its signed checkpoint: run `roster-collector audit verify`; nothing purged past entry %d", c.Seq, k.kr.ThroughSeq)
			}
			res, err := tx.ExecContext(ctx, `DELETE FROM audit_log WHERE seq <= $1`, c.Seq)
			if err != nil {
				return fmt.Errorf("delete audit entries through %d: %w", c.Seq, err)
			}
			n, _ = res.RowsAffected()
			if i == len(steps)-1 {
				kp := *k
				kp.anchor = &c
				return kp.record(ctx, tx, map[string]int64{"audit_log": k.kr.Tables["audit_log"] + n}, 0)
			}
			return nil
		})
		if err != nil {
			return err
		}
		k.kr.Tables["audit_log"] += n
		k.kr.ThroughSeq = c.Seq
		k.anchor = &c
	}
	return nil
}

// snapshotPurgedAt is when retention removed the device's snapshot, nil
// when it did not or when the device has reported a snapshot since.
func snapshotPurgedAt(ctx context.Context, q querier, id string) (*time.Time, error) {
	var at sql.NullString
	err := q.QueryRowContext(ctx, `SELECT d.snapshot_purged_at FROM devices d WHERE d.id = $1
		AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.device_id = d.id)`, id).Scan(&at)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read snapshot purge of %s: %w", id, err)
	}
	return timePtr(at), nil
}

// noSnapshot is the error of a device with no snapshot: never reported,
// or purged by retention (its facts are then unknown, not absent).
func (r *Registry) noSnapshot(ctx context.Context, id string) error {
	at, err := snapshotPurgedAt(ctx, r.db, id)
	if err != nil {
		return err
	}
	if at != nil {
		return ErrNotFound.Errorf("device %s: its snapshot, facts and software were purged by retention on %s (retired device); what it reported is unknown, not absent",
			id, at.Format(time.DateOnly))
	}
	return ErrNotFound.Errorf("device %s has not reported yet", id)
}
