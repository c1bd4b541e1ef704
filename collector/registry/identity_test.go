package registry

import (
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/register"

	"github.com/rosterhq/roster/shared/identity"
	"github.com/rosterhq/roster/shared/wire"
)

func TestNormaliseIdentity(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   wire.Identity
		want hwID
	}{
		{"placeholders are absent", wire.Identity{SystemSerial: "To be filled by O.E.M.", SystemUUID: "03000200-0400-0500-0006-000700080009", BoardSerial: "Default string", MACs: []string{"00:00:00:00:00:00"}}, hwID{}},
		{"case and order", wire.Identity{SystemSerial: " c02jq0f5f6l9 ", SystemUUID: "9F62B993-49C3-5D76-ABCE-766794EDB2CD", MACs: []string{"AA-BB-CC-DD-EE-02", "aa:bb:cc:dd:ee:01", "aa:bb:cc:dd:ee:02"}},
			hwID{Serial: "C02JQ0F5F6L9", UUID: "9f62b993-49c3-5d76-abce-766794edb2cd", MACs: "aa:bb:cc:dd:ee:01,aa:bb:cc:dd:ee:02"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := normaliseIdentity(tc.in); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	// The placeholder UUID's byte-swapped twin must not become a match key.
	if identity.UUID(register.SwapUUID("03000200-0400-0500-0006-000700080009")) != "" {
		t.Error("swapped placeholder UUID is treated as real")
	}
}

// TestLiveConflictsQuery: each present field adds one term, an absent one
// none (a term on an empty value walks every device lacking the field), and
// the placeholders are numbered in order of appearance.
func TestLiveConflictsQuery(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 19, 0, 0, 0, time.UTC)
	const uuid = "9f62b993-49c3-5d76-abce-766794edb2cd"
	for _, tc := range []struct {
		name  string
		id    hwID
		terms []string // the columns compared, in order
		none  bool
	}{
		{"every field", hwID{Serial: "C02JQ0F5F6L9", UUID: uuid, Board: "B1", MACs: "aa:bb:cc:dd:ee:01"},
			[]string{"d.system_serial", "d.system_uuid", "d.system_uuid", "d.macs"}, false},
		{"no MACs", hwID{Serial: "C02JQ0F5F6L9", UUID: uuid}, []string{"d.system_serial", "d.system_uuid", "d.system_uuid"}, false},
		{"MACs only", hwID{MACs: "aa:bb:cc:dd:ee:01"}, []string{"d.macs"}, false},
		{"no serial", hwID{UUID: uuid, MACs: "aa:bb:cc:dd:ee:01"}, []string{"d.system_uuid", "d.system_uuid", "d.macs"}, false},
		{"board serial alone matches nothing", hwID{Board: "B1"}, nil, true},
		{"nothing", hwID{}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q, args := liveConflictsQuery("self", tc.id, now)
			if tc.none {
				if q != "" || args != nil {
					t.Errorf("got %q %v, want no query", q, args)
				}
				return
			}
			var got []string
			for _, m := range regexp.MustCompile(`(d\.\w+) = \$\d+`).FindAllStringSubmatch(q, -1) {
				got = append(got, m[1])
			}
			if !slices.Equal(got, tc.terms) {
				t.Errorf("terms: got %v, want %v in\n%s", got, tc.terms, q)
			}
			var nums []string
			for _, m := range regexp.MustCompile(`\$(\d+)`).FindAllStringSubmatch(q, -1) {
				nums = append(nums, m[1])
			}
			for i, n := range nums {
				if n != strconv.Itoa(i+1) {
					t.Fatalf("placeholders %v: want $1..$%d in order of appearance", nums, len(args))
				}
			}
			if len(nums) != len(args) || args[0] != "self" || args[len(args)-1] != fmtTime(now) {
				t.Errorf("args %v for placeholders %v", args, nums)
			}
		})
	}
}
