package hardware

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/shared/identity"
	"github.com/rosterhq/roster/shared/wire"
)

// virtualBlockPrefixes are /sys/block entries that are not disks: loop
// devices, RAM disks, compressed swap, device-mapper and md arrays (their
// members are listed themselves), optical drives, network block devices,
// floppies and ZFS volumes.
var virtualBlockPrefixes = []string{"loop", "ram", "zram", "dm-", "md", "sr", "nbd", "fd", "zd"}

func isVirtualBlock(name string) bool {
	for _, p := range virtualBlockPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// readDisks lists the disks under /sys/block.
func readDisks(h *host.Host) ([]wire.Disk, error) {
	ents, err := h.ReadDir("/sys/block")
	if err != nil {
		return nil, fmt.Errorf("list /sys/block: %w", err)
	}
	var disks []wire.Disk
	for _, e := range ents {
		name := e.Name()
		if isVirtualBlock(name) {
			continue
		}
		disks = append(disks, readDisk(h, name))
	}
	return disks, nil
}

func readDisk(h *host.Host, name string) wire.Disk {
	dir := "/sys/block/" + name
	d := wire.Disk{Name: name, Media: wire.MediaUnknown}
	if s, err := h.ReadString(dir + "/size"); err == nil {
		// size is always in 512-byte sectors, whatever the logical block size.
		if n, err := strconv.ParseUint(s, 10, 64); err == nil && n <= (1<<64-1)/512 {
			d.SizeBytes = n * 512
		}
	}
	if s, err := h.ReadString(dir + "/queue/rotational"); err == nil {
		switch s {
		case "0":
			d.Media = wire.MediaSSD
		case "1":
			d.Media = wire.MediaHDD
		}
	}
	if s, err := h.ReadString(dir + "/removable"); err == nil {
		d.Removable = s == "1"
	}
	d.Model = firstText(h, identity.Text, dir+"/device/model")
	if d.Model == "" {
		if v := firstText(h, identity.Text, dir+"/device/vendor"); !strings.HasPrefix(v, "0x") {
			// virtio's device/vendor is a PCI vendor ID (0x1af4), not a name.
			d.Model = v
		}
	}
	d.Serial = firstText(h, identity.Serial, dir+"/device/serial", dir+"/serial", dir+"/device/wwid", dir+"/wwid")
	if link, err := h.ReadLink(dir); err == nil {
		d.Bus = busFromDevicePath(link)
	}
	return d
}

// firstText returns the first of paths that reads and normalises to a
// non-empty value.
func firstText(h *host.Host, norm func(string) string, paths ...string) string {
	for _, p := range paths {
		s, err := h.ReadString(p)
		if err != nil {
			continue
		}
		if v := norm(s); v != "" {
			return v
		}
	}
	return ""
}

// busFromDevicePath guesses the bus from a /sys/block link target such as
// "../devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda".
// The outermost transport wins: a USB stick also shows a SCSI host.
func busFromDevicePath(p string) string {
	parts := strings.Split(p, "/")
	has := func(match func(string) bool) bool {
		for _, s := range parts {
			if match(s) {
				return true
			}
		}
		return false
	}
	prefix := func(pre string) func(string) bool {
		return func(s string) bool { return strings.HasPrefix(s, pre) }
	}
	switch {
	case has(prefix("usb")):
		return "usb"
	case has(func(s string) bool { return s == "nvme" || strings.HasPrefix(s, "nvme-subsys") }):
		return "nvme"
	case has(prefix("virtio")):
		return "virtio"
	case has(prefix("mmc")):
		return "mmc"
	case has(prefix("vbd-")):
		return "xen"
	case has(prefix("ata")):
		return "ata"
	case has(prefix("end_device-")), has(prefix("sas_")):
		return "sas"
	case has(prefix("host")) && has(prefix("target")):
		return "scsi"
	case has(prefix("VMBUS")), has(prefix("vmbus")):
		return "vmbus"
	}
	return ""
}
