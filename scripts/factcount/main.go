// Command factcount counts, in inventory snapshots, how many identity,
// encryption and patch facts are known and how many are unknown (with a
// reason, or without one: "unexplained", which should never happen). It
// prints one row per snapshot, side by side for snapshots given as
// LABEL=FILE pairs of the same host (scripts/bench-facts.sh: a previous
// build and this one over every captured host).
//
//	go run ./scripts/factcount HOST:LABEL=FILE ...
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/rosterhq/roster/shared/wire"
)

// count is one area's tally of one snapshot.
type count struct {
	known, unknown, unexplained int
	missing                     []string
}

// probeReason is the key under which tally puts the message of a probe of
// the fact's area that did not run cleanly: the reason of every fact of
// that area left without one of its own.
const probeReason = "(probe)"

// withProbes returns reasons with the first message of a probe of area
// (or of a sub-area, "os/updates") whose status is not ok.
func withProbes(reasons map[string]string, probes []wire.ProbeStatus, area string) map[string]string {
	out := map[string]string{}
	for k, v := range reasons {
		out[k] = v
	}
	for _, p := range probes {
		if (p.Area == area || strings.HasPrefix(p.Name, area+"/")) && p.Status != wire.ProbeOK && p.Message != "" && out[probeReason] == "" {
			out[probeReason] = p.Name + " " + p.Status + ": " + p.Message
		}
	}
	return out
}

// add counts fact name; reasons holds the snapshot's reasons by field, and
// the fact's reason is the first of name and alsoIn that has one.
func (c *count) add(name string, known bool, reasons map[string]string, alsoIn ...string) {
	reason := reasons[name]
	for _, k := range append(alsoIn, probeReason) {
		if reason == "" {
			reason = reasons[k]
		}
	}
	switch {
	case known:
		c.known++
	case reason != "":
		c.unknown++
		c.missing = append(c.missing, name)
	default:
		c.unexplained++
		c.missing = append(c.missing, name+"(no reason)")
	}
}

func (c count) String() string {
	return fmt.Sprintf("%d/%d", c.known, c.known+c.unknown+c.unexplained)
}

// tally counts the three areas of one snapshot.
func tally(s wire.Snapshot) (identity, encryption, patch count) {
	hw := s.Hardware
	if hw == nil {
		hw = &wire.Hardware{}
	}
	r := withProbes(hw.Unknown, s.Probes, wire.AreaHardware)
	identity.add("system_serial", hw.SystemSerial != "", r)
	identity.add("system_uuid", hw.SystemUUID != "", r)
	identity.add("board_serial", hw.BoardSerial != "", r)
	identity.add("vendor", hw.Vendor != "", r)
	identity.add("model", hw.Model != "", r)
	identity.add("chassis_type", hw.ChassisType != "", r)
	identity.add("bios_version", hw.BIOSVersion != "", r)
	nicMACs := len(hw.NICs) > 0
	for _, n := range hw.NICs {
		nicMACs = nicMACs && n.MAC != ""
	}
	identity.add("nics", nicMACs, r)
	identity.add("disks", len(hw.Disks) > 0, r)
	diskSerials := len(hw.Disks) > 0
	for _, d := range hw.Disks {
		diskSerials = diskSerials && d.Serial != ""
	}
	identity.add("disk_serials", diskSerials, r, "disks")

	enc := s.Encryption
	if enc == nil {
		enc = &wire.Encryption{}
	}
	known := func(t wire.Tri) bool { return t == wire.Yes || t == wire.No }
	encReason := withProbes(nil, s.Probes, wire.AreaEncryption)
	if enc.System.Reason != "" {
		encReason["system"] = enc.System.Reason
	}
	encryption.add("system", known(enc.System.Encrypted), encReason)
	for _, v := range enc.Volumes {
		name := "volume " + v.MountPoint
		encryption.add(name, known(v.Encrypted), map[string]string{name: v.Reason, probeReason: encReason[probeReason]})
	}

	osi := s.OS
	if osi == nil {
		osi = &wire.OS{}
	}
	r = withProbes(osi.Unknown, s.Probes, wire.AreaOS)
	patch.add("version", osi.Version != "" || osi.Build != "", r, "build")
	patch.add("build", osi.Build != "" || osi.Kernel != "", r, "kernel")
	patch.add("last_update_at", osi.LastUpdateAt != nil, r)
	patch.add("pending_updates", osi.PendingUpdates != nil, r)
	patch.add("pending_security_updates", osi.PendingSecurityUpdates != nil, r)
	patch.add("reboot_required", known(osi.RebootRequired), r)
	return identity, encryption, patch
}

type row struct {
	host, label  string
	id, enc, pat count
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: factcount HOST:LABEL=FILE ...")
		os.Exit(2)
	}
	var rows []row
	for _, arg := range os.Args[1:] {
		key, file, ok := strings.Cut(arg, "=")
		host, label, ok2 := strings.Cut(key, ":")
		if !ok || !ok2 {
			fmt.Fprintf(os.Stderr, "factcount: %q is not HOST:LABEL=FILE\n", arg)
			os.Exit(2)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintf(os.Stderr, "factcount: %v\n", err)
			os.Exit(1)
		}
		var s wire.Snapshot
		if err := json.Unmarshal(b, &s); err != nil {
			fmt.Fprintf(os.Stderr, "factcount: decode %s: %v\n", file, err)
			os.Exit(1)
		}
		id, enc, pat := tally(s)
		rows = append(rows, row{host, label, id, enc, pat})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].host < rows[j].host })
	fmt.Printf("%-34s %-8s %9s %11s %6s %12s  %s\n", "captured host", "build", "identity", "encryption", "patch", "unexplained", "not known")
	totals := map[string]*[3]count{}
	var labels []string
	for _, r := range rows {
		unexplained := r.id.unexplained + r.enc.unexplained + r.pat.unexplained
		missing := strings.Join(append(append(append([]string{}, r.id.missing...), r.enc.missing...), r.pat.missing...), ", ")
		fmt.Printf("%-34s %-8s %9s %11s %6s %12d  %s\n", r.host, r.label, r.id, r.enc, r.pat, unexplained, missing)
		t := totals[r.label]
		if t == nil {
			t = &[3]count{}
			totals[r.label] = t
			labels = append(labels, r.label)
		}
		for i, c := range []count{r.id, r.enc, r.pat} {
			t[i].known += c.known
			t[i].unknown += c.unknown
			t[i].unexplained += c.unexplained
		}
	}
	for _, l := range labels {
		t := totals[l]
		fmt.Printf("%-34s %-8s %9s %11s %6s %12d\n", "all hosts", l, t[0], t[1], t[2], t[0].unexplained+t[1].unexplained+t[2].unexplained)
	}
}
