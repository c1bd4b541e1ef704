package winreg

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/text/encoding/unicode"
)

const fixtures = "../../testdata/fixtures/windows/regedit-export"

// readFixture returns a fixture's bytes, ungzipping the .gz ones (stored
// compressed only to keep the repository small).
func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// loadAll loads every fixture into one tree, as a captured host would.
func loadAll(t *testing.T) Registry {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, n := range []string{
		"wine8-debian12-profilelist.reg",
		"wine8-debian12-hardware-description-system.reg",
		"wine8-debian12-session-manager-environment.reg",
		"wine8-debian12-enum-root-wine.reg",
		"wine8-debian12-windows-nt-currentversion.reg.gz",
	} {
		fsys["registry/"+strings.TrimSuffix(n, ".gz")] = &fstest.MapFile{Data: readFixture(t, n)}
	}
	reg, err := LoadExports(fsys, "registry")
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestLoadExportsValues(t *testing.T) {
	t.Parallel()
	reg := loadAll(t)
	tests := []struct {
		key, value string
		want       Value
	}{
		{`HKLM\Software\Microsoft\Windows NT\CurrentVersion`, "ProductName", Value{Type: TypeString, String: "Microsoft Windows 7"}},
		{`HKEY_LOCAL_MACHINE\SOFTWARE\MICROSOFT\WINDOWS NT\CURRENTVERSION`, "CurrentBuild", Value{Type: TypeString, String: "7601"}},
		{`hklm\software\microsoft\windows nt\currentversion`, "InstallDate", Value{Type: TypeDWORD, Uint: 0x4be5019a}},
		{`HKLM\Software\Microsoft\Windows NT\CurrentVersion`, "SystemRoot", Value{Type: TypeString, String: `C:\windows`}},
		{`HKLM\Software\Microsoft\Windows NT\CurrentVersion\AeDebug`, "Debugger", Value{Type: TypeString, String: "winedbg --auto %ld %ld"}},
		{`HKLM\Software\Microsoft\Windows NT\CurrentVersion\ProfileList`, "ProfilesDirectory", Value{Type: TypeExpandString, String: `C:\users`}},
		{`HKLM\Software\Microsoft\Windows NT\CurrentVersion\ProfileList\S-1-5-21-0-0-0-1000`, "ProfileImagePath", Value{Type: TypeString, String: `C:\users\root`}},
		{`HKLM\Software\Microsoft\Windows NT\CurrentVersion\ProfileList\S-1-5-21-0-0-0-1000`, "Flags", Value{Type: TypeDWORD, Uint: 0}},
		{`HKLM\HARDWARE\DESCRIPTION\System\BIOS`, "BiosMajorRelease", Value{Type: TypeDWORD, Uint: 255}},
		{`HKLM\HARDWARE\DESCRIPTION\System\BIOS`, "SystemManufacturer", Value{Type: TypeString, String: ""}},
		{`HKLM\HARDWARE\DESCRIPTION\System\CentralProcessor\1`, "~MHz", Value{Type: TypeDWORD, Uint: 2596}},
		{`HKLM\HARDWARE\DESCRIPTION\System\CentralProcessor\0`, "ProcessorNameString", Value{Type: TypeString, String: "AMD EPYC"}},
		{`HKLM\System\CurrentControlSet\Control\Session Manager\Environment`, "PATH", Value{Type: TypeExpandString,
			String: `%SystemRoot%\system32;%SystemRoot%;%SystemRoot%\system32\wbem;%SystemRoot%\system32\WindowsPowershell\v1.0`}},
		{`HKLM\System\CurrentControlSet\Control\Session Manager\Environment`, "windir", Value{Type: TypeExpandString, String: `%SystemRoot%`}},
		// Wine writes this REG_MULTI_SZ with an empty string in the middle
		// and no final terminator; both are kept as found.
		{`HKLM\System\CurrentControlSet\Enum\ROOT\WINE\WINEBUS`, "HardwareId", Value{Type: TypeMultiString, Strings: []string{`root\winebus`, "", `C:\windows\inf`}}},
	}
	for _, tt := range tests {
		t.Run(tt.key+"/"+tt.value, func(t *testing.T) {
			t.Parallel()
			vals, err := reg.Values(context.Background(), tt.key)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := Lookup(vals, tt.value)
			if !ok {
				t.Fatalf("value %q missing; have %d values", tt.value, len(vals))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadExportsSubkeys(t *testing.T) {
	t.Parallel()
	reg := loadAll(t)
	ctx := context.Background()
	got, err := reg.Subkeys(ctx, `HKLM\HARDWARE\DESCRIPTION\System`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"BIOS", "CentralProcessor", "FloatingPointProcessor"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	tz, err := reg.Subkeys(ctx, `HKLM\Software\Microsoft\Windows NT\CurrentVersion\Time Zones`)
	if err != nil {
		t.Fatal(err)
	}
	if len(tz) < 100 {
		t.Errorf("got %d time zones, want the 100+ Wine exports", len(tz))
	}
	if _, err := reg.Values(ctx, `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall`); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want fs.ErrNotExist for a key no export has", err)
	}
	if _, err := reg.Values(ctx, `HKXX\Software`); err == nil {
		t.Error("got nil error for an unknown root")
	}
}

// TestParseRegFileUTF8 reads the same real export re-encoded as UTF-8
// with and without a BOM (regedit and reg.exe both produce those).
func TestParseRegFileUTF8(t *testing.T) {
	t.Parallel()
	raw := readFixture(t, "wine8-debian12-profilelist.reg")
	utf8Text, err := unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder().Bytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"utf16le-bom": raw,
		"utf8-bom":    append([]byte{0xef, 0xbb, 0xbf}, utf8Text...),
		"utf8":        utf8Text,
		"utf16le":     raw[2:],
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rf, err := ParseRegFile(b)
			if err != nil {
				t.Fatal(err)
			}
			if rf.Version != 5 || len(rf.Sections) != 2 {
				t.Fatalf("got version %d with %d sections, want 5 with 2", rf.Version, len(rf.Sections))
			}
			if got := rf.Sections[1].Key; got != `HKEY_LOCAL_MACHINE\Software\Microsoft\Windows NT\CurrentVersion\ProfileList\S-1-5-21-0-0-0-1000` {
				t.Errorf("got key %q", got)
			}
			if got := rf.Sections[0].Entries[2].Value.String; got != `C:\users\Public` {
				t.Errorf("got Public %q, want C:\\users\\Public", got)
			}
		})
	}
}

// TestTreeApply checks import semantics (merge, value and key deletion)
// on parsed structures; no real export with deletions exists to test on.
func TestTreeApply(t *testing.T) {
	t.Parallel()
	tr := NewTree()
	tr.Apply(&RegFile{Version: 5, Sections: []Section{
		{Key: `HKLM\SOFTWARE\A\B`, Entries: []Entry{{Name: "x", Value: Value{Type: TypeDWORD, Uint: 1}}, {Name: "", Value: Value{Type: TypeString, String: "def"}}}},
		{Key: `HKEY_LOCAL_MACHINE\software\a\C`},
	}})
	tr.Apply(&RegFile{Version: 5, Sections: []Section{
		{Key: `HKLM\SOFTWARE\A\B`, Entries: []Entry{{Name: "X", Delete: true}}},
		{Key: `HKLM\SOFTWARE\A\C`, Delete: true},
	}})
	ctx := context.Background()
	subs, err := tr.Subkeys(ctx, `HKLM\SOFTWARE\A`)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"B"}, subs); diff != "" {
		t.Errorf("subkeys (-want +got):\n%s", diff)
	}
	vals, err := tr.Values(ctx, `HKLM\SOFTWARE\A\B`)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]Value{"": {Type: TypeString, String: "def"}}, vals); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	if err := ctxErr(tr); err == nil {
		t.Error("got nil error with a cancelled context")
	}
}

func ctxErr(r Registry) error {
	ctx, cancel := context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	_, err := r.Values(ctx, `HKLM`)
	return err
}

func TestParseRegFileErrors(t *testing.T) {
	t.Parallel()
	raw := readFixture(t, "wine8-debian12-hardware-description-system.reg")
	// Cut the real export mid-way through a hex value and mid-string.
	text, err := unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder().Bytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"empty":      {},
		"no header":  text[bytes.IndexByte(text, '['):],
		"cut string": text[:bytes.Index(text, []byte(`"AT compat`))+5],
		"cut header": text[:bytes.Index(text, []byte(`[HKEY_LOCAL_MACHINE\HARDWARE\DESCRIPTION\System\BIOS`))+10],
		"not a reg":  []byte("PK\x03\x04 zip"),
	} {
		if _, err := ParseRegFile(b); err == nil {
			t.Errorf("%s: got nil error", name)
		}
	}
}

func FuzzParseRegFile(f *testing.F) {
	entries, err := os.ReadDir(fixtures)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".reg") {
			f.Add(readFixture(f, e.Name()))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rf, err := ParseRegFile(b)
		if err != nil {
			return
		}
		tr := NewTree()
		tr.Apply(rf)
		for _, s := range rf.Sections {
			_, _ = tr.Values(context.Background(), s.Key)
			_, _ = tr.Subkeys(context.Background(), s.Key)
		}
	})
}
