package host

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func write(t *testing.T, root, name, data string) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func link(t *testing.T, root, name, target string) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// answers asks h the questions a probe would and returns what it heard.
func answers(t *testing.T, h *Host) []string {
	t.Helper()
	var out []string
	s, err := h.ReadString("/sys/block/vda/size")
	out = append(out, "size="+s, errString(err))
	ents, err := h.ReadDir("/sys/block")
	out = append(out, errString(err))
	for _, e := range ents {
		out = append(out, "entry="+e.Name())
	}
	l, err := h.ReadLink("/sys/block/vda")
	out = append(out, "link="+l, errString(err))
	m, err := h.ReadFile("/proc/self/mountinfo")
	out = append(out, "mountinfo="+string(m), errString(err))
	hdr, err := h.ReadFileLimit("/dev/vda", 4)
	out = append(out, "header="+string(hdr), errString(err))
	out = append(out, "reboot-required="+cmp.Diff(true, h.Exists("/var/run/reboot-required")))
	out = append(out, "absent="+cmp.Diff(false, h.Exists("/etc/absent")))
	cmd, err := h.Run(context.Background(), "uname", "-r")
	out = append(out, "uname="+string(cmd), errString(err))
	_, err = h.Run(context.Background(), "missing")
	out = append(out, errString(err))
	return out
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return "error"
}

func TestRecordReplaysTheSameAnswers(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	write(t, src, "sys/devices/pci0000:00/virtio1/block/vda/size", "16777216\n")
	link(t, src, "sys/block/vda", "../devices/pci0000:00/virtio1/block/vda")
	link(t, src, "sys/block/loop0", "../devices/virtual/block/loop0")
	write(t, src, "sys/devices/virtual/block/loop0/size", "0\n")
	write(t, src, "proc/42/mountinfo", "27 1 254:0 / / rw - ext4 /dev/vda rw\n")
	link(t, src, "proc/self", "42")
	write(t, src, "dev/vda", "LUKS\xba\xbe and the rest of the disk")
	write(t, src, "var/run/reboot-required", "*** System restart required ***\n")
	write(t, src, "commands/uname_-r.out", "6.1.0-28-amd64\n")

	live, err := Captured("linux", src)
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	rec, err := Record(live, dst)
	if err != nil {
		t.Fatal(err)
	}
	want := answers(t, rec)
	if err := RecordErr(rec); err != nil {
		t.Fatalf("recording: %v", err)
	}
	replay, err := Captured("linux", dst)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, answers(t, replay)); diff != "" {
		t.Errorf("replay differs (-recorded +replayed):\n%s", diff)
	}
	// Only what was read of the block device is kept.
	if b, _ := os.ReadFile(filepath.Join(dst, "dev/vda")); string(b) != "LUKS" {
		t.Errorf("captured dev/vda = %q, want the 4 bytes read", b)
	}
	if _, err := os.Stat(filepath.Join(dst, "etc/absent")); err == nil {
		t.Error("an absent file was captured")
	}
}

func TestRecordDataReplaysThroughFS(t *testing.T) {
	t.Parallel()
	src, dst := t.TempDir(), t.TempDir()
	live, err := Captured("windows", src)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := Record(live, dst)
	if err != nil {
		t.Fatal(err)
	}
	RecordData(rec, "api/GetAdaptersAddresses.json", []byte(`[]`))
	RecordData(live, "api/ignored.json", []byte(`[]`)) // not a recording: no effect
	if err := RecordErr(rec); err != nil {
		t.Fatal(err)
	}
	replay, err := Captured("windows", dst)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := replay.ReadFile("/api/GetAdaptersAddresses.json"); err != nil || string(b) != "[]" {
		t.Errorf("replayed api file = %q, %v; want %q", b, err, "[]")
	}
	if _, err := os.Stat(filepath.Join(src, "api")); err == nil {
		t.Error("RecordData wrote into a host that is not recording")
	}
}
