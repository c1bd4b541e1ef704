package registry_test

import (
	"context"
	"crypto/x509"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

// TestAdoptAfterRestore: after a restore, a certificate this CA issued
// between the backup and the restore is adopted (a device enrolled after
// the backup gets its record back; a renewed one its new certificate),
// and nothing else is: not one issued before the backup that the database
// does not know, not one issued after the restore, not on a collector
// never restored.
func TestAdoptAfterRestore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	snap := registrytest.Rich(t)
	known := e.enroll(t, e.secret(t), wire.IdentityOf(snap), t0)
	e.apply(t, known, full(t, snap, 1), t0)

	backupAt := t0.Add(time.Hour)
	restoredAt := t0.Add(5 * time.Hour)
	issue := func(device string, at time.Time) (cert []byte) {
		csr, _ := registrytest.CSR(t)
		p, _, err := e.ca.SignClient(csr, device, at, pki.ClientValidity)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	parse := func(p []byte) *x509.Certificate {
		c, err := pki.ParseCertificatePEM(p)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	newDevice := uuid.NewString()
	afterBackup := parse(issue(newDevice, backupAt.Add(time.Hour)))
	renewed := parse(issue(known.DeviceID, backupAt.Add(2*time.Hour)))
	beforeBackup := parse(issue(uuid.NewString(), backupAt.Add(-2*time.Hour)))
	afterRestore := parse(issue(uuid.NewString(), restoredAt.Add(time.Hour)))

	// Never restored: nothing is adopted.
	if ok, err := e.reg.AdoptAfterRestore(ctx, newDevice, afterBackup, restoredAt); ok || err != nil {
		t.Fatalf("adopted on a collector never restored: %v %v", ok, err)
	}

	// The restore is recorded in another process (roster-collector
	// restore) before the serving one opens the database.
	other := registry.OpenTestStore(t, e.store)
	if err := other.RecordRestore(ctx, registry.RestoreRecord{BackupCreatedAt: backupAt, RestoredAt: restoredAt, File: "b.age", By: "root"}, map[string]any{"file": "b.age"}); err != nil {
		t.Fatal(err)
	}
	reg := registry.OpenTestStore(t, e.store)
	now := restoredAt.Add(10 * time.Minute)

	for _, tc := range []struct {
		name   string
		device string
		cert   *x509.Certificate
		want   bool
	}{
		{"enrolled after the backup", newDevice, afterBackup, true},
		{"renewed after the backup", known.DeviceID, renewed, true},
		{"issued before the backup, unknown", "x", beforeBackup, false},
		{"issued after the restore", "y", afterRestore, false},
		{"already known", known.DeviceID, parse(known.CertPEM), false},
	} {
		ok, err := reg.AdoptAfterRestore(ctx, tc.device, tc.cert, now)
		if err != nil || ok != tc.want {
			t.Errorf("%s: adopted %v (%v), want %v", tc.name, ok, err, tc.want)
		}
	}
	if ok, _ := reg.AdoptAfterRestore(ctx, newDevice, afterBackup, now); ok {
		t.Error("adopted the same certificate twice")
	}
	if ok, _ := reg.AdoptAfterRestore(ctx, newDevice, parse(issue(newDevice, backupAt.Add(3*time.Hour))), restoredAt.Add(101*24*time.Hour)); ok {
		t.Error("adopted long after the restore, when no certificate issued before it can be valid")
	}

	// The adopted certificates pass the check the API makes, the
	// unadopted ones do not.
	if err := reg.CheckCertificate(ctx, newDevice, pki.SerialHex(afterBackup)); err != nil {
		t.Errorf("adopted certificate refused: %v", err)
	}
	if err := reg.CheckCertificate(ctx, known.DeviceID, pki.SerialHex(renewed)); err != nil {
		t.Errorf("adopted renewal refused: %v", err)
	}
	if err := reg.CheckCertificate(ctx, "x", pki.SerialHex(beforeBackup)); !errors.Is(err, registry.ErrCertificateRevoked) {
		t.Errorf("certificate from before the backup: %v, want refused", err)
	}
	h := e.history(t, newDevice)
	if !slices.Contains(kinds(h), registry.KindRecoveredAfterRestore) {
		t.Errorf("recovered device history %v lacks %s", kinds(h), registry.KindRecoveredAfterRestore)
	}
	// Its next report is a full one after a resync: a delta is refused.
	d := enrolled{EnrollResult: registry.EnrollResult{DeviceID: newDevice}, serial: pki.SerialHex(afterBackup)}
	old := registrytest.Rich(t)
	cur, _, _ := changed(t, old)
	if ack := e.apply(t, d, delta(t, old, cur, 2), now); ack.Status != wire.AckResync {
		t.Errorf("delta from a recovered device: %s, want resync", ack.Status)
	}
	if ack := e.apply(t, d, full(t, cur, 3), now); ack.Status != wire.AckApplied {
		t.Errorf("full report from a recovered device: %s, want applied", ack.Status)
	}
	entries, _, err := reg.ListAudit(ctx, registry.AuditFilter{Action: "device.recovered_after_restore"})
	if err != nil || len(entries) != 2 {
		t.Errorf("audit of adoptions: %d entries (%v), want 2", len(entries), err)
	}
}
