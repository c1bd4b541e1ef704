package compliance

import (
	"fmt"
	"testing"
	"time"
)

// fleetSize is the fleet of the figure: every policy re-evaluated
// over 100,000 devices in at most 5 s on 2 cores, storage included.
const fleetSize = 100_000

// syntheticFleet derives n devices from the captured hosts, varying only
// identity, dates and the register's answer, so each device's facts are
// real ones.
func syntheticFleet(b *testing.B, n int) []Input {
	b.Helper()
	hosts := allHosts(b)
	base := make([]Input, len(hosts))
	for i, h := range hosts {
		base[i] = input(b, h)
	}
	classes := []string{"confidential", "internal", "public"}
	types := []string{"laptop", "desktop", "server", "vm"}
	now := testNow()
	fleet := make([]Input, n)
	for i := range fleet {
		in := base[i%len(base)]
		id := fmt.Sprintf("dev-%06d", i)
		in.DeviceID = id
		in.Facts.Device.Hostname = "host-" + id
		in.Facts.Device.Serial = fmt.Sprintf("SN%08d", i)
		if in.Facts.OS.LastUpdateAt != nil {
			t := now.Add(-time.Duration(i%60) * 24 * time.Hour)
			in.Facts.OS.LastUpdateAt = &t
		}
		in.LastSeen = now.Add(-time.Duration(i%10) * 24 * time.Hour)
		if i%5 != 0 { // a fifth of the fleet is unregistered
			in.Asset = &AssetFacts{Tag: fmt.Sprintf("A-%06d", i), Classification: classes[i%3], Type: types[i%4], Tags: []string{"corp"}}
		}
		if i%50 == 0 {
			in.Exceptions = []Exception{{ID: "E-" + id, PolicyID: "CFG-OS-01", DeviceID: id, ExpiresAt: now.Add(time.Hour), Reason: "r", Approver: "a"}}
		}
		if i%3 == 0 {
			in.FailingSince = map[string]time.Time{"CFG-PATCH-02": now.Add(-2 * 24 * time.Hour)}
		}
		fleet[i] = in
	}
	return fleet
}

// BenchmarkEvaluateFleet evaluates a policy set over 100,000 devices per
// iteration and reports ns/device and the projected seconds per fleet.
func BenchmarkEvaluateFleet(b *testing.B) {
	fleet := syntheticFleet(b, fleetSize)
	withCEL := DefaultFile()
	withCEL = append(withCEL, []byte(`
  - id: SEC-REBOOT-01
    title: No reboot pending for over a week
    severity: low
    kind: cel
    expr: os.reboot_required == "no" || days_since_update < 7
  - id: SEC-EDR-01
    title: EDR installed
    severity: high
    kind: required_software
    params: {name: "falcon*"}
  - id: SEC-BAN-01
    title: No remote-control tools
    severity: high
    kind: cel
    expr: '!has_software("teamviewer*") && !has_software("anydesk*")'
`)...)
	sets := []struct {
		name string
		data []byte
	}{{"default", DefaultFile()}, {"default+cel+software", withCEL}}
	for _, s := range sets {
		set, err := Parse(s.data, s.name)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			worst := map[string]int{}
			for b.Loop() {
				clear(worst)
				for i := range fleet {
					worst[Worst(set.Evaluate(fleet[i]))]++
				}
			}
			perDevice := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / fleetSize
			b.ReportMetric(perDevice, "ns/device")
			b.ReportMetric(perDevice*fleetSize/1e9, "s/fleet")
			b.ReportMetric(0, "ns/op") // an op is a whole fleet; ns/device says more
			if len(worst) < 2 {
				b.Errorf("a varied fleet gave one overall state: %v", worst)
			}
		})
	}
}

// BenchmarkDiffEncode measures the stored forms of a real captured host's
// results (two failing policies, so the failing column is not empty): the
// encoding alone, a device whose outcome changed as a fleet evaluation
// diffs it (DiffStored: encode and list the changes), and an unchanged
// device diffed against its stored document (DiffResults).
func BenchmarkDiffEncode(b *testing.B) {
	set := Default()
	in := input(b, "linux/debian12-firecracker-vm")
	results := set.Evaluate(in)
	now, err := DiffResults("", "", results, stamp, nil)
	if err != nil {
		b.Fatal(err)
	}
	// Forty days earlier the last update was recent: the patch policy
	// passed, so its status changes.
	in.Now = in.Now.Add(-40 * 24 * time.Hour)
	in.LastSeen = in.Now.Add(-time.Hour)
	before, err := DiffResults("", "", set.Evaluate(in), stamp, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		o := newDiff(nil, results, stamp)
		for b.Loop() {
			o.Encode(nil)
		}
	})
	b.Run("changed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			o, err := DiffStored(before.State, before.Results, results, stamp, nil)
			if err != nil || len(o.Changes) == 0 {
				b.Fatalf("got %d changes, %v; want a changed outcome", len(o.Changes), err)
			}
		}
	})
	b.Run("unchanged", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			o, err := DiffResults(now.State, now.Doc, results, stamp, nil)
			if err != nil || o.Changed {
				b.Fatalf("got changed %v, %v; want an unchanged outcome", o.Changed, err)
			}
		}
	})
}
