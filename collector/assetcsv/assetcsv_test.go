package assetcsv_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/rosterhq/roster/collector/assetcsv"
)

const header = "asset_tag,serial,type,model,owner,owner_email,classification,location,status,purchase_date,fixed_asset_ref,notes,tags\n"

// all is Row.Columns for a file with every column.
var all = assetcsv.Columns()

func TestRead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		opt      assetcsv.Options
		want     []assetcsv.Row
		wantErrs []string
	}{
		{
			name: "comma, every column, values normalised",
			in: header +
				"ACME-0001, c02xk0abjg5h ,Laptop,MacBook Pro 14,Ada Lovelace,ada@Example.COM,Confidential,Berlin HQ,In Service,2024-03-01 00:00:00,FA-2024-118,,dev;mac|dev\n" +
				"ACME-0002,,vm,,Platform team,,internal,,in-stock,,,spare,\n",
			want: []assetcsv.Row{
				{Line: 2, AssetTag: "ACME-0001", Serial: "C02XK0ABJG5H", SerialRaw: "c02xk0abjg5h", Type: "laptop", Model: "MacBook Pro 14",
					Owner: "Ada Lovelace", OwnerEmail: "ada@example.com", Classification: "confidential", Location: "Berlin HQ",
					Status: "in_service", PurchaseDate: "2024-03-01", FixedAssetRef: "FA-2024-118", Tags: []string{"dev", "mac"}, Columns: all},
				{Line: 3, AssetTag: "ACME-0002", Type: "vm", Owner: "Platform team", Classification: "internal", Status: "in_stock", Notes: "spare", Columns: all},
			},
		},
		{
			name: "European Excel: BOM, semicolons, CRLF, decimal commas",
			in: "\uFEFFasset_tag;serial;owner;location;notes\r\n" +
				"DE-001;PF3ABC12;\"Müller; Hans\";München;Wert 1.234,56 €\r\n" +
				"DE-002;PF3ABC13;Schmidt, Eva;Köln;\r\n",
			want: []assetcsv.Row{
				{Line: 2, AssetTag: "DE-001", Serial: "PF3ABC12", SerialRaw: "PF3ABC12", Owner: "Müller; Hans", Location: "München", Notes: "Wert 1.234,56 €",
					Columns: []string{"asset_tag", "serial", "owner", "location", "notes"}},
				{Line: 3, AssetTag: "DE-002", Serial: "PF3ABC13", SerialRaw: "PF3ABC13", Owner: "Schmidt, Eva", Location: "Köln",
					Columns: []string{"asset_tag", "serial", "owner", "location", "notes"}},
			},
		},
		{
			name: "quoted commas and line breaks keep later line numbers right",
			in: "asset_tag,notes,location\r\n" +
				"A-1,\"screen cracked, keyboard ok\",Paris\r\n" +
				"A-2,\"returned by courier\r\nsee ticket HR-123\r\nwipe pending\",Lyon\r\n" +
				"A-3, \"quoted after a space\",Nice\r\n",
			want: []assetcsv.Row{
				{Line: 2, AssetTag: "A-1", Notes: "screen cracked, keyboard ok", Location: "Paris", Columns: []string{"asset_tag", "location", "notes"}},
				{Line: 3, AssetTag: "A-2", Notes: "returned by courier\nsee ticket HR-123\nwipe pending", Location: "Lyon", Columns: []string{"asset_tag", "location", "notes"}},
				{Line: 6, AssetTag: "A-3", Notes: "quoted after a space", Location: "Nice", Columns: []string{"asset_tag", "location", "notes"}},
			},
		},
		{
			name: "blank lines, separator-only lines and trailing empty columns skipped",
			in:   "\n\nasset_tag,type,,\n\nA-1,laptop,,\n,,,\n   \nA-2,desktop\n\n",
			want: []assetcsv.Row{
				{Line: 5, AssetTag: "A-1", Type: "laptop", Columns: []string{"asset_tag", "type"}},
				{Line: 8, AssetTag: "A-2", Type: "desktop", Columns: []string{"asset_tag", "type"}},
			},
		},
		{
			name: "header names in any case and spacing",
			in:   " Asset Tag ,SERIAL,Owner-Email,Fixed  Asset Ref,Purchase_Date\nT1,SN1,bob@example.org,FA1,2023-12-31\n",
			want: []assetcsv.Row{{Line: 2, AssetTag: "T1", Serial: "SN1", SerialRaw: "SN1", OwnerEmail: "bob@example.org", FixedAssetRef: "FA1", PurchaseDate: "2023-12-31",
				Columns: []string{"asset_tag", "serial", "owner_email", "purchase_date", "fixed_asset_ref"}}},
		},
		{
			name: "mapped and ignored headers",
			in:   "Inventarnummer;Serial No;Kostenstelle;Standort\nINV-7;XYZ-1;4711;Hamburg\n",
			opt:  assetcsv.Options{Map: map[string]string{"inventarnummer": "Asset Tag", "SERIAL NO": "serial", "Kostenstelle": "-", "standort": "location"}},
			want: []assetcsv.Row{{Line: 2, AssetTag: "INV-7", Serial: "XYZ-1", SerialRaw: "XYZ-1", Location: "Hamburg", Columns: []string{"asset_tag", "serial", "location"}}},
		},
		{
			name: "placeholder serials are kept raw and do not collide",
			in:   "asset_tag,serial\nV-1,To be filled by O.E.M.\nV-2,to be filled by o.e.m.\nV-3,0000000000\n",
			want: []assetcsv.Row{
				{Line: 2, AssetTag: "V-1", SerialRaw: "To be filled by O.E.M.", Columns: []string{"asset_tag", "serial"}},
				{Line: 3, AssetTag: "V-2", SerialRaw: "to be filled by o.e.m.", Columns: []string{"asset_tag", "serial"}},
				{Line: 4, AssetTag: "V-3", SerialRaw: "0000000000", Columns: []string{"asset_tag", "serial"}},
			},
		},
		{
			name: "every bad row reported with its line, good rows kept",
			in: "asset_tag,serial,type,owner_email,classification,status,purchase_date\n" +
				"OK-1,S1,laptop,a@example.com,public,ordered,2024-01-31\n" + // 2
				"ok-1,S2,laptop,,,,\n" + // 3: duplicate tag, other case
				"B-1,S3,tablet,,,,\n" + // 4
				"B-2,S4,,bob@,,,\n" + // 5
				"B-3,S5,,Bob <bob@example.com>,,,\n" + // 6
				"B-4,S6,,bob@localhost,,,\n" + // 7
				"B-5,S7,,,secret,,\n" + // 8
				"B-6,S8,,,,lost,\n" + // 9
				"B-7,S9,,,,,03/04/2024\n" + // 10
				"B-8,S10,,,,,2024-02-30\n" + // 11
				",S11,laptop,,,,\n" + // 12
				"B-9,s1,,,,,\n" + // 13: duplicate serial once normalised
				"B-10,S12\n" + // 14
				"B-11,S13,,,,,,extra\n" + // 15
				"B-12,S14,desk top,x@y.z,,,31.12.2023\n" + // 16: two errors on one row
				"OK-2,S15,server,,,,2024-02-29\n", // 17
			want: []assetcsv.Row{
				{Line: 2, AssetTag: "OK-1", Serial: "S1", SerialRaw: "S1", Type: "laptop", OwnerEmail: "a@example.com", Classification: "public", Status: "ordered", PurchaseDate: "2024-01-31",
					Columns: []string{"asset_tag", "serial", "type", "owner_email", "classification", "status", "purchase_date"}},
				{Line: 17, AssetTag: "OK-2", Serial: "S15", SerialRaw: "S15", Type: "server", PurchaseDate: "2024-02-29",
					Columns: []string{"asset_tag", "serial", "type", "owner_email", "classification", "status", "purchase_date"}},
			},
			wantErrs: []string{
				`line 3: asset_tag "ok-1" is already on line 2`,
				`line 4: type "tablet": want one of laptop, desktop, server, vm, other`,
				`line 5: owner_email "bob@": not a valid email address (want name@example.com)`,
				`line 6: owner_email "Bob <bob@example.com>": not a valid email address (want name@example.com)`,
				`line 7: owner_email "bob@localhost": domain "localhost" is not a full domain name`,
				`line 8: classification "secret": want one of confidential, internal, public`,
				`line 9: status "lost": want one of ordered, in_stock, in_service, in_repair, offboarding, decommissioned, disposed`,
				`line 10: purchase_date "03/04/2024": write dates as YYYY-MM-DD (day and month order is ambiguous)`,
				`line 11: purchase_date "2024-02-30": not a date, want YYYY-MM-DD`,
				`line 12: asset_tag is empty`,
				`line 13: serial "s1" is already on line 2`,
				`line 14: 2 fields, the header has 7 (a missing separator?)`,
				`line 15: 8 fields, the header has 7: value "extra" past the last column`,
				`line 16: type "desk top": want one of laptop, desktop, server, vm, other`,
				`line 16: purchase_date "31.12.2023": write dates as YYYY-MM-DD (day and month order is ambiguous)`,
			},
		},
		{
			name: "cells that are not UTF-8, too long, multi-line where they must not be, or under no header",
			in:   "asset_tag,notes,\nX-1,caf\xe9,\nX-2," + strings.Repeat("n", assetcsv.MaxField+1) + ",\nX-3,,stray\n\"X-4\r\r\nB\",,\nX-5,\"ok\r\r\nin\rnotes\",\n",
			want: []assetcsv.Row{{Line: 7, AssetTag: "X-5", Notes: "ok\nin\nnotes", Columns: []string{"asset_tag", "notes"}}},
			wantErrs: []string{
				`line 2: notes is not valid UTF-8 (save the file as CSV UTF-8)`,
				`line 3: notes is 4097 bytes long, at most 4096 allowed`,
				`line 4: value "stray" in column 3, which has no header name`,
				`line 5: asset_tag: line break U+000D at position 4 is not allowed`,
			},
		},
		{
			name: "control and bidirectional characters, refused by fieldtext's rule with where they are",
			in: "asset_tag,model,owner,location,notes,tags\n" +
				"C-1,ThinkPad\x1b[2J,,,,\n" +
				"C-2,,\u202eecilA,,,\n" +
				"C-3,,,Room\t4,,\n" +
				"C-4,,,,\"line one\n\tindented\",\n" +
				"C-5,,,,\"ok\nthen\x00\",\n" +
				"C-6,,,,,a;b\u009b\n",
			want: []assetcsv.Row{{Line: 5, AssetTag: "C-4", Notes: "line one\n\tindented", Columns: []string{"asset_tag", "model", "owner", "location", "notes", "tags"}}},
			wantErrs: []string{
				`line 2: model: control character U+001B at position 9 is not allowed`,
				`line 3: owner: bidirectional control U+202E at position 1 is not allowed`,
				`line 4: location: tab U+0009 at position 5 is not allowed`,
				`line 7: notes: control character U+0000 at position 8 is not allowed`,
				`line 9: tags: control character U+009B at position 4 is not allowed`,
			},
		},
		{
			name: "formula guard removed on read",
			in:   "asset_tag,notes,owner\n'-5,\"'=HYPERLINK(\"\"x\"\")\",'plain\n",
			want: []assetcsv.Row{{Line: 2, AssetTag: "-5", Notes: `=HYPERLINK("x")`, Owner: "'plain", Columns: []string{"asset_tag", "owner", "notes"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows, rowErrs, err := assetcsv.Read(strings.NewReader(tt.in), tt.opt)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if diff := cmp.Diff(tt.want, rows, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			var got []string
			for _, e := range rowErrs {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.wantErrs, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("row errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadFileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		opt  assetcsv.Options
		want string
	}{
		{"empty", "", assetcsv.Options{}, "empty file, want a header line"},
		{"only blank lines", "\r\n\n ,, \n", assetcsv.Options{}, "empty file, want a header line"},
		{"only a BOM", "\uFEFF", assetcsv.Options{}, "empty file, want a header line"},
		{"unknown columns listed", "asset_tag,Serial No,Cost Centre,owner\n", assetcsv.Options{},
			`unknown columns "Serial No", "Cost Centre": map each to a column (known: asset_tag, serial, type, model, owner, owner_email, classification, location, status, purchase_date, fixed_asset_ref, notes, tags) or to "-" to ignore it`},
		{"two headers for one column", "Tag,asset_tag\n", assetcsv.Options{Map: map[string]string{"tag": "asset_tag"}}, `columns "Tag" and "asset_tag" both give asset_tag`},
		{"no asset_tag", "serial;owner\nS1;bob\n", assetcsv.Options{}, "no asset_tag column (header: serial, owner)"},
		{"map to an unknown column", "Tag\n", assetcsv.Options{Map: map[string]string{"Tag": "assettag"}}, `column map Tag=assettag: unknown column "assettag"`},
		{"broken quotes", "asset_tag,notes\nA-1,\"unterminated\nA-2,x\n", assetcsv.Options{}, "read asset csv: record on line 2; parse error on line 3, column 7: extraneous or missing \" in quoted-field"},
		{"bare quote", "asset_tag,notes\nA-1,15\" screen\n", assetcsv.Options{}, `parse error on line 2, column 7: bare " in non-quoted-field`},
		{"Latin-1 header", "asset_tag,num\xe9ro\n", assetcsv.Options{}, "header: not valid UTF-8 (save the file as CSV UTF-8)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := assetcsv.Read(strings.NewReader(tt.in), tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseMap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    map[string]string
		wantErr bool
	}{
		{"Tag=asset_tag,Serial No=serial", map[string]string{"Tag": "asset_tag", "Serial No": "serial"}, false},
		{" Cost = - ,, ", map[string]string{"Cost": "-"}, false},
		{"", map[string]string{}, false},
		{"Tag", nil, true},
		{"=serial", nil, true},
		{"Tag=", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := assetcsv.ParseMap(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	t.Parallel()
	rows := []assetcsv.Row{
		{AssetTag: "ACME-0001", Serial: "C02XK0ABJG5H", SerialRaw: "c02xk0abjg5h", Type: "laptop", Model: "MacBook Pro 14", Owner: "Müller; Hans",
			OwnerEmail: "hans@example.com", Classification: "confidential", Location: "Berlin, HQ", Status: "in_service", PurchaseDate: "2024-03-01",
			FixedAssetRef: "FA-1", Notes: "line one\nline \"two\"", Tags: []string{"dev", "mac"}},
		{AssetTag: "-5", Serial: "S2", Notes: `=HYPERLINK("http://evil.example/","click")`, Owner: "@team", Model: "+1", Location: "'=quoted", Tags: []string{"=x", "y"}},
		{AssetTag: "V-1", SerialRaw: "To be filled by O.E.M.", Status: "disposed"},
	}
	var buf bytes.Buffer
	if err := assetcsv.Write(&buf, rows); err != nil {
		t.Fatal(err)
	}
	// Formula-looking cells are defused for spreadsheets.
	recs, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantRec := []string{`'-5`, "S2", "", `'+1`, `'@team`, "", "", `''=quoted`, "", "", "", `'=HYPERLINK("http://evil.example/","click")`, `'=x;y`}
	if diff := cmp.Diff(wantRec, recs[2]); diff != "" {
		t.Errorf("guarded record (-want +got):\n%s", diff)
	}
	got, rowErrs, err := assetcsv.Read(&buf, assetcsv.Options{})
	if err != nil || len(rowErrs) > 0 {
		t.Fatalf("Read: %v %v", err, rowErrs)
	}
	want := []assetcsv.Row{rows[0], rows[1], rows[2]}
	want[1].SerialRaw = "S2" // Write prefers the raw serial and falls back to Serial
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(assetcsv.Row{}, "Line", "Columns"), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func FuzzRead(f *testing.F) {
	f.Add(header + "A-1,SN,laptop,m,o,o@example.com,public,l,in_service,2024-01-01,fa,n,a;b\n")
	f.Add("\uFEFFasset_tag;serial;notes\r\nA;\"x;\r\ny\";'=1\r\n\r\n;;\r\n")
	f.Add("asset_tag,notes,\n\"a,b\",\"c\"\"d\",\n")
	f.Add("Asset Tag,Tags\nx,|;|\nX,a\n")
	f.Fuzz(func(t *testing.T, in string) {
		rows, rowErrs, err := assetcsv.Read(strings.NewReader(in), assetcsv.Options{})
		if err != nil {
			return
		}
		for _, e := range rowErrs {
			if e.Line < 1 || e.Message == "" {
				t.Fatalf("row error without line or message: %+v", e)
			}
		}
		seen := map[string]bool{}
		for _, r := range rows {
			key := strings.ToUpper(r.AssetTag)
			if r.Line < 1 || r.AssetTag == "" || seen[key] {
				t.Fatalf("bad row (line, empty or repeated tag): %+v", r)
			}
			seen[key] = true
		}
		// What Read accepts, Write writes and Read reads back the same.
		var buf bytes.Buffer
		if err := assetcsv.Write(&buf, rows); err != nil {
			t.Fatal(err)
		}
		again, againErrs, err := assetcsv.Read(&buf, assetcsv.Options{})
		if err != nil || len(againErrs) > 0 {
			t.Fatalf("re-read written rows: %v %v\n%q", err, againErrs, buf.String())
		}
		if diff := cmp.Diff(rows, again, cmpopts.IgnoreFields(assetcsv.Row{}, "Line", "Columns"), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-read +re-read):\n%s", diff)
		}
	})
}

func BenchmarkRead100k(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString(header)
	for i := range 100_000 {
		fmt.Fprintf(&buf, "ACME-%06d,C02X%08d,laptop,\"MacBook Pro 14, M3\",Owner %d,owner%d@example.com,internal,Berlin,in_service,2024-03-01,FA-%d,\"note, with comma\",dev;mac\n", i, i, i, i, i)
	}
	in := buf.Bytes()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		rows, rowErrs, err := assetcsv.Read(bytes.NewReader(in), assetcsv.Options{})
		if err != nil || len(rowErrs) > 0 || len(rows) != 100_000 {
			b.Fatalf("got %d rows, %d row errors, %v", len(rows), len(rowErrs), err)
		}
	}
}
