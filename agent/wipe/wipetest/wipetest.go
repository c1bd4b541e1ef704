// Package wipetest makes real LUKS volumes on loop devices for the tests
// of the wipe executor, the check-in that carries a wipe out and the
// command line that drives it by hand. Opening a volume needs
// device-mapper, which some kernels lack; formatting, dumping, erasing and
// checking a passphrase (--test-passphrase) do not, so nothing here opens
// one. Tests only: the agent never imports it.
package wipetest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/rosterhq/roster/agent/luks"
)

// Need skips the test unless it can make loop devices and LUKS headers:
// root on Linux with cryptsetup and losetup, and not -short.
func Need(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds loop devices; skipped with -short")
	}
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs root on Linux (loop devices and cryptsetup)")
	}
	for _, tool := range []string{"cryptsetup", "losetup"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (make test installs it: scripts/deps.sh)", tool)
		}
	}
}

// Volume is a LUKS volume on a loop device, detached when the test ends.
type Volume struct {
	// Dev is the loop device; Key the first passphrase's key file.
	Dev, Key string
	// UUID is the LUKS UUID as cryptsetup prints it.
	UUID string
}

// NewVolume formats a volume of type typ ("luks1", "luks2", or "" for a
// blank device) with the given number of keyslots, each with its own
// passphrase, on a fresh 24 MiB loop device.
func NewVolume(t testing.TB, typ string, keyslots int) Volume {
	t.Helper()
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 24<<20); err != nil {
		t.Fatal(err)
	}
	dev := strings.TrimSpace(Run(t, "losetup", "-f", "--show", img))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	v := Volume{Dev: dev, Key: filepath.Join(dir, "key0")}
	if typ == "" {
		return v
	}
	fast := []string{"--pbkdf-force-iterations", "1000"}
	if typ == "luks2" {
		fast = append(fast, "--pbkdf", "pbkdf2")
	}
	for i := range keyslots {
		key := filepath.Join(dir, "key"+strconv.Itoa(i))
		if err := os.WriteFile(key, []byte("passphrase "+strconv.Itoa(i)), 0o600); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			Run(t, "cryptsetup", append(append([]string{"luksFormat", "--type", typ, "--batch-mode", "--key-file", key}, fast...), dev)...)
			continue
		}
		Run(t, "cryptsetup", append(append([]string{"luksAddKey", "--batch-mode", "--key-file", v.Key}, fast...), dev, key)...)
	}
	v.UUID = strings.TrimSpace(Run(t, "cryptsetup", "luksUUID", dev))
	return v
}

// Dump is cryptsetup's own view of the header (luksDump).
func (v Volume) Dump(t testing.TB) luks.Header {
	t.Helper()
	h, err := luks.ParseDump([]byte(Run(t, "cryptsetup", "luksDump", v.Dev)))
	if err != nil {
		t.Fatalf("luksDump %s: %v", v.Dev, err)
	}
	return h
}

// Keyslots is how many keyslots luksDump shows active.
func (v Volume) Keyslots(t testing.TB) int {
	t.Helper()
	return v.Dump(t).ActiveKeyslots()
}

// Opens says whether the first passphrase still unlocks the volume.
func (v Volume) Opens() bool {
	return exec.Command("cryptsetup", "luksOpen", "--test-passphrase", "--key-file", v.Key, v.Dev).Run() == nil
}

// Run runs a command and returns its standard output; failing, it fails
// the test with the standard error.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}
