package darwin

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/rosterhq/roster/shared/wire"
)

// fdeStatus is what `fdesetup status` says about FileVault on the boot volume.
type fdeStatus struct {
	// State is wire.StateOn, StateOff, StateEncrypting, StateDecrypting or
	// StateUnknown when the output says none of these plainly.
	State string
	// Percent is the conversion progress while encrypting or decrypting.
	Percent *float64
	// Text is the output's first non-empty line, kept for the reason.
	Text string
}

var fdePercent = regexp.MustCompile(`Percent completed = ([0-9]+(?:\.[0-9]+)?)`)

// parseFdesetupStatus reads `fdesetup status`. No real capture of this
// command exists in testdata, so the parser is deliberately strict: only
// the plain sentences fdesetup prints ("FileVault is On.", "FileVault is
// Off.", "Encryption in progress: Percent completed = N", "Decryption in
// progress: ...") give a known state; anything else (an "On" that still
// needs a restart, deferred enablement, an error) stays unknown with the text as reason,
// so the agent never claims encryption the output does not state.
func parseFdesetupStatus(b []byte) fdeStatus {
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	st := fdeStatus{State: wire.StateUnknown}
	for _, line := range strings.Split(text, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			st.Text = line
			break
		}
	}
	percent := func() *float64 {
		m := fdePercent.FindStringSubmatch(text)
		if m == nil {
			return nil
		}
		f, err := strconv.ParseFloat(m[1], 64)
		if err != nil || f < 0 || f > 100 {
			return nil
		}
		return &f
	}
	switch {
	case strings.Contains(text, "Encryption in progress"):
		st.State, st.Percent = wire.StateEncrypting, percent()
	case strings.Contains(text, "Decryption in progress"):
		st.State, st.Percent = wire.StateDecrypting, percent()
	case strings.HasPrefix(st.Text, "FileVault is Off"):
		// Also "Off, but will be enabled after the next restart": off now.
		st.State = wire.StateOff
	case strings.Contains(text, "restart"), strings.Contains(text, "Deferred"):
		// A pending change: whatever the first sentence says, the volume
		// is not yet in that state.
	case st.Text == "FileVault is On.":
		st.State = wire.StateOn
	}
	return st
}
