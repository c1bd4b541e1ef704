package registry_test

import (
	"context"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/registry"
)

// The console's fleet lists: open flags with their subject's name, wipes
// newest first, a page at a time, and the compliance filter of devices.
func TestConsoleLists(t *testing.T) {
	ctx := context.Background()
	f := newWipeFixture(t)
	reg := f.e.reg

	// The device reported before its asset existed: it was unregistered
	// until AddAsset linked it, so no device flag is left; an in-service
	// asset with no device is missing.
	if _, err := reg.AddAsset(ctx, registry.AssetInput{AssetTag: strp("WS-2"), Serial: strp("NO-SUCH-SERIAL"), Status: strp("in_service")}, wipeAdmin, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.RefreshFlags(ctx, t0.Add(30*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	flags, next, err := reg.ListFlags(ctx, registry.FlagFilter{}, registry.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if next != "" || len(flags) == 0 {
		t.Fatalf("flags = %+v, next %q", flags, next)
	}
	var missing *registry.FlagEntry
	for i, fl := range flags {
		if fl.Flag.Flag == "missing" && fl.Name == "WS-2" {
			missing = &flags[i]
		}
	}
	if missing == nil || missing.Subject != "asset" {
		t.Fatalf("no missing flag on asset WS-2 in %+v", flags)
	}
	counts, err := reg.CountFlags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	if total != len(flags) || counts["missing"] == 0 {
		t.Errorf("flag counts %v, want %d flags in all with a missing one", counts, len(flags))
	}
	only, _, err := reg.ListFlags(ctx, registry.FlagFilter{Flag: "missing", Subject: "asset"}, registry.Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, fl := range only {
		if fl.Flag.Flag != "missing" || fl.Subject != "asset" {
			t.Errorf("filter let through %+v", fl)
		}
	}
	// Paging one at a time visits every flag once.
	var paged []registry.FlagEntry
	cursor := ""
	for {
		items, next, err := reg.ListFlags(ctx, registry.FlagFilter{}, registry.Page{Limit: 1, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, items...)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(paged) != len(flags) {
		t.Errorf("paging gave %d flags, one page %d", len(paged), len(flags))
	}

	first := f.start(t, registry.WipeStart{Ref: f.dev.DeviceID})
	if _, err := reg.CancelWipe(ctx, first.ID, offboarder, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	second, err := reg.StartWipe(ctx, registry.WipeStart{Ref: f.dev.DeviceID, Ticket: "HR-124", Reason: "leaver", Actor: offboarder}, t0.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	wipes, next, err := reg.ListWipes(ctx, registry.WipeFilter{}, registry.Page{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(wipes) != 1 || wipes[0].ID != second.ID || next == "" {
		t.Fatalf("first page = %+v next %q, want the newest wipe %s", wipes, next, second.ID)
	}
	rest, next, err := reg.ListWipes(ctx, registry.WipeFilter{}, registry.Page{Limit: 1, Cursor: next})
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 1 || rest[0].ID != first.ID || next != "" {
		t.Fatalf("second page = %+v next %q, want %s", rest, next, first.ID)
	}
	cancelled, _, err := reg.ListWipes(ctx, registry.WipeFilter{State: "cancelled"}, registry.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cancelled) != 1 || cancelled[0].ID != first.ID {
		t.Fatalf("cancelled = %+v", cancelled)
	}

	states, err := reg.ComplianceStates(ctx, []string{f.dev.DeviceID, "no-such-device"})
	if err != nil {
		t.Fatal(err)
	}
	st := states[f.dev.DeviceID]
	if st == "" || len(states) != 1 {
		t.Fatalf("compliance states = %v", states)
	}
	devs, _, err := reg.ListDevices(ctx, registry.DeviceFilter{Compliance: st}, registry.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || devs[0].ID != f.dev.DeviceID {
		t.Errorf("devices with compliance %s = %+v", st, devs)
	}
	other := "pass"
	if st == "pass" {
		other = "fail"
	}
	if devs, _, err = reg.ListDevices(ctx, registry.DeviceFilter{Compliance: other}, registry.Page{}); err != nil || len(devs) != 0 {
		t.Errorf("devices with compliance %s = %+v, %v", other, devs, err)
	}
	if _, _, err := reg.ListDevices(ctx, registry.DeviceFilter{Compliance: "green"}, registry.Page{}); err == nil {
		t.Error("compliance green accepted")
	}
}
