package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// TestPackageDigestHashDefinition pins the second hash form to its
// definition in PackageDigestHash's comment, with the encodings written
// out here by hand: changing how it is taken breaks every agent and
// collector that already speak protocol version 2.
func TestPackageDigestHashDefinition(t *testing.T) {
	t.Parallel()
	s := &Snapshot{ProtocolVersion: 1, CollectedAt: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), AgentVersion: "1.0.0", Platform: PlatformLinux,
		Software: &Software{Packages: []Package{
			{Name: "zlib1g", Version: "1:1.2.13", Arch: "amd64", Source: "deb"},
			{Name: "bash", Version: "5.2.15-2+b7", Arch: "amd64", Source: "deb"},
		}}}
	head := `{"protocol_version":1,"collected_at":"2026-12-07T09:00:00Z","agent_version":"1.0.0","platform":"linux","software":{"packages":null},"probes":null}`
	pkgs := []string{ // canonical order: by source, then name
		`{"name":"bash","version":"5.2.15-2+b7","arch":"amd64","source":"deb"}`,
		`{"name":"zlib1g","version":"1:1.2.13","arch":"amd64","source":"deb"}`,
	}
	h := sha256.New()
	h.Write([]byte(head))
	for _, p := range pkgs {
		sum := sha256.Sum256([]byte(p))
		h.Write(sum[:])
	}
	want := "sha256p:" + hex.EncodeToString(h.Sum(nil))
	got, err := PackageDigestHash(s)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("PackageDigestHash = %s, want %s (head and package encodings above)", got, want)
	}
	if s.Software.Packages[0].Name != "zlib1g" {
		t.Error("hashing reordered the caller's packages")
	}
	v1, err := SnapshotHash(s)
	if err != nil {
		t.Fatal(err)
	}
	if got2, _ := SnapshotHashAt(s, 2); got2 != got {
		t.Errorf("SnapshotHashAt(2) = %s, want %s", got2, got)
	}
	if got1, _ := SnapshotHashAt(s, 1); got1 != v1 {
		t.Errorf("SnapshotHashAt(1) = %s, want %s", got1, v1)
	}
	if like, _ := SnapshotHashLike(s, v1); like != v1 {
		t.Errorf("SnapshotHashLike(first form) = %s, want %s", like, v1)
	}
	if like, _ := SnapshotHashLike(s, got); like != got {
		t.Errorf("SnapshotHashLike(second form) = %s, want %s", like, got)
	}
}

// TestPackageDigestHashTellsSnapshotsApart: every change a delta can carry
// changes the second form, as it does the first.
func TestPackageDigestHashTellsSnapshotsApart(t *testing.T) {
	t.Parallel()
	for name, s := range goldenSnapshots(t) {
		if s.Software == nil || len(s.Software.Packages) < 2 {
			continue
		}
		base, err := PackageDigestHash(s)
		if err != nil {
			t.Fatal(err)
		}
		clone := func() *Snapshot {
			c := *s
			sw := *s.Software
			sw.Packages = append([]Package(nil), sw.Packages...)
			c.Software = &sw
			return &c
		}
		changes := map[string]func(c *Snapshot){
			"a version":         func(c *Snapshot) { c.Software.Packages[1].Version += "+1" },
			"a package removed": func(c *Snapshot) { c.Software.Packages = c.Software.Packages[1:] },
			"a package doubled": func(c *Snapshot) { c.Software.Packages = append(c.Software.Packages, c.Software.Packages[0]) },
			"no packages":       func(c *Snapshot) { c.Software.Packages = nil },
			"no software":       func(c *Snapshot) { c.Software = nil },
			"collected_at":      func(c *Snapshot) { c.CollectedAt = c.CollectedAt.Add(time.Second) },
			"two names swapped": func(c *Snapshot) { p := c.Software.Packages; p[0].Name, p[1].Name = p[1].Name, p[0].Name },
			"a publisher":       func(c *Snapshot) { c.Software.Packages[0].Publisher += "x" },
		}
		seen := map[string]string{base: "unchanged"}
		for what, f := range changes {
			c := clone()
			f(c)
			h, err := PackageDigestHash(c)
			if err != nil {
				t.Fatal(err)
			}
			if h == base && what != "two names swapped" {
				t.Errorf("%s: %s changed, the hash did not", name, what)
			}
			if other, ok := seen[h]; ok && h != base {
				t.Errorf("%s: %s and %s hash alike", name, what, other)
			}
			seen[h] = what
		}
	}
}

func TestHashVersion(t *testing.T) {
	t.Parallel()
	hex64 := strings.Repeat("0123456789abcdef", 4)
	for h, want := range map[string]int{
		"sha256:" + hex64:                  1,
		"sha256p:" + hex64:                 2,
		"sha256:" + hex64[:63]:             0,
		"sha256p:" + hex64 + "0":           0,
		"sha256:" + strings.ToUpper(hex64): 0,
		"sha512:" + hex64:                  0,
		hex64:                              0,
		"":                                 0,
		"sha256p:" + hex64[:63] + "g":      0,
	} {
		if got := HashVersion(h); got != want {
			t.Errorf("HashVersion(%q) = %d, want %d", h, got, want)
		}
	}
}
