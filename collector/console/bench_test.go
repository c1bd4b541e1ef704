package console_test

// Figures for `make bench` (scripts/bench-console.sh): the device page's
// server time for a device with 2,000 packages and 1,000 history entries,
// and every page's weight with its stylesheet and script.

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/console"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

// bigDevice enrols a device whose software is 2,000 packages gathered from
// every captured host (names made distinct per host where they repeat),
// then applies 1,000 delta reports, each upgrading one package, so its
// history holds 1,000 entries or more.
func bigDevice(b *testing.B) (*registry.Registry, string, *console.Console, string) {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	reg, err := registry.OpenAndMigrate(ctx, registry.StoreConfig{Engine: registry.EngineSQLite, Path: filepath.Join(dir, "roster.db")}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { reg.Close() })
	reg.SetAuditReports(false)
	ca, _, err := pki.LoadOrCreate(filepath.Join(dir, "pki"), []string{"127.0.0.1"}, now)
	if err != nil {
		b.Fatal(err)
	}
	snap := registrytest.Clone(b, registrytest.Rich(b))
	var hosts []string
	all := registrytest.Snapshots(b)
	for h := range all {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	seen := map[string]bool{}
	var pkgs []wire.Package
	for _, h := range hosts {
		s := all[h]
		if s.Software == nil {
			continue
		}
		for _, p := range s.Software.Packages {
			if len(pkgs) == 2000 {
				break
			}
			if seen[p.Name+"/"+p.Arch] {
				p.Name += "-" + strings.ReplaceAll(h, "/", "-")
			}
			if seen[p.Name+"/"+p.Arch] {
				continue
			}
			seen[p.Name+"/"+p.Arch] = true
			pkgs = append(pkgs, p)
		}
	}
	// The captured hosts hold fewer distinct packages than that: the rest
	// are their i386 twins, as a Debian machine with multiarch has.
	for i := 0; len(pkgs) < 2000 && i < len(pkgs); i++ {
		p := pkgs[i]
		if p.Arch == "i386" || seen[p.Name+"/i386"] {
			continue
		}
		p.Arch = "i386"
		seen[p.Name+"/i386"] = true
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 2000 {
		b.Fatalf("captured hosts hold %d distinct packages, want 2000", len(pkgs))
	}
	slices.SortFunc(pkgs, func(a, b wire.Package) int { return strings.Compare(a.Name+a.Arch, b.Name+b.Arch) })
	snap.Software = &wire.Software{Packages: pkgs}
	_, secret, err := reg.CreateSecret(ctx, "bench", time.Hour, 1, now)
	if err != nil {
		b.Fatal(err)
	}
	csr, _ := registrytest.CSR(b)
	res, err := reg.Enroll(ctx, registry.EnrollInput{Secret: secret, Identity: wire.IdentityOf(snap), AgentVersion: "bench", Now: now},
		func(id string) ([]byte, *x509.Certificate, error) {
			return ca.SignClient(csr, id, now, pki.ClientValidity)
		})
	if err != nil {
		b.Fatal(err)
	}
	cert, _ := pki.ParseCertificatePEM(res.CertPEM)
	serial := pki.SerialHex(cert)
	apply := func(rep *wire.Report) {
		if _, err := reg.ApplyReport(ctx, registry.ReportInput{DeviceID: res.DeviceID, CertSerial: serial, Report: rep, Now: now}); err != nil {
			b.Fatal(err)
		}
	}
	apply(&wire.Report{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportFull, Seq: 1, Snapshot: snap, Hash: registrytest.Hash(b, snap)})
	prev := snap
	for i := range 1000 {
		next := registrytest.Clone(b, prev)
		p := &next.Software.Packages[i%len(next.Software.Packages)]
		p.Version += fmt.Sprintf("+bench%d", i)
		next.CollectedAt = next.CollectedAt.Add(time.Minute)
		d, err := wire.Diff(prev, next)
		if err != nil {
			b.Fatal(err)
		}
		now = now.Add(time.Minute)
		apply(&wire.Report{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportDelta, Seq: uint64(i + 2), BaseHash: registrytest.Hash(b, prev),
			Delta: d, Hash: registrytest.Hash(b, next)})
		prev = next
	}
	if _, err := reg.CreateUser(ctx, registry.UserInput{Name: "bench", Role: access.Admin, Password: password}, now); err != nil {
		b.Fatal(err)
	}
	p, err := reg.SignIn(ctx, "bench", password, "", now)
	if err != nil {
		b.Fatal(err)
	}
	_, cookie, err := reg.CreateSession(ctx, registry.SessionInput{Principal: p, Method: "password", Idle: time.Hour, Absolute: 24 * time.Hour}, now)
	if err != nil {
		b.Fatal(err)
	}
	c, err := console.New(console.Options{Registry: reg, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	return reg, res.DeviceID, c, cookie
}

func get(b *testing.B, c *console.Console, cookie, path string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "https://collector.example"+path, nil)
	req.AddCookie(&http.Cookie{Name: "__Host-roster_session", Value: cookie})
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("GET %s: %d\n%s", path, rec.Code, rec.Body.String())
	}
	return rec
}

// BenchmarkDevicePage reports the device page's server time (p50, p95)
// for the 2,000-package, 1,000-change device, and the weight of every page
// with its stylesheet and script.
func BenchmarkDevicePage(b *testing.B) {
	reg, id, c, cookie := bigDevice(b)
	ctx := context.Background()
	hist, _, err := reg.History(ctx, registry.HistoryFilter{Device: id}, registry.Page{Limit: registry.MaxLimit})
	if err != nil {
		b.Fatal(err)
	}
	if len(hist) < 1000 {
		b.Fatalf("history holds %d entries, want ≥ 1000", len(hist))
	}
	path := "/ui/devices/" + id
	get(b, c, cookie, path) // warm
	var times []time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		get(b, c, cookie, path)
		times = append(times, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(times)
	pct := func(p float64) float64 {
		return float64(times[min(len(times)-1, int(p*float64(len(times))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
	assets := 0
	for _, a := range []string{"/ui/static/console.css", "/ui/static/console.js"} {
		assets += get(b, c, cookie, a).Body.Len()
	}
	heaviest, heaviestPath := 0, ""
	for _, p := range []string{"/ui/", path, path + "/history", "/ui/devices", "/ui/search?q=" + id[:8], "/ui/assets", "/ui/flags", "/ui/events",
		"/ui/exceptions", "/ui/offboarding", "/ui/reconcile", "/ui/audit", "/ui/account"} {
		n := get(b, c, cookie, p).Body.Len() + assets
		if n > heaviest {
			heaviest, heaviestPath = n, p
		}
	}
	b.ReportMetric(float64(get(b, c, cookie, path).Body.Len()+assets)/1024, "device-page-KiB")
	b.ReportMetric(float64(heaviest)/1024, "heaviest-page-KiB")
	b.Logf("heaviest page with its CSS and JS: %s, %d bytes; the CSS and JS: %d bytes", heaviestPath, heaviest, assets)
}
