package software

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const fixtures = "../../../testdata/fixtures/linux"

func fixture(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, rel))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

func TestParseDpkgStatus(t *testing.T) {
	t.Parallel()
	pkgs, err := ParseDpkgStatus(bytes.NewReader(fixture(t, "dpkg/debian-12-var-lib-dpkg-status-excerpt")))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pkgs {
		names = append(names, p.Name)
		if !p.Installed() {
			t.Errorf("%s: got state %q, want installed", p.Name, p.State)
		}
	}
	wantNames := []string{"accountsservice", "acl", "adduser", "admin-session", "attr", "libacl1", "util-linux-extra"}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	want := DpkgPackage{
		Name: "accountsservice", Version: "22.08.8-6", Architecture: "amd64",
		Maintainer: "Debian freedesktop.org maintainers <pkg-freedesktop-maintainers@lists.alioth.debian.org>",
		Want:       "install", Flag: "ok", State: "installed",
	}
	if diff := cmp.Diff(want, pkgs[0]); diff != "" {
		t.Errorf("first package (-want +got):\n%s", diff)
	}
}

func TestParseRPMQuery(t *testing.T) {
	t.Parallel()
	pkgs, err := ParseRPMQuery(bytes.NewReader(fixture(t, "rpm/centos-7-rpm-qa-qf-tabs.txt")))
	if err != nil {
		t.Fatal(err)
	}
	want := []RPMPackage{
		{Name: "centos-release", Epoch: "0", Version: "7-2.1511.el7.centos.2.10", Arch: "x86_64", InstallTime: time.Unix(1463486612, 0).UTC()},
		{Name: "tzdata", Epoch: "0", Version: "2016d-1.el7", Arch: "noarch", InstallTime: time.Unix(1463486618, 0).UTC()},
		{Name: "nss-softokn-freebl", Epoch: "0", Version: "3.16.2.3-14.2.el7_2", Arch: "x86_64", InstallTime: time.Unix(1463486619, 0).UTC()},
		{Name: "glibc", Epoch: "0", Version: "2.17-106.el7_2.6", Arch: "x86_64", InstallTime: time.Unix(1463486666, 0).UTC()},
		{Name: "libstdc++", Epoch: "0", Version: "4.8.5-4.el7", Arch: "x86_64", InstallTime: time.Unix(1463486669, 0).UTC()},
		// The last two lines have spaces where the others have tabs.
		{Name: "kernel", Epoch: "0", Version: "3.10.0-862.2.3.el7", Arch: "x86_64", InstallTime: time.Unix(1526310781, 0).UTC()},
		{Name: "kernel", Epoch: "0", Version: "3.10.0-862.el7", Arch: "x86_64", InstallTime: time.Unix(1521745632, 0).UTC()},
	}
	if diff := cmp.Diff(want, pkgs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseAPKInstalled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file  string
		count int
		first APKPackage
		last  APKPackage
	}{
		{
			file:  "apk/alpine-3.16-lib-apk-db-installed",
			count: 14,
			first: APKPackage{Name: "alpine-baselayout-data", Version: "3.2.0-r22", Arch: "x86_64", Maintainer: "Natanael Copa <ncopa@alpinelinux.org>", Origin: "alpine-baselayout"},
		},
		{
			file:  "apk/alpine-3.18-lib-apk-db-installed",
			count: 15,
			first: APKPackage{Name: "alpine-baselayout", Version: "3.4.3-r1", Arch: "x86_64", Maintainer: "Natanael Copa <ncopa@alpinelinux.org>", Origin: "alpine-baselayout"},
		},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			t.Parallel()
			pkgs, err := ParseAPKInstalled(bytes.NewReader(fixture(t, tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			if len(pkgs) != tt.count {
				t.Fatalf("got %d packages, want %d", len(pkgs), tt.count)
			}
			if diff := cmp.Diff(tt.first, pkgs[0]); diff != "" {
				t.Errorf("first (-want +got):\n%s", diff)
			}
			for _, p := range pkgs {
				if p.Name == "" || p.Version == "" || p.Arch == "" {
					t.Errorf("incomplete package %+v", p)
				}
			}
		})
	}
}

func TestParsePacmanQi(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want []PacmanPackage
	}{
		{
			// pacman in the C locale: dates without a zone, read in loc.
			file: "pacman/arch-pacman-Qi.txt",
			want: []PacmanPackage{
				{Name: "acl", Version: "2.2.52-3", Arch: "x86_64", Packager: "Bartlomiej Piotrowski <bpiotrowski@archlinux.org>", InstallDate: time.Date(2017, 7, 23, 1, 25, 45, 0, time.UTC)},
				{Name: "abcde", Version: "2.8.1-2", Arch: "any", Packager: "Alexander Rødseth <rodseth@gmail.com>", InstallDate: time.Date(2017, 5, 5, 13, 36, 23, 0, time.UTC)},
			},
		},
		{
			// en_US locale: the zone is in the date and wins over loc.
			file: "pacman/arch-pacman-Qii-zstd.txt",
			want: []PacmanPackage{
				{Name: "zstd", Version: "1.5.6-1", Arch: "x86_64", Packager: "Levente Polyak <anthraxx@archlinux.org>", InstallDate: time.Date(2024, 5, 24, 1, 50, 31, 0, time.UTC)},
				{Name: "apparmor", Version: "3.1.7-4", Arch: "x86_64", Packager: "Antonio Rojas <arojas@archlinux.org>", InstallDate: time.Date(2024, 9, 4, 22, 1, 8, 0, time.UTC)},
				{Name: "apulse", Version: "0.1.13-1", Arch: "x86_64", InstallDate: time.Date(2022, 8, 4, 20, 7, 4, 0, time.UTC)},
			},
		},
	}
	// A host two hours east of UTC, so a zone mix-up shows.
	loc := time.FixedZone("test", 2*3600)
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			t.Parallel()
			got, err := ParsePacmanQi(bytes.NewReader(fixture(t, tt.file)), loc)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSnapList(t *testing.T) {
	t.Parallel()
	got, err := ParseSnapList(bytes.NewReader(fixture(t, "snap/snapcraft-docs-revisions-snap-list.txt")))
	if err != nil {
		t.Fatal(err)
	}
	want := []SnapPackage{
		{Name: "alacritty", Version: "0.8.0", Revision: "46", Tracking: "latest/stable", Publisher: "snapcrafters", Notes: "classic"},
		{Name: "blender", Version: "3.5.0", Revision: "3486", Tracking: "latest/stable", Publisher: "blenderfoundation", Notes: "classic"},
		{Name: "chromium", Version: "112.0", Revision: "2424", Tracking: "latest/stable", Publisher: "canonical", Notes: "-"},
		{Name: "ffmpeg", Version: "4.3.1", Revision: "1286", Tracking: "latest/stable", Publisher: "snapcrafters", Notes: "-"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
