package assetcsv_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/rosterhq/roster/collector/assetcsv"
)

// The table is the only list of fields: Columns, Write's header and Read
// follow it, and every field reads back what it was given.
func TestFieldTable(t *testing.T) {
	t.Parallel()
	var names []string
	for _, f := range assetcsv.Fields() {
		names = append(names, f.Name)
		if f.Column == "" {
			t.Errorf("field %s has no database column", f.Name)
		}
		if got, ok := assetcsv.Lookup(f.Name); !ok || got.Name != f.Name {
			t.Errorf("Lookup(%q) = %v, %v", f.Name, got.Name, ok)
		}
	}
	if got := assetcsv.Columns(); !slices.Equal(got, names) {
		t.Errorf("Columns() = %v, want the table's %v", got, names)
	}
	var buf bytes.Buffer
	if err := assetcsv.Write(&buf, nil); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(buf.String()); got != strings.Join(names, ",") {
		t.Errorf("Write header = %q, want %q", got, strings.Join(names, ","))
	}

	// One value per field, valid for it; written, read back, copied.
	values := map[string]string{
		assetcsv.ColAssetTag: "LAP-1", assetcsv.ColSerial: "pf-12 ab", assetcsv.ColType: "laptop",
		assetcsv.ColModel: "T14", assetcsv.ColOwner: "Ann", assetcsv.ColOwnerEmail: "ann@example.com",
		assetcsv.ColClassification: "internal", assetcsv.ColLocation: "Berlin", assetcsv.ColStatus: "in_service",
		assetcsv.ColPurchaseDate: "2024-05-01", assetcsv.ColFixedAssetRef: "FA-1", assetcsv.ColNotes: "two\nlines",
		assetcsv.ColTags: "fleet;eu",
	}
	var row assetcsv.Row
	for _, f := range assetcsv.Fields() {
		v, ok := values[f.Name]
		if !ok {
			t.Fatalf("no test value for field %s", f.Name)
		}
		f.Set(&row, v)
	}
	buf.Reset()
	if err := assetcsv.Write(&buf, []assetcsv.Row{row}); err != nil {
		t.Fatal(err)
	}
	rows, errs, err := assetcsv.Read(&buf, assetcsv.Options{})
	if err != nil || len(errs) > 0 || len(rows) != 1 {
		t.Fatalf("Read = %v, %v, %v", rows, errs, err)
	}
	var copied assetcsv.Row
	for _, f := range assetcsv.Fields() {
		f.Copy(&copied, &rows[0])
		if got := f.Get(&rows[0]); got != values[f.Name] {
			t.Errorf("%s read back as %q, want %q", f.Name, got, values[f.Name])
		}
		if got := f.Get(&copied); got != values[f.Name] {
			t.Errorf("%s copied as %q, want %q", f.Name, got, values[f.Name])
		}
	}
	if row.Serial == "" || row.Serial == row.SerialRaw {
		t.Errorf("Set kept serial %q as normalised %q, want identity.Serial of it", row.SerialRaw, row.Serial)
	}
}
