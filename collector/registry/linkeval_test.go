package registry_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/assetcsv"
	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/collector/webhook"
	"github.com/rosterhq/roster/shared/wire"
)

// linkPolicies scopes one policy by the linked asset's classification:
// unknown while the device is linked to no asset.
const linkPolicies = `policies:
  - id: LE-ENC-01
    title: All fixed volumes encrypted on confidential assets
    severity: high
    scope:
      classifications: [confidential]
    kind: disk_encryption
    params:
      scope: all_fixed
`

const noAsset = "the device is linked to no asset in the register"

// linkEnv is a registry with linkPolicies in force and one reported
// device whose serial SN-LE-1 no asset names yet.
func linkEnv(t *testing.T) (*env, enrolled, *wire.Snapshot) {
	t.Helper()
	e := newEnv(t)
	e.configure(t, linkPolicies)
	s := registrytest.Rich(t)
	s.Hardware.SystemSerial, s.Hardware.SystemUUID = "SN-LE-1", ""
	d := e.reported(t, s, t0)
	e.wantResult(t, d.DeviceID, "after the report", compliance.StatusUnknown, noAsset, t0)
	return e, d, s
}

// wantResult checks the device's stored LE-ENC-01 result: its status
// (any of pass and fail for "evaluated"), a part of its reason, and when
// it was evaluated.
func (e *env) wantResult(t *testing.T, device, when, status, reason string, at time.Time) {
	t.Helper()
	dc, err := e.reg.DeviceComplianceOf(context.Background(), device)
	if err != nil {
		t.Fatal(err)
	}
	if len(dc.Results) != 1 {
		t.Fatalf("%s: results %+v, want LE-ENC-01 only", when, dc.Results)
	}
	got := dc.Results[0]
	ok := got.Status == status
	if status == "evaluated" {
		ok = got.Status == compliance.StatusPass || got.Status == compliance.StatusFail || got.Status == compliance.StatusInGrace
	}
	if !ok || !strings.Contains(got.Reason, reason) {
		t.Errorf("%s: LE-ENC-01 %s %q, want %s %q", when, got.Status, got.Reason, status, reason)
	}
	if dc.EvaluatedAt == nil || !dc.EvaluatedAt.Equal(at) {
		t.Errorf("%s: evaluated at %v, want %v", when, dc.EvaluatedAt, at)
	}
}

// changedEvents counts the device's compliance.changed events.
func (e *env) changedEvents(t *testing.T, device string) int {
	t.Helper()
	return len(e.events(t, registry.EventFilter{Kind: webhook.KindComplianceChanged, Device: device}))
}

func TestLinkReevaluatesAtOnce(t *testing.T) {
	t.Parallel()
	e, d, _ := linkEnv(t)
	ctx := context.Background()
	e.mustImport(t, "asset_tag,serial,classification,status\nLAP-LE,,confidential,in_service\n", t0)
	e.wantResult(t, d.DeviceID, "after an import that links nothing", compliance.StatusUnknown, noAsset, t0)
	before := e.changedEvents(t, d.DeviceID)

	t1 := t0.Add(time.Minute)
	if _, err := e.reg.LinkAsset(ctx, "LAP-LE", d.DeviceID, admin, t1); err != nil {
		t.Fatal(err)
	}
	e.wantResult(t, d.DeviceID, "after link", "evaluated", "", t1)
	if got := e.changedEvents(t, d.DeviceID); got != before+1 {
		t.Errorf("compliance.changed events after link: %d, want %d", got, before+1)
	}

	t2 := t1.Add(time.Minute)
	if _, err := e.reg.UnlinkAsset(ctx, "LAP-LE", admin, t2); err != nil {
		t.Fatal(err)
	}
	e.wantResult(t, d.DeviceID, "after unlink", compliance.StatusUnknown, noAsset, t2)
	if got := e.changedEvents(t, d.DeviceID); got != before+2 {
		t.Errorf("compliance.changed events after unlink: %d, want %d", got, before+2)
	}

	// A refused link (no such device) evaluates nothing.
	if _, err := e.reg.LinkAsset(ctx, "LAP-LE", "no-such-host", admin, t2.Add(time.Minute)); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("link to an unknown device: %v, want ErrNotFound", err)
	}
	e.wantResult(t, d.DeviceID, "after a refused link", compliance.StatusUnknown, noAsset, t2)
}

func TestAssetChangeRescopes(t *testing.T) {
	t.Parallel()
	e, d, _ := linkEnv(t)
	ctx := context.Background()
	e.mustImport(t, "asset_tag,serial,classification,status\nLAP-LE,sn-le-1,confidential,in_service\n", t0)
	e.wantResult(t, d.DeviceID, "linked to a confidential asset", "evaluated", "", t0)

	t1 := t0.Add(time.Minute)
	if _, err := e.reg.UpdateAsset(ctx, "LAP-LE", registry.AssetInput{Classification: ptr("internal")}, admin, t1); err != nil {
		t.Fatal(err)
	}
	e.wantResult(t, d.DeviceID, "after the classification change", compliance.StatusNotApplicable, "classification internal is out of scope", t1)
	n := e.changedEvents(t, d.DeviceID)

	// A field compliance does not read re-evaluates nothing.
	t2 := t1.Add(time.Minute)
	if _, err := e.reg.UpdateAsset(ctx, "LAP-LE", registry.AssetInput{Location: ptr("Berlin")}, admin, t2); err != nil {
		t.Fatal(err)
	}
	e.wantResult(t, d.DeviceID, "after a location change", compliance.StatusNotApplicable, "out of scope", t1)

	// An import changing it back re-scopes too; one refused for another
	// row's error changes nothing.
	t3 := t2.Add(time.Minute)
	if _, err := e.importCSV(t, "asset_tag,classification,status\nLAP-LE,confidential,in_service\nLAP-BAD,,lost\n", false, t3); err == nil {
		t.Fatal("import with a bad row succeeded")
	}
	e.wantResult(t, d.DeviceID, "after a refused import", compliance.StatusNotApplicable, "out of scope", t1)
	if got := e.changedEvents(t, d.DeviceID); got != n {
		t.Errorf("compliance.changed events after a refused import: %d, want %d", got, n)
	}
	e.mustImport(t, "asset_tag,classification,status\nLAP-LE,confidential,in_service\n", t3)
	e.wantResult(t, d.DeviceID, "after an import back to confidential", "evaluated", "", t3)
	if got := e.changedEvents(t, d.DeviceID); got != n+1 {
		t.Errorf("compliance.changed events after the import: %d, want %d", got, n+1)
	}
}

func TestImportLinksAndEvaluates(t *testing.T) {
	t.Parallel()
	e, d, s := linkEnv(t)
	before := e.changedEvents(t, d.DeviceID)

	// Refused for another row: no link, no evaluation, no event.
	if _, err := e.importCSV(t, "asset_tag,serial,classification,status\nLAP-LE,SN-LE-1,confidential,in_service\nLAP-BAD,,,lost\n", false, t0.Add(time.Minute)); err == nil {
		t.Fatal("import with a bad row succeeded")
	}
	e.wantResult(t, d.DeviceID, "after a refused import", compliance.StatusUnknown, noAsset, t0)

	t1 := t0.Add(2 * time.Minute)
	res := e.mustImport(t, "asset_tag,serial,classification,status\nLAP-LE,SN-LE-1,confidential,in_service\n", t1)
	if res.LinksChanged != 1 {
		t.Fatalf("links changed %d, want 1", res.LinksChanged)
	}
	e.wantResult(t, d.DeviceID, "after the import", "evaluated", "", t1)
	evs := e.events(t, registry.EventFilter{Kind: webhook.KindComplianceChanged, Device: d.DeviceID})
	if len(evs) != before+1 || evs[len(evs)-1].AssetTag != "LAP-LE" || !evs[len(evs)-1].At.Equal(t1) {
		t.Errorf("compliance.changed events %+v, want one more at %v for LAP-LE", evs, t1)
	}

	// The next report evaluates from its facts once; a report that does
	// not change the link adds no second evaluation from the old facts.
	t2 := t1.Add(time.Hour)
	if ack := e.apply(t, d, full(t, s, 2), t2); ack.Status != wire.AckApplied {
		t.Fatalf("report: %+v", ack)
	}
	if got := e.changedEvents(t, d.DeviceID); got != before+1 {
		t.Errorf("compliance.changed events after an unchanged report: %d, want %d", got, before+1)
	}
}

// TestReportThatLinksEvaluatesOnce: a report whose new serial links the
// device is evaluated once, from the report's facts, not first from the
// old ones by the re-link (which would announce a result the report
// replaces at once).
func TestReportThatLinksEvaluatesOnce(t *testing.T) {
	t.Parallel()
	e, d, s := linkEnv(t)
	e.mustImport(t, "asset_tag,serial,classification,status\nLAP-NEW,SN-LE-2,confidential,in_service\n", t0)
	before := e.changedEvents(t, d.DeviceID)
	// The new facts lack encryption: unknown for that reason, where the
	// old facts would evaluate.
	s.Hardware.SystemSerial, s.Encryption = "SN-LE-2", nil
	t1 := t0.Add(time.Hour)
	if ack := e.apply(t, d, full(t, s, 2), t1); ack.Status != wire.AckApplied {
		t.Fatalf("report: %+v", ack)
	}
	if a := e.asset(t, "LAP-NEW"); a.Device == nil || a.Device.ID != d.DeviceID {
		t.Fatalf("LAP-NEW link %+v, want %s", a.Device, d.DeviceID)
	}
	e.wantResult(t, d.DeviceID, "after the report", compliance.StatusUnknown, "", t1)
	if _, res := e.results(t, d.DeviceID); strings.Contains(res["LE-ENC-01"].Reason, noAsset) {
		t.Errorf("after the report: reason %q, want the asset's scope applied", res["LE-ENC-01"].Reason)
	}
	// unknown → unknown for another reason changes no status: nothing to
	// announce, where evaluating the old facts first would announce a
	// pass or fail and its reversal.
	if got := e.changedEvents(t, d.DeviceID); got != before {
		t.Errorf("compliance.changed events: %d, want %d", got, before)
	}
}

// BenchmarkImportLinksReported measures a 100,000-asset import that links
// 1,000 reported devices, each then evaluated in the import's transaction.
func BenchmarkImportLinksReported(b *testing.B) {
	const devices, assets = 1000, 100000
	for b.Loop() {
		b.StopTimer()
		e := newEnvB(b)
		set, err := compliance.Parse([]byte(linkPolicies), "bench.yaml")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.reg.ConfigureCompliance(context.Background(), registry.ComplianceOptions{Set: set, Document: []byte(linkPolicies),
			Source: registry.PolicySourceFile, Name: "bench.yaml"}, t0); err != nil {
			b.Fatal(err)
		}
		s := registrytest.Rich(b)
		for i := range devices {
			s.Hardware.SystemSerial, s.Hardware.SystemUUID = fmt.Sprintf("SN-B-%06d", i), ""
			d := e.enrollB(b, s)
			if ack, err := e.applyB(d, fullB(b, s, 1)); err != nil || ack.Status != wire.AckApplied {
				b.Fatalf("report: %v %+v", err, ack)
			}
		}
		var csv strings.Builder
		csv.WriteString("asset_tag,serial,classification,status\n")
		for i := range assets {
			fmt.Fprintf(&csv, "LAP-%06d,SN-B-%06d,confidential,in_service\n", i, i)
		}
		rows, rerrs, err := assetcsv.Read(strings.NewReader(csv.String()), assetcsv.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := e.reg.ImportAssets(context.Background(), rows, rerrs, registry.ImportOptions{Actor: admin, Now: t0.Add(time.Hour)})
		if err != nil || res.LinksChanged != devices {
			b.Fatalf("import: %v, %d links changed", err, res.LinksChanged)
		}
	}
}
