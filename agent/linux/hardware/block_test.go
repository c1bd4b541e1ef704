package hardware

import (
	"testing"
)

func TestBusFromDevicePath(t *testing.T) {
	t.Parallel()
	tests := []struct{ path, want string }{
		// Link target of /sys/block/vda in the sysfs-block capture.
		{"../devices/pci0000:00/0000:00:02.0/virtio1/block/vda", "virtio"},
		{"../devices/virtual/block/loop0", ""},
		{"../devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda", "ata"},
		{"../devices/pci0000:00/0000:00:1d.0/nvme/nvme0/nvme0n1", "nvme"},
		{"../devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1", "nvme"},
		{"../devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb", "usb"},
		{"../devices/platform/soc/fe340000.mmc/mmc_host/mmc0/mmc0:aaaa/block/mmcblk0", "mmc"},
		{"../devices/vbd-51712/block/xvda", "xen"},
		{"../devices/pci0000:00/0000:00:10.0/host2/target2:0:0/2:0:0:0/block/sda", "scsi"},
		{"../devices/pci0000:00/0000:00:01.0/0000:01:00.0/host0/port-0:0/end_device-0:0/target0:0:0/0:0:0:0/block/sda", "sas"},
	}
	for _, tt := range tests {
		if got := busFromDevicePath(tt.path); got != tt.want {
			t.Errorf("busFromDevicePath(%q): got %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestIsVirtualBlock(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"vda": false, "sda": false, "nvme0n1": false, "mmcblk0": false, "xvda": false,
		"loop0": true, "zram0": true, "ram0": true, "dm-0": true, "md127": true, "sr0": true, "nbd0": true,
	} {
		if got := isVirtualBlock(name); got != want {
			t.Errorf("isVirtualBlock(%q): got %v, want %v", name, got, want)
		}
	}
}
