package main

import (
	"io/fs"
	"testing"
)

func TestDataDirModeError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode fs.FileMode
		want string
	}{
		{0o700, ""},
		{0o500, ""},
		{0o755, "data directory /var/lib/roster is mode 0755: group and others can read and enter it, and it holds the registry and keys; run: chmod 700 /var/lib/roster"},
		{0o750, "data directory /var/lib/roster is mode 0750: group can read and enter it, and it holds the registry and keys; run: chmod 700 /var/lib/roster"},
		{0o701, "data directory /var/lib/roster is mode 0701: others can enter it, and it holds the registry and keys; run: chmod 700 /var/lib/roster"},
		{0o722, "data directory /var/lib/roster is mode 0722: group and others can write it, and it holds the registry and keys; run: chmod 700 /var/lib/roster"},
		{0o777, "data directory /var/lib/roster is mode 0777: group and others can read and write and enter it, and it holds the registry and keys; run: chmod 700 /var/lib/roster"},
	} {
		got := ""
		if err := dataDirModeError("/var/lib/roster", tc.mode); err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("mode %04o: got %q, want %q", tc.mode, got, tc.want)
		}
	}
}
