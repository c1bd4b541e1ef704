package wire

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestAppendPackageJSONIsMarshal: every package of the captured hosts,
// and strings with each character class Marshal escapes, encode to
// Marshal's bytes exactly. A byte of difference would change every
// second-form hash taken from the encoding.
func TestAppendPackageJSONIsMarshal(t *testing.T) {
	t.Parallel()
	var pkgs []Package
	for _, s := range goldenSnapshots(t) {
		if s.Software != nil {
			pkgs = append(pkgs, s.Software.Packages...)
		}
	}
	if len(pkgs) < 1000 {
		t.Fatalf("only %d captured packages: the hosts' golden snapshots are missing", len(pkgs))
	}
	dated := 0
	for _, p := range pkgs {
		if p.InstallDate != nil {
			dated++
		}
	}
	if dated == 0 {
		t.Fatal("no captured package carries an install date")
	}
	date := time.Date(2026, 12, 8, 1, 2, 3, 456000000, time.FixedZone("", -5*3600-30*60))
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "tab\tnew\nline\rcr\bbs\fff",
		"\x00\x01\x1f\x7f", "caf\u00e9 \u65e5\u672c \U0001F600", "line\u2028para\u2029", "bad \xff\xfe utf-8 \xc3",
		"C:\\Program Files\\Vendor", "/Applications/Foo.app",
	} {
		pkgs = append(pkgs, Package{Name: s, Version: s, Arch: s, Source: s, Publisher: s, Location: s},
			Package{Name: s, Source: "msi", Publisher: s, InstallDate: &date})
	}
	for i := range pkgs {
		want, err := json.Marshal(&pkgs[i])
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendPackageJSON([]byte("prefix"), &pkgs[i])
		if err != nil {
			t.Fatalf("%+v: %v", pkgs[i], err)
		}
		if !bytes.Equal(got[len("prefix"):], want) || string(got[:len("prefix")]) != "prefix" {
			t.Fatalf("package %d:\n got %s\nwant prefix%s", i, got, want)
		}
	}
}

// TestAppendPackageJSONRefusesWhatMarshalRefuses: a date Marshal cannot
// write (year past 9999) is an error here too, and nothing is appended.
func TestAppendPackageJSONRefusesWhatMarshalRefuses(t *testing.T) {
	t.Parallel()
	late := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	p := Package{Name: "x", Source: "deb", InstallDate: &late}
	if _, err := json.Marshal(&p); err == nil {
		t.Fatal("Marshal wrote a year past 9999; the test's premise is gone")
	}
	got, err := AppendPackageJSON([]byte("kept"), &p)
	if err == nil || string(got) != "kept" {
		t.Fatalf("got %q, %v; want the error and dst unchanged", got, err)
	}
}

// FuzzAppendPackageJSON holds the encoder to Marshal for arbitrary fields
// and dates: the same bytes, or an error from both.
func FuzzAppendPackageJSON(f *testing.F) {
	f.Add("bash", "5.2.15-2+b7", "amd64", "deb", "", "", false, int64(0), int64(0), 0)
	f.Add("Go <1.25> & \"more\"", "1\u2028", "", "msi", "Google\tLLC", "C:\\Go\xff", true, int64(1733616000), int64(123456789), -330)
	f.Fuzz(func(t *testing.T, name, version, arch, source, publisher, location string, dated bool, sec, nsec int64, offsetMin int) {
		p := Package{Name: name, Version: version, Arch: arch, Source: source, Publisher: publisher, Location: location}
		if dated {
			d := time.Unix(sec, nsec).In(time.FixedZone("", (offsetMin%(48*60))*60))
			p.InstallDate = &d
		}
		want, werr := json.Marshal(&p)
		got, gerr := AppendPackageJSON(nil, &p)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("Marshal error %v, AppendPackageJSON error %v", werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	})
}

// BenchmarkAppendPackageJSON encodes the captured hosts' packages, against
// Marshal, the cost a full report pays for each of its packages.
func BenchmarkAppendPackageJSON(b *testing.B) {
	var pkgs []Package
	for _, s := range goldenSnapshots(b) {
		if s.Software != nil {
			pkgs = append(pkgs, s.Software.Packages...)
		}
	}
	b.Run("append", func(b *testing.B) {
		var buf []byte
		for i := 0; b.Loop(); i++ {
			buf, _ = AppendPackageJSON(buf[:0], &pkgs[i%len(pkgs)])
		}
	})
	b.Run("marshal", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			_, _ = json.Marshal(&pkgs[i%len(pkgs)])
		}
	})
}
