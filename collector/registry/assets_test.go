package registry_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/collector/assetcsv"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

var admin = registry.Actor{ID: "tok-1", Name: "alice"}

// importCSV reads csv with assetcsv and imports it.
func (e *env) importCSV(t *testing.T, csv string, dry bool, now time.Time) (registry.ImportResult, error) {
	t.Helper()
	rows, rerrs, err := assetcsv.Read(strings.NewReader(csv), assetcsv.Options{})
	if err != nil {
		t.Fatalf("read csv: %v", err)
	}
	return e.reg.ImportAssets(context.Background(), rows, rerrs, registry.ImportOptions{DryRun: dry, Actor: admin, Now: now})
}

func (e *env) mustImport(t *testing.T, csv string, now time.Time) registry.ImportResult {
	t.Helper()
	res, err := e.importCSV(t, csv, false, now)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return res
}

func (e *env) asset(t *testing.T, tag string) registry.Asset {
	t.Helper()
	a, err := e.reg.Asset(context.Background(), tag)
	if err != nil {
		t.Fatalf("asset %s: %v", tag, err)
	}
	return a
}

// linkOf is "device-id by how", or "" when the asset is unlinked.
func linkOf(a registry.Asset) string {
	if a.Device == nil {
		return ""
	}
	return a.Device.ID + " by " + a.Device.LinkedBy
}

func flagNames(fs []registry.Flag) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.Flag)
	}
	return out
}

func (e *env) device(t *testing.T, ref string) registry.Device {
	t.Helper()
	d, err := e.reg.Device(context.Background(), ref)
	if err != nil {
		t.Fatalf("device %s: %v", ref, err)
	}
	return d
}

func (e *env) registerKinds(t *testing.T, f registry.RegisterFilter) []string {
	t.Helper()
	h, _, err := e.reg.RegisterHistory(context.Background(), f, registry.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range h {
		out = append(out, x.Kind+":"+x.Subject)
	}
	return out
}

func TestLinkingOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sec := e.secret(t)
	const (
		uuidB = "4c4c4544-0042-3510-8052-b7c04f4b4e32"
		uuidX = "9d2a0b1c-3e4f-4a5b-8c6d-7e8f9a0b1c2d"
		macC  = "52:54:00:aa:bb:0c"
	)
	devA := e.enroll(t, sec, wire.Identity{Platform: "linux", Hostname: "a", SystemSerial: "SER-A", SystemUUID: uuidX}, t0)
	devB := e.enroll(t, sec, wire.Identity{Platform: "linux", Hostname: "b", SystemUUID: uuidB}, t0)
	devC := e.enroll(t, sec, wire.Identity{Platform: "linux", Hostname: "c", MACs: []string{macC, "52:54:00:aa:bb:0d"}}, t0)
	// LAP-X names device A's UUID, LAP-A its serial: the serial wins and
	// LAP-X stays unlinked. The UUID is written upper case and
	// byte-swapped, as some firmware tools print it.
	const swapped = "44454C4C-4200-1035-8052-B7C04F4B4E32"
	e.mustImport(t, `asset_tag,serial,status
LAP-A, ser-a ,in_service
VM-B,`+swapped+`,in_service
APP-C,52-54-00-AA-BB-0C,in_service
LAP-X,`+strings.ToUpper(uuidX)+`,in_service
`, t0)
	tests := []struct{ tag, want string }{
		{"LAP-A", devA.DeviceID + " by system_serial"},
		{"VM-B", devB.DeviceID + " by system_uuid"},
		{"APP-C", devC.DeviceID + " by mac"},
		{"LAP-X", ""},
	}
	for _, tt := range tests {
		if got := linkOf(e.asset(t, tt.tag)); got != tt.want {
			t.Errorf("%s linked to %q, want %q", tt.tag, got, tt.want)
		}
	}
	if got := flagNames(e.asset(t, "LAP-X").Flags); !slices.Equal(got, []string{"missing"}) {
		t.Errorf("LAP-X flags %v, want [missing]", got)
	}
	// devices show by asset tag.
	if d := e.device(t, "vm-b"); d.ID != devB.DeviceID || d.Asset == nil || d.Asset.AssetTag != "VM-B" {
		t.Errorf("device by tag vm-b = %s asset %+v, want %s with VM-B", d.ID, d.Asset, devB.DeviceID)
	}
}

func TestManualLinkWins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	sec := e.secret(t)
	d := e.enroll(t, sec, wire.Identity{Platform: "linux", Hostname: "vm-01", SystemSerial: "SN-1"}, t0)
	e.mustImport(t, "asset_tag,serial,status\nLAP-1,SN-1,in_service\nVM-9,,in_service\n", t0)
	if got := linkOf(e.asset(t, "LAP-1")); got != d.DeviceID+" by system_serial" {
		t.Fatalf("LAP-1 = %q, want linked by serial", got)
	}
	if _, err := e.reg.LinkAsset(ctx, "vm-9", "vm-01", admin, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	check := func(when string, wantVM, wantLAP string) {
		t.Helper()
		if got := linkOf(e.asset(t, "VM-9")); got != wantVM {
			t.Errorf("%s: VM-9 = %q, want %q", when, got, wantVM)
		}
		if got := linkOf(e.asset(t, "LAP-1")); got != wantLAP {
			t.Errorf("%s: LAP-1 = %q, want %q", when, got, wantLAP)
		}
	}
	check("after link", d.DeviceID+" by manual", "")
	// Neither a refresh nor a report moves a manual link.
	if _, err := e.reg.RefreshFlags(ctx, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	snap := registrytest.Rich(t)
	snap.Hardware.SystemSerial = "SN-1"
	e.apply(t, d, full(t, snap, 1), t0.Add(3*time.Hour))
	check("after refresh and report", d.DeviceID+" by manual", "")
	if got := flagNames(e.asset(t, "LAP-1").Flags); !slices.Equal(got, []string{"missing"}) {
		t.Errorf("LAP-1 flags %v, want missing while its device is linked by hand elsewhere", got)
	}
	// Unlinking returns the device to automatic matching.
	if _, err := e.reg.UnlinkAsset(ctx, "VM-9", admin, t0.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	check("after unlink", "", d.DeviceID+" by system_serial")
	got := e.registerKinds(t, registry.RegisterFilter{AssetTag: "VM-9"})
	want := []string{"asset.created:", "device.missing:warning", "asset.linked:manual", "device.flag_cleared:missing", "asset.unlinked:manual", "device.missing:warning"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("VM-9 register history (-want +got):\n%s", diff)
	}
	if _, err := e.reg.UnlinkAsset(ctx, "VM-9", admin, t0); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("unlink of an unlinked asset: %v, want ErrInvalid", err)
	}
	if _, err := e.reg.LinkAsset(ctx, "NOPE", "vm-01", admin, t0); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("link of an unknown asset: %v, want ErrNotFound", err)
	}
}

func TestFlagsOverTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	snap := registrytest.Rich(t)
	d := e.enroll(t, e.secret(t), wire.IdentityOf(snap), t0)
	e.apply(t, d, full(t, snap, 1), t0)
	// A device that reports with no asset is unregistered.
	dev := e.device(t, d.DeviceID)
	if !slices.Contains(dev.Flags, registry.FlagUnregistered) || len(dev.FlagDetails) != 1 || !dev.FlagDetails[0].Since.Equal(t0) {
		t.Fatalf("after the first report: flags %v details %+v, want unregistered since %v", dev.Flags, dev.FlagDetails, t0)
	}
	// Registering it clears the flag in the import's transaction.
	e.mustImport(t, "asset_tag,serial,owner,status\nLAP-7,"+snap.Hardware.SystemSerial+",Ada,in_service\n", t0.Add(time.Hour))
	dev = e.device(t, "LAP-7")
	if len(dev.Flags) != 0 || dev.Asset == nil || dev.Asset.Owner != "Ada" {
		t.Fatalf("after import: flags %v asset %+v, want none and owner Ada", dev.Flags, dev.Asset)
	}
	window := registry.DefaultMissingAfter
	for _, tt := range []struct {
		name    string
		at      time.Duration
		missing bool
	}{
		{"a day later", 24 * time.Hour, false},
		{"exactly 14 days", window, false},
		{"14 days and a second", window + time.Second, true},
		{"a month", 30 * 24 * time.Hour, true},
	} {
		if _, err := e.reg.RefreshFlags(ctx, t0.Add(tt.at)); err != nil {
			t.Fatal(err)
		}
		got := e.asset(t, "LAP-7").Flags
		if (len(got) == 1 && got[0].Flag == registry.FlagMissing) != tt.missing {
			t.Errorf("%s: flags %+v, missing want %v", tt.name, got, tt.missing)
		}
		if tt.missing && !got[0].Since.Equal(t0.Add(window+time.Second)) {
			t.Errorf("%s: missing since %v, want the first refresh that saw it, %v", tt.name, got[0].Since, t0.Add(window+time.Second))
		}
	}
	// The device reports again, a delta as its agent sends one: missing
	// clears by itself.
	back := registrytest.Clone(t, snap)
	back.CollectedAt = t0.Add(31 * 24 * time.Hour)
	if ack := e.apply(t, d, delta(t, snap, back, 2), t0.Add(31*24*time.Hour)); ack.Status != wire.AckApplied {
		t.Fatalf("delta: %+v", ack)
	}
	if got := e.asset(t, "LAP-7").Flags; len(got) != 0 {
		t.Errorf("after the device reported again: %+v, want no flags", got)
	}
	got := e.registerKinds(t, registry.RegisterFilter{Device: d.DeviceID})
	want := []string{"device.unregistered:warning", "device.flag_cleared:unregistered", "asset.linked:system_serial", "device.missing:warning", "device.flag_cleared:missing"}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("register history of the device (-want +got):\n%s", diff)
	}
	// A shorter window applies at the next refresh.
	e.reg.SetMissingAfter(24 * time.Hour)
	if _, err := e.reg.RefreshFlags(ctx, t0.Add(33*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := flagNames(e.asset(t, "LAP-7").Flags); !slices.Equal(got, []string{"missing"}) {
		t.Errorf("with a one-day window after two days: %v, want missing", got)
	}
	// A delta within the window changes nothing in the register; one
	// that moves the serial the asset was matched by unlinks it.
	e.reg.SetMissingAfter(0)
	again := registrytest.Clone(t, back)
	again.CollectedAt = t0.Add(34 * 24 * time.Hour)
	e.apply(t, d, delta(t, back, again, 3), t0.Add(34*24*time.Hour))
	if got := flagNames(e.asset(t, "LAP-7").Flags); len(got) != 0 || linkOf(e.asset(t, "LAP-7")) != d.DeviceID+" by system_serial" {
		t.Errorf("after a delta within the window: asset flags %v, link %q, want none and the serial link", got, linkOf(e.asset(t, "LAP-7")))
	}
	moved := registrytest.Clone(t, again)
	moved.CollectedAt = t0.Add(34*24*time.Hour + time.Hour)
	moved.Hardware.SystemSerial = "BOARD-SWAPPED-1"
	e.apply(t, d, delta(t, again, moved, 4), t0.Add(34*24*time.Hour+time.Hour))
	if got := linkOf(e.asset(t, "LAP-7")); got != "" {
		t.Errorf("after a delta that moved the serial: LAP-7 linked to %q, want unlinked", got)
	}
	if dev := e.device(t, d.DeviceID); !slices.Contains(dev.Flags, registry.FlagUnregistered) {
		t.Errorf("after a delta that moved the serial: device flags %v, want unregistered", dev.Flags)
	}
}

func TestNotInServiceAndLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	snap := registrytest.Rich(t)
	d := e.enroll(t, e.secret(t), wire.IdentityOf(snap), t0)
	if _, err := e.reg.AddAsset(ctx, registry.AssetInput{AssetTag: ptr("SRV-1"), Serial: ptr(snap.Hardware.SystemSerial), Status: ptr("In Stock")}, admin, t0); err != nil {
		t.Fatal(err)
	}
	e.apply(t, d, full(t, snap, 1), t0.Add(time.Minute))
	flagOf := func() []registry.Flag { return e.device(t, d.DeviceID).FlagDetails }
	if f := flagOf(); len(f) != 1 || f[0].Flag != registry.FlagNotInService || f[0].Severity != registry.SeverityWarning {
		t.Fatalf("in_stock asset reporting: %+v, want not_in_service warning", f)
	}
	steps := []struct {
		status   string
		wantErr  bool
		wantFlag string
		severity string
	}{
		{"in_service", false, "", ""},
		{"disposed", true, "", ""},
		{"offboarding", false, registry.FlagNotInService, registry.SeverityWarning},
		{"decommissioned", false, registry.FlagNotInService, registry.SeverityWarning},
		{"disposed", false, registry.FlagNotInService, registry.SeverityIncident},
		{"in_service", true, registry.FlagNotInService, registry.SeverityIncident},
	}
	for i, s := range steps {
		_, err := e.reg.UpdateAsset(ctx, "srv-1", registry.AssetInput{Status: ptr(s.status)}, admin, t0.Add(time.Duration(i+2)*time.Minute))
		var re *registry.RowsError
		if got := errors.As(err, &re); got != s.wantErr {
			t.Fatalf("step %d to %s: error %v, want error %v", i, s.status, err, s.wantErr)
		}
		f := flagOf()
		if s.wantFlag == "" {
			if len(f) != 0 {
				t.Errorf("step %d to %s: flags %+v, want none", i, s.status, f)
			}
			continue
		}
		if len(f) != 1 || f[0].Flag != s.wantFlag || f[0].Severity != s.severity {
			t.Errorf("step %d to %s: flags %+v, want %s %s", i, s.status, f, s.wantFlag, s.severity)
		}
	}
	h, _, err := e.reg.RegisterHistory(ctx, registry.RegisterFilter{AssetTag: "SRV-1", Kind: registry.KindAssetStatusChanged}, registry.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, x := range h {
		if x.ActorName != "alice" || x.ActorID != "tok-1" {
			t.Errorf("status change %+v not attributed to alice", x)
		}
		trail = append(trail, x.Old+">"+x.New)
	}
	if diff := cmp.Diff([]string{"in_stock>in_service", "in_service>offboarding", "offboarding>decommissioned", "decommissioned>disposed"}, trail); diff != "" {
		t.Errorf("status trail (-want +got):\n%s", diff)
	}
	if _, err := e.reg.AddAsset(ctx, registry.AssetInput{AssetTag: ptr("srv-1"), Status: ptr("in_stock")}, admin, t0); !errors.Is(err, registry.ErrExists) {
		t.Errorf("adding a taken tag in another case: %v, want ErrExists", err)
	}
}

func ptr(s string) *string { return &s }

// tableCounts counts the register's rows.
func (e *env) tableCounts(t *testing.T) map[string]int {
	t.Helper()
	db := e.rawDB(t)
	out := map[string]int{}
	for _, tbl := range []string{"assets", "asset_links", "flags", "register_history"} {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM " + tbl).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[tbl] = n
	}
	return out
}

func TestImportAllOrNothingAndDryRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustImport(t, `asset_tag,serial,type,owner,status,tags
LAP-1,SN1,laptop,Ada,in_service,finance;eu
LAP-2,SN2,laptop,Bob,disposed,
LAP-3,SN3,laptop,Cy,in_stock,
`, t0)
	before := e.tableCounts(t)
	bad := `asset_tag;serial;owner;status
LAP-1;SN1;Ada Lovelace;in_service
LAP-2;SN2;Bob;in_service
LAP-4;SN3;Dee;in_stock
LAP-5;SN5;Eve;broken
LAP-6;SN6;Fay;
`
	_, err := e.importCSV(t, bad, false, t0.Add(time.Hour))
	var re *registry.RowsError
	if !errors.As(err, &re) || !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("import with bad rows: %v, want *RowsError", err)
	}
	var lines []int
	for _, r := range re.Rows {
		lines = append(lines, r.Line)
	}
	if diff := cmp.Diff([]int{3, 4, 5, 6}, lines); diff != "" {
		t.Errorf("row error lines (-want +got):\n%s\n%+v", diff, re.Rows)
	}
	if after := e.tableCounts(t); !cmp.Equal(before, after) {
		t.Errorf("a refused import wrote: %v, was %v", after, before)
	}
	if got := e.asset(t, "LAP-1").Owner; got != "Ada" {
		t.Errorf("LAP-1 owner %q after a refused import, want Ada", got)
	}

	// The dry run of the same file lists what would happen.
	res, err := e.importCSV(t, bad, true, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := registry.ImportResult{
		DryRun:  true,
		Created: []registry.AssetChange{},
		Updated: []registry.AssetChange{{Line: 2, AssetTag: "LAP-1", Changes: []registry.FieldChange{{Field: "owner", Old: "Ada", New: "Ada Lovelace"}}}},
		Errors: []registry.RowError{
			{Line: 3, AssetTag: "LAP-2", Column: "status", Message: "asset LAP-2: status cannot change from disposed to in_service: disposed is final"},
			{Line: 4, AssetTag: "LAP-4", Column: "serial", Message: `serial "SN3" is also asset LAP-3's: serials must be unique in the register`},
			{Line: 5, Column: "status", Message: `status "broken": want one of ordered, in_stock, in_service, in_repair, offboarding, decommissioned, disposed`},
			{Line: 6, AssetTag: "LAP-6", Column: "status", Message: "status is empty: a new asset needs a lifecycle status (ordered, in_stock, in_service, in_repair, offboarding, decommissioned, disposed)"},
		},
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("dry run (-want +got):\n%s", diff)
	}
	if after := e.tableCounts(t); !cmp.Equal(before, after) {
		t.Errorf("a dry run wrote: %v, was %v", after, before)
	}

	// A good file: tags untouched where the column is absent, unchanged
	// rows counted, a new asset created.
	res = e.mustImport(t, "asset_tag,owner\nlap-1,Ada\nLAP-3,Cyd\n", t0.Add(2*time.Hour))
	if res.Unchanged != 1 || len(res.Updated) != 1 || res.Updated[0].AssetTag != "LAP-3" {
		t.Errorf("second import: %+v, want LAP-1 unchanged and LAP-3 updated", res)
	}
	if got := e.asset(t, "LAP-1").Tags; !slices.Equal(got, []string{"finance", "eu"}) {
		t.Errorf("LAP-1 tags %v, want kept", got)
	}
	rows, err := e.reg.ExportAssets(context.Background())
	if err != nil || len(rows) != 3 || rows[2].Owner != "Cyd" {
		t.Errorf("export: %d rows %v, want 3 with LAP-3 owned by Cyd", len(rows), err)
	}
}

func TestReconcile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	sec := e.secret(t)
	ada := e.enroll(t, sec, wire.Identity{Platform: "linux", Hostname: "ada-laptop", SystemSerial: "S1"}, t0)
	e.enroll(t, sec, wire.Identity{Platform: "linux", Hostname: "bob-laptop", SystemSerial: "S2"}, t0)
	stray := e.enroll(t, sec, wire.Identity{Platform: "linux", Hostname: "stray", SystemSerial: "S9"}, t0)
	e.mustImport(t, `asset_tag,serial,owner,owner_email,status
LAP-1,S1,Ada Lovelace,ada@example.com,in_service
LAP-2,S2,Carol,carol@example.com,in_service
LAP-3,S3,Dan,,in_service
`, t0)
	rule, err := registry.ParseHostnameRule(`^(?P<owner>[a-z]+)-laptop$`)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := e.reg.Reconcile(ctx, rule, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := registry.ReconcileSummary{Matched: 2, Unregistered: 1, Missing: 1, Mismatches: 1}
	if diff := cmp.Diff(want, rep.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if len(rep.Unregistered) != 1 || rep.Unregistered[0].DeviceID != stray.DeviceID || len(rep.Missing) != 1 || rep.Missing[0].AssetTag != "LAP-3" {
		t.Errorf("unregistered %+v missing %+v, want stray and LAP-3", rep.Unregistered, rep.Missing)
	}
	// ada-laptop matches the local part of Ada's email; bob-laptop is
	// Carol's asset.
	wantMM := []registry.ReconcileMismatch{
		{AssetTag: "LAP-2", DeviceID: rep.Matched[1].DeviceID, Hostname: "bob-laptop", Field: "owner", Register: "Carol <carol@example.com>", Reported: "bob"},
	}
	if diff := cmp.Diff(wantMM, rep.Mismatches); diff != "" {
		t.Errorf("mismatches (-want +got):\n%s", diff)
	}
	if rep.Matched[0].DeviceID != ada.DeviceID {
		t.Errorf("LAP-1 matched %s, want %s", rep.Matched[0].DeviceID, ada.DeviceID)
	}
	// A hostname that does not follow a tag rule is a mismatch itself.
	tagRule, _ := registry.ParseHostnameRule(`^(?P<tag>[A-Z]+-\d+)`)
	rep, err = e.reg.Reconcile(ctx, tagRule, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Mismatches) != 2 || rep.Mismatches[0].Field != "hostname" || rep.Mismatches[0].Reported != "ada-laptop" {
		t.Errorf("tag rule mismatches %+v, want both hostnames", rep.Mismatches)
	}
	for _, bad := range []string{`(`, `^[a-z]+$`, `(?P<user>x)`} {
		if _, err := registry.ParseHostnameRule(bad); !errors.Is(err, registry.ErrInvalid) {
			t.Errorf("rule %q: %v, want ErrInvalid", bad, err)
		}
	}
}
