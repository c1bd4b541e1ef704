package backup_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/google/uuid"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// dataDir is a collector's data directory made the way serve makes it:
// the registry migrated in roster.db, the CA and command key in pki/, and
// n devices enrolled with a real snapshot each (serials made unique) and
// their first report applied, the audit log checkpointed.
type dataDir struct {
	dir string
	ca  *pki.CA
}

func newDataDir(t testing.TB, n int) dataDir {
	t.Helper()
	return newDataDirOf(t, []*wire.Snapshot{registrytest.Rich(t)}, n)
}

// newDataDirOf is newDataDir with devices cloned from bases in turn.
func newDataDirOf(t testing.TB, bases []*wire.Snapshot, n int) dataDir {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	reg, err := registry.OpenAndMigrate(ctx, registry.StoreConfig{Path: filepath.Join(dir, "roster.db")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	ca, _, err := pki.LoadOrCreate(filepath.Join(dir, "pki"), []string{"localhost"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, reg, ca, bases, n)
	return dataDir{dir: dir, ca: ca}
}

// capturedFleet is every captured host snapshot with a hardware identity,
// in name order: device i of a fleet gets the i-th modulo their number,
// so the fleet mixes servers, laptops and desktops of every platform.
func capturedFleet(t testing.TB) []*wire.Snapshot {
	all := registrytest.Snapshots(t)
	var out []*wire.Snapshot
	for _, name := range slices.Sorted(maps.Keys(all)) {
		if s := all[name]; s.Hardware != nil {
			out = append(out, s)
		}
	}
	return out
}

// fill enrols n devices cloned from bases in turn and applies a full
// report each.
func fill(t testing.TB, reg *registry.Registry, ca *pki.CA, bases []*wire.Snapshot, n int) {
	t.Helper()
	ctx := context.Background()
	_, secret, err := reg.CreateSecret(ctx, "backup test", 0, 0, t0)
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := registrytest.CSR(t)
	sign := func(id string) ([]byte, *x509.Certificate, error) {
		return ca.SignClient(csr, id, t0, pki.ClientValidity)
	}
	for i := range n {
		s := registrytest.Clone(t, bases[i%len(bases)])
		s.Hardware.SystemSerial = fmt.Sprintf("BKP%07d", i)
		s.Hardware.SystemUUID = uuid.NewSHA1(uuid.NameSpaceOID, []byte(s.Hardware.SystemSerial)).String()
		s.Hardware.BoardSerial = ""
		s.Hardware.Hostname = fmt.Sprintf("host-%06d", i)
		s.Hardware.NICs = nil
		res, err := reg.Enroll(ctx, registry.EnrollInput{Secret: secret, Identity: wire.IdentityOf(s), AgentVersion: "test", Now: t0}, sign)
		if err != nil {
			t.Fatalf("enroll device %d: %v", i, err)
		}
		c, err := pki.ParseCertificatePEM(res.CertPEM)
		if err != nil {
			t.Fatal(err)
		}
		rep := &wire.Report{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportFull, Seq: 1, Snapshot: s, Hash: registrytest.Hash(t, s)}
		if _, err := reg.ApplyReport(ctx, registry.ReportInput{DeviceID: res.DeviceID, CertSerial: pki.SerialHex(c), Report: rep, Now: t0}); err != nil {
			t.Fatalf("report of device %d: %v", i, err)
		}
	}
	if _, err := reg.Checkpoint(ctx, ca.Command.KeyID(), ca.Command.Sign, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// identity is a fresh age identity written to a file 0600, as age-keygen
// writes one.
func identity(t testing.TB) (*age.X25519Identity, string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "backup.key")
	writeFile(t, path, "# public key: "+id.Recipient().String()+"\n"+id.String()+"\n")
	return id, path
}
