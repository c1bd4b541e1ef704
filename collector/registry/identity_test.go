package registry

import (
	"testing"

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
