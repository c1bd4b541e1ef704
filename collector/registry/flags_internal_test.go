package registry

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
	at := func(t time.Time) string { return fmtTime(t) }
	inService := func(id string) assetKey {
		return assetKey{id: id, tag: "TAG-" + id, status: assetcsv.StatusInService}
	}
	tests := []struct {
		name    string
		devs    []devKey
		assets  []assetKey
		links   []link
		expired map[string]expiredWipe
		want    []flagKey // severity and detail checked where they matter, below
	}{
		{
			name: "a device linked to no asset is unregistered",
			devs: []devKey{{id: "d1", state: StateActive, lastSeen: at(now)}},
			want: []flagKey{{subjectDevice, "d1", FlagUnregistered}},
		},
		{
			name: "a revoked device carries no register flag",
			devs: []devKey{{id: "d1", state: StateRevoked, lastSeen: at(now)}},
		},
		{
			name: "identity_conflict is mirrored from the device, revoked or not",
			devs: []devKey{{id: "d1", state: StateRevoked, flags: FlagIdentityConflict}, {id: "d2", state: StateActive, flags: "x," + FlagIdentityConflict}},
			want: []flagKey{{subjectDevice, "d1", FlagIdentityConflict}, {subjectDevice, "d2", FlagIdentityConflict}, {subjectDevice, "d2", FlagUnregistered}},
		},
		{
			name:   "linked to an in_service asset seen now: nothing",
			devs:   []devKey{{id: "d1", state: StateActive, lastSeen: at(now)}},
			assets: []assetKey{inService("a1")},
			links:  []link{{assetID: "a1", deviceID: "d1", how: LinkSerial}},
		},
		{
			name:   "linked to an asset in stock: not_in_service",
			devs:   []devKey{{id: "d1", state: StateActive, lastSeen: at(now)}},
			assets: []assetKey{{id: "a1", tag: "TAG-a1", status: assetcsv.StatusInStock}},
			links:  []link{{assetID: "a1", deviceID: "d1", how: LinkSerial}},
			want:   []flagKey{{subjectDevice, "d1", FlagNotInService}},
		},
		{
			name:   "linked to a disposed asset: not_in_service, an incident",
			devs:   []devKey{{id: "d1", state: StateActive, lastSeen: at(now)}},
			assets: []assetKey{{id: "a1", tag: "TAG-a1", status: assetcsv.StatusDisposed}},
			links:  []link{{assetID: "a1", deviceID: "d1", how: LinkSerial}},
			want:   []flagKey{{subjectDevice, "d1", FlagNotInService}},
		},
		{
			name:   "an in_service asset with no device is missing",
			assets: []assetKey{inService("a1")},
			want:   []flagKey{{subjectAsset, "a1", FlagMissing}},
		},
		{
			name:   "an asset in stock with no device is not missing",
			assets: []assetKey{{id: "a1", tag: "TAG-a1", status: assetcsv.StatusInStock}},
		},
		{
			name:   "device seen exactly the window ago: not yet missing",
			devs:   []devKey{{id: "d1", state: StateActive, lastSeen: at(now.Add(-window))}},
			assets: []assetKey{inService("a1")},
			links:  []link{{assetID: "a1", deviceID: "d1", how: LinkSerial}},
		},
		{
			name:   "device seen a second more than the window ago: missing",
			devs:   []devKey{{id: "d1", state: StateActive, lastSeen: at(now.Add(-window - time.Second))}},
			assets: []assetKey{inService("a1")},
			links:  []link{{assetID: "a1", deviceID: "d1", how: LinkSerial}},
			want:   []flagKey{{subjectAsset, "a1", FlagMissing}},
		},
		{
			name:   "linked device never seen: missing",
			devs:   []devKey{{id: "d1", state: StateActive}},
			assets: []assetKey{inService("a1")},
			links:  []link{{assetID: "a1", deviceID: "d1", how: LinkSerial}},
			want:   []flagKey{{subjectAsset, "a1", FlagMissing}},
		},
		{
			name:   "linked device outside the scope: not judged",
			assets: []assetKey{inService("a1")},
			links:  []link{{assetID: "a1", deviceID: "d-elsewhere", how: LinkSerial}},
		},
		{
			name:    "an offboarding asset whose wipe expired",
			assets:  []assetKey{{id: "a1", tag: "TAG-a1", status: assetcsv.StatusOffboarding}},
			expired: map[string]expiredWipe{"a1": {id: "w1", ticket: "HR-1"}},
			want:    []flagKey{{subjectAsset, "a1", FlagWipeExpired}},
		},
		{
			name:    "an expired wipe on an asset no longer offboarding: no flag",
			assets:  []assetKey{{id: "a1", tag: "TAG-a1", status: assetcsv.StatusInStock}},
			expired: map[string]expiredWipe{"a1": {id: "w1", ticket: "HR-1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newScope()
			for _, d := range tt.devs {
				s.devs[d.id] = &d
			}
			for _, a := range tt.assets {
				s.assets[a.id] = &a
			}
			for _, l := range tt.links {
				s.links[l.assetID] = l
			}
			maps.Copy(s.expiredWipes, tt.expired)
			got := computeFlags(s, now, window)
			keys := slices.Collect(maps.Keys(got))
			cmpKeys := func(a, b flagKey) int {
				return strings.Compare(a.subject+"/"+a.id+"/"+a.flag, b.subject+"/"+b.id+"/"+b.flag)
			}
			slices.SortFunc(keys, cmpKeys)
			want := slices.Clone(tt.want)
			slices.SortFunc(want, cmpKeys)
			if !slices.Equal(keys, want) {
				t.Fatalf("got %v, want %v", keys, want)
			}
			for k, v := range got {
				if v.since != "" || v.detail == "" {
					t.Errorf("%v = %+v, want a detail and no since (diffFlags sets it)", k, v)
				}
				wantSev := SeverityWarning
				if k.flag == FlagWipeExpired || (k.flag == FlagNotInService && s.assets["a1"].status == assetcsv.StatusDisposed) {
					wantSev = SeverityIncident
				}
				if v.severity != wantSev {
					t.Errorf("%v severity = %s, want %s", k, v.severity, wantSev)
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
	unreg := flagKey{subjectDevice, "d1", FlagUnregistered}
	missing := flagKey{subjectAsset, "a1", FlagMissing}
	nis := flagKey{subjectDevice, "d2", FlagNotInService}
	warn := func(detail string) flagVal { return flagVal{severity: SeverityWarning, detail: detail} }
	since := func(v flagVal, at string) flagVal { v.since = at; return v }
	tests := []struct {
		name        string
		cur, want   map[flagKey]flagVal
		wantChanges []flagChange
		wantAfter   map[flagKey]flagVal
	}{
		{
			name:        "a new flag is set now",
			want:        map[flagKey]flagVal{unreg: warn("no asset")},
			wantChanges: []flagChange{{op: flagSet, key: unreg, new: since(warn("no asset"), now)}},
			wantAfter:   map[flagKey]flagVal{unreg: since(warn("no asset"), now)},
		},
		{
			name:      "a flag that stays keeps its first-seen time and is not written",
			cur:       map[flagKey]flagVal{unreg: since(warn("no asset"), first)},
			want:      map[flagKey]flagVal{unreg: warn("no asset")},
			wantAfter: map[flagKey]flagVal{unreg: since(warn("no asset"), first)},
		},
		{
			name: "a flag whose detail changes is updated, first-seen time kept",
			cur:  map[flagKey]flagVal{missing: since(warn("last seen 15 days ago"), first)},
			want: map[flagKey]flagVal{missing: warn("last seen 16 days ago")},
			wantChanges: []flagChange{{op: flagUpdate, key: missing, old: since(warn("last seen 15 days ago"), first),
				new: since(warn("last seen 16 days ago"), first)}},
			wantAfter: map[flagKey]flagVal{missing: since(warn("last seen 16 days ago"), first)},
		},
		{
			name: "a flag whose severity changes is updated, first-seen time kept",
			cur:  map[flagKey]flagVal{nis: since(warn("in stock"), first)},
			want: map[flagKey]flagVal{nis: {severity: SeverityIncident, detail: "disposed"}},
			wantChanges: []flagChange{{op: flagUpdate, key: nis, old: since(warn("in stock"), first),
				new: flagVal{since: first, severity: SeverityIncident, detail: "disposed"}}},
			wantAfter: map[flagKey]flagVal{nis: {since: first, severity: SeverityIncident, detail: "disposed"}},
		},
		{
			name:        "a flag no longer wanted is cleared",
			cur:         map[flagKey]flagVal{unreg: since(warn("no asset"), first)},
			wantChanges: []flagChange{{op: flagClear, key: unreg, old: since(warn("no asset"), first)}},
			wantAfter:   map[flagKey]flagVal{},
		},
		{
			name: "set, clear and keep at once, in key order",
			cur:  map[flagKey]flagVal{unreg: since(warn("no asset"), first), missing: since(warn("never"), first)},
			want: map[flagKey]flagVal{missing: warn("never"), nis: warn("in stock")},
			wantChanges: []flagChange{
				{op: flagClear, key: unreg, old: since(warn("no asset"), first)},
				{op: flagSet, key: nis, new: since(warn("in stock"), now)},
			},
			wantAfter: map[flagKey]flagVal{missing: since(warn("never"), first), nis: since(warn("in stock"), now)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			changes, after := diffFlags(tt.cur, tt.want, now)
			if !slices.Equal(changes, tt.wantChanges) {
				t.Errorf("changes = %+v, want %+v", changes, tt.wantChanges)
			}
			if !maps.Equal(after, tt.wantAfter) {
				t.Errorf("after = %+v, want %+v", after, tt.wantAfter)
			}
		})
	}
}

// TestFlagsOverTime runs computeFlags and diffFlags as syncFlags does,
// over several refreshes: an asset goes missing, stays missing with its
// first-seen time, and is cleared when its device reports again.
func TestFlagsOverTime(t *testing.T) {
	t.Parallel()
	const window = 14 * 24 * time.Hour
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	s := newScope()
	s.devs["d1"] = &devKey{id: "d1", state: StateActive, lastSeen: fmtTime(t0)}
	s.assets["a1"] = &assetKey{id: "a1", tag: "TAG-1", status: assetcsv.StatusInService}
	s.links["a1"] = link{assetID: "a1", deviceID: "d1", how: LinkSerial}
	missing := flagKey{subjectAsset, "a1", FlagMissing}
	refresh := func(now time.Time) []flagChange {
		var changes []flagChange
		changes, s.flags = diffFlags(s.flags, computeFlags(s, now, window), fmtTime(now))
		return changes
	}
	if c := refresh(t0.Add(window)); len(c) != 0 {
		t.Fatalf("at the window's end: %+v, want nothing", c)
	}
	goneAt := t0.Add(window + time.Hour)
	if c := refresh(goneAt); len(c) != 1 || c[0].op != flagSet || c[0].key != missing {
		t.Fatalf("past the window: %+v, want missing set", c)
	}
	if c := refresh(goneAt.Add(24 * time.Hour)); len(c) != 0 {
		t.Fatalf("a day later: %+v, want nothing written", c)
	}
	if got := s.flags[missing].since; got != fmtTime(goneAt) {
		t.Errorf("missing since %s, want the first-seen %s", got, fmtTime(goneAt))
	}
	back := goneAt.Add(48 * time.Hour)
	s.devs["d1"].lastSeen = fmtTime(back)
	if c := refresh(back); len(c) != 1 || c[0].op != flagClear || c[0].key != missing {
		t.Fatalf("device back: %+v, want missing cleared", c)
	}
	if len(s.flags) != 0 {
		t.Errorf("flags after = %v, want none", s.flags)
	}
}
