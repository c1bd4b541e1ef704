package registry_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

var (
	offboarder = registry.WipeActor{Kind: registry.ActorToken, ID: "tok-1", Name: "hr-automation"}
	wipeAdmin  = registry.Actor{ID: "tok-0", Name: "admin"}
	// recorder records manual wipes: not the principal who started them.
	recorder = registry.WipeActor{Kind: registry.ActorToken, ID: "tok-2", Name: "it-admin"}
)

func strp(s string) *string { return &s }

// wipeFixture is an enrolled, reporting device whose in_service asset
// WS-1 is linked to it.
type wipeFixture struct {
	e    *env
	snap *wire.Snapshot
	dev  enrolled
}

func newWipeFixture(t *testing.T) *wipeFixture {
	t.Helper()
	e := newEnv(t)
	snap := registrytest.Rich(t)
	d := e.enroll(t, e.secret(t), wire.IdentityOf(snap), t0)
	e.apply(t, d, full(t, snap, 1), t0)
	if _, err := e.reg.AddAsset(context.Background(), registry.AssetInput{AssetTag: strp("WS-1"), Serial: strp(snap.Hardware.SystemSerial),
		Status: strp("in_service"), Classification: strp("confidential"), Owner: strp("Alice"), Location: strp("Berlin")}, wipeAdmin, t0); err != nil {
		t.Fatal(err)
	}
	return &wipeFixture{e: e, snap: snap, dev: d}
}

func (f *wipeFixture) start(t *testing.T, in registry.WipeStart) registry.Wipe {
	t.Helper()
	if in.Ticket == "" {
		in.Ticket, in.Reason = "HR-123", "leaver"
	}
	in.Actor = offboarder
	w, err := f.e.reg.StartWipe(context.Background(), in, t0.Add(time.Hour))
	if err != nil {
		t.Fatalf("start wipe: %v", err)
	}
	if in.Method != registry.WipeMethodManual {
		// The device checks in and receives the command: only then may
		// its certificate report on it.
		if _, err := f.e.reg.WipeCheckIn(context.Background(), f.dev.DeviceID, f.dev.serial, t0.Add(time.Hour)); err != nil {
			t.Fatalf("check-in: %v", err)
		}
	}
	return w
}

func (f *wipeFixture) status(id, status string, ev *wire.WipeEvidence, at time.Time) (registry.Wipe, error) {
	return f.e.reg.RecordCommandStatus(context.Background(), registry.CommandStatusInput{DeviceID: f.dev.DeviceID, CertSerial: f.dev.serial,
		Status: wire.CommandStatus{CommandID: id, Status: status, At: at, Reason: "test reason", Evidence: ev}, Now: at})
}

func (f *wipeFixture) assetStatus(t *testing.T) string {
	t.Helper()
	a, err := f.e.reg.Asset(context.Background(), "WS-1")
	if err != nil {
		t.Fatal(err)
	}
	return a.Status
}

func erased(slotsAfter int) *wire.WipeEvidence {
	return &wire.WipeEvidence{Method: "NIST SP 800-88 purge: cryptographic erase", Tool: "cryptsetup", ToolVersion: "2.7.0", StartedAt: t0, FinishedAt: t0,
		Volumes: []wire.WipedVolume{{Device: "/dev/loop0", LUKSVersion: 2, LUKSUUID: "0b0e5e0c-1111-4222-8333-444455556666", KeyslotsBefore: 2,
			KeyslotsAfter: slotsAfter, Result: map[bool]string{true: wire.WipeErased, false: wire.WipeFailed}[slotsAfter == 0]}}}
}

func states(w registry.Wipe) []string {
	var out []string
	for _, tr := range w.Transitions {
		out = append(out, tr.To)
	}
	return out
}

func TestWipeAgentLifecycle(t *testing.T) {
	t.Parallel()
	f := newWipeFixture(t)
	ctx := context.Background()
	w := f.start(t, registry.WipeStart{Ref: "WS-1"})
	if w.State != registry.WipeRequested || w.DeviceID != f.dev.DeviceID || w.AssetTag != "WS-1" || w.Classification != "confidential" {
		t.Fatalf("started wipe = %+v, want requested for the device behind WS-1", w)
	}
	if got := f.assetStatus(t); got != "offboarding" {
		t.Errorf("asset status after start = %s, want offboarding", got)
	}
	if _, err := f.e.reg.StartWipe(ctx, registry.WipeStart{Ref: f.dev.DeviceID, Ticket: "HR-124", Reason: "again", Actor: offboarder}, t0.Add(time.Hour)); !errors.Is(err, registry.ErrWipeConflict) {
		t.Errorf("second start while one is under way: %v, want a conflict", err)
	}

	// Queued until the agent says it has it.
	at := t0.Add(2 * time.Hour)
	pending, err := f.e.reg.WipeCheckIn(ctx, f.dev.DeviceID, f.dev.serial, at)
	if err != nil || len(pending) != 1 {
		t.Fatalf("check-in: %v, %d commands, want 1", err, len(pending))
	}
	cmd := pending[0].Command()
	// Signed at the first check-in (in start), valid for the capped
	// command lifetime, not until the two-week deadline.
	if exp := t0.Add(time.Hour + registry.DefaultCommandLifetime); cmd.ID != w.ID || cmd.DeviceID != f.dev.DeviceID || cmd.Kind != wire.CommandWipe || len(cmd.Nonce) != 32 || !cmd.ExpiresAt.Equal(exp) || cmd.Wipe.Ticket != "HR-123" {
		t.Errorf("command = %+v, want wipe %s for the device, a 128-bit nonce, expiring at %v", cmd, w.ID, exp)
	}
	if other, _ := f.e.reg.WipeCheckIn(ctx, "another-device", f.dev.serial, at); len(other) != 0 {
		t.Errorf("another device got %d commands", len(other))
	}

	for _, s := range []string{wire.CommandDelivered, wire.CommandDelivered, wire.CommandInProgress} {
		if w, err = f.status(w.ID, s, nil, at); err != nil {
			t.Fatalf("status %s: %v", s, err)
		}
	}
	if pending, _ := f.e.reg.WipeCheckIn(ctx, f.dev.DeviceID, f.dev.serial, at); len(pending) != 0 {
		t.Errorf("after delivered, check-in still sends %d commands", len(pending))
	}
	if w, err = f.status(w.ID, wire.CommandCompleted, erased(0), at); err != nil {
		t.Fatalf("completed: %v", err)
	}
	if want := []string{"requested", "delivered", "in_progress", "completed"}; strings.Join(states(w), ",") != strings.Join(want, ",") {
		t.Errorf("transitions = %v, want %v (a repeated status records nothing)", states(w), want)
	}
	if tr := w.Transitions[3]; tr.Actor.Kind != registry.ActorDevice || tr.Actor.ID != f.dev.DeviceID || !strings.Contains(tr.Detail, "keyslots 2 → 0") {
		t.Errorf("completed transition = %+v, want the device as actor and the keyslots in the detail", tr)
	}
	ev, _ := json.Marshal(erased(0))
	sum := sha256.Sum256(ev)
	if w.EvidenceSHA256 != hex.EncodeToString(sum[:]) || w.Tool != "cryptsetup" || w.CompletedAt == nil {
		t.Errorf("completed wipe = %+v, want the evidence hashed and the tool recorded", w)
	}
	if err := f.e.reg.CheckCertificate(ctx, f.dev.DeviceID, f.dev.serial); !errors.Is(err, registry.ErrCertificateRevoked) {
		t.Errorf("device certificate after the wipe: %v, want revoked", err)
	}
	if got := f.assetStatus(t); got != "decommissioned" {
		t.Errorf("asset status after the wipe = %s, want decommissioned", got)
	}
	if !slicesContain(kinds(f.e.history(t, f.dev.DeviceID)), registry.KindWipeCompleted) {
		t.Errorf("device history %v lacks %s", kinds(f.e.history(t, f.dev.DeviceID)), registry.KindWipeCompleted)
	}
	// Another device cannot speak for this one.
	if _, err := f.e.reg.RecordCommandStatus(ctx, registry.CommandStatusInput{DeviceID: "another-device",
		Status: wire.CommandStatus{CommandID: w.ID, Status: wire.CommandFailed}, Now: at}); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("status from another device: %v, want not found", err)
	}
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestWipeIllegalTransitions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		path  []string // agent statuses first, "cancel" and "expire" for those
		next  string
		allow bool
	}{
		{"delivered twice is a no-op", []string{wire.CommandDelivered}, wire.CommandDelivered, true},
		{"in progress straight from requested", nil, wire.CommandInProgress, true},
		{"delivered after in progress", []string{wire.CommandInProgress}, wire.CommandDelivered, false},
		{"delivered after completed", []string{wire.CommandDelivered, wire.CommandCompleted}, wire.CommandDelivered, false},
		{"completed after failed", []string{wire.CommandRefused}, wire.CommandCompleted, false},
		{"delivered after cancel", []string{"cancel"}, wire.CommandDelivered, false},
		{"in progress after expiry", []string{"expire"}, wire.CommandInProgress, false},
		{"cancel after in progress", []string{wire.CommandInProgress}, "cancel", false},
		{"cancel after completed", []string{wire.CommandCompleted}, "cancel", false},
		{"cancel after failed", []string{wire.CommandNotSupported}, "cancel", true},
		{"cancel twice", []string{"cancel"}, "cancel", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newWipeFixture(t)
			w := f.start(t, registry.WipeStart{Ref: "WS-1", Deadline: 24 * time.Hour})
			step := func(s string) error {
				at := t0.Add(2 * time.Hour)
				var err error
				switch s {
				case "cancel":
					_, err = f.e.reg.CancelWipe(context.Background(), w.ID, offboarder, at)
				case "expire":
					_, err = f.e.reg.ExpireWipes(context.Background(), t0.Add(48*time.Hour))
				default:
					var ev *wire.WipeEvidence
					if s == wire.CommandCompleted {
						ev = erased(0)
					}
					_, err = f.status(w.ID, s, ev, at)
				}
				return err
			}
			for _, s := range tt.path {
				if err := step(s); err != nil {
					t.Fatalf("step %s: %v", s, err)
				}
			}
			before, _ := f.e.reg.Wipe(context.Background(), w.ID)
			err := step(tt.next)
			if tt.allow && err != nil {
				t.Errorf("%s: %v, want it allowed", tt.next, err)
			}
			if !tt.allow {
				if !errors.Is(err, registry.ErrWipeConflict) {
					t.Errorf("%s from %s: %v, want a conflict", tt.next, before.State, err)
				}
				after, _ := f.e.reg.Wipe(context.Background(), w.ID)
				if after.State != before.State || len(after.Transitions) != len(before.Transitions) {
					t.Errorf("refused %s changed the wipe: %s → %s", tt.next, before.State, after.State)
				}
			}
		})
	}
}

func TestWipeRefusedThenRecordedByHand(t *testing.T) {
	t.Parallel()
	f := newWipeFixture(t)
	ctx := context.Background()
	w := f.start(t, registry.WipeStart{Ref: f.snap.Hardware.SystemSerial, Reuse: true})
	w, err := f.status(w.ID, wire.CommandRefused, nil, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if w.State != registry.WipeFailed || !strings.Contains(w.FailureReason, "refused: test reason") || !strings.Contains(w.FailureReason, "record-wipe") {
		t.Errorf("refused wipe = %s %q, want failed with the reason and the manual hint", w.State, w.FailureReason)
	}
	if got := f.assetStatus(t); got != "offboarding" {
		t.Errorf("asset after a failed wipe = %s, want still offboarding", got)
	}
	evidence := []byte("blancco report: erased OK\n")
	w, err = f.e.reg.RecordWipe(ctx, w.ID, registry.ManualWipe{Method: "crypto erase", Tool: "Blancco Drive Eraser", ToolVersion: "7.9",
		PerformedBy: "Bob (IT)", VerifiedBy: "Carol (IT)", Evidence: evidence, EvidenceName: "report.txt"}, recorder, t0.Add(3*time.Hour))
	if err != nil {
		t.Fatalf("record wipe: %v", err)
	}
	sum := sha256.Sum256(evidence)
	if w.State != registry.WipeCompleted || w.EvidenceSHA256 != hex.EncodeToString(sum[:]) || w.PerformedBy != "Bob (IT)" || w.FailureReason != "" {
		t.Errorf("recorded wipe = %+v, want completed with the evidence hash", w)
	}
	if got := f.assetStatus(t); got != "in_stock" {
		t.Errorf("asset after a wipe for reuse = %s, want in_stock", got)
	}
	if _, err := f.e.reg.RecordWipe(ctx, w.ID, registry.ManualWipe{Method: "m", Tool: "t", PerformedBy: "p", VerifiedBy: "v", Evidence: []byte("x")}, recorder, t0.Add(4*time.Hour)); !errors.Is(err, registry.ErrWipeConflict) {
		t.Errorf("recording a completed wipe again: %v, want a conflict", err)
	}
	raw, name, err := f.e.reg.WipeEvidence(ctx, w.ID)
	if err != nil || string(raw) != string(evidence) || name != "report.txt" {
		t.Errorf("stored evidence = %q %q %v, want the file as given", raw, name, err)
	}
	c, err := f.e.reg.WipeCertificate(ctx, w.ID, t0.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if c.PropertyNumber != "WS-1" || c.PreSanitisationConfidentiality != "confidential" || c.SanitisationDescription != "Purge" ||
		c.Tool != "Blancco Drive Eraser" || c.PerformedBy.Name != "Bob (IT)" || c.PerformedBy.Location != "Berlin" ||
		c.PostSanitisationDestination != "internal reuse (back in stock)" || c.EvidenceSHA256 != w.EvidenceSHA256 || c.Ticket != "HR-123" ||
		c.SerialNumber != f.snap.Hardware.SystemSerial || !strings.Contains(c.MediaSource, "Alice") {
		t.Errorf("certificate = %+v, want the asset's and the record's facts", c)
	}
}

func TestWipeCompletedWithoutProofFails(t *testing.T) {
	t.Parallel()
	f := newWipeFixture(t)
	w := f.start(t, registry.WipeStart{Ref: "WS-1"})
	w, err := f.status(w.ID, wire.CommandCompleted, erased(1), t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if w.State != registry.WipeFailed || !strings.Contains(w.FailureReason, "1 keyslots left") {
		t.Errorf("completed with a keyslot left = %s %q, want failed naming the keyslot", w.State, w.FailureReason)
	}
	if err := f.e.reg.CheckCertificate(context.Background(), f.dev.DeviceID, f.dev.serial); err != nil {
		t.Errorf("a failed wipe revoked the device: %v", err)
	}
	if _, err := f.e.reg.WipeCertificate(context.Background(), w.ID, t0); !errors.Is(err, registry.ErrWipeConflict) {
		t.Errorf("certificate of a failed wipe: %v, want a conflict", err)
	}
}

func TestWipeExpiresAndCancels(t *testing.T) {
	t.Parallel()
	f := newWipeFixture(t)
	ctx := context.Background()
	w := f.start(t, registry.WipeStart{Ref: "WS-1", Deadline: 24 * time.Hour})
	deadline := t0.Add(25 * time.Hour)
	if got, err := f.e.reg.ExpireWipes(ctx, deadline.Add(-time.Second)); err != nil || len(got) != 0 {
		t.Fatalf("before the deadline: %v, expired %d", err, len(got))
	}
	got, err := f.e.reg.ExpireWipes(ctx, deadline)
	if err != nil || len(got) != 1 || got[0].State != registry.WipeExpired || !got[0].Escalated {
		t.Fatalf("at the deadline: %v, %+v, want the wipe expired and escalated", err, got)
	}
	if tr := got[0].Transitions[len(got[0].Transitions)-1]; tr.Actor.Kind != registry.ActorCollector || !strings.Contains(tr.Detail, "last seen") {
		t.Errorf("expiry transition = %+v, want the collector as actor and when the device was last seen", tr)
	}
	if p, _ := f.e.reg.WipeCheckIn(ctx, f.dev.DeviceID, f.dev.serial, deadline); len(p) != 0 {
		t.Errorf("an expired wipe is still sent: %d commands", len(p))
	}
	if again, _ := f.e.reg.ExpireWipes(ctx, deadline.Add(time.Hour)); len(again) != 0 {
		t.Errorf("expired twice: %d", len(again))
	}
	// Each transition is an event for webhooks.
	evs, _, err := f.e.reg.Events(ctx, registry.EventFilter{Kind: "wipe.*"}, registry.Page{})
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	if err != nil || !slices.Equal(kinds, []string{"wipe.requested", "wipe.expired"}) {
		t.Errorf("wipe events = %v, %v; want wipe.requested then wipe.expired", kinds, err)
	}
	// The asset carries the escalation as an incident flag until the
	// offboarding moves on.
	if a, err := f.e.reg.Asset(ctx, "WS-1"); err != nil || !hasFlag(a.Flags, registry.FlagWipeExpired, registry.SeverityIncident) {
		t.Errorf("asset flags after expiry = %+v, %v; want wipe_expired (incident)", a.Flags, err)
	}
	w, err = f.e.reg.CancelWipe(ctx, w.ID, offboarder, deadline.Add(time.Hour))
	if err != nil || w.State != registry.WipeCancelled {
		t.Fatalf("cancel an expired wipe: %v %s", err, w.State)
	}
	if got := f.assetStatus(t); got != "in_service" {
		t.Errorf("asset after cancel = %s, want back in_service", got)
	}
	if a, _ := f.e.reg.Asset(ctx, "WS-1"); hasFlag(a.Flags, registry.FlagWipeExpired, registry.SeverityIncident) {
		t.Errorf("wipe_expired still set after the offboarding was cancelled: %+v", a.Flags)
	}
	// A cancelled request frees the device for a new one.
	f.start(t, registry.WipeStart{Ref: "WS-1"})
}

func TestWipeStartRefusals(t *testing.T) {
	t.Parallel()
	f := newWipeFixture(t)
	ctx := context.Background()
	if _, err := f.e.reg.AddAsset(ctx, registry.AssetInput{AssetTag: strp("LOOSE-1"), Serial: strp("NOSUCHSERIAL1"), Status: strp("in_service")}, wipeAdmin, t0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   registry.WipeStart
		want error
	}{
		{"no ticket", registry.WipeStart{Ref: "WS-1", Reason: "leaver"}, registry.ErrInvalid},
		{"no reason", registry.WipeStart{Ref: "WS-1", Ticket: "HR-1"}, registry.ErrInvalid},
		{"bad method", registry.WipeStart{Ref: "WS-1", Ticket: "HR-1", Reason: "r", Method: "fire"}, registry.ErrInvalid},
		{"ticket with a line break", registry.WipeStart{Ref: "WS-1", Ticket: "HR-1\nx", Reason: "r"}, registry.ErrInvalid},
		{"unknown device", registry.WipeStart{Ref: "nothing-like-it", Ticket: "HR-1", Reason: "r"}, registry.ErrNotFound},
		{"agent wipe of an asset without a device", registry.WipeStart{Ref: "LOOSE-1", Ticket: "HR-1", Reason: "r"}, registry.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.e.reg.StartWipe(ctx, tt.in, t0); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	// The manual path takes an asset no agent reports for.
	w, err := f.e.reg.StartWipe(ctx, registry.WipeStart{Ref: "loose-1", Ticket: "HR-9", Reason: "lost", Method: registry.WipeMethodManual, Actor: offboarder}, t0)
	if err != nil || w.DeviceID != "" || w.AssetTag != "LOOSE-1" {
		t.Fatalf("manual wipe of a device-less asset: %v %+v", err, w)
	}
	if p, _ := f.e.reg.WipeCheckIn(ctx, f.dev.DeviceID, f.dev.serial, t0); len(p) != 0 {
		t.Errorf("a manual wipe sent %d commands", len(p))
	}
}

func TestWipeVerifiedByReEnrolment(t *testing.T) {
	t.Parallel()
	wipedAt := t0.Add(2 * time.Hour)
	tests := []struct {
		name      string
		installed *time.Time
		verified  bool
		evidence  string
		// basis: what the certificate of sanitisation says the
		// verification rests on, beside the self-reported identity and
		// the continuity rule every verification names.
		basis string
	}{
		{"installed after the wipe", ptrTime(wipedAt.Add(24 * time.Hour)), true, "OS was installed at",
			"OS install date reported by the agent: " + wipedAt.Add(24*time.Hour).Format("2006-01-02T15:04:05.000000000Z") +
				", after the wipe at " + wipedAt.Format("2006-01-02T15:04:05.000000000Z")},
		{"install date unknown", nil, true, "fresh enrolment is the evidence",
			"no OS install date: the agent could not tell, so the fresh enrolment alone is the evidence"},
		{"installed before the wipe", ptrTime(wipedAt.Add(-24 * time.Hour)), false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newWipeFixture(t)
			ctx := context.Background()
			w := f.start(t, registry.WipeStart{Ref: "WS-1"})
			if _, err := f.status(w.ID, wire.CommandCompleted, erased(0), wipedAt); err != nil {
				t.Fatal(err)
			}
			// Completed but not re-enrolled: nothing to verify yet.
			if _, err := f.e.reg.WipeCheckIn(ctx, f.dev.DeviceID, f.dev.serial, wipedAt.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			reAt := wipedAt.Add(48 * time.Hour)
			again := f.e.enroll(t, f.e.secret(t), wire.IdentityOf(f.snap), reAt)
			if again.DeviceID != f.dev.DeviceID || !again.ReEnrolled {
				t.Fatalf("re-enrolment made device %s, want %s continued", again.DeviceID, f.dev.DeviceID)
			}
			// Re-enrolled, not yet reported: the stored snapshot is the old
			// installation's, so still not verified.
			f.e.reg.WipeCheckIn(ctx, f.dev.DeviceID, f.dev.serial, reAt)
			if got, _ := f.e.reg.Wipe(ctx, w.ID); got.State != registry.WipeCompleted || got.ReenrolledAt == nil {
				t.Fatalf("after re-enrolment = %s (re-enrolled %v), want completed and the re-enrolment noted", got.State, got.ReenrolledAt)
			}
			fresh := cloneSnap(t, f.snap)
			if fresh.OS == nil {
				fresh.OS = &wire.OS{}
			}
			fresh.OS.InstallDate = tt.installed
			f.e.apply(t, again, full(t, fresh, 1), reAt.Add(time.Minute))
			if _, err := f.e.reg.WipeCheckIn(ctx, f.dev.DeviceID, f.dev.serial, reAt.Add(2*time.Minute)); err != nil {
				t.Fatal(err)
			}
			got, _ := f.e.reg.Wipe(ctx, w.ID)
			if (got.State == registry.WipeVerified) != tt.verified || !strings.Contains(got.Verification, tt.evidence) {
				t.Errorf("state %s, verification %q; want verified=%v with %q", got.State, got.Verification, tt.verified, tt.evidence)
			}
			if tt.verified && (got.VerifiedAt == nil || !got.VerifiedAt.Equal(reAt.Add(2*time.Minute))) {
				t.Errorf("verified at %v, want the check-in's time", got.VerifiedAt)
			}
			// The certificate of sanitisation says what the verification
			// rests on: hardware identity the agent reported itself, the
			// install date (or its absence), and the continuity rule.
			cert, err := f.e.reg.WipeCertificate(ctx, w.ID, reAt.Add(3*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.verified {
				if cert.VerifiedAt != nil || len(cert.VerificationBasis) != 0 {
					t.Errorf("unverified wipe's certificate: verified at %v, basis %q; want neither", cert.VerifiedAt, cert.VerificationBasis)
				}
				return
			}
			want := []string{
				"hardware identity self-reported by the newly enrolled agent (matched by system_serial)",
				tt.basis,
				"continuity rule certificates_revoked: every certificate of the device was revoked or expired (completing the wipe revoked them)",
			}
			if len(cert.VerificationBasis) != len(want) {
				t.Fatalf("certificate's verification basis %q, want %q", cert.VerificationBasis, want)
			}
			for i := range want {
				if !strings.HasPrefix(cert.VerificationBasis[i], want[i]) {
					t.Errorf("verification basis[%d] = %q, want it to start %q", i, cert.VerificationBasis[i], want[i])
				}
			}
			if !strings.Contains(cert.VerificationMethod, "confirmed by a fresh installation: "+got.Verification) {
				t.Errorf("certificate's verification method %q does not carry the verification %q", cert.VerificationMethod, got.Verification)
			}
		})
	}
}

func ptrTime(t time.Time) *time.Time { return &t }

func cloneSnap(t *testing.T, s *wire.Snapshot) *wire.Snapshot {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out wire.Snapshot
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func hasFlag(flags []registry.Flag, name, severity string) bool {
	for _, f := range flags {
		if f.Flag == name && f.Severity == severity {
			return true
		}
	}
	return false
}

// TestCheckInSaysWhenWipeCheckInHasWork pins the commands answer of both
// check-ins, a heartbeat and a report, to what WipeCheckIn finds: true
// exactly while an agent wipe waits to be sent or a completed wipe waits
// for its verification, so the API may skip WipeCheckIn when it is false.
func TestCheckInSaysWhenWipeCheckInHasWork(t *testing.T) {
	t.Parallel()
	f := newWipeFixture(t)
	ctx := context.Background()
	seqs := map[string]uint64{f.dev.DeviceID: 1}
	checkIn := func(t *testing.T, d enrolled, at time.Time, want bool) {
		t.Helper()
		_, beat, err := f.e.reg.Heartbeat(ctx, registry.HeartbeatInput{DeviceID: d.DeviceID, CertSerial: d.serial, Now: at})
		if err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		seqs[d.DeviceID]++
		ack, report, err := f.e.reg.CheckInReport(ctx, registry.ReportInput{DeviceID: d.DeviceID, CertSerial: d.serial, Report: full(t, f.snap, seqs[d.DeviceID]), Now: at})
		if err != nil || ack.Status != wire.AckApplied {
			t.Fatalf("report: %v, %+v", err, ack)
		}
		pending, err := f.e.reg.WipeCheckIn(ctx, d.DeviceID, d.serial, at)
		if err != nil {
			t.Fatalf("check-in: %v", err)
		}
		if beat != want || report != want {
			t.Errorf("heartbeat says commands %v, report %v; want %v (check-in then sent %d)", beat, report, want, len(pending))
		}
	}
	checkIn(t, f.dev, t0.Add(time.Minute), false)

	w := f.start(t, registry.WipeStart{Ref: "WS-1"})
	at := t0.Add(2 * time.Hour)
	checkIn(t, f.dev, at, true)
	if _, err := f.status(w.ID, wire.CommandDelivered, nil, at); err != nil {
		t.Fatal(err)
	}
	checkIn(t, f.dev, at, false)

	// Completed, then the same hardware re-enrols and reports: the next
	// check-in verifies the wipe, and the one after has nothing to do.
	if _, err := f.status(w.ID, wire.CommandCompleted, erased(0), at); err != nil {
		t.Fatal(err)
	}
	reAt := at.Add(48 * time.Hour)
	again := f.e.enroll(t, f.e.secret(t), wire.IdentityOf(f.snap), reAt)
	f.e.apply(t, again, full(t, cloneSnap(t, f.snap), 1), reAt.Add(time.Minute))
	seqs[again.DeviceID] = 1
	checkIn(t, again, reAt.Add(2*time.Minute), true)
	if got, _ := f.e.reg.Wipe(ctx, w.ID); got.State != registry.WipeVerified {
		t.Fatalf("after the check-in the wipe is %s, want verified", got.State)
	}
	checkIn(t, again, reAt.Add(3*time.Minute), false)
}
