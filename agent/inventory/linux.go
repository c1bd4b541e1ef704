package inventory

import (
	"github.com/rosterhq/roster/agent/linux/encryption"
	"github.com/rosterhq/roster/agent/linux/hardware"
	"github.com/rosterhq/roster/agent/linux/osinfo"
	"github.com/rosterhq/roster/agent/linux/software"
	"github.com/rosterhq/roster/agent/probe"
)

func linuxProbes() []probe.Probe {
	var ps []probe.Probe
	ps = append(ps, hardware.Probes()...)
	ps = append(ps, encryption.Probes()...)
	ps = append(ps, osinfo.Probes()...)
	ps = append(ps, software.Probes()...)
	return ps
}
