package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/collector/webhook"
	"github.com/rosterhq/roster/shared/wire"
)

// snapshotOf returns a clone of one captured host's golden snapshot.
func snapshotOf(t *testing.T, name string) *wire.Snapshot {
	t.Helper()
	s, ok := registrytest.Snapshots(t)[name]
	if !ok {
		t.Skipf("no golden snapshot %s", name)
	}
	return registrytest.Clone(t, s)
}

const (
	mac    = "darwin/macbookpro10-1-xml"
	debian = "linux/debian12-firecracker-vm"
)

// configure puts a policy document (and endpoints) in force.
func (e *env) configure(t testing.TB, doc string, eps ...webhook.Endpoint) *compliance.Set {
	t.Helper()
	set, err := compliance.Parse([]byte(doc), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.reg.ConfigureCompliance(context.Background(), registry.ComplianceOptions{
		Set: set, Document: []byte(doc), Source: registry.PolicySourceFile, Name: "test.yaml",
		MaxExceptionValidity: 30 * 24 * time.Hour, Endpoints: eps,
	}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (e *env) reported(t testing.TB, s *wire.Snapshot, now time.Time) enrolled {
	t.Helper()
	d := e.enroll(t, e.secret(t), wire.IdentityOf(s), now)
	if ack := e.apply(t, d, full(t, s, 1), now); ack.Status != wire.AckApplied {
		t.Fatalf("report: %+v", ack)
	}
	return d
}

func (e *env) results(t *testing.T, device string) (string, map[string]registry.ResultRecord) {
	t.Helper()
	dc, err := e.reg.DeviceComplianceOf(context.Background(), device)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]registry.ResultRecord{}
	for _, r := range dc.Results {
		out[r.PolicyID] = r
	}
	return dc.State, out
}

func (e *env) events(t testing.TB, f registry.EventFilter) []registry.EventRecord {
	t.Helper()
	evs, _, err := e.reg.Events(context.Background(), f, registry.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func eventKinds(evs []registry.EventRecord) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

func TestEvaluateOnReportMatchesEngine(t *testing.T) {
	t.Parallel()
	for _, name := range []string{mac, debian} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			set := e.configure(t, string(compliance.DefaultFile()))
			s := snapshotOf(t, name)
			d := e.reported(t, s, t0)

			want := set.Evaluate(compliance.Input{DeviceID: d.DeviceID, Facts: compliance.FactsFromSnapshot(s),
				LastSeen: t0, Software: compliance.SoftwareList(s.Software.Packages), Now: t0})
			state, got := e.results(t, d.DeviceID)
			if state != compliance.Worst(want) {
				t.Errorf("state %q, want %q", state, compliance.Worst(want))
			}
			if len(got) != len(want) {
				t.Errorf("%d results stored, want %d", len(got), len(want))
			}
			for _, w := range want {
				g := got[w.PolicyID]
				if g.Status != w.Status || g.Reason != w.Reason {
					t.Errorf("%s: got %s %q, want %s %q", w.PolicyID, g.Status, g.Reason, w.Status, w.Reason)
				}
			}
			// The first evaluation is a change from nothing.
			evs := e.events(t, registry.EventFilter{Kind: webhook.KindComplianceChanged})
			if len(evs) != 1 || evs[0].DeviceID != d.DeviceID {
				t.Fatalf("compliance.changed events %v, want one for %s", evs, d.DeviceID)
			}
			// The same report again changes nothing and says nothing.
			s2 := registrytest.Clone(t, s)
			if ack := e.apply(t, d, full(t, s2, 2), t0.Add(time.Minute)); ack.Status != wire.AckApplied {
				t.Fatalf("second report: %+v", ack)
			}
			if evs := e.events(t, registry.EventFilter{Kind: "compliance.*"}); len(evs) != 1 {
				t.Errorf("after an unchanged report: events %v, want only the first", eventKinds(evs))
			}
		})
	}
}

const failAll = `policies:
  - id: TEST-ALL-01
    title: never holds
    severity: high
    kind: cel
    expr: device.platform == "plan9"
    fail_reason: not plan 9
`

const linuxOnly = `policies:
  - id: TEST-LINUX-01
    title: linux
    severity: low
    kind: cel
    expr: device.platform == "linux"
  - id: TEST-BAN-01
    title: no 1Password
    severity: high
    kind: banned_software
    params:
      name: "1password*"
`

func TestPolicyChangeReevaluatesFleet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.configure(t, failAll)
	dm := e.reported(t, snapshotOf(t, mac), t0)
	dd := e.reported(t, snapshotOf(t, debian), t0)
	for _, d := range []string{dm.DeviceID, dd.DeviceID} {
		if state, _ := e.results(t, d); state != compliance.StatusFail {
			t.Fatalf("%s under failAll: %s, want fail", d, state)
		}
	}

	ctx := context.Background()
	_, rec, stats, err := e.reg.ReplacePolicies(ctx, []byte(linuxOnly), "alice", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Source != registry.PolicySourceAPI || rec.CreatedBy != "alice" || stats.Devices != 2 || stats.Changed != 2 {
		t.Errorf("replace: record %+v, stats %+v; want an api set by alice and 2 of 2 devices changed", rec, stats)
	}
	tests := []struct {
		device           string
		state, linux, bn string
	}{
		{dm.DeviceID, compliance.StatusFail, compliance.StatusFail, compliance.StatusFail},
		{dd.DeviceID, compliance.StatusPass, compliance.StatusPass, compliance.StatusPass},
	}
	for _, tt := range tests {
		state, got := e.results(t, tt.device)
		if state != tt.state || got["TEST-LINUX-01"].Status != tt.linux || got["TEST-BAN-01"].Status != tt.bn {
			t.Errorf("%s: state %s, results %+v; want %s, linux %s, banned %s", tt.device, state, got, tt.state, tt.linux, tt.bn)
		}
		if _, ok := got["TEST-ALL-01"]; ok {
			t.Errorf("%s: result of the replaced policy TEST-ALL-01 is still stored", tt.device)
		}
	}
	banned := e.events(t, registry.EventFilter{Kind: webhook.KindSoftwareBanned})
	if len(banned) != 1 || banned[0].DeviceID != dm.DeviceID {
		t.Errorf("software.banned events %+v, want one for the Mac", banned)
	}
	// The policy change is announced once for the fleet, not per device.
	since := t0.Add(time.Hour)
	if evs := e.events(t, registry.EventFilter{Kind: webhook.KindComplianceChanged, Since: &since}); len(evs) != 0 {
		t.Errorf("compliance.changed events after the policy change: %+v, want none", evs)
	}
	fleet := e.events(t, registry.EventFilter{Kind: webhook.KindComplianceFleetChanged})
	if len(fleet) != 1 || fleet[0].DeviceID != "" || !fleet[0].At.Equal(since) {
		t.Fatalf("compliance.fleet_changed events %+v, want one at %s", fleet, since)
	}
	var got registry.FleetChange
	if err := json.Unmarshal(fleet[0].Data, &got); err != nil {
		t.Fatal(err)
	}
	byState := map[string]int{}
	for _, s := range compliance.Statuses() {
		byState[s] = 0
	}
	byState[compliance.StatusFail], byState[compliance.StatusPass] = 1, 1
	want := registry.FleetChange{PolicySetID: rec.ID, Devices: 2, Changed: 2, ByState: byState, Policies: []registry.FleetPolicyChange{
		{PolicyID: "TEST-ALL-01", Changed: map[string]int{registry.StatusRemoved: 2}},
		{PolicyID: "TEST-BAN-01", Changed: map[string]int{compliance.StatusFail: 1, compliance.StatusPass: 1}},
		{PolicyID: "TEST-LINUX-01", Changed: map[string]int{compliance.StatusFail: 1, compliance.StatusPass: 1}},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("compliance.fleet_changed data (-want +got):\n%s", diff)
	}

	// A bad document is refused and changes nothing.
	before := e.events(t, registry.EventFilter{})
	if _, _, _, err := e.reg.ReplacePolicies(ctx, []byte("policies:\n  - id: X\n"), "alice", t0.Add(2*time.Hour)); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("invalid policies: err %v, want ErrInvalid", err)
	}
	set, _, err := e.reg.PolicySet(ctx)
	if err != nil || len(set.Policies()) != 2 {
		t.Errorf("after a refused change: %v, %d policies, want the 2 of linuxOnly", err, len(set.Policies()))
	}
	if after := e.events(t, registry.EventFilter{}); len(after) != len(before) {
		t.Errorf("a refused change recorded events: %d → %d", len(before), len(after))
	}

	// Re-evaluating with nothing changed writes nothing.
	if stats, err := e.reg.EvaluateAll(ctx, t0.Add(3*time.Hour)); err != nil || stats.Changed != 0 {
		t.Errorf("idle re-evaluation: %+v, %v; want nothing changed", stats, err)
	}
	// A later evaluation is not a policy change: changes it finds are
	// announced per device again.
	if stats, err := e.reg.EvaluateAll(ctx, t0.Add(30*24*time.Hour)); err != nil || stats.Changed != 2 {
		t.Fatalf("evaluation a month on: %+v, %v; want both devices stale", stats, err)
	}
	if n := len(e.events(t, registry.EventFilter{Kind: webhook.KindComplianceFleetChanged})); n != 1 {
		t.Errorf("%d compliance.fleet_changed events, want still 1", n)
	}
	late := t0.Add(30 * 24 * time.Hour)
	if evs := e.events(t, registry.EventFilter{Kind: webhook.KindComplianceChanged, Since: &late}); len(evs) != 2 {
		t.Errorf("compliance.changed events a month on: %d, want 2", len(evs))
	}
}

func TestExceptionExemptsUntilExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.configure(t, failAll)
	d := e.reported(t, snapshotOf(t, debian), t0)
	ctx := asActor(helpdeskAlice)
	expiry := t0.Add(48 * time.Hour)
	good := registry.ExceptionInput{PolicyID: "TEST-ALL-01", Device: d.DeviceID, Reason: "legacy", CompensatingControl: "isolated VLAN",
		ExpiresAt: expiry}
	request := func(in registry.ExceptionInput, now time.Time) registry.ExceptionRecord {
		t.Helper()
		ex, err := e.reg.RequestException(ctx, in, now)
		if err != nil {
			t.Fatal(err)
		}
		if ex, err = e.reg.ApproveException(asActor(adminBob), ex.ID, "", now); err != nil {
			t.Fatal(err)
		}
		return ex
	}

	bad := []struct {
		name string
		edit func(*registry.ExceptionInput)
		want error
	}{
		{"unknown policy", func(in *registry.ExceptionInput) { in.PolicyID = "NOPE-01" }, registry.ErrInvalid},
		{"no control", func(in *registry.ExceptionInput) { in.CompensatingControl = " " }, registry.ErrInvalid},
		{"no reason", func(in *registry.ExceptionInput) { in.Reason = "" }, registry.ErrInvalid},
		{"past expiry", func(in *registry.ExceptionInput) { in.ExpiresAt = t0 }, registry.ErrInvalid},
		{"beyond the maximum", func(in *registry.ExceptionInput) { in.ExpiresAt = t0.Add(31 * 24 * time.Hour) }, registry.ErrInvalid},
		{"unknown device", func(in *registry.ExceptionInput) { in.Device = "no-such-host" }, registry.ErrNotFound},
		{"unknown asset", func(in *registry.ExceptionInput) { in.Device, in.AssetTag = "", "NO-SUCH-TAG" }, registry.ErrNotFound},
	}
	for _, tt := range bad {
		in := good
		tt.edit(&in)
		if _, err := e.reg.RequestException(ctx, in, t0); !errors.Is(err, tt.want) {
			t.Errorf("%s: err %v, want %v", tt.name, err, tt.want)
		}
	}

	ex := request(good, t0)
	if ex.Status != registry.ExceptionActive || ex.RequestedBy != "alice" || ex.Approver != "bob" || !ex.ExpiresAt.Equal(expiry) {
		t.Errorf("created %+v", ex)
	}
	steps := []struct {
		at   time.Time
		want string
	}{
		{t0, compliance.StatusExempt},                           // at once, without a report
		{expiry.Add(-time.Nanosecond), compliance.StatusExempt}, // valid until the instant of expiry
		{expiry, compliance.StatusFail},                         // and fails again by itself
	}
	for _, s := range steps {
		if s.at != t0 {
			if _, err := e.reg.EvaluateAll(ctx, s.at); err != nil {
				t.Fatal(err)
			}
		}
		state, got := e.results(t, d.DeviceID)
		r := got["TEST-ALL-01"]
		wantEx := ""
		if s.want == compliance.StatusExempt {
			wantEx = ex.ID
		}
		if state != s.want || r.Status != s.want || r.ExceptionID != wantEx {
			t.Errorf("at %s: state %s, result %+v; want %s with exception %q", s.at, state, r, s.want, wantEx)
		}
	}
	list, err := e.reg.ListExceptions(ctx, registry.ExceptionFilter{Device: d.DeviceID}, expiry)
	if err != nil || len(list) != 1 || list[0].Status != registry.ExceptionExpired {
		t.Errorf("list after expiry: %+v, %v; want it expired", list, err)
	}
	if active, _ := e.reg.ListExceptions(ctx, registry.ExceptionFilter{Active: true}, expiry); len(active) != 0 {
		t.Errorf("active after expiry: %+v", active)
	}

	// Revoking ends a valid exception at once.
	good.ExpiresAt = expiry.Add(24 * time.Hour)
	ex2 := request(good, expiry)
	if state, _ := e.results(t, d.DeviceID); state != compliance.StatusExempt {
		t.Errorf("with a second exception: state %s, want exempt", state)
	}
	rv, err := e.reg.RevokeException(asActor(adminBob), ex2.ID, expiry.Add(time.Hour))
	if err != nil || rv.Status != registry.ExceptionRevoked || rv.RevokedBy != "bob" {
		t.Fatalf("revoke: %+v, %v", rv, err)
	}
	if state, _ := e.results(t, d.DeviceID); state != compliance.StatusFail {
		t.Errorf("after revoking: state %s, want fail", state)
	}
	if _, err := e.reg.RevokeException(asActor(adminBob), ex2.ID, expiry.Add(time.Hour)); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("second revoke: %v, want ErrInvalid", err)
	}
}

func TestDriftEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.configure(t, linuxOnly)
	s := snapshotOf(t, mac)
	d := e.reported(t, s, t0)

	s2 := registrytest.Clone(t, s)
	s2.Encryption.System.Encrypted, s2.Encryption.System.Status = wire.No, "off"
	for i := range s2.Encryption.Volumes {
		s2.Encryption.Volumes[i].Encrypted, s2.Encryption.Volumes[i].Status = wire.No, "off"
	}
	s2.OS.Version = "14.0"
	last := len(s2.Software.Packages) - 1
	removed := s2.Software.Packages[last]
	s2.Software.Packages = s2.Software.Packages[:last]
	added := wire.Package{Name: "roster-drift-test", Version: "1.0", Source: removed.Source}
	s2.Software.Packages = append(s2.Software.Packages, added)
	if ack := e.apply(t, d, full(t, s2, 2), t0.Add(time.Hour)); ack.Status != wire.AckApplied {
		t.Fatalf("second report: %+v", ack)
	}
	evs := slices.DeleteFunc(e.events(t, registry.EventFilter{Since: timeRef(t0.Add(time.Hour))}), func(r registry.EventRecord) bool {
		return r.Kind == webhook.KindComplianceChanged // the policies' business, not drift
	})
	got := eventKinds(evs)
	slices.Sort(got)
	want := []string{webhook.KindEncryptionDisabled, webhook.KindOSUpgraded, webhook.KindSoftwareInstalled, webhook.KindSoftwareRemoved}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("drift events (-want +got):\n%s", diff)
	}
	for _, ev := range evs {
		var data map[string]any
		if err := json.Unmarshal(ev.Data, &data); err != nil || ev.DeviceID != d.DeviceID || ev.Subject == "" {
			t.Errorf("%s: device %q subject %q data %s (%v)", ev.Kind, ev.DeviceID, ev.Subject, ev.Data, err)
		}
		switch ev.Kind {
		case webhook.KindSoftwareInstalled:
			if data["name"] != added.Name || data["version"] != added.Version {
				t.Errorf("software.installed data %v, want %s %s", data, added.Name, added.Version)
			}
		case webhook.KindOSUpgraded:
			if data["old_version"] != s.OS.Version || data["new_version"] != "14.0" {
				t.Errorf("os.upgraded data %v", data)
			}
		}
	}
	// Filters: by kind glob and by device.
	// The Mac has 1Password, banned by linuxOnly, since its first report.
	wantSW := []string{webhook.KindSoftwareBanned, webhook.KindSoftwareInstalled, webhook.KindSoftwareRemoved}
	if got := eventKinds(e.events(t, registry.EventFilter{Kind: "software.*"})); !cmp.Equal(slices.Sorted(slices.Values(got)), wantSW) {
		t.Errorf("kind software.*: %v, want %v", got, wantSW)
	}
	if got := e.events(t, registry.EventFilter{Kind: webhook.KindOSUpgraded, Device: d.DeviceID}); len(got) != 1 {
		t.Errorf("kind os.upgraded of the device: %v, want 1", eventKinds(got))
	}
	if _, _, err := e.reg.Events(context.Background(), registry.EventFilter{Kind: "nope.*"}, registry.Page{}); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("unknown kind filter: %v, want ErrInvalid", err)
	}
}

func timeRef(v time.Time) *time.Time { return &v }

// deliveries counts webhook deliveries per endpoint and event kind.
func (e *env) deliveries(t *testing.T) map[string]int {
	t.Helper()
	db := e.rawDB(t)
	rows, err := db.Query(`SELECT d.endpoint_id, e.kind, count(*) FROM webhook_deliveries d JOIN events e ON e.n = d.event_n GROUP BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var ep, kind string
		var n int
		if err := rows.Scan(&ep, &kind, &n); err != nil {
			t.Fatal(err)
		}
		out[ep+" "+kind] = n
	}
	return out
}

func TestOutboxFanOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	eps := []webhook.Endpoint{
		{ID: "siem", URL: "https://siem.example/hook", Secret: "s1", Events: []string{"compliance.*"}, Enabled: true},
		{ID: "chat", URL: "https://chat.example/hook", Secret: "s2", Events: []string{"software.installed", "device.*"}, Enabled: true},
		{ID: "off", URL: "https://off.example/hook", Secret: "s3", Events: []string{"*"}, Enabled: false},
	}
	e.configure(t, failAll, eps...)
	s := snapshotOf(t, mac)
	d := e.reported(t, s, t0)
	s2 := registrytest.Clone(t, s)
	s2.Software.Packages = append(s2.Software.Packages, wire.Package{Name: "roster-fanout", Version: "1", Source: "app"})
	e.apply(t, d, full(t, s2, 2), t0.Add(time.Minute))

	got := e.deliveries(t)
	// The device links to no asset: the register flags it, and "device.*"
	// asked for that too.
	want := map[string]int{"siem compliance.changed": 1, "chat software.installed": 1, "chat device.unregistered": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deliveries per endpoint and kind (-want +got):\n%s", diff)
	}

	// An event and its deliveries commit together: a batch whose second
	// event cannot be stored (a duplicate id) leaves neither behind.
	ctx := context.Background()
	before := e.deliveries(t)
	ev := webhook.Event{ID: "7d1f2c4e-0000-4000-8000-000000000001", Kind: webhook.KindComplianceChanged, At: t0, DeviceID: d.DeviceID}
	if _, err := e.reg.RecordEvents(ctx, []webhook.Event{ev, ev}); err == nil {
		t.Fatal("recording a duplicate event id succeeded")
	}
	if after := e.deliveries(t); !cmp.Equal(before, after) {
		t.Errorf("a failed batch left deliveries: %v → %v", before, after)
	}
	if evs := e.events(t, registry.EventFilter{}); slices.ContainsFunc(evs, func(r registry.EventRecord) bool { return r.ID == ev.ID }) {
		t.Error("a failed batch left its event")
	}
	n, err := e.reg.RecordEvents(ctx, []webhook.Event{ev})
	if err != nil || n != 1 {
		t.Errorf("record one compliance event: %d deliveries, %v; want 1 (siem)", n, err)
	}
}

func TestPoliciesSurviveRestart(t *testing.T) {
	t.Parallel()
	store := registry.NewTestStore(t)
	ctx := context.Background()
	open := func() *registry.Registry {
		r, err := registry.OpenAndMigrate(ctx, store, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	start := func(r *registry.Registry, doc string) []string {
		set, err := compliance.Parse([]byte(doc), "p.yaml")
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.ConfigureCompliance(ctx, registry.ComplianceOptions{Set: set, Document: []byte(doc), Source: registry.PolicySourceFile, Name: "p.yaml"}, t0)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, p := range got.Policies() {
			ids = append(ids, p.ID)
		}
		return ids
	}
	r := open()
	if got := start(r, failAll); !cmp.Equal(got, []string{"TEST-ALL-01"}) {
		t.Fatalf("first start: %v", got)
	}
	if _, _, _, err := r.ReplacePolicies(ctx, []byte(linuxOnly), "alice", t0); err != nil {
		t.Fatal(err)
	}
	r.Close()

	steps := []struct {
		name, file string
		want       []string
	}{
		{"same file: the API change stays", failAll, []string{"TEST-LINUX-01", "TEST-BAN-01"}},
		{"edited file: the file wins", linuxOnly + "  - id: TEST-X-01\n    title: x\n    severity: low\n    kind: cel\n    expr: \"true\"\n", []string{"TEST-LINUX-01", "TEST-BAN-01", "TEST-X-01"}},
		{"back to the first file: newer than the API change too", failAll, []string{"TEST-ALL-01"}},
	}
	for _, s := range steps {
		r := open()
		if got := start(r, s.file); !cmp.Equal(got, s.want) {
			t.Errorf("%s: policies %v, want %v", s.name, got, s.want)
		}
		r.Close()
	}
	r = open()
	defer r.Close()
	hist, err := r.PolicySetHistory(ctx)
	if err != nil || len(hist) != 4 || hist[len(hist)-2].CreatedBy != "alice" {
		t.Errorf("policy set history: %+v, %v; want 4 versions with alice's API change", hist, err)
	}
}

// TestFleetEvaluationRecordsTheDay checks that the day's counts a fleet
// evaluation records from its own results are those Summary reads from
// the stored ones, after a change (every device rewritten) and after an
// idle evaluation (no device rewritten, every one still counted).
func TestFleetEvaluationRecordsTheDay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	var facts []compliance.Facts
	for _, s := range registrytest.Snapshots(t) {
		facts = append(facts, compliance.FactsFromSnapshot(s))
	}
	if err := registry.SeedFleet(ctx, e.reg, 3*len(facts)+1, facts, [][]wire.Package{nil}, t0); err != nil {
		t.Fatal(err)
	}
	day := func(now time.Time) []registry.TrendPoint {
		t.Helper()
		pts, err := e.reg.ComplianceTrend(ctx, 1, now)
		if err != nil {
			t.Fatal(err)
		}
		return pts
	}
	for i, now := range []time.Time{t0.Add(time.Hour), t0.Add(2 * time.Hour)} {
		stats, err := e.reg.EvaluateAll(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if want := 3*len(facts) + 1; stats.Devices != want || (i == 1) != (stats.Changed == 0) {
			t.Fatalf("evaluation %d: %+v; want %d devices, changed only the first time", i, stats, want)
		}
		got := day(now)
		// RecordComplianceDay replaces the day's rows with Summary's.
		if err := e.reg.RecordComplianceDay(ctx, now); err != nil {
			t.Fatal(err)
		}
		want := day(now)
		if want[0].Devices != stats.Devices {
			t.Fatalf("summary counts %d devices, want %d", want[0].Devices, stats.Devices)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("evaluation %d: recorded day (-summary +evaluation):\n%s", i, diff)
		}
	}
}

// TestFleetEvaluationFollowsReportsOfAnotherCollector checks the fleet
// evaluation's cache of decoded facts and results: after a report applied
// by another collector sharing the store changed a device's facts, the
// next fleet evaluation works from the new facts, never the ones it
// decoded before, so it finds the report's results and leaves them be.
func TestFleetEvaluationFollowsReportsOfAnotherCollector(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	doc := string(compliance.DefaultFile())
	e.configure(t, doc)
	s := snapshotOf(t, mac)
	d := e.reported(t, s, t0)
	// The first evaluation fills the cache, the second answers from it.
	for i := range 2 {
		if _, err := e.reg.EvaluateAll(ctx, t0.Add(time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	_, before := e.results(t, d.DeviceID)

	other := &env{reg: registry.OpenTestStore(t, e.store), ca: e.ca, store: e.store, path: e.path}
	other.configure(t, doc)
	s2 := registrytest.Clone(t, s)
	s2.Encryption.System.Encrypted, s2.Encryption.System.Status = wire.No, "off"
	for i := range s2.Encryption.Volumes {
		s2.Encryption.Volumes[i].Encrypted, s2.Encryption.Volumes[i].Status = wire.No, "off"
	}
	at := t0.Add(time.Hour)
	if ack := other.apply(t, d, full(t, s2, 2), at); ack.Status != wire.AckApplied {
		t.Fatalf("report through the other collector: %+v", ack)
	}
	state, after := e.results(t, d.DeviceID)
	if cmp.Equal(before, after) {
		t.Fatalf("turning encryption off changed no result (%+v); the test needs a change", after)
	}
	stats, err := e.reg.EvaluateAll(ctx, at)
	if err != nil || stats.Devices != 1 || stats.Changed != 0 {
		t.Errorf("fleet evaluation after the report: %+v, %v; want 1 device, none changed", stats, err)
	}
	if gotState, got := e.results(t, d.DeviceID); gotState != state || !cmp.Equal(after, got) {
		t.Errorf("results after the fleet evaluation: %s %+v, want the report's %s %+v", gotState, got, state, after)
	}
	// Back on: the cached facts are the encrypted ones again, and the
	// fleet evaluation still agrees with the report.
	if ack := other.apply(t, d, full(t, s, 3), at.Add(time.Minute)); ack.Status != wire.AckApplied {
		t.Fatalf("third report: %+v", ack)
	}
	if stats, err := e.reg.EvaluateAll(ctx, at.Add(time.Minute)); err != nil || stats.Changed != 0 {
		t.Errorf("fleet evaluation after the third report: %+v, %v; want none changed", stats, err)
	}
}

// TestFleetEvaluationFromCacheMatchesFullEvaluation: a fleet evaluation
// that takes devices' facts and results from its cache (evalcache.go)
// arrives at what one without a cache does, while another collector
// sharing the store changes facts through reports, and the policies and
// the time change. After each evaluation a collector started afresh (an
// empty cache, so it reads and decodes every device) evaluates the fleet
// at the same time and must find nothing to change.
func TestFleetEvaluationFromCacheMatchesFullEvaluation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	base := string(compliance.DefaultFile())
	e.configure(t, base)
	var devs []enrolled
	for _, name := range []string{mac, debian} {
		devs = append(devs, e.reported(t, snapshotOf(t, name), t0))
	}
	other := &env{reg: registry.OpenTestStore(t, e.store), ca: e.ca, store: e.store, path: e.path}
	other.configure(t, base)
	// The first evaluation fills the cache; from the second on, devices
	// come from it.
	for i := range 2 {
		if _, err := e.reg.EvaluateAll(ctx, t0.Add(time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	// checkFull evaluates the fleet as a collector that just started.
	checkFull := func(step string, now time.Time) {
		t.Helper()
		fresh := &env{reg: registry.OpenTestStore(t, e.store), store: e.store}
		fresh.configure(t, base)
		stats, err := fresh.reg.EvaluateAll(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if stats.Devices != len(devs) || stats.Changed != 0 {
			t.Errorf("%s: a full evaluation found %d devices, changed %d; want %d, none changed", step, stats.Devices, stats.Changed, len(devs))
		}
	}
	s := snapshotOf(t, mac)
	off := registrytest.Clone(t, s)
	off.Encryption.System.Encrypted, off.Encryption.System.Status = wire.No, "off"
	for i := range off.Encryption.Volumes {
		off.Encryption.Volumes[i].Encrypted, off.Encryption.Volumes[i].Status = wire.No, "off"
	}
	at := t0.Add(time.Hour)
	_, before := e.results(t, devs[0].DeviceID)
	if ack := other.apply(t, devs[0], full(t, off, 2), at); ack.Status != wire.AckApplied {
		t.Fatalf("report through the other collector: %+v", ack)
	}
	if _, after := e.results(t, devs[0].DeviceID); cmp.Equal(before, after) {
		t.Fatalf("turning encryption off changed no result (%+v); the test needs a change", after)
	}
	// A policy change after the other collector's report: every device's
	// results change, the reported one's from its new facts.
	extra := base + `
  - id: TEST-CEL-01
    title: no reboot pending
    severity: low
    kind: cel
    expr: os.reboot_required != "yes"
`
	if _, _, stats, err := e.reg.ReplacePolicies(ctx, []byte(extra), "test", at); err != nil || stats.Changed != len(devs) {
		t.Fatalf("policy change: %+v, %v; want every device changed", stats, err)
	}
	checkFull("policy change after another collector's report", at)
	// Back on, then the policy change undone.
	at = at.Add(time.Hour)
	if ack := other.apply(t, devs[0], full(t, s, 3), at); ack.Status != wire.AckApplied {
		t.Fatalf("third report: %+v", ack)
	}
	if _, _, _, err := e.reg.ReplacePolicies(ctx, []byte(base), "test", at); err != nil {
		t.Fatal(err)
	}
	checkFull("policy change back", at)
	// Time alone: without reports, results go stale.
	at = at.Add(60 * 24 * time.Hour)
	if stats, err := e.reg.EvaluateAll(ctx, at); err != nil || stats.Changed != len(devs) {
		t.Fatalf("evaluation 60 days later: %+v, %v; want every device changed", stats, err)
	}
	checkFull("60 days later", at)
}

// TestFleetEvaluationBackfillsFacts: a device whose facts are missing (it
// reported before facts were stored) or of an older version gets facts
// derived from its stored snapshot during the fleet evaluation, and is
// evaluated on them, alongside devices whose facts are current.
func TestFleetEvaluationBackfillsFacts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.configure(t, string(compliance.DefaultFile()))
	var ids []string
	for _, name := range []string{mac, debian, "windows/server-2022"} {
		ids = append(ids, e.reported(t, snapshotOf(t, name), t0).DeviceID)
	}
	db := e.rawDB(t)
	facts := func(id string) (string, int) {
		t.Helper()
		var doc string
		var v int
		if err := db.QueryRowContext(ctx, `SELECT facts, facts_v FROM device_facts WHERE device_id = $1`, id).Scan(&doc, &v); err != nil {
			t.Fatalf("facts of %s: %v", id, err)
		}
		return doc, v
	}
	var want []string
	results := map[string]map[string]registry.ResultRecord{}
	for _, id := range ids {
		doc, _ := facts(id)
		want = append(want, doc)
		_, results[id] = e.results(t, id)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM device_facts WHERE device_id = $1`, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE device_facts SET facts = '{}', facts_v = 0 WHERE device_id = $1`, ids[1]); err != nil {
		t.Fatal(err)
	}
	stats, err := e.reg.EvaluateAll(ctx, t0.Add(time.Minute))
	if err != nil || stats.Devices != len(ids) || stats.Changed != 0 {
		t.Errorf("fleet evaluation: %+v, %v; want %d devices, none changed", stats, err, len(ids))
	}
	for i, id := range ids {
		doc, v := facts(id)
		if v != compliance.FactsVersion {
			t.Errorf("facts of %s are of version %d, want %d", id, v, compliance.FactsVersion)
		}
		var got, w compliance.Facts
		if err := json.Unmarshal([]byte(doc), &got); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(want[i]), &w); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("facts of %s after the fleet evaluation (-report's +now):\n%s", id, diff)
		}
		if _, res := e.results(t, id); !cmp.Equal(results[id], res) {
			t.Errorf("results of %s: %+v, want the report's %+v", id, res, results[id])
		}
	}
}

// TestReportStoresFacts: a report stores the facts of its snapshot,
// whether the stored facts are of the current version (their text is
// rewritten) or of an older one (the whole row is).
func TestReportStoresFacts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.configure(t, string(compliance.DefaultFile()))
	s := snapshotOf(t, debian)
	d := e.reported(t, s, t0)
	db := e.rawDB(t)
	stored := func() compliance.Facts {
		t.Helper()
		var doc string
		var v int
		if err := db.QueryRowContext(ctx, `SELECT facts, facts_v FROM device_facts WHERE device_id = $1`, d.DeviceID).Scan(&doc, &v); err != nil {
			t.Fatal(err)
		}
		var f compliance.Facts
		if err := json.Unmarshal([]byte(doc), &f); err != nil {
			t.Fatal(err)
		}
		if v != compliance.FactsVersion || f.V != v {
			t.Errorf("stored facts of version %d (column %d), want %d", f.V, v, compliance.FactsVersion)
		}
		return f
	}
	for i, older := range []bool{false, true, false} {
		if older {
			if _, err := db.ExecContext(ctx, `UPDATE device_facts SET facts = '{}', facts_v = $2 WHERE device_id = $1`, d.DeviceID, compliance.FactsVersion-1); err != nil {
				t.Fatal(err)
			}
		}
		at := t0.Add(time.Duration(i+1) * time.Hour)
		next := registrytest.Clone(t, s)
		next.CollectedAt = at
		if ack := e.apply(t, d, full(t, next, uint64(i+2)), at); ack.Status != wire.AckApplied {
			t.Fatalf("report %d: %+v", i+2, ack)
		}
		want := compliance.FactsFromSnapshot(next)
		if diff := cmp.Diff(want, stored()); diff != "" {
			t.Errorf("report %d (stored facts older: %v): facts (-snapshot's +stored):\n%s", i+2, older, diff)
		}
	}
}
