package hardware

import "github.com/rosterhq/roster/agent/probe"

// Probes returns this package's probes in the order they run.
func Probes() []probe.Probe { return nil }
