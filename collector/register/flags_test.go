package register

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/assetcsv"
)

func TestComputeFlags(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 20, 12, 0, 0, 0, time.UTC)
	const window = 14 * 24 * time.Hour
	at := func(t time.Time) string { return stamp(t) }
	inService := func(id string) Asset {
		return Asset{ID: id, Tag: "TAG-" + id, Status: assetcsv.StatusInService}
	}
	tests := []struct {
		name    string
		devs    []Device
		assets  []Asset
		links   []Link
		expired map[string]ExpiredWipe
		want    []FlagKey // severity and detail checked where they matter, below
	}{
		{
			name: "a device linked to no asset is unregistered",
			devs: []Device{{ID: "d1", LastSeen: at(now)}},
			want: []FlagKey{{SubjectDevice, "d1", FlagUnregistered}},
		},
		{
			name: "a revoked device carries no register flag",
			devs: []Device{{ID: "d1", Revoked: true, LastSeen: at(now)}},
		},
		{
			name: "identity_conflict is mirrored from the device, revoked or not",
			devs: []Device{{ID: "d1", Revoked: true, Flags: FlagIdentityConflict}, {ID: "d2", Flags: "x," + FlagIdentityConflict}},
			want: []FlagKey{{SubjectDevice, "d1", FlagIdentityConflict}, {SubjectDevice, "d2", FlagIdentityConflict}, {SubjectDevice, "d2", FlagUnregistered}},
		},
		{
			name:   "linked to an in_service asset seen now: nothing",
			devs:   []Device{{ID: "d1", LastSeen: at(now)}},
			assets: []Asset{inService("a1")},
			links:  []Link{{AssetID: "a1", DeviceID: "d1", How: LinkSerial}},
		},
		{
			name:   "linked to an asset in stock: not_in_service",
			devs:   []Device{{ID: "d1", LastSeen: at(now)}},
			assets: []Asset{{ID: "a1", Tag: "TAG-a1", Status: assetcsv.StatusInStock}},
			links:  []Link{{AssetID: "a1", DeviceID: "d1", How: LinkSerial}},
			want:   []FlagKey{{SubjectDevice, "d1", FlagNotInService}},
		},
		{
			name:   "linked to a disposed asset: not_in_service, an incident",
			devs:   []Device{{ID: "d1", LastSeen: at(now)}},
			assets: []Asset{{ID: "a1", Tag: "TAG-a1", Status: assetcsv.StatusDisposed}},
			links:  []Link{{AssetID: "a1", DeviceID: "d1", How: LinkSerial}},
			want:   []FlagKey{{SubjectDevice, "d1", FlagNotInService}},
		},
		{
			name:   "an in_service asset with no device is missing",
			assets: []Asset{inService("a1")},
			want:   []FlagKey{{SubjectAsset, "a1", FlagMissing}},
		},
		{
			name:   "an asset in stock with no device is not missing",
			assets: []Asset{{ID: "a1", Tag: "TAG-a1", Status: assetcsv.StatusInStock}},
		},
		{
			name:   "device seen exactly the window ago: not yet missing",
			devs:   []Device{{ID: "d1", LastSeen: at(now.Add(-window))}},
			assets: []Asset{inService("a1")},
			links:  []Link{{AssetID: "a1", DeviceID: "d1", How: LinkSerial}},
		},
		{
			name:   "device seen a second more than the window ago: missing",
			devs:   []Device{{ID: "d1", LastSeen: at(now.Add(-window - time.Second))}},
			assets: []Asset{inService("a1")},
			links:  []Link{{AssetID: "a1", DeviceID: "d1", How: LinkSerial}},
			want:   []FlagKey{{SubjectAsset, "a1", FlagMissing}},
		},
		{
			name:   "linked device never seen: missing",
			devs:   []Device{{ID: "d1"}},
			assets: []Asset{inService("a1")},
			links:  []Link{{AssetID: "a1", DeviceID: "d1", How: LinkSerial}},
			want:   []FlagKey{{SubjectAsset, "a1", FlagMissing}},
		},
		{
			name:   "linked device outside the scope: not judged",
			assets: []Asset{inService("a1")},
			links:  []Link{{AssetID: "a1", DeviceID: "d-elsewhere", How: LinkSerial}},
		},
		{
			name:    "an offboarding asset whose wipe expired",
			assets:  []Asset{{ID: "a1", Tag: "TAG-a1", Status: assetcsv.StatusOffboarding}},
			expired: map[string]ExpiredWipe{"a1": {ID: "w1", Ticket: "HR-1"}},
			want:    []FlagKey{{SubjectAsset, "a1", FlagWipeExpired}},
		},
		{
			name:    "an expired wipe on an asset no longer offboarding: no flag",
			assets:  []Asset{{ID: "a1", Tag: "TAG-a1", Status: assetcsv.StatusInStock}},
			expired: map[string]ExpiredWipe{"a1": {ID: "w1", Ticket: "HR-1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewScope()
			for _, d := range tt.devs {
				s.Devices[d.ID] = &d
			}
			for _, a := range tt.assets {
				s.Assets[a.ID] = &a
			}
			for _, l := range tt.links {
				s.Links[l.AssetID] = l
			}
			maps.Copy(s.ExpiredWipes, tt.expired)
			got := ComputeFlags(s, now, window)
			keys := slices.Collect(maps.Keys(got))
			cmpKeys := func(a, b FlagKey) int {
				return strings.Compare(a.Subject+"/"+a.ID+"/"+a.Flag, b.Subject+"/"+b.ID+"/"+b.Flag)
			}
			slices.SortFunc(keys, cmpKeys)
			want := slices.Clone(tt.want)
			slices.SortFunc(want, cmpKeys)
			if !slices.Equal(keys, want) {
				t.Fatalf("got %v, want %v", keys, want)
			}
			for k, v := range got {
				if v.Since != "" || v.Detail == "" {
					t.Errorf("%v = %+v, want a detail and no since (DiffFlags sets it)", k, v)
				}
				wantSev := SeverityWarning
				if k.Flag == FlagWipeExpired || (k.Flag == FlagNotInService && s.Assets["a1"].Status == assetcsv.StatusDisposed) {
					wantSev = SeverityIncident
				}
				if v.Severity != wantSev {
					t.Errorf("%v severity = %s, want %s", k, v.Severity, wantSev)
				}
			}
		})
	}
}

func TestDiffFlags(t *testing.T) {
	t.Parallel()
	const (
		first = "2025-03-01T10:00:00.000000000Z"
		now   = "2025-03-20T12:00:00.000000000Z"
	)
	unreg := FlagKey{SubjectDevice, "d1", FlagUnregistered}
	missing := FlagKey{SubjectAsset, "a1", FlagMissing}
	nis := FlagKey{SubjectDevice, "d2", FlagNotInService}
	warn := func(detail string) FlagValue { return FlagValue{Severity: SeverityWarning, Detail: detail} }
	since := func(v FlagValue, at string) FlagValue { v.Since = at; return v }
	tests := []struct {
		name        string
		cur, want   map[FlagKey]FlagValue
		wantChanges []FlagChange
		wantAfter   map[FlagKey]FlagValue
	}{
		{
			name:        "a new flag is set now",
			want:        map[FlagKey]FlagValue{unreg: warn("no asset")},
			wantChanges: []FlagChange{{Op: OpSet, Key: unreg, New: since(warn("no asset"), now)}},
			wantAfter:   map[FlagKey]FlagValue{unreg: since(warn("no asset"), now)},
		},
		{
			name:      "a flag that stays keeps its first-seen time and is not written",
			cur:       map[FlagKey]FlagValue{unreg: since(warn("no asset"), first)},
			want:      map[FlagKey]FlagValue{unreg: warn("no asset")},
			wantAfter: map[FlagKey]FlagValue{unreg: since(warn("no asset"), first)},
		},
		{
			name: "a flag whose detail changes is updated, first-seen time kept",
			cur:  map[FlagKey]FlagValue{missing: since(warn("last seen 15 days ago"), first)},
			want: map[FlagKey]FlagValue{missing: warn("last seen 16 days ago")},
			wantChanges: []FlagChange{{Op: OpUpdate, Key: missing, Old: since(warn("last seen 15 days ago"), first),
				New: since(warn("last seen 16 days ago"), first)}},
			wantAfter: map[FlagKey]FlagValue{missing: since(warn("last seen 16 days ago"), first)},
		},
		{
			name: "a flag whose severity changes is updated, first-seen time kept",
			cur:  map[FlagKey]FlagValue{nis: since(warn("in stock"), first)},
			want: map[FlagKey]FlagValue{nis: {Severity: SeverityIncident, Detail: "disposed"}},
			wantChanges: []FlagChange{{Op: OpUpdate, Key: nis, Old: since(warn("in stock"), first),
				New: FlagValue{Since: first, Severity: SeverityIncident, Detail: "disposed"}}},
			wantAfter: map[FlagKey]FlagValue{nis: {Since: first, Severity: SeverityIncident, Detail: "disposed"}},
		},
		{
			name:        "a flag no longer wanted is cleared",
			cur:         map[FlagKey]FlagValue{unreg: since(warn("no asset"), first)},
			wantChanges: []FlagChange{{Op: OpClear, Key: unreg, Old: since(warn("no asset"), first)}},
			wantAfter:   map[FlagKey]FlagValue{},
		},
		{
			name: "set, clear and keep at once, in key order",
			cur:  map[FlagKey]FlagValue{unreg: since(warn("no asset"), first), missing: since(warn("never"), first)},
			want: map[FlagKey]FlagValue{missing: warn("never"), nis: warn("in stock")},
			wantChanges: []FlagChange{
				{Op: OpClear, Key: unreg, Old: since(warn("no asset"), first)},
				{Op: OpSet, Key: nis, New: since(warn("in stock"), now)},
			},
			wantAfter: map[FlagKey]FlagValue{missing: since(warn("never"), first), nis: since(warn("in stock"), now)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			changes, after := DiffFlags(tt.cur, tt.want, now)
			if !slices.Equal(changes, tt.wantChanges) {
				t.Errorf("changes = %+v, want %+v", changes, tt.wantChanges)
			}
			if !maps.Equal(after, tt.wantAfter) {
				t.Errorf("after = %+v, want %+v", after, tt.wantAfter)
			}
		})
	}
}

// TestFlagsOverTime runs ComputeFlags and DiffFlags as syncFlags does,
// over several refreshes: an asset goes missing, stays missing with its
// first-seen time, and is cleared when its device reports again.
func TestFlagsOverTime(t *testing.T) {
	t.Parallel()
	const window = 14 * 24 * time.Hour
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	s := NewScope()
	var flags map[FlagKey]FlagValue
	s.Devices["d1"] = &Device{ID: "d1", LastSeen: stamp(t0)}
	s.Assets["a1"] = &Asset{ID: "a1", Tag: "TAG-1", Status: assetcsv.StatusInService}
	s.Links["a1"] = Link{AssetID: "a1", DeviceID: "d1", How: LinkSerial}
	missing := FlagKey{SubjectAsset, "a1", FlagMissing}
	refresh := func(now time.Time) []FlagChange {
		var changes []FlagChange
		changes, flags = DiffFlags(flags, ComputeFlags(s, now, window), stamp(now))
		return changes
	}
	if c := refresh(t0.Add(window)); len(c) != 0 {
		t.Fatalf("at the window's end: %+v, want nothing", c)
	}
	goneAt := t0.Add(window + time.Hour)
	if c := refresh(goneAt); len(c) != 1 || c[0].Op != OpSet || c[0].Key != missing {
		t.Fatalf("past the window: %+v, want missing set", c)
	}
	if c := refresh(goneAt.Add(24 * time.Hour)); len(c) != 0 {
		t.Fatalf("a day later: %+v, want nothing written", c)
	}
	if got := flags[missing].Since; got != stamp(goneAt) {
		t.Errorf("missing since %s, want the first-seen %s", got, stamp(goneAt))
	}
	back := goneAt.Add(48 * time.Hour)
	s.Devices["d1"].LastSeen = stamp(back)
	if c := refresh(back); len(c) != 1 || c[0].Op != OpClear || c[0].Key != missing {
		t.Fatalf("device back: %+v, want missing cleared", c)
	}
	if len(flags) != 0 {
		t.Errorf("flags after = %v, want none", flags)
	}
}

// stamp writes a time as the registry stores it: fixed-width UTC text.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

func TestSwapUUID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"4c4c4544-0053-3510-8051-b7c04f4b3732", "44454c4c-5300-1035-8051-b7c04f4b3732"},
		{"44454c4c-5300-1035-8051-b7c04f4b3732", "4c4c4544-0053-3510-8051-b7c04f4b3732"},
		{"", ""},
		{"not-a-uuid", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			if got := SwapUUID(tc.in); got != tc.want {
				t.Errorf("SwapUUID(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if tc.want != "" {
				if got := SwapUUID(SwapUUID(tc.in)); got != tc.in {
					t.Errorf("SwapUUID twice = %q, want %q", got, tc.in)
				}
			}
		})
	}
}
