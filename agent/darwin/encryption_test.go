package darwin

import (
	"testing"

	"github.com/rosterhq/roster/shared/wire"
)

// No real `fdesetup status` capture exists (see the fixtures' SOURCES.md), so
// what can be tested on real bytes is the parser's strictness: no other
// tool's output, however much it talks about FileVault, may read as "on".
func TestParseFdesetupStatusNeverGuesses(t *testing.T) {
	t.Parallel()
	for name, b := range allFixtures(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := parseFdesetupStatus(b); got.State != wire.StateUnknown || got.Percent != nil {
				t.Errorf("got state %q percent %v, want %q and no percent", got.State, got.Percent, wire.StateUnknown)
			}
		})
	}
}

func TestParseMDMClientSecurityInfo(t *testing.T) {
	t.Parallel()
	got, err := parseMDMClientSecurityInfo(fixture(t, "filevault/mdmclient-QuerySecurityInfo.txt"))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		got  *bool
		want bool
	}{
		{"FDE_Enabled", got.FDEEnabled, true},
		{"FDE_HasPersonalRecoveryKey", got.FDEHasPersonalRecoveryKey, true},
		{"FDE_HasInstitutionalRecoveryKey", got.FDEHasInstitutionalRecovery, false},
		{"SystemIntegrityProtectionEnabled", got.SIPEnabled, true},
	}
	for _, c := range checks {
		if c.got == nil || *c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseMDMClientSecurityInfoRejectsOtherOutput(t *testing.T) {
	t.Parallel()
	for name, b := range allFixtures(t) {
		if name == "filevault/mdmclient-QuerySecurityInfo.txt" {
			continue
		}
		if got, err := parseMDMClientSecurityInfo(b); err == nil {
			t.Errorf("%s: got %+v, nil error; want an error", name, got)
		}
	}
}

func TestPlistBool(t *testing.T) {
	t.Parallel()
	tr, fa := true, false
	tests := []struct {
		in   any
		want *bool
	}{
		{"1", &tr}, {"0", &fa}, {true, &tr}, {uint64(0), &fa}, {int64(1), &tr},
		{"2", nil}, {nil, nil}, {int64(7), nil}, {map[string]any{}, nil},
	}
	for _, tt := range tests {
		got := plistBool(tt.in)
		if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
			t.Errorf("plistBool(%#v): got %v, want %v", tt.in, got, tt.want)
		}
	}
}

func FuzzParseFdesetupStatus(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		st := parseFdesetupStatus(b)
		switch st.State {
		case wire.StateOn, wire.StateOff, wire.StateEncrypting, wire.StateDecrypting, wire.StateUnknown:
		default:
			t.Fatalf("state %q is not a wire state", st.State)
		}
		if st.Percent != nil && (*st.Percent < 0 || *st.Percent > 100) {
			t.Fatalf("percent %v out of range", *st.Percent)
		}
	})
}

func FuzzParseMDMClientSecurityInfo(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parseMDMClientSecurityInfo(b) })
}
