package inventory

import (
	"github.com/rosterhq/roster/agent/darwin"
	"github.com/rosterhq/roster/agent/probe"
)

func darwinProbes() []probe.Probe { return darwin.Probes() }
