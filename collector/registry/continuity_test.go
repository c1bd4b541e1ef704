package registry_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

func (e *env) enrollIn(t *testing.T, in registry.EnrollInput) enrolled {
	t.Helper()
	res, err := e.reg.Enroll(context.Background(), in, e.signer(t, in.Now))
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	c, err := parseSerial(res.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	return enrolled{res, c}
}

func parseSerial(certPEM []byte) (string, error) {
	c, err := pki.ParseCertificatePEM(certPEM)
	if err != nil {
		return "", err
	}
	return pki.SerialHex(c), nil
}

// TestEnrolContinuityRules: a second enrolment with a live device's
// identity continues the record only under one of the safe rules.
func TestEnrolContinuityRules(t *testing.T) {
	t.Parallel()
	snap := registrytest.Rich(t)
	id := wire.IdentityOf(snap)
	for _, tc := range []struct {
		name string
		// prepare runs after the first device reported at t0 and returns
		// the second enrolment's time and proof.
		prepare  func(e *env, a enrolled) (time.Time, *registry.KeyProof)
		wantRule string
	}{
		{"live device: conflict", func(e *env, a enrolled) (time.Time, *registry.KeyProof) { return t0.Add(time.Hour), nil }, registry.RuleConflict},
		{"certificates revoked", func(e *env, a enrolled) (time.Time, *registry.KeyProof) {
			if _, err := e.reg.RevokeDevice(context.Background(), a.DeviceID, t0); err != nil {
				t.Fatal(err)
			}
			return t0.Add(time.Hour), nil
		}, registry.RuleCertificatesRevoked},
		{"certificate expired, seen within the window", func(e *env, a enrolled) (time.Time, *registry.KeyProof) {
			// It reported until just before its only certificate lapsed:
			// not silent, but holding no live certificate.
			e.apply(t, a, full(t, snap, 2), t0.Add(pki.ClientValidity-time.Minute))
			return t0.Add(pki.ClientValidity + time.Minute), nil
		}, registry.RuleCertificatesRevoked},
		{"silent past the window", func(e *env, a enrolled) (time.Time, *registry.KeyProof) {
			return t0.Add(registry.DefaultReenrollAfterSilence + time.Minute), nil
		}, registry.RuleSilent},
		{"silent within the window: conflict", func(e *env, a enrolled) (time.Time, *registry.KeyProof) {
			return t0.Add(registry.DefaultReenrollAfterSilence - time.Minute), nil
		}, registry.RuleConflict},
		{"admin allowed", func(e *env, a enrolled) (time.Time, *registry.KeyProof) {
			if _, err := e.reg.AllowReenroll(context.Background(), a.DeviceID, 24*time.Hour, t0); err != nil {
				t.Fatal(err)
			}
			return t0.Add(time.Hour), nil
		}, registry.RuleAdminAllowed},
		{"admin allowance expired: conflict", func(e *env, a enrolled) (time.Time, *registry.KeyProof) {
			if _, err := e.reg.AllowReenroll(context.Background(), a.DeviceID, time.Hour, t0); err != nil {
				t.Fatal(err)
			}
			return t0.Add(2 * time.Hour), nil
		}, registry.RuleConflict},
		{"key proof", func(e *env, a enrolled) (time.Time, *registry.KeyProof) {
			return t0.Add(time.Hour), &registry.KeyProof{DeviceID: a.DeviceID, Serial: a.serial}
		}, registry.RuleKeyProof},
		{"key proof of an unknown certificate: conflict", func(e *env, a enrolled) (time.Time, *registry.KeyProof) {
			return t0.Add(time.Hour), &registry.KeyProof{DeviceID: a.DeviceID, Serial: "00ff"}
		}, registry.RuleConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := context.Background()
			sec := e.secret(t)
			a := e.enroll(t, sec, id, t0)
			e.apply(t, a, full(t, snap, 1), t0)
			at, proof := tc.prepare(e, a)
			b := e.enrollIn(t, registry.EnrollInput{Secret: sec, Identity: id, AgentVersion: "test", Proof: proof, Now: at})
			if b.Rule != tc.wantRule {
				t.Fatalf("rule: got %q, want %q", b.Rule, tc.wantRule)
			}
			db, err := e.reg.Device(ctx, b.DeviceID)
			if err != nil {
				t.Fatal(err)
			}
			if db.Enrolment == nil || db.Enrolment.Rule != tc.wantRule || db.Enrolment.SecretLabel != "test" || db.Enrolment.CertSerial != b.serial {
				t.Errorf("enrolment record = %+v, want rule %s, secret test, certificate %s", db.Enrolment, tc.wantRule, b.serial)
			}
			if tc.wantRule != registry.RuleConflict {
				if b.DeviceID != a.DeviceID || !b.ReEnrolled {
					t.Fatalf("continuity made a new device")
				}
				if diff := kinds(e.history(t, a.DeviceID)); !slices.Contains(diff, "re_enrolled") {
					t.Errorf("history %v lacks re_enrolled", diff)
				}
				return
			}
			// Conflict: a new record, both flagged, the live device keeps
			// its certificate and keeps reporting.
			if b.DeviceID == a.DeviceID || b.ReEnrolled {
				t.Fatalf("conflict took over the device")
			}
			if err := e.reg.CheckCertificate(ctx, a.DeviceID, a.serial); err != nil {
				t.Errorf("live device's certificate after the conflict: %v", err)
			}
			if ack := e.apply(t, a, full(t, snap, 2), at.Add(time.Minute)); ack.Status != wire.AckApplied {
				t.Errorf("live device's report after the conflict: %s", ack.Status)
			}
			for _, d := range []string{a.DeviceID, b.DeviceID} {
				dd, err := e.reg.Device(ctx, d)
				if err != nil {
					t.Fatal(err)
				}
				if dd.State != registry.StateIdentityConflict || !slices.Contains(dd.Flags, registry.FlagIdentityConflict) || len(dd.IdentityConflicts) != 1 {
					t.Errorf("device %s: state %s flags %v conflicts %v, want identity_conflict", d, dd.State, dd.Flags, dd.IdentityConflicts)
				}
			}
			evs, _, err := e.reg.Events(ctx, registry.EventFilter{Kind: registry.KindDeviceIdentityConflict}, registry.Page{})
			if err != nil || len(evs) != 2 {
				t.Errorf("identity conflict events: %d (%v), want 2", len(evs), err)
			}
		})
	}
}

// TestConflictResolvedByMergeOrRevoke: merging the new record into the old
// one keeps the new agent working with the old history; revoking one side
// clears both flags.
func TestConflictResolvedByMergeOrRevoke(t *testing.T) {
	t.Parallel()
	snap := registrytest.Rich(t)
	id := wire.IdentityOf(snap)
	setup := func(t *testing.T) (*env, enrolled, enrolled) {
		e := newEnv(t)
		sec := e.secret(t)
		a := e.enroll(t, sec, id, t0)
		e.apply(t, a, full(t, snap, 1), t0)
		b := e.enroll(t, sec, id, t0.Add(time.Hour))
		if b.Rule != registry.RuleConflict {
			t.Fatalf("rule %s, want conflict", b.Rule)
		}
		return e, a, b
	}
	t.Run("merge", func(t *testing.T) {
		t.Parallel()
		e, a, b := setup(t)
		ctx := context.Background()
		res, err := e.reg.MergeDevices(ctx, b.DeviceID, a.DeviceID, t0.Add(2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if res.Device.ID != b.DeviceID || res.Merged.MergedInto != b.DeviceID || res.Merged.State != registry.StateRevoked {
			t.Errorf("merge = %s continues, %s merged into %q (%s)", res.Device.ID, res.Merged.ID, res.Merged.MergedInto, res.Merged.State)
		}
		if slices.Contains(res.Device.Flags, registry.FlagIdentityConflict) || len(res.Device.IdentityConflicts) != 0 || !res.Device.FirstSeen.Equal(t0) {
			t.Errorf("continuing device: flags %v conflicts %v first seen %v", res.Device.Flags, res.Device.IdentityConflicts, res.Device.FirstSeen)
		}
		if err := e.reg.CheckCertificate(ctx, b.DeviceID, b.serial); err != nil {
			t.Errorf("new agent's certificate after the merge: %v", err)
		}
		if err := e.reg.CheckCertificate(ctx, a.DeviceID, a.serial); !errors.Is(err, registry.ErrCertificateRevoked) {
			t.Errorf("old certificate after the merge: %v, want revoked", err)
		}
		if k := kinds(e.history(t, b.DeviceID)); !slices.Contains(k, "enrolled") || !slices.Contains(k, "merged") {
			t.Errorf("continuing device's history %v lacks the old record's enrolment and the merge", k)
		}
		if ack := e.apply(t, b, full(t, snap, 1), t0.Add(3*time.Hour)); ack.Status != wire.AckApplied {
			t.Errorf("new agent's report after the merge: %s", ack.Status)
		}
		// A later enrolment with the identity does not pick the merged record.
		if c := e.enroll(t, e.secret(t), id, t0.Add(4*time.Hour)); c.DeviceID == a.DeviceID {
			t.Errorf("enrolment continued the merged record")
		}
	})
	t.Run("revoke", func(t *testing.T) {
		t.Parallel()
		e, a, b := setup(t)
		ctx := context.Background()
		if _, err := e.reg.RevokeDevice(ctx, b.DeviceID, t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{a.DeviceID, b.DeviceID} {
			dd, _ := e.reg.Device(ctx, d)
			if slices.Contains(dd.Flags, registry.FlagIdentityConflict) || len(dd.IdentityConflicts) != 0 {
				t.Errorf("device %s after revoking the impostor: flags %v conflicts %v", d, dd.Flags, dd.IdentityConflicts)
			}
		}
		if ack := e.apply(t, a, full(t, snap, 2), t0.Add(3*time.Hour)); ack.Status != wire.AckApplied {
			t.Errorf("real device's report: %s", ack.Status)
		}
		if dd, _ := e.reg.Device(ctx, a.DeviceID); dd.State != registry.StateActive {
			t.Errorf("real device's state %s, want active", dd.State)
		}
	})
}

// TestWipeCommandBoundToCertificate: a wipe goes only to the certificates
// it was issued for (and their renewals), a status from any other is
// refused, and each signing expires within the command lifetime.
func TestWipeCommandBoundToCertificate(t *testing.T) {
	t.Parallel()
	f := newWipeFixture(t)
	ctx := context.Background()
	w, err := f.e.reg.StartWipe(ctx, registry.WipeStart{Ref: "WS-1", Ticket: "HR-9", Reason: "leaver", Actor: offboarder}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// A conflicting enrolment of the same hardware is another device.
	imp := f.e.enroll(t, f.e.secret(t), wire.IdentityOf(f.snap), t0.Add(time.Hour))
	if imp.DeviceID == f.dev.DeviceID {
		t.Fatal("impostor took over the device")
	}
	if p, _ := f.e.reg.WipeCheckIn(ctx, imp.DeviceID, imp.serial, t0.Add(time.Hour)); len(p) != 0 {
		t.Errorf("impostor received %d commands", len(p))
	}
	// The device's own id with a certificate the command was not issued
	// for (not one of its own): nothing.
	if p, _ := f.e.reg.WipeCheckIn(ctx, f.dev.DeviceID, imp.serial, t0.Add(time.Hour)); len(p) != 0 {
		t.Errorf("a foreign certificate received %d commands", len(p))
	}
	// Renewed before the command went out: the renewal qualifies.
	at := t0.Add(2 * time.Hour)
	certPEM, _, err := f.e.reg.Renew(ctx, f.dev.DeviceID, f.dev.serial, at, f.e.signer(t, at))
	if err != nil {
		t.Fatal(err)
	}
	renewed, _ := parseSerial(certPEM)
	// The old certificate has not received it: its status is refused.
	st := registry.CommandStatusInput{DeviceID: f.dev.DeviceID, CertSerial: f.dev.serial, Now: at,
		Status: wire.CommandStatus{CommandID: w.ID, Status: wire.CommandDelivered, At: at}}
	if _, err := f.e.reg.RecordCommandStatus(ctx, st); !errors.Is(err, registry.ErrCommandNotDelivered) {
		t.Fatalf("status before delivery: %v, want refused", err)
	}
	p, err := f.e.reg.WipeCheckIn(ctx, f.dev.DeviceID, renewed, at)
	if err != nil || len(p) != 1 {
		t.Fatalf("renewed certificate: %d commands (%v), want 1", len(p), err)
	}
	if want := at.Add(registry.DefaultCommandLifetime); !p[0].ExpiresAt.Equal(want) || !p[0].IssuedAt.Equal(at) {
		t.Errorf("signed %v expiring %v, want %v and %v", p[0].IssuedAt, p[0].ExpiresAt, at, want)
	}
	// Delivered again within the signing: the same payload.
	if again, _ := f.e.reg.WipeCheckIn(ctx, f.dev.DeviceID, renewed, at.Add(time.Hour)); len(again) != 1 || again[0] != p[0] {
		t.Errorf("redelivery within the lifetime changed the command")
	}
	// After the signing lapsed: signed again, never past the deadline.
	late := at.Add(registry.DefaultCommandLifetime + time.Hour)
	if again, _ := f.e.reg.WipeCheckIn(ctx, f.dev.DeviceID, renewed, late); len(again) != 1 || !again[0].IssuedAt.Equal(late) || !again[0].ExpiresAt.Equal(w.Deadline) {
		t.Errorf("re-signed command = %+v, want issued %v expiring at the deadline %v", again, late, w.Deadline)
	}
	st.CertSerial = renewed
	if _, err := f.e.reg.RecordCommandStatus(ctx, st); err != nil {
		t.Errorf("status from the certificate that received it: %v", err)
	}
	denied, _, err := f.e.reg.ListAudit(ctx, registry.AuditFilter{Action: "wipe.command_status"})
	if err != nil || len(denied) != 1 || denied[0].Outcome != "denied" {
		t.Errorf("audit of the refused status: %+v (%v)", denied, err)
	}
}

// TestEnrolmentPolicyConfigured: the collector's enrolment section
// (enrolment.reenroll_after_silence, enrolment.command_lifetime) is the
// policy the registry applies, not the defaults: a device silent past a
// two-hour window is continued by its hardware identity, and a wipe
// command signed under a one-hour lifetime expires an hour after signing.
func TestEnrolmentPolicyConfigured(t *testing.T) {
	t.Parallel()
	policy := registry.EnrolmentPolicy{ReenrollAfterSilence: 2 * time.Hour, CommandLifetime: time.Hour}
	t.Run("silence window", func(t *testing.T) {
		t.Parallel()
		snap := registrytest.Rich(t)
		e := newEnv(t)
		e.reg.SetEnrolmentPolicy(policy)
		sec := e.secret(t)
		a := e.enroll(t, sec, wire.IdentityOf(snap), t0)
		e.apply(t, a, full(t, snap, 1), t0)
		// Under the default 30 days this would be a conflict.
		b := e.enroll(t, sec, wire.IdentityOf(snap), t0.Add(2*time.Hour+time.Minute))
		if b.Rule != registry.RuleSilent || b.DeviceID != a.DeviceID {
			t.Errorf("enrolment 2h01m after the last report: rule %s, device %s; want %s continued by %s", b.Rule, b.DeviceID, a.DeviceID, registry.RuleSilent)
		}
	})
	t.Run("command lifetime", func(t *testing.T) {
		t.Parallel()
		f := newWipeFixture(t)
		f.e.reg.SetEnrolmentPolicy(policy)
		f.start(t, registry.WipeStart{Ref: "WS-1"})
		at := t0.Add(90 * time.Minute)
		p, err := f.e.reg.WipeCheckIn(context.Background(), f.dev.DeviceID, f.dev.serial, at)
		if err != nil || len(p) != 1 {
			t.Fatalf("check-in: %d commands (%v), want 1", len(p), err)
		}
		// Signed at the first check-in (t0+1h), so it lapsed at t0+2h.
		if want := t0.Add(2 * time.Hour); !p[0].ExpiresAt.Equal(want) {
			t.Errorf("command expires %v, want %v (signing plus the configured hour)", p[0].ExpiresAt, want)
		}
	})
}
