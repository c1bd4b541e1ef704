package windows

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseWmicQFE(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file        string
		count       int
		first       Hotfix
		latest      string
		installedBy string
	}{
		{"win10-1809-wmic-qfe-utf16le.txt", 5, Hotfix{ID: "KB4486553", Description: "Update", InstalledOnRaw: "3/7/2019"}, "2019-03-07T00:00:00Z", `NT AUTHORITY\SYSTEM`},
		{"win10-1803-wmic-qfe-utf16le.txt", 4, Hotfix{ID: "KB4462930", Description: "Update", InstalledOnRaw: "3/2/2019"}, "2019-03-02T00:00:00Z", `NT AUTHORITY\SYSTEM`},
		// UTF-8 without BOM, Cyrillic InstalledBy, a stray "cat q" line
		// before the header and no newline after the last row.
		{"server-2012r2-ru-RU-wmic-qfe.txt", 7, Hotfix{ID: "KB2919355", Description: "Update", InstalledOnRaw: "3/18/2014"}, "2020-04-17T00:00:00Z", `TEST_dc\Администратор`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			hs, err := ParseWmicQFE(DecodeOutput(readFixture(t, "wmic-qfe/"+tt.file), ""))
			if err != nil {
				t.Fatal(err)
			}
			if len(hs) != tt.count {
				t.Fatalf("got %d hotfixes, want %d", len(hs), tt.count)
			}
			h := hs[0]
			if h.ID != tt.first.ID || h.Description != tt.first.Description || h.InstalledOnRaw != tt.first.InstalledOnRaw {
				t.Errorf("got first %+v, want %+v", h, tt.first)
			}
			if h.InstalledBy != tt.installedBy {
				t.Errorf("got InstalledBy %q, want %q", h.InstalledBy, tt.installedBy)
			}
			for _, h := range hs {
				if h.InstalledOn == nil {
					t.Errorf("%s: no install date from %q", h.ID, h.InstalledOnRaw)
				}
			}
			if got := LatestHotfix(hs); got == nil || got.Format(time.RFC3339) != tt.latest {
				t.Errorf("got latest %v, want %s", got, tt.latest)
			}
		})
	}
}

func TestParseWmicQFERejects(t *testing.T) {
	t.Parallel()
	if _, err := ParseWmicQFE(DecodeOutput(readFixture(t, "systeminfo/server-2022-systeminfo.txt"), "")); err == nil {
		t.Error("got nil error for systeminfo output")
	}
}

func FuzzParseWmicQFE(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "wmic-qfe", "*"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		hs, _ := ParseWmicQFE(DecodeOutput(b, ""))
		_ = LatestHotfix(hs)
	})
}
