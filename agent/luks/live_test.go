package luks

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestLiveLoopDevice makes real LUKS1 and LUKS2 volumes on a loop device,
// then reads their headers from the block device the way the agent does
// and checks them against cryptsetup's own view (luksDump, luksUUID) as
// keyslots are added, killed and finally erased: the path a cryptographic
// erase will be verified by. Opening a volume needs device-mapper; making
// and reading headers does not, so this runs even on kernels without it.
func TestLiveLoopDevice(t *testing.T) {
	if testing.Short() {
		t.Skip("builds loop devices; skipped with -short")
	}
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs root on Linux")
	}
	for _, tool := range []string{"cryptsetup", "losetup"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (make test installs it: scripts/deps.sh)", tool)
		}
	}
	for _, typ := range []string{"luks1", "luks2"} {
		t.Run(typ, func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "disk.img")
			if err := os.WriteFile(img, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(img, 24<<20); err != nil {
				t.Fatal(err)
			}
			dev := strings.TrimSpace(run(t, "losetup", "-f", "--show", img))
			t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
			key1, key2 := filepath.Join(dir, "k1"), filepath.Join(dir, "k2")
			os.WriteFile(key1, []byte("first passphrase"), 0o600)
			os.WriteFile(key2, []byte("second passphrase"), 0o600)
			fast := []string{"--pbkdf-force-iterations", "1000"}
			if typ == "luks2" {
				fast = append(fast, "--pbkdf", "pbkdf2")
			}

			run(t, "cryptsetup", append([]string{"luksFormat", "--type", typ, "--batch-mode", "--key-file", key1}, append(fast, dev)...)...)
			check(t, dev, typ, 1)
			run(t, "cryptsetup", append([]string{"luksAddKey", "--batch-mode", "--key-file", key1}, append(fast, dev, key2)...)...)
			check(t, dev, typ, 2)
			run(t, "cryptsetup", "luksKillSlot", "--batch-mode", dev, "0")
			check(t, dev, typ, 1)
			run(t, "cryptsetup", "luksErase", "--batch-mode", dev)
			check(t, dev, typ, 0)
		})
	}
}

// check reads the header from the device and compares it with luksDump.
func check(t *testing.T, dev, typ string, wantActive int) {
	t.Helper()
	f, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The agent reads the header through the host FS with a size cap; the
	// LUKS2 default header with its JSON area is 16 KiB, LUKS1 far less.
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	n, err := HeaderSize(b)
	if err != nil {
		t.Fatalf("HeaderSize: %v", err)
	}
	h, err := ParseHeader(b[:n])
	if err != nil {
		t.Fatalf("ParseHeader: %v", err)
	}
	dump, err := ParseDump([]byte(run(t, "cryptsetup", "luksDump", dev)))
	if err != nil {
		t.Fatalf("ParseDump: %v", err)
	}
	uuid := strings.TrimSpace(run(t, "cryptsetup", "luksUUID", dev))
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

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}
