// Command snapdict writes the zstd dictionary the registry packs stored
// snapshots and deltas with (collector/registry/snapdict1.bin, dictionary
// id 1; snapshot.go: snapCodec). A raw dictionary is earlier content that
// zstd may copy from, so it holds what stored snapshots of other machines
// share: the snapshots of the captured hosts as the registry stores them
// (packages left out; the JSON keys, the probes' names and messages, the
// reasons fields are unknown), then the pending updates the agent's parser
// reads from real apt simulations (package names and versions of Debian
// 12 and Ubuntu 22.04), last because zstd reaches recent content most
// cheaply.
//
// The Debian VM capture (linux/debian12-firecracker-vm) is left out: it is
// the host scripts/bench-storage.sh builds its devices from, so the
// figures are those of a machine the dictionary has never seen.
//
// Rows packed with a dictionary can only be read with the same bytes:
// this program documents how snapdict1.bin was made, and its inputs are
// listed by name so that a new capture changes nothing. A different
// dictionary must take a new id (and the codec keep reading id 1).
//
//	go run ./scripts/snapdict -root . -out collector/registry/snapdict1.bin
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rosterhq/roster/agent/linux/osinfo"
	"github.com/rosterhq/roster/shared/wire"
)

// captures are testdata/hosts/<os>/<name>/want.json, in this order.
var captures = []string{
	"darwin/apple-silicon-filevault",
	"darwin/macbookpro10-1-xml",
	"darwin/macbookpro11-4-text",
	"darwin/macbookpro12-1-ioreg",
	"darwin/macos-10.13-apfs",
	"darwin/macos-10.14.6-ifconfig",
	"linux/alpine",
	"linux/dell-r6515-centos7",
	"linux/thinkpad-t490-smbios-table",
	"linux/virtualbox-arch",
	"windows/server-2022",
	"windows/win10-20h2-vmware",
}

// aptSimulations are real `apt-get --just-print full-upgrade` outputs:
// the project's Debian 12 development machine and two from
// ../shared/fixtures (osconfig's Debian 12 and Ubuntu 22.04 captures).
// The first is under the repository root, the others under -fixtures.
var aptSimulations = []struct {
	fixture bool
	path    string
}{
	{false, "agent/linux/osinfo/testdata/apt/debian12-dev/apt-get-full-upgrade.txt"},
	{true, "linux/updates/debian-12-apt-get-just-print-qq-full-upgrade.txt"},
	{true, "linux/updates/ubuntu-22.04-apt-get-just-print-qq-full-upgrade.txt"},
}

func main() {
	root := flag.String("root", ".", "repository root")
	fixtures := flag.String("fixtures", "../shared/fixtures", "the team's captured fixtures")
	out := flag.String("out", "collector/registry/snapdict1.bin", "dictionary file to write")
	flag.Parse()
	dict, err := build(*root, *fixtures)
	if err != nil {
		fmt.Fprintln(os.Stderr, "snapdict:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, dict, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "snapdict:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s: %d bytes\n", *out, len(dict))
}

func build(root, fixtures string) ([]byte, error) {
	var dict []byte
	for _, c := range captures {
		f := filepath.Join(root, "testdata", "hosts", filepath.FromSlash(c), "want.json")
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		s := new(wire.Snapshot)
		if err := json.Unmarshal(b, s); err != nil {
			return nil, fmt.Errorf("decode %s: %w", f, err)
		}
		if s.Software != nil {
			// as the registry stores it: "packages":null
			s.Software = &wire.Software{}
		}
		j, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		dict = append(dict, j...)
	}
	for _, a := range aptSimulations {
		dir := root
		if a.fixture {
			dir = fixtures
		}
		f := filepath.Join(dir, filepath.FromSlash(a.path))
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		p, err := osinfo.ParseAptSimulation(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", f, err)
		}
		j, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		dict = append(dict, j...)
	}
	return dict, nil
}
