package registry_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/shared/wire"
)

// searchDevice makes a captured host into one with the given identity:
// no system UUID or board serial, so the devices do not match each other.
func searchDevice(t *testing.T, hostname, serial string, macs ...string) *wire.Snapshot {
	t.Helper()
	s := snapshotOf(t, debian)
	s.Hardware.Hostname, s.Hardware.SystemSerial = hostname, serial
	s.Hardware.SystemUUID, s.Hardware.BoardSerial = "", ""
	s.Hardware.NICs = nil
	for i, m := range macs {
		s.Hardware.NICs = append(s.Hardware.NICs, wire.NIC{Name: "eth" + string(rune('0'+i)), MAC: m})
	}
	return s
}

// hitKey is what the ranking test compares of a hit.
type hitKey struct {
	Device, Tag, Matched string
	Rank                 int
}

// TestSearchDevices pins each kind of match, the ranking and the
// maintenance of the keys by enrolment, reports and asset writes, on the
// engine under test.
func TestSearchDevices(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	// A and B report (B more recently); C only enrolled, its hostname
	// holding A's serial; the register links LAP-0042 to A and LAP-0043
	// to B by serial and keeps LAP-9999 on the shelf.
	snapA := searchDevice(t, "lt-berlin-0042.corp.example", "PF3ABC12", "AA:BB:CC:DD:EE:01", "aa:bb:cc:dd:ee:02")
	a := e.reported(t, snapA, t0.Add(time.Hour))
	b := e.reported(t, searchDevice(t, "LT-BERLIN-0043", "PF3ABC99", "11:22:33:44:55:66"), t0.Add(2*time.Hour))
	c := e.enroll(t, e.secret(t), wire.IdentityOf(searchDevice(t, "build-pf3abc12", "XYZ-1")), t0)
	e.mustImport(t, "asset_tag,serial,owner,owner_email,status\n"+
		"LAP-0042,PF3ABC12,Élodie Dupont,Elodie.Dupont@Example.com,in_service\n"+
		"LAP-0043,PF3ABC99,Jan Berlinger,jan@example.com,in_service\n"+
		"LAP-9999,SPARE-001,ÉLODIE Martin,e.martin@example.com,in_stock\n", t0.Add(3*time.Hour))
	A, B, C := a.DeviceID, b.DeviceID, c.DeviceID
	dev := func(id, tag, matched string, rank int) hitKey { return hitKey{id, tag, matched, rank} }
	spare := func(matched string, rank int) hitKey { return hitKey{"", "LAP-9999", matched, rank} }

	tests := []struct {
		q    string
		want []hitKey
	}{
		// exact identifiers (tier 0) before a substring of a hostname
		{"PF3ABC12", []hitKey{dev(A, "LAP-0042", "serial", 0), dev(C, "", "hostname", 6)}},
		{"pf3abc12", []hitKey{dev(A, "LAP-0042", "serial", 0), dev(C, "", "hostname", 6)}},
		// prefixes, most recently seen first, then substrings
		{"pf3abc", []hitKey{dev(B, "LAP-0043", "serial", 4), dev(A, "LAP-0042", "serial", 4), dev(C, "", "hostname", 6)}},
		{"lap-0042", []hitKey{dev(A, "LAP-0042", "asset_tag", 0)}},
		{"LAP-00", []hitKey{dev(B, "LAP-0043", "asset_tag", 4), dev(A, "LAP-0042", "asset_tag", 4)}},
		// every MAC notation; an OUI is a prefix
		{"AA-BB-CC-DD-EE-02", []hitKey{dev(A, "LAP-0042", "mac", 0)}},
		{"aabb.ccdd.ee01", []hitKey{dev(A, "LAP-0042", "mac", 0)}},
		{"AABBCCDDEE01", []hitKey{dev(A, "LAP-0042", "mac", 0)}},
		{"11:22:33:44:55:66", []hitKey{dev(B, "LAP-0043", "mac", 0)}},
		{"aa:bb:cc", []hitKey{dev(A, "LAP-0042", "mac", 4)}},
		// exact hostname and email (tier 1)
		{"lt-berlin-0043", []hitKey{dev(B, "LAP-0043", "hostname", 2)}},
		{"JAN@EXAMPLE.COM", []hitKey{dev(B, "LAP-0043", "owner_email", 2)}},
		{"elodie.dupont@example.com", []hitKey{dev(A, "LAP-0042", "owner_email", 2)}},
		// hostname prefix; the unlinked asset after the devices
		{"LT-Berlin", []hitKey{dev(B, "LAP-0043", "hostname", 4), dev(A, "LAP-0042", "hostname", 4)}},
		{"élodie", []hitKey{dev(A, "LAP-0042", "owner_name", 4), spare("owner_name", 5)}},
		{"ÉLODIE", []hitKey{dev(A, "LAP-0042", "owner_name", 4), spare("owner_name", 5)}},
		// substrings of hostnames and owner names (tier 3); B matches
		// both its hostname and its owner and is listed once
		{"berlin", []hitKey{dev(B, "LAP-0043", "hostname", 6), dev(A, "LAP-0042", "hostname", 6)}},
		{"DUPONT", []hitKey{dev(A, "LAP-0042", "owner_name", 6)}},
		// an unlinked asset by its serial and tag
		{"spare-001", []hitKey{spare("serial", 1)}},
		{"lap-9999", []hitKey{spare("asset_tag", 1)}},
		// device ids: whole, any case, or a unique prefix of 8
		{A, []hitKey{dev(A, "LAP-0042", "device_id", 0)}},
		{strings.ToUpper(A), []hitKey{dev(A, "LAP-0042", "device_id", 0)}},
		{A[:8], []hitKey{dev(A, "LAP-0042", "device_id", 0)}},
		{A[:7], nil},
		// too short, or nothing
		{"p", nil},
		{"", nil},
		{"  ", nil},
		{"nothing-like-this", nil},
	}
	search := func(q string) []hitKey {
		t.Helper()
		hits, err := e.reg.SearchDevices(ctx, q, 0)
		if err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
		var out []hitKey
		for _, h := range hits {
			out = append(out, hitKey{h.DeviceID, h.AssetTag, h.Matched, h.Rank})
		}
		return out
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, search(tt.q)); diff != "" {
			t.Errorf("search %q (-want +got):\n%s", tt.q, diff)
		}
	}

	// The rest of a hit: the device's fields, its compliance state and
	// its asset's; an unlinked asset's own.
	hits, err := e.reg.SearchDevices(ctx, "PF3ABC12", 1)
	if err != nil {
		t.Fatal(err)
	}
	comp, err := e.reg.DeviceComplianceOf(ctx, A)
	if err != nil {
		t.Fatal(err)
	}
	want := []registry.SearchHit{{DeviceID: A, Hostname: "lt-berlin-0042.corp.example", Serial: "PF3ABC12", Platform: snapA.Platform,
		State: comp.State, AssetTag: "LAP-0042", OwnerName: "Élodie Dupont", OwnerEmail: "Elodie.Dupont@example.com",
		LastSeen: t0.Add(time.Hour), Matched: "serial", Rank: 0}}
	if diff := cmp.Diff(want, hits); diff != "" || comp.State == "" {
		t.Errorf("hit (-want +got):\n%s (compliance state %q)", diff, comp.State)
	}
	hits, err = e.reg.SearchDevices(ctx, "SPARE-001", 10)
	if err != nil {
		t.Fatal(err)
	}
	wantSpare := []registry.SearchHit{{Serial: "SPARE-001", AssetTag: "LAP-9999", OwnerName: "ÉLODIE Martin", OwnerEmail: "e.martin@example.com",
		Matched: "serial", Rank: 1}}
	if diff := cmp.Diff(wantSpare, hits); diff != "" {
		t.Errorf("unlinked asset hit (-want +got):\n%s", diff)
	}
	if hits, err := e.reg.SearchDevices(ctx, "lt-", 1); err != nil || len(hits) != 1 {
		t.Errorf("limit 1: %d hits, %v", len(hits), err)
	}

	// A report that renames A and changes its MACs moves its keys in
	// the report's transaction; so does an asset write.
	renamed := searchDevice(t, "lt-munich-0042", "PF3ABC12", "aa:bb:cc:dd:ee:03")
	if ack := e.apply(t, a, full(t, renamed, 2), t0.Add(4*time.Hour)); ack.Status != wire.AckApplied {
		t.Fatalf("report: %+v", ack)
	}
	owner := "Ana Ruiz"
	if _, err := e.reg.UpdateAsset(ctx, "LAP-9999", registry.AssetInput{Owner: &owner}, admin, t0.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		q    string
		want []hitKey
	}{
		{"lt-berlin-0042.corp.example", nil},
		{"aa:bb:cc:dd:ee:01", nil},
		{"aa:bb:cc:dd:ee:03", []hitKey{dev(A, "LAP-0042", "mac", 0)}},
		{"munich", []hitKey{dev(A, "LAP-0042", "hostname", 6)}},
		{"lt-", []hitKey{dev(A, "LAP-0042", "hostname", 4), dev(B, "LAP-0043", "hostname", 4)}},
		{"élodie", []hitKey{dev(A, "LAP-0042", "owner_name", 4)}},
		{"ana ruiz", []hitKey{spare("owner_name", 5)}},
	} {
		if diff := cmp.Diff(tt.want, search(tt.q)); diff != "" {
			t.Errorf("after the changes, search %q (-want +got):\n%s", tt.q, diff)
		}
	}
}
