package luks_test

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/rosterhq/roster/agent/luks"
	"github.com/rosterhq/roster/agent/wipe/wipetest"
)

// TestLiveLoopDevice makes real LUKS1 and LUKS2 volumes on a loop device,
// then reads their headers from the block device the way the agent does
// and checks them against cryptsetup's own view (luksDump, luksUUID) as
// keyslots are added, killed and finally erased: the path a cryptographic
// erase is verified by. Opening a volume needs device-mapper; making and
// reading headers does not, so this runs even on kernels without it.
func TestLiveLoopDevice(t *testing.T) {
	wipetest.Need(t)
	for _, typ := range []string{"luks1", "luks2"} {
		t.Run(typ, func(t *testing.T) {
			v := wipetest.NewVolume(t, typ, 2)
			check(t, v, typ, 2)
			wipetest.Run(t, "cryptsetup", "luksKillSlot", "--batch-mode", v.Dev, "0")
			check(t, v, typ, 1)
			wipetest.Run(t, "cryptsetup", "luksErase", "--batch-mode", v.Dev)
			check(t, v, typ, 0)
		})
	}
}

// check reads the header from the device and compares it with luksDump.
func check(t *testing.T, v wipetest.Volume, typ string, wantActive int) {
	t.Helper()
	f, err := os.Open(v.Dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The agent reads the header with a size cap; the LUKS2 default header
	// with its JSON area is 16 KiB, LUKS1 far less.
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	n, err := luks.HeaderSize(b)
	if err != nil {
		t.Fatalf("HeaderSize: %v", err)
	}
	h, err := luks.ParseHeader(b[:n])
	if err != nil {
		t.Fatalf("ParseHeader: %v", err)
	}
	dump := v.Dump(t)
	uuid := strings.TrimSpace(wipetest.Run(t, "cryptsetup", "luksUUID", v.Dev))
	wantVersion := map[string]int{"luks1": 1, "luks2": 2}[typ]
	if h.Version != wantVersion || h.UUID != uuid || dump.UUID != uuid {
		t.Errorf("header version %d uuid %s, dump uuid %s; want version %d uuid %s", h.Version, h.UUID, dump.UUID, wantVersion, uuid)
	}
	if got := h.ActiveKeyslots(); got != wantActive {
		t.Errorf("header active keyslots = %d, want %d", got, wantActive)
	}
	if got := dump.ActiveKeyslots(); got != wantActive {
		t.Errorf("luksDump active keyslots = %d, want %d", got, wantActive)
	}
}
