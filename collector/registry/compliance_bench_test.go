package registry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

// extraPolicies is the default baseline plus a CEL policy and two
// software policies: a policy change as an administrator makes it.
const extraPolicies = `
  - id: BENCH-CEL-01
    title: no reboot pending or recently updated
    severity: low
    kind: cel
    expr: os.reboot_required == "no" || days_since_update < 7
  - id: BENCH-BAN-01
    title: no TeamViewer
    severity: high
    kind: banned_software
    params:
      name: "teamviewer*"
  - id: BENCH-REQ-01
    title: OpenSSL installed
    severity: low
    kind: required_software
    params:
      name: "openssl*"
`

// BenchmarkReevaluateFleet times the re-evaluation of every stored device
// after a policy change (ReplacePolicies: store the set, read the fleet's
// facts, query each software pattern once, evaluate, write what changed,
// queue events). Each iteration flips between the default baseline and the
// baseline plus three policies, so every device's results change every
// time: the worst case. ROSTER_BENCH_DEVICES sets the fleet size (default
// 100,000).
func BenchmarkReevaluateFleet(b *testing.B) {
	e, n, _ := seedReevalFleet(b)
	base := string(compliance.DefaultFile())
	benchPolicyChanges(b, e, []string{base + extraPolicies, base}, n, n)
}

// BenchmarkReevaluateFleetPartly times a policy change that moves a few
// devices, as most do: a CEL policy in force before and after, edited to
// fail the devices of one captured host's kernel (one in 13 of the seeded
// fleet, ~8 %, unless hosts share it) and back. Every device is evaluated; only those are
// written.
func BenchmarkReevaluateFleetPartly(b *testing.B) {
	e, n, facts := seedReevalFleet(b)
	kernel := ""
	for _, f := range facts {
		if f.OS.Kernel != "" {
			kernel = f.OS.Kernel
			break
		}
	}
	if kernel == "" {
		b.Fatal("no captured host has a kernel")
	}
	moved := 0
	for i := range n {
		if facts[i%len(facts)].OS.Kernel == kernel {
			moved++
		}
	}
	policy := func(expr string) string {
		q, _ := json.Marshal(expr)
		return `
  - id: BENCH-KERNEL-01
    title: not the withdrawn kernel
    severity: medium
    kind: cel
    fail_reason: runs the withdrawn kernel
    expr: ` + string(q) + "\n"
	}
	base := string(compliance.DefaultFile())
	docs := []string{base + policy("os.kernel != "+strconv.Quote(kernel)), base + policy(`os.kernel != "none"`)}
	benchPolicyChanges(b, e, docs, n, moved)
}

// seedReevalFleet stores ROSTER_BENCH_DEVICES (default 100,000) devices,
// device i with the facts and a sample of the packages of captured host
// i mod 13, and returns the hosts' facts.
//
// Seeding 100,000 devices takes 5-13 minutes. With ROSTER_BENCH_SEED_DIR
// set (SQLite only), the seeded database is kept there as
// reeval-<devices>.db and later runs start from a copy of it.
func seedReevalFleet(b *testing.B) (*env, int, []compliance.Facts) {
	n := 100000
	if v := os.Getenv("ROSTER_BENCH_DEVICES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("ROSTER_BENCH_DEVICES=%q", v)
		}
	}
	ctx := context.Background()
	var saved string
	if dir := os.Getenv("ROSTER_BENCH_SEED_DIR"); dir != "" && registry.StoreUnderTest() == registry.EngineSQLite {
		saved = filepath.Join(dir, fmt.Sprintf("reeval-%d.db", n))
	}
	var e *env
	if saved != "" {
		if _, err := os.Stat(saved); err == nil {
			e = newEnvFromFile(b, saved)
		}
	}
	seeded := e != nil
	if !seeded {
		e = newEnvB(b)
	}
	var names []string
	snaps := registrytest.Snapshots(b)
	for name := range snaps {
		names = append(names, name)
	}
	slices.Sort(names)
	var facts []compliance.Facts
	var pkgs [][]wire.Package
	for _, name := range names {
		s := snaps[name]
		facts = append(facts, compliance.FactsFromSnapshot(s))
		var p []wire.Package
		if s.Software != nil {
			// A sample of each host's packages keeps seeding quick; the
			// LIKE scan still reads every stored row.
			for i := 0; i < len(s.Software.Packages); i += max(1, len(s.Software.Packages)/20) {
				p = append(p, s.Software.Packages[i])
			}
		}
		pkgs = append(pkgs, p)
	}
	if seeded {
		return e, n, facts
	}
	if err := registry.SeedFleet(ctx, e.reg, n, facts, pkgs, t0); err != nil {
		b.Fatal(err)
	}
	if saved != "" {
		if _, err := e.rawDB(b).ExecContext(ctx, `VACUUM INTO $1`, saved); err != nil {
			b.Fatalf("keep the seeded fleet in %s: %v", saved, err)
		}
	}
	return e, n, facts
}

// newEnvFromFile is an env whose SQLite database starts as a copy of path.
func newEnvFromFile(b *testing.B, path string) *env {
	b.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	store := registry.NewTestStore(b)
	if err := os.WriteFile(store.Path, src, 0o600); err != nil {
		b.Fatal(err)
	}
	return &env{reg: registry.OpenTestStore(b, store), store: store, path: store.Path}
}

// benchPolicyChanges puts docs[len-1] in force, then times policy changes
// cycling through docs, each of which must evaluate the n devices and
// change the results of changed of them.
func benchPolicyChanges(b *testing.B, e *env, docs []string, n, changed int) {
	ctx := context.Background()
	if _, _, _, err := e.reg.ReplacePolicies(ctx, []byte(docs[len(docs)-1]), "bench", t0); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// A minute apart, as real policy changes are: at one instant every
		// change would rewrite the previous one's compliance transitions.
		_, _, stats, err := e.reg.ReplacePolicies(ctx, []byte(docs[i%len(docs)]), "bench", t0.Add(time.Duration(i+1)*time.Minute))
		if err != nil {
			b.Fatal(err)
		}
		if stats.Devices != n || stats.Changed != changed {
			b.Fatalf("evaluated %d devices, %d changed; want %d and %d", stats.Devices, stats.Changed, n, changed)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/reevaluation")
	// The heap the collector keeps between evaluations (the cache of
	// decoded facts, evalcache.go, is most of it): the RSS goal is 1 GB
	// at 100,000 devices.
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "MB-heap")
	// The cache's own share, per device: the heap it frees when dropped.
	registry.DropEvalCache(e.reg)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(ms.HeapAlloc)-int64(after.HeapAlloc))/float64(n), "cache-B/device")
}
