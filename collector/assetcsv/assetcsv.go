// Package assetcsv reads and writes the fixed-asset register as CSV, the
// form finance and IT keep it in: one asset per row, identified by its asset
// tag. Read is forgiving about how the file was produced (UTF-8 with or
// without a BOM, ',' or ';' as separator as European Excel writes it, CRLF,
// quoted fields with separators or line breaks, blank lines, header names in
// any case and spacing, other header names mapped by the caller) and strict
// about what it says: every row is validated and every problem is reported
// with the file's line number, not just the first. It does no I/O besides
// the reader and writer it is given; the registry applies the rows.
//
// Default header names, in export order: asset_tag, serial, type, model,
// owner, owner_email, classification, location, status, purchase_date,
// fixed_asset_ref, notes, tags. Only asset_tag is required; a column that
// is absent is not in Row.Columns (the registry leaves that field alone),
// an empty cell is "" (the registry clears it).
//
// Values: type, classification and status in any case with spaces or
// hyphens ("In Service"); purchase_date as YYYY-MM-DD only (see ParseDate);
// owner_email a bare address; tags separated by ';' or '|'; serial kept as
// written in SerialRaw and normalised with shared/identity in Serial. Asset
// tags and normalised serials must be unique within the file, compared
// case-insensitively. Cells are trimmed and at most MaxField bytes; only
// notes may hold line breaks (normalised to LF) or other control characters.
//
// Write guards against spreadsheet formula injection: a cell that starts
// with = + - @ (after any leading ') gets one more leading ', and Read
// removes it again, so Write's output reads back to the same rows.
package assetcsv

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// Column names: the Name of each of Fields.
const (
	ColAssetTag       = "asset_tag"
	ColSerial         = "serial"
	ColType           = "type"
	ColModel          = "model"
	ColOwner          = "owner"
	ColOwnerEmail     = "owner_email"
	ColClassification = "classification"
	ColLocation       = "location"
	ColStatus         = "status"
	ColPurchaseDate   = "purchase_date"
	ColFixedAssetRef  = "fixed_asset_ref"
	ColNotes          = "notes"
	ColTags           = "tags"
	// Ignore as a Map target drops a column.
	Ignore = "-"
)

// MaxField is the longest cell accepted, in bytes.
const MaxField = 4096

// Columns returns the column names in export order.
func Columns() []string {
	cols := make([]string, len(fields))
	for i := range fields {
		cols[i] = fields[i].Name
	}
	return cols
}

// Row is one asset as the register states it.
type Row struct {
	Line           int    // physical line where the record starts (1-based)
	AssetTag       string // as written, trimmed
	Serial         string // identity.Serial(SerialRaw): "" for placeholders
	SerialRaw      string
	Type           string
	Model          string
	Owner          string
	OwnerEmail     string
	Classification string
	Location       string
	Status         string
	PurchaseDate   string // YYYY-MM-DD
	FixedAssetRef  string
	Notes          string
	Tags           []string
	// Columns lists the columns the file has, in Columns() order. All rows
	// of one Read share this slice: do not modify it.
	Columns []string
}

// RowError is a problem with one row (or one cell of it).
type RowError struct {
	Line    int
	Column  string // "" when about the whole row
	Message string // says what is wrong and, where it helps, what is wanted
}

func (e RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Message) }

// Options tune Read.
type Options struct {
	// Map maps header names found in the file to column names, or to
	// Ignore. Keys match like headers do (case, spaces, hyphens ignored).
	Map map[string]string
}

// ParseMap parses a --map value, "Tag=asset_tag,Serial No=serial,Cost=-",
// into an Options.Map. Targets are checked by Read.
func ParseMap(s string) (map[string]string, error) {
	m := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		from, to, ok := strings.Cut(pair, "=")
		from, to = strings.TrimSpace(from), strings.TrimSpace(to)
		if !ok || from == "" || to == "" {
			return nil, fmt.Errorf("column map %q: want HEADER=column", pair)
		}
		m[from] = to
	}
	return m, nil
}

// Read parses a register. It returns the valid rows, one RowError per
// problem found in the others (rows with errors are left out of rows), and
// an error when the file as a whole cannot be read: no header, unknown or
// repeated columns, no asset_tag column, broken quoting, or a read error.
func Read(r io.Reader, opt Options) ([]Row, []RowError, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\uFEFF")) {
		_, _ = br.Discard(3)
	}
	head, err := br.Peek(br.Size())
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, nil, fmt.Errorf("read asset csv: %w", err)
	}
	cr := csv.NewReader(br)
	cr.Comma = separator(head)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true

	var header []string
	for header == nil {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil, nil, errors.New("read asset csv: empty file, want a header line")
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read asset csv header: %w", err)
		}
		if !blank(rec) {
			header = slices.Clone(rec)
		}
	}
	if !utf8.ValidString(strings.Join(header, "")) {
		return nil, nil, errors.New("read asset csv header: not valid UTF-8 (save the file as CSV UTF-8)")
	}
	cols, present, err := resolve(header, opt.Map)
	if err != nil {
		return nil, nil, err
	}
	fs := make([]Field, len(cols))
	for i, c := range cols {
		fs[i], _ = Lookup(c)
	}

	var (
		rows    []Row
		errs    []RowError
		tags    = map[string]int{} // upper-cased tag → line
		serials = map[string]int{}
	)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errs, fmt.Errorf("read asset csv: %w", err)
		}
		if blank(rec) {
			continue
		}
		line, _ := cr.FieldPos(0)
		row, rowErrs := parseRow(rec, cols, fs, line)
		if row.AssetTag != "" {
			key := strings.ToUpper(row.AssetTag)
			if first, dup := tags[key]; dup {
				rowErrs = append(rowErrs, RowError{line, ColAssetTag, fmt.Sprintf("asset_tag %q is already on line %d", row.AssetTag, first)})
			} else {
				tags[key] = line
			}
		}
		if row.Serial != "" {
			if first, dup := serials[row.Serial]; dup {
				rowErrs = append(rowErrs, RowError{line, ColSerial, fmt.Sprintf("serial %q is already on line %d", row.SerialRaw, first)})
			} else {
				serials[row.Serial] = line
			}
		}
		if len(rowErrs) > 0 {
			errs = append(errs, rowErrs...)
			continue
		}
		row.Columns = present
		rows = append(rows, row)
	}
	return rows, errs, nil
}

// separator picks ';' when the header line has more of them than commas,
// counting only outside quotes.
func separator(head []byte) rune {
	commas, semis, quoted := 0, 0, false
	for i, c := range head {
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == ',':
			commas++
		case c == ';':
			semis++
		case c == '\n':
			if commas+semis > 0 || strings.TrimSpace(string(head[:i])) != "" {
				return pick(commas, semis)
			}
		}
	}
	return pick(commas, semis)
}

func pick(commas, semis int) rune {
	if semis > commas {
		return ';'
	}
	return ','
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// resolve maps each header cell to a column ("" for a nameless column,
// Ignore for a dropped one) and returns the columns present in Columns()
// order.
func resolve(header []string, m map[string]string) ([]string, []string, error) {
	known := Columns()
	cmap := make(map[string]string, len(m))
	for from, to := range m {
		if to != Ignore {
			to = canonical(to)
		}
		if to != Ignore && !slices.Contains(known, to) {
			return nil, nil, fmt.Errorf("column map %s=%s: unknown column %q (known: %s, or %q to ignore)", from, to, to, strings.Join(known, ", "), Ignore)
		}
		cmap[canonical(from)] = to
	}
	cols := make([]string, len(header))
	seen := map[string]string{} // column → header cell that gave it
	var unknown []string
	for i, h := range header {
		name := canonical(strings.TrimPrefix(h, "\uFEFF"))
		col, mapped := cmap[name]
		switch {
		case mapped:
		case slices.Contains(known, name):
			col = name
		case name == "":
			col = "" // nameless: its cells must stay empty (parseRow)
		default:
			unknown = append(unknown, fmt.Sprintf("%q", strings.TrimSpace(h)))
			continue
		}
		cols[i] = col
		if col == "" || col == Ignore {
			continue
		}
		if other, dup := seen[col]; dup {
			return nil, nil, fmt.Errorf("read asset csv header: columns %q and %q both give %s", other, strings.TrimSpace(h), col)
		}
		seen[col] = strings.TrimSpace(h)
	}
	if len(unknown) > 0 {
		return nil, nil, fmt.Errorf("read asset csv header: unknown columns %s: map each to a column (known: %s) or to %q to ignore it",
			strings.Join(unknown, ", "), strings.Join(known, ", "), Ignore)
	}
	if _, ok := seen[ColAssetTag]; !ok {
		return nil, nil, fmt.Errorf("read asset csv header: no %s column (header: %s)", ColAssetTag, strings.Join(header, ", "))
	}
	var present []string
	for _, c := range known {
		if _, ok := seen[c]; ok {
			present = append(present, c)
		}
	}
	return cols, present, nil
}

// parseRow validates one record. rec is reused by the csv reader: values
// are copied out by the string operations below before it changes.
// fs[i] is the field of cols[i] (zero for a nameless or ignored column).
func parseRow(rec, cols []string, fs []Field, line int) (Row, []RowError) {
	row := Row{Line: line}
	var errs []RowError
	fail := func(col, format string, args ...any) {
		errs = append(errs, RowError{line, col, fmt.Sprintf(format, args...)})
	}
	// Short rows are fine when only nameless trailing columns are missing.
	if len(rec) < len(cols) && slices.ContainsFunc(cols[len(rec):], func(c string) bool { return c != "" }) {
		fail("", "%d fields, the header has %d (a missing separator?)", len(rec), len(cols))
		return row, errs
	}
	for i := len(cols); i < len(rec); i++ {
		if strings.TrimSpace(rec[i]) != "" {
			fail("", "%d fields, the header has %d: value %q past the last column", len(rec), len(cols), clip(rec[i]))
			return row, errs
		}
	}
	for i, col := range cols[:min(len(cols), len(rec))] {
		v := strings.TrimSpace(rec[i])
		if col == Ignore || v == "" {
			continue
		}
		if col == "" {
			fail("", "value %q in column %d, which has no header name", clip(v), i+1)
			continue
		}
		if !utf8.ValidString(v) {
			fail(col, "%s is not valid UTF-8 (save the file as CSV UTF-8)", col)
			continue
		}
		// csv turns a quoted CRLF into LF but keeps a lone CR: Clean
		// makes notes' line breaks one kind.
		v, err := fs[i].Clean(v)
		if err != nil {
			fail(col, "%v", err)
			continue
		}
		if v, err = fs[i].Parse(unguard(v)); err != nil {
			fail(col, "%v", err)
			continue
		}
		fs[i].Set(&row, v)
	}
	if row.AssetTag == "" && !slices.ContainsFunc(errs, func(e RowError) bool { return e.Column == ColAssetTag }) {
		fail(ColAssetTag, "asset_tag is empty")
	}
	return row, errs
}

// clip shortens a value quoted in an error.
func clip(s string) string {
	if len(s) <= 40 {
		return strings.ToValidUTF8(s, "")
	}
	return strings.ToValidUTF8(s[:40], "") + "…"
}

// needsGuard reports whether a spreadsheet would read v, once any leading
// quotes are removed, as a formula.
func needsGuard(v string) bool {
	v = strings.TrimLeft(v, "'")
	return v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0]))
}

// Guard is what Write does to every cell: a value a spreadsheet would run
// as a formula gets a leading quote. Other CSV writers (the evidence
// bundle) use it so a spreadsheet reads their cells the same way.
func Guard(v string) string { return guard(v) }

func guard(v string) string {
	if needsGuard(v) {
		return "'" + v
	}
	return v
}

func unguard(v string) string {
	if strings.HasPrefix(v, "'") && needsGuard(v) {
		return v[1:]
	}
	return v
}

// Write writes rows with the default header, ',' separated, each cell as
// its Field's Get gives it: tags joined with ';', the serial as written
// (SerialRaw, else Serial).
func Write(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Columns()); err != nil {
		return fmt.Errorf("write asset csv: %w", err)
	}
	rec := make([]string, len(Columns()))
	for _, r := range rows {
		for i := range fields {
			rec[i] = guard(fields[i].Get(&r))
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write asset csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write asset csv: %w", err)
	}
	return nil
}
