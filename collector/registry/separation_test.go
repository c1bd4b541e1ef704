package registry_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/registry"
)

// The principals of the separation-of-duties tests.
var (
	helpdeskAlice = access.Actor{Principal: access.Principal{ID: "p-alice", Name: "alice", Kind: access.KindPerson, Role: access.Helpdesk}}
	helpdeskDan   = access.Actor{Principal: access.Principal{ID: "p-dan", Name: "dan", Kind: access.KindPerson, Role: access.Helpdesk}}
	adminBob      = access.Actor{Principal: access.Principal{ID: "p-bob", Name: "bob", Kind: access.KindPerson, Role: access.Admin}}
	adminCarol    = access.Actor{Principal: access.Principal{ID: "p-carol", Name: "carol", Kind: access.KindPerson, Role: access.Admin}}
	auditorErin   = access.Actor{Principal: access.Principal{ID: "p-erin", Name: "erin", Kind: access.KindPerson, Role: access.Auditor}}
	runbook       = access.Actor{Principal: access.Principal{ID: "p-runbook", Name: "runbook", Kind: access.KindAutomation, Role: access.Admin}}
)

func asActor(a access.Actor) context.Context { return access.WithActor(context.Background(), a) }

// auditTrail lists target's audit entries as "action outcome by".
func (e *env) auditTrail(t *testing.T, target string) []string {
	t.Helper()
	entries, _, err := e.reg.ListAudit(context.Background(), registry.AuditFilter{Target: target})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		out = append(out, en.Action+" "+en.Outcome+" "+en.PrincipalName)
	}
	return out
}

func TestExceptionSeparationOfDuties(t *testing.T) {
	t.Parallel()
	type step struct {
		by    access.Actor
		event string // approve, deny or revoke
		at    time.Duration
		want  error
	}
	tests := []struct {
		name      string
		requester access.Actor
		expiresIn time.Duration
		steps     []step
		// after the steps, at the last step's time
		wantStatus, wantCompliance string
		wantAudit                  []string
	}{
		{"pending exempts nothing", helpdeskAlice, 48 * time.Hour, nil,
			registry.ExceptionPending, compliance.StatusFail, []string{"exception.requested ok alice"}},
		{"approved by another principal exempts", helpdeskAlice, 48 * time.Hour, []step{{adminBob, "approve", 0, nil}},
			registry.ExceptionActive, compliance.StatusExempt, []string{"exception.requested ok alice", "exception.approved ok bob"}},
		{"an admin's request approved by another admin", adminBob, 48 * time.Hour, []step{{adminCarol, "approve", 0, nil}},
			registry.ExceptionActive, compliance.StatusExempt, []string{"exception.requested ok bob", "exception.approved ok carol"}},
		{"requester approves own: refused", adminBob, 48 * time.Hour, []step{{adminBob, "approve", 0, registry.ErrSeparation}},
			registry.ExceptionPending, compliance.StatusFail, []string{"exception.requested ok bob", "exception.approved denied bob"}},
		{"requester denies own: refused", adminBob, 48 * time.Hour, []step{{adminBob, "deny", 0, registry.ErrSeparation}},
			registry.ExceptionPending, compliance.StatusFail, []string{"exception.requested ok bob", "exception.denied denied bob"}},
		{"helpdesk cannot approve", helpdeskAlice, 48 * time.Hour, []step{{helpdeskDan, "approve", 0, registry.ErrSeparation}},
			registry.ExceptionPending, compliance.StatusFail, []string{"exception.requested ok alice", "exception.approved denied dan"}},
		{"auditor cannot approve", helpdeskAlice, 48 * time.Hour, []step{{auditorErin, "approve", 0, registry.ErrSeparation}},
			registry.ExceptionPending, compliance.StatusFail, []string{"exception.requested ok alice", "exception.approved denied erin"}},
		{"denied exempts nothing and is final", helpdeskAlice, 48 * time.Hour,
			[]step{{adminBob, "deny", 0, nil}, {adminCarol, "approve", time.Minute, registry.ErrInvalid}, {adminCarol, "revoke", time.Minute, registry.ErrInvalid}},
			registry.ExceptionDenied, compliance.StatusFail,
			[]string{"exception.requested ok alice", "exception.denied ok bob", "exception.approved denied carol"}},
		{"approved twice: refused", helpdeskAlice, 48 * time.Hour, []step{{adminBob, "approve", 0, nil}, {adminCarol, "approve", time.Minute, registry.ErrInvalid}},
			registry.ExceptionActive, compliance.StatusExempt,
			[]string{"exception.requested ok alice", "exception.approved ok bob", "exception.approved denied carol"}},
		{"approval after the expiry: refused", helpdeskAlice, time.Hour, []step{{adminBob, "approve", 2 * time.Hour, registry.ErrInvalid}},
			registry.ExceptionExpired, compliance.StatusFail, []string{"exception.requested ok alice", "exception.approved denied bob"}},
		{"a pending request withdrawn", helpdeskAlice, 48 * time.Hour, []step{{adminBob, "revoke", 0, nil}, {adminCarol, "approve", time.Minute, registry.ErrInvalid}},
			registry.ExceptionRevoked, compliance.StatusFail,
			[]string{"exception.requested ok alice", "exception.revoked ok bob", "exception.approved denied carol"}},
		{"approved then revoked", helpdeskAlice, 48 * time.Hour, []step{{adminBob, "approve", 0, nil}, {adminCarol, "revoke", time.Hour, nil}},
			registry.ExceptionRevoked, compliance.StatusFail,
			[]string{"exception.requested ok alice", "exception.approved ok bob", "exception.revoked ok carol"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.configure(t, failAll)
			d := e.reported(t, snapshotOf(t, debian), t0)
			ex, err := e.reg.RequestException(asActor(tt.requester), registry.ExceptionInput{PolicyID: "TEST-ALL-01", Device: d.DeviceID,
				Reason: "legacy", CompensatingControl: "isolated VLAN", ExpiresAt: t0.Add(tt.expiresIn)}, t0)
			if err != nil {
				t.Fatal(err)
			}
			if ex.Status != registry.ExceptionPending || ex.RequestedBy != tt.requester.Name || ex.RequestedByID != tt.requester.ID || ex.Approver != "" {
				t.Errorf("requested %+v, want pending, by %s, no approver", ex, tt.requester.Name)
			}
			at := t0
			for _, s := range tt.steps {
				at = t0.Add(s.at)
				ctx := asActor(s.by)
				var got registry.ExceptionRecord
				switch s.event {
				case "approve":
					got, err = e.reg.ApproveException(ctx, ex.ID, "ticket SEC-1", at)
				case "deny":
					got, err = e.reg.DenyException(ctx, ex.ID, "no", at)
				case "revoke":
					got, err = e.reg.RevokeException(ctx, ex.ID, at)
				}
				if !errors.Is(err, s.want) || (s.want == nil) != (err == nil) {
					t.Fatalf("%s by %s: got %v, want %v", s.event, s.by.Name, err, s.want)
				}
				if errors.Is(err, registry.ErrSeparation) && !strings.Contains(err.Error(), s.by.Name) && s.by.Role == access.Admin {
					t.Errorf("refusal %q does not say who", err)
				}
				if err == nil && s.event == "approve" && (got.Approver != s.by.Name || got.ApproverID != s.by.ID || got.DecisionNote != "ticket SEC-1") {
					t.Errorf("approved %+v, want the approver %s from the context", got, s.by.ID)
				}
				if err == nil && s.event == "deny" && (got.DeniedBy != s.by.Name || got.Approver != "") {
					t.Errorf("denied %+v, want denied by %s", got, s.by.Name)
				}
			}
			if _, err := e.reg.EvaluateAll(context.Background(), at); err != nil {
				t.Fatal(err)
			}
			got, err := e.reg.Exception(context.Background(), ex.ID, at)
			if err != nil || got.Status != tt.wantStatus {
				t.Errorf("status %s, %v; want %s", got.Status, err, tt.wantStatus)
			}
			if state, _ := e.results(t, d.DeviceID); state != tt.wantCompliance {
				t.Errorf("compliance %s, want %s", state, tt.wantCompliance)
			}
			if diff := strings.Join(e.auditTrail(t, "exception:"+ex.ID), "\n"); diff != strings.Join(tt.wantAudit, "\n") {
				t.Errorf("audit trail:\n%s\nwant:\n%s", diff, strings.Join(tt.wantAudit, "\n"))
			}
			list, err := e.reg.ListExceptions(context.Background(), registry.ExceptionFilter{Status: tt.wantStatus}, at)
			if err != nil || len(list) != 1 || list[0].ID != ex.ID {
				t.Errorf("list status=%s: %+v, %v; want the exception", tt.wantStatus, list, err)
			}
			for _, other := range registry.ExceptionStatuses() {
				if other == tt.wantStatus {
					continue
				}
				if l, _ := e.reg.ListExceptions(context.Background(), registry.ExceptionFilter{Status: other}, at); len(l) != 0 {
					t.Errorf("list status=%s: %d, want none", other, len(l))
				}
			}
		})
	}
}

func TestExceptionListRefusesUnknownStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := e.reg.ListExceptions(context.Background(), registry.ExceptionFilter{Status: "approved"}, t0); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("status approved: %v, want ErrInvalid naming the statuses", err)
	}
}

func TestManualWipeRecordRules(t *testing.T) {
	t.Parallel()
	evidence := []byte("Blancco report: erased OK\n")
	good := registry.ManualWipe{Method: "crypto erase", Tool: "Blancco Drive Eraser", PerformedBy: "Bob (IT)", VerifiedBy: "Carol (IT)",
		Evidence: evidence, EvidenceName: "report.txt"}
	tests := []struct {
		name         string
		singlePerson bool
		ctx          access.Actor
		by           registry.WipeActor
		edit         func(*registry.ManualWipe)
		want         error
		// wantSingle is a fragment of the single-person note ("" none).
		wantSingle string
	}{
		{"two people, another recorder", false, adminBob, recorder, nil, nil, ""},
		{"no evidence", false, adminBob, recorder, func(m *registry.ManualWipe) { m.Evidence = nil }, registry.ErrInvalid, ""},
		{"same performer and verifier", false, adminBob, recorder, func(m *registry.ManualWipe) { m.VerifiedBy = " bob (it)" }, registry.ErrInvalid, ""},
		{"recorder started the offboarding", false, adminBob, offboarder, nil, registry.ErrSeparation, ""},
		{"automation records", false, runbook, recorder, nil, registry.ErrSeparation, ""},
		{"single person: no evidence still refused", true, adminBob, offboarder, func(m *registry.ManualWipe) { m.Evidence = nil }, registry.ErrInvalid, ""},
		{"single person: one person does it all", true, adminBob, offboarder, func(m *registry.ManualWipe) { m.VerifiedBy = "Bob (IT)" }, nil,
			"the same person performed and verified the wipe; the principal who recorded the wipe also started the offboarding"},
		{"single person allowed, two people used", true, adminBob, recorder, nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newWipeFixture(t)
			f.e.reg.AllowSinglePersonWipes(tt.singlePerson)
			w := f.start(t, registry.WipeStart{Ref: "WS-1", Method: registry.WipeMethodManual})
			if w.CreatedByID != offboarder.ID {
				t.Errorf("created_by_id %q, want the starter's principal %q", w.CreatedByID, offboarder.ID)
			}
			m := good
			if tt.edit != nil {
				tt.edit(&m)
			}
			got, err := f.e.reg.RecordWipe(asActor(tt.ctx), w.ID, m, tt.by, t0.Add(2*time.Hour))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			trail := f.e.auditTrail(t, "wipe:"+w.ID)
			if tt.want != nil {
				after, _ := f.e.reg.Wipe(context.Background(), w.ID)
				if after.State != registry.WipeRequested || after.PerformedBy != "" || after.EvidenceSHA256 != "" || f.assetStatus(t) != "offboarding" {
					t.Errorf("a refused record changed the wipe: %+v, asset %s", after, f.assetStatus(t))
				}
				if !slices.Contains(trail, "wipe.recorded denied "+tt.ctx.Name) || slices.ContainsFunc(trail, func(s string) bool { return strings.HasPrefix(s, "wipe.completed") }) {
					t.Errorf("audit trail %q, want the refusal and no completion", trail)
				}
				return
			}
			sum := sha256.Sum256(evidence)
			if got.State != registry.WipeCompleted || got.EvidenceSHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("recorded %+v, want completed with the evidence's hash", got)
			}
			if !strings.Contains(got.SinglePerson, tt.wantSingle) || (tt.wantSingle == "") != (got.SinglePerson == "") {
				t.Errorf("single_person %q, want %q", got.SinglePerson, tt.wantSingle)
			}
			entries, _, err := f.e.reg.ListAudit(context.Background(), registry.AuditFilter{Target: "wipe:" + w.ID, Action: "wipe.recorded"})
			if err != nil || len(entries) != 1 || entries[0].Outcome != audit.OK || !strings.Contains(entries[0].Detail, got.EvidenceSHA256) ||
				!strings.Contains(entries[0].Detail, `"performed_by":"Bob (IT)"`) || !strings.Contains(entries[0].Detail, `"verified_by":"`+m.VerifiedBy+`"`) {
				t.Errorf("audit of the record: %+v, %v", entries, err)
			}
			c, err := f.e.reg.WipeCertificate(context.Background(), w.ID, t0.Add(3*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if c.SinglePersonOperation != (tt.wantSingle != "") || c.SinglePersonDetail != got.SinglePerson {
				t.Errorf("certificate single-person %v %q, want %v %q", c.SinglePersonOperation, c.SinglePersonDetail, tt.wantSingle != "", got.SinglePerson)
			}
		})
	}
}
