package encryption

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/shared/wire"
)

func runProbe(t *testing.T, h *host.Host) *wire.Snapshot {
	t.Helper()
	ps := Probes()
	if len(ps) != 1 || ps[0].Name() != "encryption" || ps[0].Area() != wire.AreaEncryption {
		t.Fatalf("Probes: got %v, want one probe \"encryption\" in area %q", ps, wire.AreaEncryption)
	}
	snap := probe.Run(context.Background(), h, ps, probe.Options{})
	if len(snap.Probes) != 1 || snap.Probes[0].Status != wire.ProbeOK {
		t.Fatalf("probe status: got %+v, want ok", snap.Probes)
	}
	if snap.Encryption == nil {
		t.Fatal("no encryption section")
	}
	return snap
}

// The captured tree has 22 mounts: proc, sysfs, tmpfs, cgroups, the ext4
// root on vda and a loop device mounted twice (once through a bind mount).
// Only the root and one loop mount are fixed volumes.
func TestCollectCapturedTree(t *testing.T) {
	t.Parallel()
	h, err := host.Captured("linux", debian12LoopBind(t))
	if err != nil {
		t.Fatal(err)
	}
	got := runProbe(t, h).Encryption
	want := &wire.Encryption{
		System: wire.VolumeSummary{MountPoint: "/", Encrypted: wire.No, Status: wire.StateOff},
		Volumes: []wire.Volume{
			{MountPoint: "/", Device: "/dev/vda", FSType: "ext4", Encrypted: wire.No, Status: wire.StateOff,
				Chain: []string{"vda (disk)"}, System: true},
			{MountPoint: "/tmp/roster-fixture.NTGAh4/data vol", Device: "/dev/loop0", FSType: "ext4",
				Encrypted: wire.No, Status: wire.StateOff,
				Chain: []string{"loop0 (loop /tmp/roster-fixture.NTGAh4/disk.img)"}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("encryption (-want +got):\n%s", diff)
	}
}

// Stacks that this machine's kernel cannot build (it has no device-mapper):
// the nodes below are what walk returns for each layout, so these cases
// test the verdict logic. The dm uuids follow the formats cryptsetup
// (CRYPT-<TYPE>-<uuid without dashes>-<name>) and LVM (LVM-<vg+lv uuid>)
// give their devices; the live test in live_test.go covers real ones.
func TestEvaluate(t *testing.T) {
	t.Parallel()
	const (
		luks2 = "CRYPT-LUKS2-85c81352909d4e89b111aa5205faf334-cryptroot"
		luks1 = "CRYPT-LUKS1-9be9295f04554e01b6d43a5faf66005e-cryptdata"
		lvm   = "LVM-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	)
	sda3 := &node{Name: "sda3", Disk: "sda"}
	sdb1 := &node{Name: "sdb1", Disk: "sdb"}
	cryptOn := func(uuid, name string, slaves ...*node) *node {
		return &node{Name: "dm-0", DMUUID: uuid, DMName: name, Slaves: slaves}
	}
	tests := []struct {
		name      string
		n         *node
		encrypted wire.Tri
		scheme    string
		reason    string
		chain     []string
	}{
		{"plain partition", sda3, wire.No, "", "", []string{"sda3 (partition of sda)"}},
		{"lvm on luks2",
			&node{Name: "dm-1", DMUUID: lvm, DMName: "vg-root", Slaves: []*node{cryptOn(luks2, "cryptroot", sda3)}},
			wire.Yes, wire.SchemeLUKS2, "",
			[]string{"dm-1 (lvm vg-root)", "dm-0 (crypt luks2 cryptroot)", "sda3 (partition of sda)"}},
		{"luks1 on lvm",
			&node{Name: "dm-1", DMUUID: luks1, DMName: "cryptdata",
				Slaves: []*node{{Name: "dm-0", DMUUID: lvm, DMName: "vg-data", Slaves: []*node{{Name: "sda"}}}}},
			wire.Yes, wire.SchemeLUKS1, "",
			[]string{"dm-1 (crypt luks1 cryptdata)", "dm-0 (lvm vg-data)", "sda (disk)"}},
		{"lvm over encrypted and clear pv",
			&node{Name: "dm-2", DMUUID: lvm, DMName: "vg-big", Slaves: []*node{cryptOn(luks2, "c", sda3), sdb1}},
			wire.No, "", "dm-2 spans 2 devices and the path through sdb1 is not encrypted",
			[]string{"dm-2 (lvm vg-big)", "dm-0 (crypt luks2 c)", "sda3 (partition of sda)", "sdb1 (partition of sdb)"}},
		{"plain dm-crypt", cryptOn("CRYPT-PLAIN-swap", "swap", sda3), wire.Yes, wire.SchemePlain, "", nil},
		{"bitlocker", cryptOn("CRYPT-BITLK-0123-win", "win", sda3), wire.Yes, wire.SchemeBitLocker, "", nil},
		{"verity does not encrypt", &node{Name: "dm-0", DMUUID: "CRYPT-VERITY-abc-usr", DMName: "usr", Slaves: []*node{sda3}},
			wire.No, "", "", nil},
		{"unreadable slave", &node{Name: "dm-1", DMUUID: lvm, Slaves: []*node{{Name: "dm-0", Err: "read dm uuid: permission denied"}}},
			wire.Unknown, "", "dm-0: read dm uuid: permission denied", nil},
		{"unreadable slave list", &node{Name: "dm-1", DMUUID: lvm, Err: "read slaves: permission denied", Slaves: []*node{cryptOn(luks2, "c", sda3)}},
			wire.Unknown, "", "dm-1: read slaves: permission denied", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := evaluate(tc.n)
			if v.encrypted != tc.encrypted || v.scheme != tc.scheme || v.reason != tc.reason {
				t.Errorf("evaluate: got (%v, %q, %q), want (%v, %q, %q)", v.encrypted, v.scheme, v.reason, tc.encrypted, tc.scheme, tc.reason)
			}
			if tc.chain != nil {
				if diff := cmp.Diff(tc.chain, tc.n.chain()); diff != "" {
					t.Errorf("chain (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestLUKSUUIDFromDM(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"CRYPT-LUKS2-85c81352909d4e89b111aa5205faf334-cryptroot", "85c81352-909d-4e89-b111-aa5205faf334"},
		{"CRYPT-LUKS1-9be9295f04554e01b6d43a5faf66005e-x", "9be9295f-0455-4e01-b6d4-3a5faf66005e"},
		{"CRYPT-PLAIN-swap", ""},
		{"CRYPT-LUKS2-short-x", ""},
		{"LVM-abc", ""},
	}
	for _, tc := range tests {
		if got := luksUUIDFromDM(tc.in); got != tc.want {
			t.Errorf("luksUUIDFromDM(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFixedMounts(t *testing.T) {
	t.Parallel()
	ms := []Mount{
		{Major: 8, Minor: 1, Root: "/", MountPoint: "/srv/data/bind", FSType: "ext4", Source: "/dev/sda1"},
		{Major: 8, Minor: 1, Root: "/", MountPoint: "/srv/data", FSType: "ext4", Source: "/dev/sda1"},
		{Major: 8, Minor: 1, Root: "/sub", MountPoint: "/srv/sub", FSType: "ext4", Source: "/dev/sda1"},
		{Major: 7, Minor: 3, Root: "/", MountPoint: "/snap/core/1", FSType: "squashfs", Source: "/dev/loop3"},
		{Major: 0, Minor: 30, Root: "/@home", MountPoint: "/home", FSType: "btrfs", Source: "/dev/sda2"},
		{Major: 0, Minor: 45, Root: "/", MountPoint: "/tank", FSType: "zfs", Source: "tank"},
		{Major: 0, Minor: 22, Root: "/", MountPoint: "/run", FSType: "tmpfs", Source: "tmpfs"},
		{Major: 0, Minor: 50, Root: "/", MountPoint: "/home/u/remote", FSType: "fuse.sshfs", Source: "u@h:"},
		{Major: 8, Minor: 17, Root: "/", MountPoint: "/media/win", FSType: "fuseblk", Source: "/dev/sdb1"},
	}
	var got []string
	for _, m := range fixedMounts(ms) {
		got = append(got, m.MountPoint)
	}
	want := []string{"/srv/data", "/srv/sub", "/home", "/tank", "/media/win"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fixedMounts (-want +got):\n%s", diff)
	}
}
