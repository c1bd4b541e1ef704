package registry

// The asset register: records of what the organisation owns, kept apart
// from devices (which agents create) and never deleted because an agent
// went quiet. Every write goes through writeAssets, which validates the
// rows against the stored register (lifecycle transitions, unique serials),
// records each change in register_history with who made it, and re-links
// and re-flags what the change touches, all in one transaction.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/collector/assetcsv"
	"github.com/rosterhq/roster/collector/fault"
	"github.com/rosterhq/roster/collector/register"
	"github.com/rosterhq/roster/shared/identity"
)

// ErrExists is an asset tag that is already in the register.
var ErrExists = fault.New(fault.Conflict, "conflict", "already exists")

// Asset is a register record (API keys, docs/api.md).
type Asset struct {
	ID       string `json:"id"`
	AssetTag string `json:"asset_tag"`
	// Serial is as the register writes it; SerialNormalised is what
	// linking compares (shared/identity), "" for placeholders.
	Serial           string    `json:"serial"`
	SerialNormalised string    `json:"serial_normalised"`
	Type             string    `json:"type"`
	Model            string    `json:"model"`
	Owner            string    `json:"owner"`
	OwnerEmail       string    `json:"owner_email"`
	Classification   string    `json:"classification"`
	Location         string    `json:"location"`
	Status           string    `json:"status"`
	PurchaseDate     string    `json:"purchase_date"`
	FixedAssetRef    string    `json:"fixed_asset_ref"`
	Notes            string    `json:"notes"`
	Tags             []string  `json:"tags"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
	// Device is the linked device, nil when none.
	Device *LinkedDevice `json:"device"`
	Flags  []Flag        `json:"flags"`
}

// LinkedDevice is the device an asset is linked to.
type LinkedDevice struct {
	ID       string    `json:"id"`
	Hostname string    `json:"hostname"`
	LastSeen time.Time `json:"last_seen"`
	// LinkedBy is system_serial, system_uuid, mac or manual.
	LinkedBy string    `json:"linked_by"`
	LinkedAt time.Time `json:"linked_at"`
}

// Actor is who makes a change: an API token's id and name, or the
// collector itself.
type Actor struct {
	ID   string
	Name string
}

// actorCollector marks changes the collector makes on its own (links and
// flags following a report or the periodic refresh).
var actorCollector = Actor{Name: "collector"}

// RowError is a problem with one row of an import, or with the one asset
// of an add or set (Line 0).
type RowError struct {
	Line     int    `json:"line"`
	AssetTag string `json:"asset_tag,omitempty"`
	Column   string `json:"column,omitempty"`
	Message  string `json:"message"`
}

// RowsError is a write refused because of row errors; nothing was written.
type RowsError struct {
	Rows []RowError
}

func (e *RowsError) Error() string {
	if len(e.Rows) == 1 {
		return fmt.Sprintf("%v: %s", ErrInvalid, rowText(e.Rows[0]))
	}
	return fmt.Sprintf("%v: %d rows have errors, first %s", ErrInvalid, len(e.Rows), rowText(e.Rows[0]))
}

func (e *RowsError) Unwrap() error { return ErrInvalid }

func rowText(r RowError) string {
	if r.Line > 0 {
		return fmt.Sprintf("line %d: %s", r.Line, r.Message)
	}
	return r.Message
}

// FieldChange is one field an import or set changes.
type FieldChange struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// AssetChange is one asset an import creates or updates.
type AssetChange struct {
	Line     int           `json:"line,omitempty"`
	AssetTag string        `json:"asset_tag"`
	Changes  []FieldChange `json:"changes,omitempty"`
}

// ImportResult says what an import changed, or with DryRun would change.
type ImportResult struct {
	DryRun    bool          `json:"dry_run"`
	Created   []AssetChange `json:"created"`
	Updated   []AssetChange `json:"updated"`
	Unchanged int           `json:"unchanged"`
	// Errors is set on a dry run only; a real import with errors fails
	// with *RowsError instead.
	Errors []RowError `json:"errors"`
	// Links and flags that changed as a consequence (not on a dry run).
	LinksChanged int `json:"links_changed"`
	FlagsSet     int `json:"flags_set"`
	FlagsCleared int `json:"flags_cleared"`
}

// ImportOptions tune ImportAssets.
type ImportOptions struct {
	DryRun bool
	Actor  Actor
	Now    time.Time
}

// assetRec is an assets row: the fields of assetcsv's table in a Row
// (Line and Columns unused) and the columns only the registry keeps.
type assetRec struct {
	id string
	assetcsv.Row
	createdAt, updatedAt string
}

// diffAssets lists the fields whose value differs, in table order, as
// the register history records them.
func diffAssets(fields []assetcsv.Field, old, cur *assetRec) []FieldChange {
	var out []FieldChange
	for _, f := range fields {
		if o, n := f.Get(&old.Row), f.Get(&cur.Row); o != n {
			out = append(out, FieldChange{Field: f.Name, Old: o, New: n})
		}
	}
	return out
}

// apply sets the columns row carries over a; an empty cell clears.
func (a *assetRec) apply(row *assetcsv.Row) {
	for _, c := range row.Columns {
		if f, ok := assetcsv.Lookup(c); ok {
			f.Copy(&a.Row, row)
		}
	}
}

func tagKey(tag string) string { return strings.ToUpper(tag) }

// derivedCols are the assets columns the registry computes from the
// fields on every write (the serial's normalised forms linking matches on,
// the case-free tag that keeps tags unique); assetValues gives them in
// this order after the fields.
var derivedCols = [...]string{"tag_key", "serial", "serial_uuid", "serial_mac"}

// assetRecCols is the SELECT list recScanner reads: id, the table's
// columns, created_at, updated_at.
func assetRecCols(fields []assetcsv.Field) string {
	cols := []string{"id"}
	for _, f := range fields {
		cols = append(cols, f.Column)
	}
	return strings.Join(append(cols, "created_at", "updated_at"), ", ")
}

// assetValues returns the values of the table's columns then of
// derivedCols, as storeAssets writes them: a List field as a JSON array.
func (a *assetRec) assetValues(fields []assetcsv.Field) ([]any, error) {
	vals := make([]any, 0, len(fields)+len(derivedCols))
	for _, f := range fields {
		if !f.List {
			vals = append(vals, f.Get(&a.Row))
			continue
		}
		b, err := json.Marshal(f.Values(&a.Row))
		if err != nil {
			return nil, fmt.Errorf("asset %s: %s: %w", a.AssetTag, f.Name, err)
		}
		vals = append(vals, string(b))
	}
	raw := a.SerialRaw
	return append(vals, tagKey(a.AssetTag), identity.Serial(raw), identity.UUID(raw), identity.MAC(raw)), nil
}

// recScanner scans assetRecCols rows, reusing its buffers.
type recScanner struct {
	fields []assetcsv.Field
	vals   []string
	dest   []any
}

func newRecScanner(fields []assetcsv.Field) *recScanner {
	s := &recScanner{fields: fields, vals: make([]string, len(fields)+3)}
	for i := range s.vals {
		s.dest = append(s.dest, &s.vals[i])
	}
	return s
}

func (s *recScanner) scan(row interface{ Scan(...any) error }) (*assetRec, error) {
	if err := row.Scan(s.dest...); err != nil {
		return nil, err
	}
	n := len(s.fields)
	a := &assetRec{id: s.vals[0], createdAt: s.vals[n+1], updatedAt: s.vals[n+2]}
	for i, f := range s.fields {
		v := s.vals[i+1]
		if !f.List {
			f.Set(&a.Row, v)
			continue
		}
		var l []string
		if err := json.Unmarshal([]byte(v), &l); err != nil {
			return nil, fmt.Errorf("asset %s: %s: %w", a.AssetTag, f.Name, err)
		}
		f.SetList(&a.Row, l)
	}
	return a, nil
}

// writeMode says whether rows may create assets, update them, or both.
type writeMode int

const (
	modeUpsert writeMode = iota
	modeCreate
	modeUpdate
)

// planned is one row worked out against the register.
type planned struct {
	line int
	old  *assetRec // nil: created
	cur  *assetRec
	diff []FieldChange
}

// planAssets validates rows against the stored register and works out
// what each would change. It reads every asset, which an import needs for
// the serial check anyway and which costs little next to writing them.
func planAssets(ctx context.Context, q querier, rows []assetcsv.Row, mode writeMode, now time.Time) ([]planned, []RowError, error) {
	fields := assetcsv.Fields()
	existing := map[string]*assetRec{}
	rs, err := q.QueryContext(ctx, `SELECT `+assetRecCols(fields)+` FROM assets`)
	if err != nil {
		return nil, nil, fmt.Errorf("read assets: %w", err)
	}
	sc := newRecScanner(fields)
	for rs.Next() {
		a, err := sc.scan(rs)
		if err != nil {
			rs.Close()
			return nil, nil, fmt.Errorf("read assets: %w", err)
		}
		existing[tagKey(a.AssetTag)] = a
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, nil, fmt.Errorf("read assets: %w", err)
	}
	ts := fmtTime(now)
	var plans []planned
	var errs []RowError
	fail := func(row assetcsv.Row, col, format string, args ...any) {
		errs = append(errs, RowError{Line: row.Line, AssetTag: row.AssetTag, Column: col, Message: fmt.Sprintf(format, args...)})
	}
	for _, row := range rows {
		old := existing[tagKey(row.AssetTag)]
		p := planned{line: row.Line, old: old}
		switch {
		case old == nil && mode == modeUpdate:
			return nil, nil, ErrNotFound.Errorf("no asset %q", row.AssetTag)
		case old != nil && mode == modeCreate:
			return nil, nil, ErrExists.Errorf("asset %q already exists", old.AssetTag)
		case old == nil:
			p.cur = &assetRec{id: uuid.NewString(), createdAt: ts, updatedAt: ts, Row: assetcsv.Row{Tags: []string{}}}
			p.cur.apply(&row)
			p.cur.AssetTag = row.AssetTag
			if p.cur.Status == "" {
				fail(row, assetcsv.ColStatus, "status is empty: a new asset needs a lifecycle status (%s)", strings.Join(assetcsv.Statuses(), ", "))
				continue
			}
		default:
			c := *old
			c.Tags = slices.Clone(old.Tags)
			c.apply(&row)
			if mode == modeUpsert {
				// A register that writes a tag in another case means
				// the same asset; only set renames it.
				c.AssetTag = old.AssetTag
			}
			p.cur = &c
			if c.Status == "" {
				fail(row, assetcsv.ColStatus, "status cannot be cleared (it is %s)", old.Status)
				continue
			}
			if err := assetcsv.ValidTransition(old.Status, c.Status); err != nil {
				fail(row, assetcsv.ColStatus, "asset %s: %v", old.AssetTag, err)
				continue
			}
			p.diff = diffAssets(fields, old, &c)
			if len(p.diff) > 0 {
				c.updatedAt = ts
			}
		}
		plans = append(plans, p)
	}
	// Serials stay unique across the register as it would be afterwards,
	// so that linking by serial never has to choose between two assets.
	final := map[string]string{} // tag key → normalised serial
	for k, a := range existing {
		final[k] = identity.Serial(a.SerialRaw)
	}
	for _, p := range plans {
		final[tagKey(p.cur.AssetTag)] = identity.Serial(p.cur.SerialRaw)
	}
	holders := map[string][]string{}
	for k, s := range final {
		if s != "" {
			holders[s] = append(holders[s], k)
		}
	}
	kept := plans[:0]
	for _, p := range plans {
		s := identity.Serial(p.cur.SerialRaw)
		if hs := holders[s]; s != "" && len(hs) > 1 {
			var others []string
			for _, h := range hs {
				if h != tagKey(p.cur.AssetTag) {
					if a := existing[h]; a != nil {
						others = append(others, a.AssetTag)
					} else {
						others = append(others, h)
					}
				}
			}
			slices.Sort(others)
			errs = append(errs, RowError{Line: p.line, AssetTag: p.cur.AssetTag, Column: assetcsv.ColSerial,
				Message: fmt.Sprintf("serial %q is also asset %s's: serials must be unique in the register", p.cur.SerialRaw, strings.Join(others, ", "))})
			continue
		}
		kept = append(kept, p)
	}
	slices.SortStableFunc(errs, func(a, b RowError) int { return a.Line - b.Line })
	return kept, errs, nil
}

// assetWriteSQL returns the INSERT and the UPDATE storeAssets prepares:
// both take assetValues' columns first, then the INSERT id, created_at and
// updated_at, the UPDATE updated_at and the id it changes.
func assetWriteSQL(fields []assetcsv.Field) (insert, update string) {
	var cols []string
	for _, f := range fields {
		cols = append(cols, f.Column)
	}
	cols = append(cols, derivedCols[:]...)
	var marks, sets []string
	for i, c := range cols {
		marks = append(marks, "$"+strconv.Itoa(i+1))
		sets = append(sets, c+" = $"+strconv.Itoa(i+1))
	}
	n := len(cols)
	insert = `INSERT INTO assets (` + strings.Join(cols, ", ") + `, id, created_at, updated_at) VALUES (` +
		strings.Join(marks, ", ") + fmt.Sprintf(", $%d, $%d, $%d)", n+1, n+2, n+3)
	update = `UPDATE assets SET ` + strings.Join(sets, ", ") + fmt.Sprintf(", updated_at = $%d WHERE id = $%d", n+1, n+2)
	return insert, update
}

// storeAssets writes planned rows and their history.
func storeAssets(ctx context.Context, tx *Tx, plans []planned, actor Actor, now time.Time) error {
	fields := assetcsv.Fields()
	insSQL, updSQL := assetWriteSQL(fields)
	ins, err := tx.PrepareContext(ctx, insSQL)
	if err != nil {
		return fmt.Errorf("store assets: %w", err)
	}
	defer ins.Close()
	upd, err := tx.PrepareContext(ctx, updSQL)
	if err != nil {
		return fmt.Errorf("store assets: %w", err)
	}
	defer upd.Close()
	h, err := newHistoryWriter(ctx, tx, actor, now)
	if err != nil {
		return err
	}
	defer h.close()
	for _, p := range plans {
		a := p.cur
		if p.old != nil && len(p.diff) == 0 {
			continue
		}
		vals, err := a.assetValues(fields)
		if err != nil {
			return fmt.Errorf("store asset %s: %w", a.AssetTag, err)
		}
		if p.old == nil {
			if _, err = ins.ExecContext(ctx, append(vals, a.id, a.createdAt, a.updatedAt)...); err != nil {
				return fmt.Errorf("store asset %s: %w", a.AssetTag, err)
			}
			if err := syncAssetSearchKeys(ctx, tx, a.id); err != nil {
				return err
			}
			if err := h.add(KindAssetCreated, a.id, a.AssetTag, "", "", "", a.Status); err != nil {
				return err
			}
			continue
		}
		if _, err = upd.ExecContext(ctx, append(vals, a.updatedAt, a.id)...); err != nil {
			return fmt.Errorf("store asset %s: %w", a.AssetTag, err)
		}
		if err := syncAssetSearchKeys(ctx, tx, a.id); err != nil {
			return err
		}
		for _, d := range p.diff {
			kind := KindAssetUpdated
			if d.Field == assetcsv.ColStatus {
				kind = KindAssetStatusChanged
			}
			if err := h.add(kind, a.id, a.AssetTag, "", d.Field, d.Old, d.New); err != nil {
				return err
			}
		}
	}
	return nil
}

func summarise(plans []planned, errs []RowError, dryRun bool) ImportResult {
	res := ImportResult{DryRun: dryRun, Created: []AssetChange{}, Updated: []AssetChange{}, Errors: []RowError{}}
	for _, p := range plans {
		switch {
		case p.old == nil:
			res.Created = append(res.Created, AssetChange{Line: p.line, AssetTag: p.cur.AssetTag})
		case len(p.diff) > 0:
			res.Updated = append(res.Updated, AssetChange{Line: p.line, AssetTag: p.cur.AssetTag, Changes: p.diff})
		default:
			res.Unchanged++
		}
	}
	if dryRun {
		res.Errors = append(res.Errors, errs...)
	}
	return res
}

// ImportAssets upserts register rows by asset tag, all or nothing: any row
// error (readErrs from assetcsv.Read included) fails the whole import with
// a *RowsError listing every one, and nothing is written. With DryRun it
// writes nothing and reports what would change, row errors included. A
// real import then re-links devices and recomputes flags in the same
// transaction.
func (r *Registry) ImportAssets(ctx context.Context, rows []assetcsv.Row, readErrs []assetcsv.RowError, opt ImportOptions) (ImportResult, error) {
	now := opt.Now.UTC()
	var errs []RowError
	for _, e := range readErrs {
		errs = append(errs, RowError{Line: e.Line, Column: e.Column, Message: e.Message})
	}
	if opt.DryRun {
		plans, perrs, err := planAssets(ctx, r.db, rows, modeUpsert, now)
		if err != nil {
			return ImportResult{}, fmt.Errorf("import assets: %w", err)
		}
		errs = append(errs, perrs...)
		slices.SortStableFunc(errs, func(a, b RowError) int { return a.Line - b.Line })
		return summarise(plans, errs, true), nil
	}
	var res ImportResult
	err := r.Write(ctx, func(tx *Tx) error {
		plans, perrs, err := planAssets(ctx, tx, rows, modeUpsert, now)
		if err != nil {
			return err
		}
		errs = append(errs, perrs...)
		if len(errs) > 0 {
			slices.SortStableFunc(errs, func(a, b RowError) int { return a.Line - b.Line })
			return &RowsError{Rows: errs}
		}
		if err := storeAssets(ctx, tx, plans, opt.Actor, now); err != nil {
			return err
		}
		res = summarise(plans, nil, false)
		sc, err := r.loadAll(ctx, tx)
		if err != nil {
			return err
		}
		sc.markChanged(plans)
		ch, err := r.settle(ctx, tx, sc, opt.Actor, now)
		if err != nil {
			return err
		}
		res.LinksChanged, res.FlagsSet, res.FlagsCleared = ch.LinksChanged, ch.FlagsSet, ch.FlagsCleared
		// One entry for the import: its counts and every tag it touched
		// (the field-level changes are in the register history).
		tags := make([]string, 0, len(res.Created)+len(res.Updated))
		for _, c := range res.Created {
			tags = append(tags, c.AssetTag)
		}
		for _, c := range res.Updated {
			tags = append(tags, c.AssetTag)
		}
		return r.audit(ctx, tx, "register.imported", "register", map[string]any{
			"rows": len(rows), "created": len(res.Created), "updated": len(res.Updated), "unchanged": res.Unchanged,
			"links_changed": ch.LinksChanged, "tags": tags})
	})
	if err != nil {
		return ImportResult{}, fmt.Errorf("import assets: %w", err)
	}
	return res, nil
}

// AssetInput is an asset as the API gives it for add (every field) or
// set (the non-nil fields). It is the API's contract (the OpenAPI
// document's schema is made from it): one pointer per field of
// assetcsv.Fields, the JSON key the field's Name, what each field means
// and how it is checked the table's (TestAssetInputFollowsTable).
type AssetInput struct {
	AssetTag       *string   `json:"asset_tag"`
	Serial         *string   `json:"serial"`
	Type           *string   `json:"type"`
	Model          *string   `json:"model"`
	Owner          *string   `json:"owner"`
	OwnerEmail     *string   `json:"owner_email"`
	Classification *string   `json:"classification"`
	Location       *string   `json:"location"`
	Status         *string   `json:"status"`
	PurchaseDate   *string   `json:"purchase_date"`
	FixedAssetRef  *string   `json:"fixed_asset_ref"`
	Notes          *string   `json:"notes"`
	Tags           *[]string `json:"tags"`
}

// given returns the input's fields by JSON key, as reflect values of
// their pointers.
func (in *AssetInput) given() map[string]reflect.Value {
	v := reflect.ValueOf(in).Elem()
	out := make(map[string]reflect.Value, v.NumField())
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		out[name] = v.Field(i)
	}
	return out
}

// row turns an input into a register row with the same validation the CSV
// reader applies (the field table's Clean and Parse, ParseList for tags),
// listing every problem.
func (in AssetInput) row() (assetcsv.Row, []RowError) {
	var row assetcsv.Row
	var errs []RowError
	given := in.given()
	for _, f := range assetcsv.Fields() {
		p, ok := given[f.Name]
		if !ok || p.IsNil() {
			continue
		}
		row.Columns = append(row.Columns, f.Name)
		if f.List {
			vs, verrs := f.ParseList(p.Elem().Interface().([]string))
			for _, err := range verrs {
				errs = append(errs, RowError{Column: f.Name, Message: err.Error()})
			}
			f.SetList(&row, vs)
			continue
		}
		s, err := f.Clean(strings.TrimSpace(p.Elem().String()))
		if err == nil {
			s, err = f.Parse(s)
		}
		if err != nil {
			errs = append(errs, RowError{Column: f.Name, Message: err.Error()})
			continue
		}
		f.Set(&row, s)
	}
	return row, errs
}

// AddAsset creates one asset: ErrExists when its tag is taken, a
// *RowsError when a field is invalid.
func (r *Registry) AddAsset(ctx context.Context, in AssetInput, actor Actor, now time.Time) (Asset, error) {
	row, errs := in.row()
	if in.AssetTag == nil || row.AssetTag == "" {
		errs = append(errs, RowError{Column: assetcsv.ColAssetTag, Message: "asset_tag is required"})
	}
	if in.Status == nil {
		errs = append(errs, RowError{Column: assetcsv.ColStatus, Message: "status is required"})
	}
	if len(errs) > 0 {
		return Asset{}, fmt.Errorf("add asset: %w", &RowsError{Rows: errs})
	}
	return r.writeOne(ctx, row, modeCreate, actor, now)
}

// UpdateAsset changes the given fields of the asset tagged tag.
func (r *Registry) UpdateAsset(ctx context.Context, tag string, in AssetInput, actor Actor, now time.Time) (Asset, error) {
	row, errs := in.row()
	if in.AssetTag != nil && tagKey(row.AssetTag) != tagKey(tag) {
		errs = append(errs, RowError{Column: assetcsv.ColAssetTag, Message: "asset_tag can change only in case; add a new asset for a new tag"})
	}
	if len(errs) > 0 {
		return Asset{}, fmt.Errorf("update asset %s: %w", tag, &RowsError{Rows: errs})
	}
	if in.AssetTag == nil {
		row.AssetTag = tag
	}
	return r.writeOne(ctx, row, modeUpdate, actor, now)
}

func (r *Registry) writeOne(ctx context.Context, row assetcsv.Row, mode writeMode, actor Actor, now time.Time) (Asset, error) {
	now = now.UTC()
	var id string
	err := r.Write(ctx, func(tx *Tx) error {
		var err error
		if id, err = r.writeOneTx(ctx, tx, row, mode, actor, now); err != nil {
			return err
		}
		action := map[writeMode]string{modeCreate: "asset.created", modeUpdate: "asset.updated"}[mode]
		if action == "" {
			action = "asset.written"
		}
		return r.audit(ctx, tx, action, "asset:"+row.AssetTag, row)
	})
	if err != nil {
		return Asset{}, fmt.Errorf("write asset %s: %w", row.AssetTag, err)
	}
	return r.assetBy(ctx, r.db, "a.id = $1", id)
}

// writeOneTx writes one asset row inside tx: validated like an import row
// (a row error comes back as *RowsError), stored with its history, then
// re-linked and re-flagged. It returns the asset's id. The offboarding
// lifecycle moves asset status through it too.
func (r *Registry) writeOneTx(ctx context.Context, tx *Tx, row assetcsv.Row, mode writeMode, actor Actor, now time.Time) (string, error) {
	plans, errs, err := planAssets(ctx, tx, []assetcsv.Row{row}, mode, now)
	if err != nil {
		return "", err
	}
	if len(errs) > 0 {
		return "", &RowsError{Rows: errs}
	}
	if err := storeAssets(ctx, tx, plans, actor, now); err != nil {
		return "", err
	}
	id := plans[0].cur.id
	sc, err := r.loadScope(ctx, tx, nil, []string{id})
	if err != nil {
		return "", err
	}
	sc.markChanged(plans)
	if _, err := r.settle(ctx, tx, sc, actor, now); err != nil {
		return "", err
	}
	return id, nil
}

const assetSelect = `SELECT a.id, a.asset_tag, a.serial_raw, a.type, a.model, a.owner, a.owner_email, a.classification, a.location, a.status,
	a.purchase_date, a.fixed_asset_ref, a.notes, a.tags, a.created_at, a.updated_at,
	l.device_id, l.how, l.linked_at, d.hostname, d.last_seen
	FROM assets a LEFT JOIN asset_links l ON l.asset_id = a.id LEFT JOIN devices d ON d.id = l.device_id`

func scanAsset(row interface{ Scan(...any) error }) (Asset, error) {
	var a Asset
	var tags string
	var dev, how, linkedAt, host, seen sql.NullString
	var created, updated string
	err := row.Scan(&a.ID, &a.AssetTag, &a.Serial, &a.Type, &a.Model, &a.Owner, &a.OwnerEmail, &a.Classification, &a.Location, &a.Status,
		&a.PurchaseDate, &a.FixedAssetRef, &a.Notes, &tags, &created, &updated, &dev, &how, &linkedAt, &host, &seen)
	if err != nil {
		return Asset{}, err
	}
	if err := json.Unmarshal([]byte(tags), &a.Tags); err != nil {
		return Asset{}, fmt.Errorf("asset %s: tags: %w", a.AssetTag, err)
	}
	a.SerialNormalised = identity.Serial(a.Serial)
	a.CreatedAt, a.UpdatedAt = parseTime(created), parseTime(updated)
	if dev.Valid {
		a.Device = &LinkedDevice{ID: dev.String, Hostname: host.String, LastSeen: parseTime(seen.String), LinkedBy: how.String, LinkedAt: parseTime(linkedAt.String)}
	}
	a.Flags = []Flag{}
	return a, nil
}

func (r *Registry) assetBy(ctx context.Context, q querier, cond string, arg any) (Asset, error) {
	a, err := scanAsset(q.QueryRowContext(ctx, assetSelect+" WHERE "+cond, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return Asset{}, ErrNotFound.Errorf("no asset %v", arg)
	}
	if err != nil {
		return Asset{}, fmt.Errorf("read asset: %w", err)
	}
	a.Flags, err = subjectFlags(ctx, q, register.SubjectAsset, a.ID)
	return a, err
}

// Asset returns the asset tagged tag (any case).
func (r *Registry) Asset(ctx context.Context, tag string) (Asset, error) {
	return r.assetBy(ctx, r.db, "a.tag_key = $1", tagKey(tag))
}

// AssetFilter selects assets; zero fields do not filter.
type AssetFilter struct {
	Status         string
	Type           string
	Classification string
	// Owner matches owner or owner_email, case-insensitively.
	Owner    string
	Location string
	// Flag keeps assets carrying it (missing), or linked to a device that
	// does (not_in_service, identity_conflict).
	Flag string
	// Linked is "yes" or "no".
	Linked string
}

// ListAssets returns a page of assets ordered by tag.
func (r *Registry) ListAssets(ctx context.Context, f AssetFilter, p Page) ([]Asset, string, error) {
	after, err := decodeCursor("a", p.Cursor)
	if err != nil {
		return nil, "", err
	}
	var q query
	check := func(name, v string, allowed []string) error {
		if v != "" && !slices.Contains(allowed, v) {
			return ErrInvalid.Errorf("%s %q (want one of %s)", name, v, strings.Join(allowed, ", "))
		}
		return nil
	}
	for _, c := range []struct {
		name, v string
		allowed []string
		col     string
	}{
		{"status", f.Status, assetcsv.Statuses(), "a.status"},
		{"type", f.Type, assetcsv.Types(), "a.type"},
		{"classification", f.Classification, assetcsv.Classifications(), "a.classification"},
	} {
		if err := check(c.name, c.v, c.allowed); err != nil {
			return nil, "", err
		}
		if c.v != "" {
			q.add(c.col+" = ?", c.v)
		}
	}
	if f.Owner != "" {
		q.add("(lower(a.owner) = ? OR lower(a.owner_email) = ?)", strings.ToLower(f.Owner), strings.ToLower(f.Owner))
	}
	if f.Location != "" {
		q.add("lower(a.location) = ?", strings.ToLower(f.Location))
	}
	if f.Flag != "" {
		if err := check("flag", f.Flag, Flags()); err != nil {
			return nil, "", err
		}
		q.add("(EXISTS (SELECT 1 FROM flags g WHERE g.subject = 'asset' AND g.subject_id = a.id AND g.flag = ?) OR EXISTS (SELECT 1 FROM flags g WHERE g.subject = 'device' AND g.subject_id = l.device_id AND g.flag = ?))", f.Flag, f.Flag)
	}
	switch f.Linked {
	case "":
	case "yes":
		q.add("l.device_id IS NOT NULL")
	case "no":
		q.add("l.device_id IS NULL")
	default:
		return nil, "", ErrInvalid.Errorf("linked %q (want yes or no)", f.Linked)
	}
	if after != "" {
		q.add("a.tag_key > ?", after)
	}
	limit := p.limit()
	rows, err := r.db.QueryContext(ctx, assetSelect+q.sql()+" ORDER BY a.tag_key"+q.limitArg(limit+1), q.args...)
	if err != nil {
		return nil, "", fmt.Errorf("list assets: %w", err)
	}
	out := []Asset{}
	for rows.Next() {
		a, err := scanAsset(rows)
		if err != nil {
			rows.Close()
			return nil, "", fmt.Errorf("list assets: %w", err)
		}
		out = append(out, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list assets: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodeCursor("a", tagKey(out[limit-1].AssetTag))
	}
	if err := attachAssetFlags(ctx, r.db, out); err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// ExportAssets returns the whole register as CSV rows, ordered by tag.
func (r *Registry) ExportAssets(ctx context.Context) ([]assetcsv.Row, error) {
	fields := assetcsv.Fields()
	rows, err := r.db.QueryContext(ctx, `SELECT `+assetRecCols(fields)+` FROM assets ORDER BY tag_key`)
	if err != nil {
		return nil, fmt.Errorf("export assets: %w", err)
	}
	defer rows.Close()
	sc := newRecScanner(fields)
	cols := assetcsv.Columns()
	out := []assetcsv.Row{}
	for rows.Next() {
		a, err := sc.scan(rows)
		if err != nil {
			return nil, fmt.Errorf("export assets: %w", err)
		}
		a.Columns = cols
		out = append(out, a.Row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("export assets: %w", err)
	}
	return out, nil
}
