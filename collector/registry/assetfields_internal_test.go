package registry

import (
	"bytes"
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/assetcsv"
)

// The asset field table, the assets table the migrations create, the CSV
// header export writes and the API's AssetInput agree, so a field cannot
// be added in one place only.
func TestAssetFieldTableMatchesSchema(t *testing.T) {
	ctx := context.Background()
	r := OpenTestStore(t, NewTestStore(t))
	query := `SELECT name FROM pragma_table_info('assets')`
	if r.Engine() == EnginePostgres {
		query = `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'assets'`
	}
	rows, err := r.db.QueryContext(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		got = append(got, c)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"id", "created_at", "updated_at"}
	want = append(want, derivedCols[:]...)
	for _, f := range assetcsv.Fields() {
		want = append(want, f.Column)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("assets columns = %v, want the field table's, derived and bookkeeping columns %v", got, want)
	}

	// An asset with every field set, through the API's input, read back
	// by export: the header is the table's names and every value comes
	// back as given.
	values := map[string]string{
		assetcsv.ColAssetTag: "LAP-9", assetcsv.ColSerial: "PF0ABC12", assetcsv.ColType: "laptop",
		assetcsv.ColModel: "T14", assetcsv.ColOwner: "Ann", assetcsv.ColOwnerEmail: "ann@example.com",
		assetcsv.ColClassification: "internal", assetcsv.ColLocation: "Berlin", assetcsv.ColStatus: "in_service",
		assetcsv.ColPurchaseDate: "2024-05-01", assetcsv.ColFixedAssetRef: "FA-9", assetcsv.ColNotes: "two\nlines",
		assetcsv.ColTags: "fleet;eu",
	}
	var in AssetInput
	given := in.given()
	for _, f := range assetcsv.Fields() {
		v, ok := values[f.Name]
		if !ok {
			t.Fatalf("no test value for field %s", f.Name)
		}
		p := reflect.New(given[f.Name].Type().Elem())
		if f.List {
			p.Elem().Set(reflect.ValueOf(strings.Split(v, ";")))
		} else {
			p.Elem().SetString(v)
		}
		given[f.Name].Set(p)
	}
	if _, err := r.AddAsset(ctx, in, Actor{Name: "test"}, time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	exported, err := r.ExportAssets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := assetcsv.Write(&buf, exported); err != nil {
		t.Fatal(err)
	}
	header, _, _ := strings.Cut(buf.String(), "\n")
	if want := strings.Join(assetcsv.Columns(), ","); header != want {
		t.Errorf("export header = %q, want %q", header, want)
	}
	if len(exported) != 1 {
		t.Fatalf("exported %d rows, want 1", len(exported))
	}
	for _, f := range assetcsv.Fields() {
		if got := f.Get(&exported[0]); got != values[f.Name] {
			t.Errorf("%s exported as %q, want %q", f.Name, got, values[f.Name])
		}
	}
}

// AssetInput has one pointer per field of the table, in its order, under
// the field's name: a string, or a list of strings for a List field.
func TestAssetInputFollowsTable(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeFor[AssetInput]()
	fields := assetcsv.Fields()
	if typ.NumField() != len(fields) {
		t.Fatalf("AssetInput has %d fields, the table %d", typ.NumField(), len(fields))
	}
	for i, f := range fields {
		sf := typ.Field(i)
		if name, _, _ := strings.Cut(sf.Tag.Get("json"), ","); name != f.Name {
			t.Errorf("AssetInput field %d is %q, want %q", i, name, f.Name)
		}
		want := reflect.TypeFor[*string]()
		if f.List {
			want = reflect.TypeFor[*[]string]()
		}
		if sf.Type != want {
			t.Errorf("AssetInput.%s is %v, want %v", sf.Name, sf.Type, want)
		}
	}
}

// Compliance loads exactly the columns of the fields the table marks as
// read by compliance, so complianceReads re-evaluates on the right changes.
func TestComplianceReadsTableFields(t *testing.T) {
	t.Parallel()
	var got, want []string
	for _, c := range strings.Split(assetCols, ",") {
		got = append(got, strings.TrimPrefix(strings.TrimSpace(c), "a."))
	}
	for _, f := range assetcsv.Fields() {
		if f.Compliance {
			want = append(want, f.Column)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("assetCols loads %v, the table marks %v", got, want)
	}
}
