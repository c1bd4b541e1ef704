package encryption

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/shared/wire"
)

// These tests build real volumes on loop devices and run the probe on the
// live machine. They need root and the tools scripts/deps.sh installs; the
// LUKS ones also need device-mapper (dm-crypt) in the kernel.

func needRoot(t *testing.T, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds loop devices; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	r := host.NewLiveRunner()
	for _, tool := range tools {
		if _, err := r.Run(context.Background(), "which", tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
}

// needDM skips when the kernel has no device-mapper: /proc/devices lists it
// once the driver is present (checking there has no side effects, unlike
// dmsetup, which creates /dev/mapper/control).
func needDM(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile("/proc/devices")
	if err != nil || !bytes.Contains(b, []byte(" device-mapper\n")) {
		t.Skip("kernel has no device-mapper (no dm-crypt)")
	}
}

// run runs a command through the agent's own runner (the one package that
// imports os/exec) and returns its trimmed output.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := host.NewLiveRunner().Run(context.Background(), name, args...)
	if err != nil {
		t.Fatalf("%s: %v", host.CommandLine(name, args...), err)
	}
	return strings.TrimSpace(string(out))
}

// cleanup registers a command that must run even when the test fails.
func cleanup(t *testing.T, name string, args ...string) {
	t.Cleanup(func() {
		if _, err := host.NewLiveRunner().Run(context.Background(), name, args...); err != nil {
			t.Errorf("cleanup %s: %v", host.CommandLine(name, args...), err)
		}
	})
}

func unique(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("roster-%d-%s", os.Getpid(), hex.EncodeToString(b))
}

// loopFile makes a 40 MiB file in a temporary folder and attaches it.
func loopFile(t *testing.T) (dir, loop string) {
	dir = t.TempDir()
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	img := filepath.Join(dir, "disk.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(40 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	loop = run(t, "losetup", "-f", "--show", img)
	cleanup(t, "losetup", "-d", loop)
	return dir, loop
}

// mountExt4 formats dev and mounts it on dir/mnt.
func mountExt4(t *testing.T, dir, dev string) string {
	run(t, "mkfs.ext4", "-q", dev)
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "mount", dev, mnt)
	cleanup(t, "umount", mnt)
	return mnt
}

func volumeAt(t *testing.T, mnt string) wire.Volume {
	t.Helper()
	snap := runProbe(t, host.Live("linux"))
	for _, v := range snap.Encryption.Volumes {
		if v.MountPoint == mnt {
			return v
		}
	}
	t.Fatalf("no volume at %s in %+v", mnt, snap.Encryption.Volumes)
	return wire.Volume{}
}

func TestLiveUnencryptedLoop(t *testing.T) {
	needRoot(t, "losetup", "mkfs.ext4", "mount", "umount")
	t.Parallel()
	dir, loop := loopFile(t)
	mnt := mountExt4(t, dir, loop)
	v := volumeAt(t, mnt)
	if v.Encrypted != wire.No || v.Status != wire.StateOff || v.Scheme != "" {
		t.Errorf("volume: got encrypted %q status %q scheme %q, want no, off, none", v.Encrypted, v.Status, v.Scheme)
	}
	want := fmt.Sprintf("%s (loop %s)", filepath.Base(loop), filepath.Join(dir, "disk.img"))
	if len(v.Chain) != 1 || v.Chain[0] != want {
		t.Errorf("chain: got %q, want [%q]", v.Chain, want)
	}
}

// TestLiveLUKSUnderLVM builds LVM-on-LUKS for real: a LUKS volume on a loop
// device, opened, with a device-mapper linear target carrying an LVM-style
// uuid on top (what LVM itself creates), ext4 on that, mounted.
func TestLiveLUKSUnderLVM(t *testing.T) {
	for _, version := range []string{"luks1", "luks2"} {
		t.Run(version, func(t *testing.T) {
			needRoot(t, "cryptsetup", "losetup", "dmsetup", "blockdev", "mkfs.ext4", "mount", "umount")
			needDM(t)
			t.Parallel()
			dir, loop := loopFile(t)
			key := filepath.Join(dir, "key")
			kb := make([]byte, 32)
			if _, err := rand.Read(kb); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(key, kb, 0o600); err != nil {
				t.Fatal(err)
			}
			run(t, "cryptsetup", "luksFormat", "--type", version, "--batch-mode", "--pbkdf", "pbkdf2",
				"--pbkdf-force-iterations", "1000", "--key-file", key, loop)
			name := unique(t)
			crypt, lv := name+"-crypt", name+"-lv"
			run(t, "cryptsetup", "open", "--key-file", key, loop, crypt)
			cleanup(t, "cryptsetup", "close", crypt)
			sectors := run(t, "blockdev", "--getsz", "/dev/mapper/"+crypt)
			uuid := make([]byte, 32)
			if _, err := rand.Read(uuid); err != nil {
				t.Fatal(err)
			}
			run(t, "dmsetup", "create", lv, "--uuid", "LVM-"+hex.EncodeToString(uuid),
				"--table", fmt.Sprintf("0 %s linear /dev/mapper/%s 0", sectors, crypt))
			cleanup(t, "dmsetup", "remove", lv)
			mnt := mountExt4(t, dir, "/dev/mapper/"+lv)

			v := volumeAt(t, mnt)
			if v.Encrypted != wire.Yes || v.Scheme != version || v.Status != wire.StateOn {
				t.Errorf("volume: got encrypted %q scheme %q status %q (%s), want yes, %s, on",
					v.Encrypted, v.Scheme, v.Status, v.Reason, version)
			}
			if want := run(t, "cryptsetup", "luksUUID", loop); v.LUKSUUID != want {
				t.Errorf("LUKS UUID: got %q, want %q", v.LUKSUUID, want)
			}
			if v.Keyslots == nil || *v.Keyslots != 1 {
				t.Errorf("keyslots: got %v, want 1", v.Keyslots)
			}
			if len(v.Chain) != 3 ||
				!strings.Contains(v.Chain[0], "(lvm "+lv+")") ||
				!strings.Contains(v.Chain[1], "(crypt "+version+" "+crypt+")") ||
				!strings.HasPrefix(v.Chain[2], filepath.Base(loop)+" (loop ") {
				t.Errorf("chain: got %q, want lvm -> crypt %s -> %s", v.Chain, version, filepath.Base(loop))
			}
		})
	}
}
