package msi

import (
	"strings"
	"testing"
)

func TestProductVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		describe string
		commits  int
		want     string
		err      string
	}{
		{"v1.2.3", 10, "1.2.3", ""},
		{"1.2.3", 10, "1.2.3", ""},
		{"v1.2.3-dirty", 10, "1.2.3", ""},
		{"v1.2.3-14-gc2b1e6f", 300, "1.2.3.14", ""},
		{"v1.2.3-14-gc2b1e6f-dirty", 300, "1.2.3.14", ""},
		{"v0.9", 5, "0.9.0", ""},
		{"v2.0-3-gabcdef0", 5, "2.0.0.3", ""},
		{"c2b1e6f", 272, "0.0.272", ""},
		{"c2b1e6f-dirty", 272, "0.0.272", ""},
		{"dev", 0, "0.0.0", ""},
		{"v1.2.3-rc1", 7, "1.2.3", ""},
		{"v1.2.3-rc.1-5-gabcdef0-dirty", 7, "1.2.3.5", ""},
		{"v256.0.0", 1, "", "major 256 exceeds 255"},
		{"v1.256.0", 1, "", "minor 256 exceeds 255"},
		{"v1.2.65536", 1, "", "build 65536 exceeds 65535"},
		{"c2b1e6f", 70000, "", "commit count 70000"},
	}
	for _, tt := range tests {
		t.Run(tt.describe, func(t *testing.T) {
			t.Parallel()
			got, err := ProductVersion(tt.describe, tt.commits)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ProductVersion(%q) error %v, want %q", tt.describe, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ProductVersion(%q, %d) = %q, %v, want %q", tt.describe, tt.commits, got, err, tt.want)
			}
		})
	}
}

func TestCodes(t *testing.T) {
	t.Parallel()
	base := Spec{Arch: "x64", Describe: "v1.2.3", ProductVersion: "1.2.3", ExeSource: "roster-agent.exe", ExeSHA256: "aa"}
	same := base
	if base.ProductCode() != same.ProductCode() || base.PackageCode() != same.PackageCode() {
		t.Fatal("codes differ between calls for the same build")
	}
	// Pinned: a change here changes every future package's identity.
	if got, want := componentGUID("Agent"), "{2FFE1786-48C7-57EA-8ABD-45527FD57720}"; got != want {
		t.Errorf("component code of Agent = %s, want %s (component codes must never change)", got, want)
	}
	variants := map[string]Spec{}
	v := base
	v.Arch = "arm64"
	variants["arch"] = v
	v = base
	v.Describe, v.ProductVersion = "v1.2.4", "1.2.4"
	variants["version"] = v
	v = base
	v.ExeSHA256 = "bb"
	variants["binary"] = v
	v = base
	v.Preset = Preset{"ROSTER_URL": "https://c.example"}
	variants["preset"] = v
	seen := map[string]string{base.ProductCode(): "base", base.PackageCode(): "base package"}
	for name, s := range variants {
		for _, c := range []string{s.ProductCode(), s.PackageCode()} {
			if other, dup := seen[c]; dup {
				t.Errorf("%s: code %s already used by %s", name, c, other)
			}
			seen[c] = name
		}
	}
}

func TestPresetValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		preset Preset
		err    string
	}{
		{"empty", nil, ""},
		{"special characters", Preset{"ROSTER_SECRET": `p%4 a"b'c[x]{y};&%PATH% $(var.x) !(loc.y) #1 <>`, "ROSTER_URL": "https://c.example:8443/x?a=b&c=d"}, ""},
		{"unknown property", Preset{"INSTALLDIR": `C:\x`}, "INSTALLDIR: not a ROSTER_* property"},
		{"tab", Preset{"ROSTER_TAGS": "a\tb"}, "not printable ASCII"},
		{"newline", Preset{"ROSTER_SECRET": "a\nb"}, "not printable ASCII"},
		{"non-ASCII", Preset{"ROSTER_TAGS": "café"}, "not printable ASCII"},
		{"empty value", Preset{"ROSTER_TAGS": ""}, "empty value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.preset.Validate()
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.err)
			}
		})
	}
}
