// Package encryption is the Linux disk-encryption probe: for every mounted
// fixed volume (from /proc/self/mountinfo) it walks the block-device stack
// in sysfs down to the disks, finds dm-crypt layers by their device-mapper
// uuid (LUKS1, LUKS2, plain, BitLocker, ...), reads the LUKS header from the
// device under the crypt layer when it can (keyslots, cipher, unfinished
// re-encryption), and asks zfs about native ZFS encryption. A volume is
// encrypted only when every path to its disks is; what cannot be read is
// "unknown" with a reason, never "no".
package encryption

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/luks"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/shared/wire"
)

// zfsGet is the one zfs command the probe runs: every dataset at once, so
// the command line is fixed.
var zfsGet = []string{"zfs", "get", "-H", "-p", "-o", "name,property,value", "encryption,keystatus"}

// Probes returns this package's probes in the order they run.
func Probes() []probe.Probe {
	return []probe.Probe{probe.Func{
		ProbeName: "encryption",
		ProbeArea: wire.AreaEncryption,
		Cmds:      []string{host.CommandLine(zfsGet[0], zfsGet[1:]...)},
		Fn:        collect,
	}}
}

// virtualFS are file systems that never sit on a local fixed disk, even when
// their major number is not 0.
var virtualFS = map[string]bool{
	"proc": true, "sysfs": true, "tmpfs": true, "devtmpfs": true, "devpts": true,
	"cgroup": true, "cgroup2": true, "overlay": true, "aufs": true, "squashfs": true,
	"nfs": true, "nfs4": true, "cifs": true, "smb3": true, "smbfs": true, "ceph": true,
	"glusterfs": true, "9p": true, "virtiofs": true, "autofs": true, "mqueue": true,
	"debugfs": true, "tracefs": true, "securityfs": true, "pstore": true, "bpf": true,
	"configfs": true, "fusectl": true, "hugetlbfs": true, "binfmt_misc": true,
	"efivarfs": true, "ramfs": true, "nsfs": true, "rpc_pipefs": true, "selinuxfs": true,
	"iso9660": true, "udf": true, "fuse": true,
}

func collect(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	enc := &wire.Encryption{
		System:  wire.VolumeSummary{MountPoint: "/", Encrypted: wire.Unknown, Status: wire.StateUnknown},
		Volumes: []wire.Volume{},
	}
	s.Encryption = enc
	raw, err := h.ReadFile("/proc/self/mountinfo")
	if err != nil {
		enc.System.Reason = fmt.Sprintf("mount table not read: %v", err)
		return fmt.Errorf("read mountinfo: %w", err)
	}
	mounts, err := ParseMountinfo(raw)
	if err != nil {
		enc.System.Reason = fmt.Sprintf("mount table not parsed: %v", err)
		return fmt.Errorf("parse mountinfo: %w", err)
	}
	var (
		zfs    map[string]ZFSCrypt
		zfsErr error
		zfsRan bool
	)
	for _, m := range fixedMounts(mounts) {
		v := wire.Volume{MountPoint: m.MountPoint, Device: m.Source, FSType: m.FSType}
		switch m.FSType {
		case "zfs":
			if !zfsRan {
				zfs, zfsErr = runZFSGet(ctx, h)
				zfsRan = true
			}
			zfsVolume(&v, m, zfs, zfsErr)
		default:
			n, err := mountNode(ctx, h, m)
			if err != nil {
				v.Encrypted, v.Status = wire.Unknown, wire.StateUnknown
				v.Reason = err.Error()
				break
			}
			blockVolume(h, &v, n)
		}
		if v.MountPoint == "/" {
			v.System = true
			enc.System = wire.VolumeSummary{
				MountPoint: "/", Encrypted: v.Encrypted, Scheme: v.Scheme, Status: v.Status, Reason: v.Reason,
			}
		}
		enc.Volumes = append(enc.Volumes, v)
	}
	if !hasSystem(enc.Volumes) {
		enc.System.Reason = "/ is not on a fixed volume"
		for _, m := range mounts {
			if m.MountPoint == "/" {
				enc.System.Reason = fmt.Sprintf("/ is on %s (%s), not a fixed volume", m.FSType, m.Source)
			}
		}
	}
	if zfsErr != nil && !errors.Is(zfsErr, host.ErrNotFound) {
		return zfsErr
	}
	return nil
}

func hasSystem(vs []wire.Volume) bool {
	for _, v := range vs {
		if v.System {
			return true
		}
	}
	return false
}

// fixedMounts keeps the mounts of local disk file systems (block-backed,
// ZFS, btrfs) and drops bind mounts of a device+root already seen, keeping
// the shortest mount point.
func fixedMounts(ms []Mount) []Mount {
	var out []Mount
	seen := map[string]int{}
	for _, m := range ms {
		if !isFixed(m) {
			continue
		}
		key := fmt.Sprintf("%d:%d|%s", m.Major, m.Minor, m.Root)
		if m.FSType == "zfs" {
			key = "zfs|" + m.Source + "|" + m.Root
		}
		if i, ok := seen[key]; ok {
			if shorter(m.MountPoint, out[i].MountPoint) {
				out[i] = m
			}
			continue
		}
		seen[key] = len(out)
		out = append(out, m)
	}
	return out
}

func shorter(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func isFixed(m Mount) bool {
	switch {
	case m.FSType == "zfs" || m.FSType == "btrfs":
		return true
	case m.Major == 0, virtualFS[m.FSType], strings.HasPrefix(m.FSType, "fuse.") && !strings.HasPrefix(m.Source, "/dev/"):
		return false
	}
	return true
}

// mountNode finds the block device under a mount and walks its stack.
func mountNode(ctx context.Context, h *host.Host, m Mount) (*node, error) {
	if m.Major != 0 {
		name, err := devName(h, m.Major, m.Minor)
		if err != nil {
			return nil, err
		}
		return walk(ctx, h, name, 0), nil
	}
	// btrfs mounts carry an anonymous device number: go by the source and
	// the file system's device list in /sys/fs/btrfs.
	name, err := sourceName(h, m.Source)
	if err != nil {
		return nil, err
	}
	fsid, devs := btrfsDevices(h, name)
	if len(devs) <= 1 {
		return walk(ctx, h, name, 0), nil
	}
	n := &node{Name: "btrfs", Group: fmt.Sprintf("btrfs %s, %d devices", fsid, len(devs))}
	for _, d := range devs {
		n.Slaves = append(n.Slaves, walk(ctx, h, d, 1))
	}
	return n, nil
}

// devName maps major:minor to the kernel device name through
// /sys/dev/block/MAJ:MIN, a link to the device's sysfs directory.
func devName(h *host.Host, major, minor uint32) (string, error) {
	p := fmt.Sprintf("/sys/dev/block/%d:%d", major, minor)
	if l, err := h.ReadLink(p); err == nil {
		return path.Base(l), nil
	}
	// Without symlink support, the uevent file names the device too.
	ue, err := h.ReadString(p + "/uevent")
	if err != nil {
		return "", fmt.Errorf("device %d:%d not found in /sys/dev/block: %w", major, minor, err)
	}
	for _, line := range strings.Split(ue, "\n") {
		if v, ok := strings.CutPrefix(line, "DEVNAME="); ok {
			return path.Base(v), nil
		}
	}
	return "", fmt.Errorf("device %d:%d: no DEVNAME in uevent", major, minor)
}

// sourceName resolves a mount source such as /dev/sda2, /dev/mapper/root
// or /dev/disk/by-uuid/... to a kernel device name.
func sourceName(h *host.Host, src string) (string, error) {
	if !strings.HasPrefix(src, "/dev/") {
		return "", fmt.Errorf("mount source %q is not a device", src)
	}
	p := src
	for range 8 {
		l, err := h.ReadLink(p)
		if err != nil {
			break
		}
		if !path.IsAbs(l) {
			l = path.Join(path.Dir(p), l)
		}
		p = l
	}
	if dm, ok := strings.CutPrefix(p, "/dev/mapper/"); ok {
		ents, _ := h.ReadDir("/sys/block")
		for _, e := range ents {
			if name, _ := h.ReadString("/sys/block/" + e.Name() + "/dm/name"); name == dm {
				return e.Name(), nil
			}
		}
		return "", fmt.Errorf("no device-mapper device named %q", dm)
	}
	name := path.Base(p)
	if !h.Exists("/sys/class/block/" + name) {
		return "", fmt.Errorf("mount source %s: %s not in /sys/class/block", src, name)
	}
	return name, nil
}

// btrfsDevices finds the btrfs file system that has device name and lists
// all its devices.
func btrfsDevices(h *host.Host, name string) (string, []string) {
	fss, _ := h.ReadDir("/sys/fs/btrfs")
	for _, f := range fss {
		devs, err := h.ReadDir("/sys/fs/btrfs/" + f.Name() + "/devices")
		if err != nil {
			continue
		}
		var names []string
		found := false
		for _, d := range devs {
			names = append(names, d.Name())
			found = found || d.Name() == name
		}
		if found {
			return f.Name(), names
		}
	}
	return "", nil
}

// blockVolume fills v from the device stack n.
func blockVolume(h *host.Host, v *wire.Volume, n *node) {
	v.Chain = n.chain()
	vd := evaluate(n)
	v.Encrypted, v.Scheme, v.Reason = vd.encrypted, vd.scheme, vd.reason
	switch vd.encrypted {
	case wire.No:
		v.Status = wire.StateOff
		return
	case wire.Unknown:
		v.Status = wire.StateUnknown
		return
	}
	v.Status = wire.StateOn
	if vd.scheme != wire.SchemeLUKS1 && vd.scheme != wire.SchemeLUKS2 {
		return
	}
	v.LUKSUUID = luksUUIDFromDM(vd.crypt.DMUUID)
	if len(vd.crypt.Slaves) == 0 {
		v.Reason = joinReason(v.Reason, "LUKS header not read: the crypt device has no backing device in sysfs")
		return
	}
	dev := "/dev/" + vd.crypt.Slaves[0].Name
	hdr, err := readHeader(h, dev)
	if err != nil {
		v.Reason = joinReason(v.Reason, err.Error())
		return
	}
	v.LUKSUUID = hdr.UUID
	k := hdr.ActiveKeyslots()
	v.Keyslots = &k
	v.Cipher = hdr.Cipher
	switch hdr.Reencrypt {
	case "encrypt":
		v.Status = wire.StateEncrypting
	case "decrypt":
		v.Status = wire.StateDecrypting
	default:
		if hdr.Reencrypting() {
			v.Reason = joinReason(v.Reason, "LUKS2 re-encryption in progress")
		}
	}
	if want := "luks" + fmt.Sprint(hdr.Version); want != vd.scheme {
		v.Reason = joinReason(v.Reason, fmt.Sprintf("header on %s is %s, device-mapper says %s", dev, want, vd.scheme))
	}
}

// readHeader reads and parses the LUKS header at the start of dev.
func readHeader(h *host.Host, dev string) (luks.Header, error) {
	b, err := h.ReadFileLimit(dev, 4096)
	if err == nil {
		var size int
		if size, err = luks.HeaderSize(b); err == nil && size > len(b) {
			b, err = h.ReadFileLimit(dev, int64(size))
		}
	}
	if err == nil {
		var hdr luks.Header
		if hdr, err = luks.ParseHeader(b); err == nil {
			return hdr, nil
		}
	}
	switch {
	case errors.Is(err, fs.ErrPermission):
		return luks.Header{}, fmt.Errorf("LUKS header not read: %v (needs root)", err)
	case errors.Is(err, luks.ErrNotLUKS):
		return luks.Header{}, fmt.Errorf("LUKS header not read: %s does not start with one (detached header?)", dev)
	}
	return luks.Header{}, fmt.Errorf("LUKS header not read: %v", err)
}

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func runZFSGet(ctx context.Context, h *host.Host) (map[string]ZFSCrypt, error) {
	out, err := h.Run(ctx, zfsGet[0], zfsGet[1:]...)
	if err != nil {
		return nil, fmt.Errorf("run zfs get: %w", err)
	}
	m, err := ParseZFSGet(out)
	if err != nil {
		return nil, fmt.Errorf("parse zfs get: %w", err)
	}
	return m, nil
}

// zfsVolume fills v for a ZFS dataset from the zfs get answer.
func zfsVolume(v *wire.Volume, m Mount, zfs map[string]ZFSCrypt, err error) {
	v.Encrypted, v.Status = wire.Unknown, wire.StateUnknown
	if err != nil {
		v.Reason = err.Error()
		return
	}
	c, ok := zfs[m.Source]
	if !ok || c.Encryption == "" {
		v.Reason = fmt.Sprintf("zfs get did not list dataset %s", m.Source)
		return
	}
	if c.Encryption == "off" {
		v.Encrypted, v.Status = wire.No, wire.StateOff
		v.Reason = "ZFS native encryption is off (the pool's disks were not checked for dm-crypt)"
		return
	}
	v.Encrypted, v.Scheme, v.Status, v.Cipher = wire.Yes, wire.SchemeZFS, wire.StateOn, c.Encryption
	if c.KeyStatus != "" && c.KeyStatus != "available" {
		v.Reason = "key status " + c.KeyStatus
	}
}
