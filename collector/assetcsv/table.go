package assetcsv

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rosterhq/roster/shared/identity"
)

// Field is one field of an asset. The table of them (Fields) is the one
// definition of what an asset holds: the CSV reader and writer, the API's
// input, the registry's diff, apply and SQL, and rosterctl's add and set
// flags all iterate it, so a field is added in one place (and the tests
// beside the registry fail until the database has its column).
type Field struct {
	// Name is the CSV column, the API's JSON key and the field a change
	// names in the register history.
	Name string
	// Column is the field's column in the assets table.
	Column string
	// Compliance says that policies are scoped by the field (or that
	// compliance otherwise reads it): a change to it re-evaluates the
	// device linked to the asset.
	Compliance bool
	// List is a field of several values (tags): ';'-separated in a CSV
	// cell, an array in the API, a JSON array in the database.
	List bool
	// Lines says the value may span lines (notes); every other field is
	// one line.
	Lines bool

	// parse checks and canonicalises a one-line value; nil takes any text.
	parse func(string) (string, error)
	get   func(*Row) string
	set   func(*Row, string)
	copy  func(dst, src *Row)
	list  func(*Row) *[]string // List fields only
}

// text is a field held in one string of Row.
func text(name, column string, at func(*Row) *string, parse func(string) (string, error)) Field {
	return Field{Name: name, Column: column, parse: parse,
		get:  func(r *Row) string { return *at(r) },
		set:  func(r *Row, v string) { *at(r) = v },
		copy: func(dst, src *Row) { *at(dst) = *at(src) },
	}
}

func (f Field) scoped() Field    { f.Compliance = true; return f }
func (f Field) multiLine() Field { f.Lines = true; return f }

// fields is the table, in export order. It is never modified: Fields
// hands out copies.
var fields = [...]Field{
	text(ColAssetTag, "asset_tag", func(r *Row) *string { return &r.AssetTag }, nil).scoped(),
	// The serial is stored as written; the normalised forms linking
	// compares are derived from it (identity.Serial here, and the
	// registry's serial, serial_uuid and serial_mac columns).
	{Name: ColSerial, Column: "serial_raw",
		get: func(r *Row) string {
			if r.SerialRaw == "" {
				return r.Serial
			}
			return r.SerialRaw
		},
		set:  func(r *Row, v string) { r.SerialRaw, r.Serial = v, identity.Serial(v) },
		copy: func(dst, src *Row) { dst.SerialRaw, dst.Serial = src.SerialRaw, src.Serial },
	},
	text(ColType, "type", func(r *Row) *string { return &r.Type }, ParseType).scoped(),
	text(ColModel, "model", func(r *Row) *string { return &r.Model }, nil),
	text(ColOwner, "owner", func(r *Row) *string { return &r.Owner }, nil).scoped(),
	text(ColOwnerEmail, "owner_email", func(r *Row) *string { return &r.OwnerEmail }, ParseEmail),
	text(ColClassification, "classification", func(r *Row) *string { return &r.Classification }, ParseClassification).scoped(),
	text(ColLocation, "location", func(r *Row) *string { return &r.Location }, nil),
	text(ColStatus, "status", func(r *Row) *string { return &r.Status }, ParseStatus).scoped(),
	text(ColPurchaseDate, "purchase_date", func(r *Row) *string { return &r.PurchaseDate }, ParseDate),
	text(ColFixedAssetRef, "fixed_asset_ref", func(r *Row) *string { return &r.FixedAssetRef }, nil),
	text(ColNotes, "notes", func(r *Row) *string { return &r.Notes }, nil).multiLine(),
	{Name: ColTags, Column: "tags", Compliance: true, List: true,
		get:  func(r *Row) string { return strings.Join(r.Tags, ";") },
		set:  func(r *Row, v string) { r.Tags = SplitTags(v) },
		copy: func(dst, src *Row) { dst.Tags = slices.Clone(src.Tags) },
		list: func(r *Row) *[]string { return &r.Tags },
	},
}

// Fields returns the asset fields in export order.
func Fields() []Field { return slices.Clone(fields[:]) }

// Lookup returns the field named name.
func Lookup(name string) (Field, bool) {
	for i := range fields {
		if fields[i].Name == name {
			return fields[i], true
		}
	}
	return Field{}, false
}

// Get returns the field's value in r as text: as a CSV cell holds it and
// the register history records it (tags joined with ';', the serial as
// written, else its normalised form).
func (f Field) Get(r *Row) string { return f.get(r) }

// Set stores a value already checked by Clean and Parse in r (a List
// field splits it as a CSV cell is split).
func (f Field) Set(r *Row, v string) { f.set(r, v) }

// Copy sets the field in dst to its value in src.
func (f Field) Copy(dst, src *Row) { f.copy(dst, src) }

// Values returns the values of a List field.
func (f Field) Values(r *Row) []string { return *f.list(r) }

// SetList stores the values of a List field, as ParseList returns them.
func (f Field) SetList(r *Row, vs []string) { *f.list(r) = vs }

// Clean applies the checks every source of a value shares, the CSV reader
// and the API alike: at most MaxField bytes and fieldtext's rule on
// control characters (see Text). It returns the value to parse.
func (f Field) Clean(v string) (string, error) {
	if len(v) > MaxField {
		return "", fmt.Errorf("%s is %d bytes long, at most %d allowed", f.Name, len(v), MaxField)
	}
	return f.text(v)
}

// Parse checks a cleaned one-line value and returns its canonical form
// ("In Service" is in_service); free-text fields take any value.
func (f Field) Parse(v string) (string, error) {
	if f.parse == nil {
		return v, nil
	}
	return f.parse(v)
}

// ParseList checks the values of a List field given one by one (the
// API's array): each trimmed, not empty, at most 256 bytes and without the
// separators a CSV cell splits on. It returns the values without repeats,
// in order, and one error per bad value.
func (f Field) ParseList(vs []string) ([]string, []error) {
	out := []string{}
	var errs []error
	for _, v := range vs {
		v = strings.TrimSpace(v)
		_, terr := f.text(v)
		switch {
		case v == "":
			errs = append(errs, fmt.Errorf("%s: empty tag", f.Name))
		case terr != nil:
			errs = append(errs, terr)
		case strings.ContainsAny(v, ";|") || len(v) > 256:
			errs = append(errs, fmt.Errorf("tag %q: at most 256 bytes, no ';' or '|'", v))
		case !slices.Contains(out, v):
			out = append(out, v)
		}
	}
	return out, errs
}
