package encryption

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/agent/host/hosttest"
)

// debian12LoopBind is a host tree captured on this project's Debian 12
// Firecracker VM: ext4 root on /dev/vda, a loop device mounted at a path
// with a space and bind-mounted below itself (testdata/fixtures/linux/
// mountinfo/SOURCES.md).
// It is archived because sysfs paths hold ':', which Go module zips refuse.
const debian12LoopBindArchive = "../../../testdata/fixtures/linux/mountinfo/debian12-loop-bind.tar.gz"

// debian12LoopBind unpacks the tree and returns its root.
func debian12LoopBind(t testing.TB) string {
	t.Helper()
	return hosttest.UnpackTemp(t, debian12LoopBindArchive)
}

func TestParseMountinfo(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(debian12LoopBind(t) + "/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := ParseMountinfo(b)
	if err != nil {
		t.Fatalf("ParseMountinfo: %v", err)
	}
	if len(ms) != 22 {
		t.Fatalf("got %d mounts, want 22", len(ms))
	}
	tests := []struct {
		name string
		idx  int
		want Mount
	}{
		{"root", 5, Mount{ID: 27, ParentID: 1, Major: 254, Minor: 0, Root: "/", MountPoint: "/",
			Options: "rw,relatime", FSType: "ext4", Source: "/dev/vda",
			SuperOptions: "rw,discard,resv_strict,resuid=65534,resgid=65534"}},
		{"escaped space", 20, Mount{ID: 42, ParentID: 27, Major: 7, Minor: 0, Root: "/",
			MountPoint: "/tmp/roster-fixture.NTGAh4/data vol", Options: "rw,relatime",
			FSType: "ext4", Source: "/dev/loop0", SuperOptions: "rw"}},
		{"bind mount", 21, Mount{ID: 43, ParentID: 42, Major: 7, Minor: 0, Root: "/",
			MountPoint: "/tmp/roster-fixture.NTGAh4/data vol/bind", Options: "rw,relatime",
			FSType: "ext4", Source: "/dev/loop0", SuperOptions: "rw"}},
		{"virtual", 0, Mount{ID: 22, ParentID: 27, Major: 0, Minor: 21, Root: "/", MountPoint: "/proc",
			Options: "rw,relatime", FSType: "proc", Source: "proc", SuperOptions: "rw"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, ms[tc.idx]); diff != "" {
				t.Errorf("mount %d (-want +got):\n%s", tc.idx, diff)
			}
		})
	}
}

func TestUnescape(t *testing.T) {
	t.Parallel()
	// The kernel's escapes (fs/proc_namespace.c mangle: " \t\n\\").
	tests := []struct{ in, want string }{
		{`/mnt/data\040vol`, "/mnt/data vol"},
		{`/a\011b\012c\134d`, "/a\tb\nc\\d"},
		{`/no/escape`, "/no/escape"},
		{`/short\04`, `/short\04`},
		{`/not\0octal\089`, `/not\0octal\089`},
	}
	for _, tc := range tests {
		if got := unescape(tc.in); got != tc.want {
			t.Errorf("unescape(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseMountinfoRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"garbage\n",
		"27 1 254:0 / / rw,relatime ext4 /dev/vda rw\n",         // no separator
		"27 1 254-0 / / rw,relatime - ext4 /dev/vda rw\n",       // bad device
		"x 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n",        // bad id
		"27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda\n", // no super options
	} {
		if ms, err := ParseMountinfo([]byte(in)); err == nil {
			t.Errorf("ParseMountinfo(%q): got %+v, want an error", in, ms)
		}
	}
}

func FuzzParseMountinfo(f *testing.F) {
	b, err := os.ReadFile(hosttest.UnpackTemp(f, debian12LoopBindArchive) + "/proc/self/mountinfo")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := ParseMountinfo(b)
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.FSType == "" {
				t.Errorf("mount %d parsed without a file system type", m.ID)
			}
		}
	})
}

// No real `zfs get` capture exists in the shared fixtures and the OpenZFS
// documentation prints no example of this exact command, so ParseZFSGet has
// no output-based unit test; the fuzz target checks it never panics.
func FuzzParseZFSGet(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseZFSGet(b)
		if err == nil && m == nil {
			t.Error("nil map without an error")
		}
	})
}
