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
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/collector/assetcsv"
	"github.com/rosterhq/roster/collector/fault"
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

// assetRec is an assets row.
type assetRec struct {
	id, tag, serialRaw, typ, model, owner, ownerEmail, class, location, status string
	purchase, ref, notes                                                       string
	tags                                                                       []string
	createdAt, updatedAt                                                       string
}

// fieldValues lists the fields as the register names them, for diffs.
func (a *assetRec) fieldValues() [][2]string {
	return [][2]string{
		{assetcsv.ColAssetTag, a.tag}, {assetcsv.ColSerial, a.serialRaw}, {assetcsv.ColType, a.typ},
		{assetcsv.ColModel, a.model}, {assetcsv.ColOwner, a.owner}, {assetcsv.ColOwnerEmail, a.ownerEmail},
		{assetcsv.ColClassification, a.class}, {assetcsv.ColLocation, a.location}, {assetcsv.ColStatus, a.status},
		{assetcsv.ColPurchaseDate, a.purchase}, {assetcsv.ColFixedAssetRef, a.ref}, {assetcsv.ColNotes, a.notes},
		{assetcsv.ColTags, strings.Join(a.tags, ";")},
	}
}

func diffAssets(old, cur *assetRec) []FieldChange {
	var out []FieldChange
	o, n := old.fieldValues(), cur.fieldValues()
	for i := range o {
		if o[i][1] != n[i][1] {
			out = append(out, FieldChange{Field: o[i][0], Old: o[i][1], New: n[i][1]})
		}
	}
	return out
}

// apply sets the columns row carries over a; an empty cell clears.
func (a *assetRec) apply(row assetcsv.Row) {
	for _, c := range row.Columns {
		switch c {
		case assetcsv.ColAssetTag:
			a.tag = row.AssetTag
		case assetcsv.ColSerial:
			a.serialRaw = row.SerialRaw
		case assetcsv.ColType:
			a.typ = row.Type
		case assetcsv.ColModel:
			a.model = row.Model
		case assetcsv.ColOwner:
			a.owner = row.Owner
		case assetcsv.ColOwnerEmail:
			a.ownerEmail = row.OwnerEmail
		case assetcsv.ColClassification:
			a.class = row.Classification
		case assetcsv.ColLocation:
			a.location = row.Location
		case assetcsv.ColStatus:
			a.status = row.Status
		case assetcsv.ColPurchaseDate:
			a.purchase = row.PurchaseDate
		case assetcsv.ColFixedAssetRef:
			a.ref = row.FixedAssetRef
		case assetcsv.ColNotes:
			a.notes = row.Notes
		case assetcsv.ColTags:
			a.tags = slices.Clone(row.Tags)
		}
	}
}

func tagKey(tag string) string { return strings.ToUpper(tag) }

const assetRecCols = `id, asset_tag, serial_raw, type, model, owner, owner_email, classification, location, status,
	purchase_date, fixed_asset_ref, notes, tags, created_at, updated_at`

func scanAssetRec(row interface{ Scan(...any) error }) (*assetRec, error) {
	a := &assetRec{}
	var tags string
	if err := row.Scan(&a.id, &a.tag, &a.serialRaw, &a.typ, &a.model, &a.owner, &a.ownerEmail, &a.class, &a.location, &a.status,
		&a.purchase, &a.ref, &a.notes, &tags, &a.createdAt, &a.updatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(tags), &a.tags); err != nil {
		return nil, fmt.Errorf("asset %s: tags: %w", a.tag, err)
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
	existing := map[string]*assetRec{}
	rs, err := q.QueryContext(ctx, `SELECT `+assetRecCols+` FROM assets`)
	if err != nil {
		return nil, nil, fmt.Errorf("read assets: %w", err)
	}
	for rs.Next() {
		a, err := scanAssetRec(rs)
		if err != nil {
			rs.Close()
			return nil, nil, fmt.Errorf("read assets: %w", err)
		}
		existing[tagKey(a.tag)] = a
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
			return nil, nil, ErrExists.Errorf("asset %q already exists", old.tag)
		case old == nil:
			p.cur = &assetRec{id: uuid.NewString(), createdAt: ts, updatedAt: ts, tags: []string{}}
			p.cur.apply(row)
			p.cur.tag = row.AssetTag
			if p.cur.status == "" {
				fail(row, assetcsv.ColStatus, "status is empty: a new asset needs a lifecycle status (%s)", strings.Join(assetcsv.Statuses(), ", "))
				continue
			}
		default:
			c := *old
			c.tags = slices.Clone(old.tags)
			c.apply(row)
			if mode == modeUpsert {
				// A register that writes a tag in another case means
				// the same asset; only set renames it.
				c.tag = old.tag
			}
			p.cur = &c
			if c.status == "" {
				fail(row, assetcsv.ColStatus, "status cannot be cleared (it is %s)", old.status)
				continue
			}
			if err := assetcsv.ValidTransition(old.status, c.status); err != nil {
				fail(row, assetcsv.ColStatus, "asset %s: %v", old.tag, err)
				continue
			}
			p.diff = diffAssets(old, &c)
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
		final[k] = identity.Serial(a.serialRaw)
	}
	for _, p := range plans {
		final[tagKey(p.cur.tag)] = identity.Serial(p.cur.serialRaw)
	}
	holders := map[string][]string{}
	for k, s := range final {
		if s != "" {
			holders[s] = append(holders[s], k)
		}
	}
	kept := plans[:0]
	for _, p := range plans {
		s := identity.Serial(p.cur.serialRaw)
		if hs := holders[s]; s != "" && len(hs) > 1 {
			var others []string
			for _, h := range hs {
				if h != tagKey(p.cur.tag) {
					if a := existing[h]; a != nil {
						others = append(others, a.tag)
					} else {
						others = append(others, h)
					}
				}
			}
			slices.Sort(others)
			errs = append(errs, RowError{Line: p.line, AssetTag: p.cur.tag, Column: assetcsv.ColSerial,
				Message: fmt.Sprintf("serial %q is also asset %s's: serials must be unique in the register", p.cur.serialRaw, strings.Join(others, ", "))})
			continue
		}
		kept = append(kept, p)
	}
	slices.SortStableFunc(errs, func(a, b RowError) int { return a.Line - b.Line })
	return kept, errs, nil
}

// storeAssets writes planned rows and their history.
func storeAssets(ctx context.Context, tx *sql.Tx, plans []planned, actor Actor, now time.Time) error {
	ins, err := tx.PrepareContext(ctx, `INSERT INTO assets (id, asset_tag, tag_key, serial_raw, serial, serial_uuid, serial_mac, type, model, owner,
		owner_email, classification, location, status, purchase_date, fixed_asset_ref, notes, tags, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`)
	if err != nil {
		return fmt.Errorf("store assets: %w", err)
	}
	defer ins.Close()
	upd, err := tx.PrepareContext(ctx, `UPDATE assets SET asset_tag = $1, tag_key = $2, serial_raw = $3, serial = $4, serial_uuid = $5,
		serial_mac = $6, type = $7, model = $8, owner = $9, owner_email = $10, classification = $11, location = $12, status = $13,
		purchase_date = $14, fixed_asset_ref = $15, notes = $16, tags = $17, updated_at = $18 WHERE id = $19`)
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
		tags, err := json.Marshal(a.tags)
		if err != nil {
			return fmt.Errorf("store asset %s: %w", a.tag, err)
		}
		if p.old == nil {
			_, err = ins.ExecContext(ctx, a.id, a.tag, tagKey(a.tag), a.serialRaw, identity.Serial(a.serialRaw), identity.UUID(a.serialRaw), identity.MAC(a.serialRaw),
				a.typ, a.model, a.owner, a.ownerEmail, a.class, a.location, a.status, a.purchase, a.ref, a.notes, string(tags), a.createdAt, a.updatedAt)
			if err != nil {
				return fmt.Errorf("store asset %s: %w", a.tag, err)
			}
			if err := h.add(KindAssetCreated, a.id, a.tag, "", "", "", a.status); err != nil {
				return err
			}
			continue
		}
		if len(p.diff) == 0 {
			continue
		}
		_, err = upd.ExecContext(ctx, a.tag, tagKey(a.tag), a.serialRaw, identity.Serial(a.serialRaw), identity.UUID(a.serialRaw), identity.MAC(a.serialRaw),
			a.typ, a.model, a.owner, a.ownerEmail, a.class, a.location, a.status, a.purchase, a.ref, a.notes, string(tags), a.updatedAt, a.id)
		if err != nil {
			return fmt.Errorf("store asset %s: %w", a.tag, err)
		}
		for _, d := range p.diff {
			kind := KindAssetUpdated
			if d.Field == assetcsv.ColStatus {
				kind = KindAssetStatusChanged
			}
			if err := h.add(kind, a.id, a.tag, "", d.Field, d.Old, d.New); err != nil {
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
			res.Created = append(res.Created, AssetChange{Line: p.line, AssetTag: p.cur.tag})
		case len(p.diff) > 0:
			res.Updated = append(res.Updated, AssetChange{Line: p.line, AssetTag: p.cur.tag, Changes: p.diff})
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
	err := r.write(ctx, func(tx *sql.Tx) error {
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
// set (the non-nil fields).
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

// row turns an input into a register row with the same validation the CSV
// reader applies, listing every problem.
func (in AssetInput) row() (assetcsv.Row, []RowError) {
	var row assetcsv.Row
	var errs []RowError
	text := func(col string, v *string, parse func(string) (string, error), dst *string) {
		if v == nil {
			return
		}
		row.Columns = append(row.Columns, col)
		s := strings.TrimSpace(*v)
		switch {
		case len(s) > assetcsv.MaxField:
			errs = append(errs, RowError{Column: col, Message: fmt.Sprintf("%s is %d bytes long, at most %d allowed", col, len(s), assetcsv.MaxField)})
			return
		}
		var err error
		if s, err = assetcsv.Text(col, s); err != nil {
			errs = append(errs, RowError{Column: col, Message: err.Error()})
			return
		}
		if parse != nil {
			if s, err = parse(s); err != nil {
				errs = append(errs, RowError{Column: col, Message: err.Error()})
				return
			}
		}
		*dst = s
	}
	text(assetcsv.ColAssetTag, in.AssetTag, nil, &row.AssetTag)
	text(assetcsv.ColSerial, in.Serial, nil, &row.SerialRaw)
	row.Serial = identity.Serial(row.SerialRaw)
	text(assetcsv.ColType, in.Type, assetcsv.ParseType, &row.Type)
	text(assetcsv.ColModel, in.Model, nil, &row.Model)
	text(assetcsv.ColOwner, in.Owner, nil, &row.Owner)
	text(assetcsv.ColOwnerEmail, in.OwnerEmail, assetcsv.ParseEmail, &row.OwnerEmail)
	text(assetcsv.ColClassification, in.Classification, assetcsv.ParseClassification, &row.Classification)
	text(assetcsv.ColLocation, in.Location, nil, &row.Location)
	text(assetcsv.ColStatus, in.Status, assetcsv.ParseStatus, &row.Status)
	text(assetcsv.ColPurchaseDate, in.PurchaseDate, assetcsv.ParseDate, &row.PurchaseDate)
	text(assetcsv.ColFixedAssetRef, in.FixedAssetRef, nil, &row.FixedAssetRef)
	text(assetcsv.ColNotes, in.Notes, nil, &row.Notes)
	if in.Tags != nil {
		row.Columns = append(row.Columns, assetcsv.ColTags)
		row.Tags = []string{}
		for _, t := range *in.Tags {
			t = strings.TrimSpace(t)
			_, terr := assetcsv.Text(assetcsv.ColTags, t)
			switch {
			case t == "":
				errs = append(errs, RowError{Column: assetcsv.ColTags, Message: "tags: empty tag"})
			case terr != nil:
				errs = append(errs, RowError{Column: assetcsv.ColTags, Message: terr.Error()})
			case strings.ContainsAny(t, ";|") || len(t) > 256:
				errs = append(errs, RowError{Column: assetcsv.ColTags, Message: fmt.Sprintf("tag %q: at most 256 bytes, no ';' or '|'", t)})
			case !slices.Contains(row.Tags, t):
				row.Tags = append(row.Tags, t)
			}
		}
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
	err := r.write(ctx, func(tx *sql.Tx) error {
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
func (r *Registry) writeOneTx(ctx context.Context, tx *sql.Tx, row assetcsv.Row, mode writeMode, actor Actor, now time.Time) (string, error) {
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
	a.Flags, err = subjectFlags(ctx, q, subjectAsset, a.ID)
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
	rows, err := r.db.QueryContext(ctx, `SELECT `+assetRecCols+` FROM assets ORDER BY tag_key`)
	if err != nil {
		return nil, fmt.Errorf("export assets: %w", err)
	}
	defer rows.Close()
	out := []assetcsv.Row{}
	for rows.Next() {
		a, err := scanAssetRec(rows)
		if err != nil {
			return nil, fmt.Errorf("export assets: %w", err)
		}
		out = append(out, assetcsv.Row{
			AssetTag: a.tag, Serial: identity.Serial(a.serialRaw), SerialRaw: a.serialRaw, Type: a.typ, Model: a.model,
			Owner: a.owner, OwnerEmail: a.ownerEmail, Classification: a.class, Location: a.location, Status: a.status,
			PurchaseDate: a.purchase, FixedAssetRef: a.ref, Notes: a.notes, Tags: a.tags, Columns: assetcsv.Columns(),
		})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("export assets: %w", err)
	}
	return out, nil
}
