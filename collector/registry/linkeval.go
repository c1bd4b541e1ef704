package registry

// Compliance that follows the register. Policies are scoped by the linked
// asset (type, classification, tags, status, owner), so a register change
// that moves a link or changes one of those fields changes the results of
// the devices at either end. settle re-evaluates exactly those devices, in
// the register change's transaction, from their stored facts: a change
// refused later in the transaction leaves the results untouched, and
// rosterctl shows the new results at once instead of after the device's
// next report.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/assetcsv"
	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/register"
	"github.com/rosterhq/roster/collector/webhook"
	"github.com/rosterhq/roster/shared/wire"
)

// complianceReads says whether compliance reads an asset field (the
// field table marks them, and assetCols loads their columns): a change to
// any other field (model, location, notes…) leaves every result as it was.
func complianceReads(field string) bool {
	f, ok := assetcsv.Lookup(field)
	return ok && f.Compliance
}

// markChanged notes the existing assets whose plans change a field
// compliance reads, so settle re-evaluates the devices linked to them. A
// new asset needs no mark: any link it gets is one settle makes.
func (s *scope) markChanged(plans []planned) {
	for _, p := range plans {
		if p.old == nil {
			continue
		}
		if slices.ContainsFunc(p.diff, func(c FieldChange) bool { return complianceReads(c.Field) }) {
			s.reevalAssets[p.cur.id] = true
		}
	}
}

// toEvaluate lists, sorted, the devices whose compliance inputs a settle
// changed: both ends of every link it removed or made, the devices a
// caller marked (a link changed by hand before settle), and the devices
// now linked to a marked asset; less the one the caller evaluates itself.
func (s *scope) toEvaluate(gone, added []register.Link) []string {
	set := map[string]bool{}
	for _, l := range gone {
		set[l.DeviceID] = true
	}
	for _, l := range added {
		set[l.DeviceID] = true
	}
	for d := range s.reevalDevs {
		set[d] = true
	}
	for a := range s.reevalAssets {
		if l, ok := s.Links[a]; ok {
			set[l.DeviceID] = true
		}
	}
	delete(set, s.evaluatedLater)
	out := make([]string, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// evalChunk is how many devices one query of evaluateLinked reads: well
// under any engine's limit on bound parameters.
const evalChunk = 500

// fewDevices is up to how many devices evaluateLinked reads each one's
// exceptions by itself instead of every valid exception at once.
const fewDevices = 16

// evaluateLinked re-evaluates the given devices inside tx from their
// stored facts and the register as tx now sees it, the way the fleet
// evaluation does (devices that never reported or are revoked are left
// out), and stores and announces only what changed: compliance.changed
// events go to the outbox in tx, the webhook worker is woken after commit.
func (r *Registry) evaluateLinked(ctx context.Context, tx *Tx, ids []string, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	st := r.compState()
	var devs []*evalDevice
	for i := 0; i < len(ids); i += evalChunk {
		chunk := ids[i:min(i+evalChunk, len(ids))]
		marks := make([]string, len(chunk))
		args := make([]any, len(chunk))
		for j, id := range chunk {
			marks[j], args[j] = "$"+strconv.Itoa(j+2), id // $1 is scanFleet's
		}
		var decodeErr error
		_, _, err := r.scanFleet(ctx, tx, ` AND d.id IN (`+strings.Join(marks, ", ")+`)`, args, 0, func(d *evalDevice, facts []byte) {
			d.facts = new(compliance.Facts)
			if err := json.Unmarshal(facts, d.facts); err != nil && decodeErr == nil {
				decodeErr = fmt.Errorf("decode facts of %s: %w", d.id, err)
			}
			devs = append(devs, d)
		})
		if err != nil {
			return err
		}
		if decodeErr != nil {
			return decodeErr
		}
	}
	if len(devs) == 0 {
		return nil
	}
	var all map[string][]compliance.Exception
	if len(devs) > fewDevices {
		var err error
		if all, err = r.validExceptions(ctx, tx, now); err != nil {
			return err
		}
	}
	// The rev bump makes a fleet evaluation in flight, which read the
	// register before this change, drop its now stale outcome.
	store, err := tx.PrepareContext(ctx, `INSERT INTO device_compliance (device_id, rev, state, results, failing, evaluated_at) VALUES ($1, 1, $2, $3, $4, $5)
		ON CONFLICT (device_id) DO UPDATE SET rev = device_compliance.rev + 1, state = excluded.state, results = excluded.results, failing = excluded.failing,
			evaluated_at = excluded.evaluated_at`)
	if err != nil {
		return fmt.Errorf("store compliance: %w", err)
	}
	defer store.Close()
	if _, err := tx.syncReasons(ctx); err != nil {
		return err
	}
	ts := fmtTime(now)
	var evs []webhook.Event
	hist := newTransitionRows(now)
	for _, d := range devs {
		var mine []compliance.Exception
		if all != nil {
			mine = append(mine, all[d.id]...)
			if d.asset != nil {
				mine = append(mine, all["asset:"+d.asset.Tag]...)
			}
		} else if mine, err = exceptionsFor(ctx, tx, d.id, d.asset, now); err != nil {
			return err
		}
		o, err := diffResults(nil, d, st.set.Evaluate(d.input(deviceSoftware{ctx: ctx, q: tx, device: d.id, cat: r.snaps.cat, db: r.db}, mine, now)), r.reasons.id)
		if err != nil {
			return err
		}
		if !o.Changed {
			continue
		}
		if err := assignReasons(ctx, tx, []*compliance.Diff{&o.Diff}); err != nil {
			return err
		}
		if _, err := store.ExecContext(ctx, d.id, o.State, o.Doc, o.Failing, ts); err != nil {
			return fmt.Errorf("store compliance of %s: %w", d.id, err)
		}
		hist.addOutcome(&o)
		evs = append(evs, o.events(st.set, now)...)
	}
	if err := hist.flush(ctx, tx); err != nil {
		return err
	}
	_, err = r.emit(ctx, tx, st, evs)
	return err
}

// deviceSoftware answers a device's software lookups from device_software
// inside a transaction, one indexed query per pattern asked: a
// register change evaluates a few devices, where indexing the whole
// fleet's software (as EvaluateAll does) would cost more than it saves.
// It keeps the transaction's ctx because Match takes none.
type deviceSoftware struct {
	ctx    context.Context
	q      querier
	device string
	// the catalogue cache and the pool that fills it (may be nil)
	cat *catalogueCache
	db  querier
}

func (v deviceSoftware) Match(pattern string) ([]wire.Package, error) {
	es, err := deviceEntriesByID(v.ctx, v.q, v.device)
	if err != nil {
		return nil, fmt.Errorf("match software %q of %s: %w", pattern, v.device, err)
	}
	pkgs, err := entryPackages(v.ctx, v.q, v.cat, v.db, es)
	if err != nil {
		return nil, fmt.Errorf("match software %q of %s: %w", pattern, v.device, err)
	}
	var out []wire.Package
	for _, p := range pkgs {
		if compliance.MatchPattern(pattern, p.Name) {
			p.InstallDate, p.Location = nil, ""
			out = append(out, p)
		}
	}
	return out, nil
}

// softwareLike turns a policy's software pattern (* and ?) into the LIKE
// pattern that narrows the rows; compliance.MatchPattern decides.
func softwareLike(pattern string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`, `*`, `%`, `?`, `_`).Replace(pattern)
}
