package registry

import (
	"context"
	"crypto/x509"
	"path/filepath"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

// BenchmarkLoadSnapshot rebuilds the stored snapshot of a device that
// reported the captured host with the most packages in full, then a delta
// upgrading one package: what a delta costs when the cache lost the base
// (a restart, another collector), and what the device pages read.
func BenchmarkLoadSnapshot(b *testing.B) {
	ctx := context.Background()
	r, device := benchReportedDevice(b)
	b.ReportAllocs()
	for b.Loop() {
		cs, err := r.loadSnapshot(ctx, r.db, device)
		if err != nil || cs == nil {
			b.Fatalf("got %v %v, want the snapshot", cs, err)
		}
	}
}

// BenchmarkDeviceSoftwareMatch matches a policy's software pattern on one
// device's packages, as a register change evaluates the devices it
// links (linkeval.go), on the device of BenchmarkLoadSnapshot.
func BenchmarkDeviceSoftwareMatch(b *testing.B) {
	ctx := context.Background()
	r, device := benchReportedDevice(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (deviceSoftware{ctx: ctx, q: r.db, device: device, cat: r.snaps.cat, db: r.db}).Match("lib*"); err != nil {
			b.Fatal(err)
		}
	}
}

// benchReportedDevice is a registry holding one device that reported the
// captured host with the most packages in full, then a delta upgrading
// one package.
func benchReportedDevice(b *testing.B) (*Registry, string) {
	ctx := context.Background()
	r, err := OpenAndMigrate(ctx, NewTestStore(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	var base *wire.Snapshot
	for _, s := range registrytest.Snapshots(b) {
		if s.Software != nil && (base == nil || len(s.Software.Packages) > len(base.Software.Packages)) {
			base = s
		}
	}
	if base == nil {
		b.Fatal("no snapshot with software")
	}
	next := registrytest.Clone(b, base)
	next.Software.Packages[len(next.Software.Packages)/2].Version += "+bench1"
	ca, _, err := pki.LoadOrCreate(filepath.Join(b.TempDir(), "pki"), []string{"localhost"}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	csr, _ := registrytest.CSR(b)
	_, secret, err := r.CreateSecret(ctx, "bench", 0, 0, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	res, err := r.Enroll(ctx, EnrollInput{Secret: secret, Identity: wire.IdentityOf(base), Now: now},
		func(id string) ([]byte, *x509.Certificate, error) {
			return ca.SignClient(csr, id, now, pki.ClientValidity)
		})
	if err != nil {
		b.Fatal(err)
	}
	c, err := pki.ParseCertificatePEM(res.CertPEM)
	if err != nil {
		b.Fatal(err)
	}
	d, err := wire.Diff(base, next)
	if err != nil {
		b.Fatal(err)
	}
	for k, rep := range []*wire.Report{
		{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportFull, Seq: 1, Snapshot: base, Hash: registrytest.Hash(b, base)},
		{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportDelta, Seq: 2, BaseHash: registrytest.Hash(b, base), Delta: d, Hash: registrytest.Hash(b, next)},
	} {
		ack, err := r.ApplyReport(ctx, ReportInput{DeviceID: res.DeviceID, CertSerial: pki.SerialHex(c), Report: rep, Now: now.Add(time.Duration(k) * time.Minute)})
		if err != nil || ack.Status != wire.AckApplied {
			b.Fatalf("report %d: %v %+v", rep.Seq, err, ack)
		}
	}
	return r, res.DeviceID
}
