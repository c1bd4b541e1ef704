package inventory

import (
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/agent/windows"
)

func windowsProbes() []probe.Probe { return windows.Probes() }
