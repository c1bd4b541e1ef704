package wire

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// goldenSnapshots loads the captured hosts' golden snapshots: real
// inventories of different machines, the best material for diffs.
func goldenSnapshots(t testing.TB) map[string]*Snapshot {
	t.Helper()
	files, _ := filepath.Glob("../../testdata/hosts/*/*/want.json")
	out := map[string]*Snapshot{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var s Snapshot
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[f] = &s
	}
	return out
}

func TestDiffApplyRoundTrip(t *testing.T) {
	t.Parallel()
	snaps := goldenSnapshots(t)
	if len(snaps) < 2 {
		t.Skip("needs at least two captured hosts")
	}
	for an, a := range snaps {
		for bn, b := range snaps {
			d, err := Diff(a, b)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Apply(a, d)
			if err != nil {
				t.Fatalf("%s -> %s: %v", an, bn, err)
			}
			hg, _ := SnapshotHash(got)
			hb, _ := SnapshotHash(b)
			if hg != hb {
				t.Errorf("%s -> %s: applied delta hashes %s, want %s", an, bn, hg, hb)
			}
		}
	}
}

func TestDeltaIsPerPackage(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	base := &Snapshot{ProtocolVersion: 1, Platform: "linux", CollectedAt: day,
		OS: &OS{Name: "Debian GNU/Linux", Version: "12"},
		Software: &Software{Packages: []Package{
			{Name: "bash", Version: "5.2.15-2+b7", Source: "deb", Arch: "amd64"},
			{Name: "openssl", Version: "3.0.15-1~deb12u1", Source: "deb", Arch: "amd64"},
			{Name: "vim", Version: "2:9.0.1378-2", Source: "deb", Arch: "amd64"},
		}}}
	cur := &Snapshot{ProtocolVersion: 1, Platform: "linux", CollectedAt: day.Add(time.Hour),
		OS: &OS{Name: "Debian GNU/Linux", Version: "12"},
		Software: &Software{Packages: []Package{
			{Name: "bash", Version: "5.2.15-2+b7", Source: "deb", Arch: "amd64"},
			{Name: "openssl", Version: "3.0.17-1~deb12u2", Source: "deb", Arch: "amd64"},
			{Name: "curl", Version: "7.88.1-10+deb12u12", Source: "deb", Arch: "amd64"},
		}}}
	d, err := Diff(base, cur)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Set) != 0 || d.OS != nil {
		t.Errorf("unchanged OS travelled: set=%v", d.Set)
	}
	var added []string
	for _, p := range d.SoftwareAdded {
		added = append(added, p.Name+" "+p.Version)
	}
	var removed []string
	for _, k := range d.SoftwareRemoved {
		removed = append(removed, k.Name+" "+k.Version)
	}
	if diff := cmp.Diff([]string{"curl 7.88.1-10+deb12u12", "openssl 3.0.17-1~deb12u2"}, added); diff != "" {
		t.Errorf("added (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"openssl 3.0.15-1~deb12u1", "vim 2:9.0.1378-2"}, removed); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
	got, err := Apply(base, d)
	if err != nil {
		t.Fatal(err)
	}
	h1, _ := SnapshotHash(got)
	h2, _ := SnapshotHash(cur)
	if h1 != h2 {
		t.Error("applying the delta does not give the current snapshot")
	}
	// A delta against the wrong base fails instead of producing garbage.
	other := &Snapshot{Software: &Software{Packages: []Package{{Name: "bash", Source: "deb"}}}}
	if _, err := Apply(other, d); err == nil {
		t.Error("delta removing a package the base lacks: got no error")
	}
}

func TestSnapshotHashIgnoresPackageOrder(t *testing.T) {
	t.Parallel()
	a := &Snapshot{Software: &Software{Packages: []Package{{Name: "b", Source: "deb"}, {Name: "a", Source: "deb"}}}}
	b := &Snapshot{Software: &Software{Packages: []Package{{Name: "a", Source: "deb"}, {Name: "b", Source: "deb"}}}}
	ha, _ := SnapshotHash(a)
	hb, _ := SnapshotHash(b)
	if ha != hb || ha[:7] != "sha256:" {
		t.Errorf("hashes %s and %s, want equal sha256:", ha, hb)
	}
	if a.Software.Packages[0].Name != "b" {
		t.Error("hashing reordered the caller's packages")
	}
}

// TestDeltaCarriesAgent: the install method and tags reach the collector
// in deltas too (install.sh rewrites the marker; IT retags a device).
func TestDeltaCarriesAgent(t *testing.T) {
	t.Parallel()
	base := &Snapshot{ProtocolVersion: 1, Platform: PlatformLinux, Agent: &AgentInfo{InstallMethod: InstallDeb}}
	for name, agent := range map[string]*AgentInfo{
		"changed": {InstallMethod: InstallScript, Tags: []string{"site-a"}},
		"same":    {InstallMethod: InstallDeb},
		"gone":    nil,
	} {
		cur := *base
		cur.Agent = agent
		d, err := Diff(base, &cur)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var decoded Delta
		if err := json.Unmarshal(b, &decoded); err != nil {
			t.Fatal(err)
		}
		got, err := Apply(base, &decoded)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(agent, got.Agent); diff != "" {
			t.Errorf("%s: applied agent (-want +got):\n%s", name, diff)
		}
	}
}

// TestSoftwareJustBeforeProbes: the collector's canonical encoding
// (collector/registry/canon.go) splices the software section in just
// before probes, so no field may sit between them.
func TestSoftwareJustBeforeProbes(t *testing.T) {
	t.Parallel()
	s := &Snapshot{Agent: &AgentInfo{InstallMethod: InstallDeb}, Hardware: &Hardware{}, Encryption: &Encryption{}, OS: &OS{}, Software: &Software{}, Probes: []ProbeStatus{}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"software":{"packages":null},"probes":[]}`; !strings.HasSuffix(string(b), want) {
		t.Errorf("snapshot JSON %s does not end with %s", b, want)
	}
}

// TestDiffRefusesPackagesSharingAKey: a delta changes packages by key, so
// a snapshot holding one key twice (installed again, or one of two copies
// removed) has no delta; Diff says so and the sender reports in full,
// instead of a delta whose result does not match its hash.
func TestDiffRefusesPackagesSharingAKey(t *testing.T) {
	t.Parallel()
	bash := Package{Name: "bash", Version: "5.2.15-2+b7", Source: "deb", Arch: "amd64"}
	vim := Package{Name: "vim", Version: "2:9.0.1378-2", Source: "deb", Arch: "amd64"}
	snap := func(p ...Package) *Snapshot { return &Snapshot{Software: &Software{Packages: p}} }
	for name, tc := range map[string]struct{ old, cur *Snapshot }{
		"installed again":   {snap(bash), snap(bash, bash)},
		"one copy removed":  {snap(bash, bash, vim), snap(bash, vim)},
		"another change":    {snap(bash, bash), snap(bash, bash, vim)},
		"publisher differs": {snap(bash), snap(bash, Package{Name: bash.Name, Version: bash.Version, Source: bash.Source, Arch: bash.Arch, Publisher: "Debian"})},
	} {
		if d, err := Diff(tc.old, tc.cur); err == nil {
			t.Errorf("%s: got delta %+v, want an error", name, d)
		}
	}
}
