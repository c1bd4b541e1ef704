package collector

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// lockInstalls serialises the tests that install packages on this machine
// (dpkg allows one at a time): every such test in the repository takes
// this lock.
func lockInstalls(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile("/run/lock/roster-agent-install-test.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}

// TestDebInstall installs the .deb on this machine (root, systemd not PID
// 1), reinstalls it over itself and purges it: the scripts run for real,
// create the account and never fail for want of systemd.
func TestDebInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("installs a package on this machine")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	need(t, "dpkg", "useradd")
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd runs here: installing would enable a real service")
	}
	debPath, _ := packages(t)
	lockInstalls(t)
	if out, err := exec.Command("dpkg-query", "-W", "-f", "${Status}", "roster-collector").Output(); err == nil && strings.Contains(string(out), "installed") {
		t.Skip("roster-collector is installed on this machine: not touching it")
	}
	if _, err := user.Lookup("roster"); err == nil {
		t.Skip("a user roster exists: not touching it")
	}
	t.Cleanup(func() {
		_ = exec.Command("dpkg", "--purge", "roster-collector").Run()
		_ = exec.Command("userdel", "roster").Run()
		_ = exec.Command("groupdel", "roster").Run()
	})
	for i := range 2 { // install, then again over itself (postinst configure OLD)
		if out, err := exec.Command("dpkg", "-i", debPath).CombinedOutput(); err != nil {
			t.Fatalf("dpkg -i (%d): %v\n%s", i+1, err, out)
		}
	}
	u, err := user.Lookup("roster")
	if err != nil {
		t.Fatalf("postinst made no user roster: %v", err)
	}
	if u.HomeDir != "/var/lib/roster" {
		t.Errorf("roster's home %s", u.HomeDir)
	}
	st, err := os.Stat(ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := user.LookupGroup("roster")
	if gid := st.Sys().(*syscall.Stat_t).Gid; st.Mode().Perm() != 0o640 || g == nil || g.Gid != strconv.FormatUint(uint64(gid), 10) {
		t.Errorf("%s: mode %v gid %d, want 0640 group roster", ConfigPath, st.Mode().Perm(), gid)
	}
	out, err := exec.Command("runuser", "-u", "roster", "--", "/usr/bin/roster-collector", "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "roster-collector ") {
		t.Errorf("roster-collector version as roster: %v %s", err, out)
	}
	if out, err := exec.Command("dpkg", "--purge", "roster-collector").CombinedOutput(); err != nil {
		t.Fatalf("dpkg --purge: %v\n%s", err, out)
	}
	for _, p := range []string{"/usr/bin/roster-collector", "/usr/bin/rosterctl", UnitPath, ConfigPath} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there after purge (%v)", p, err)
		}
	}
}

// TestRPMInstallRoot installs the .rpm into a throwaway root with
// `rpm --root` (the payload only: a root without a shell cannot run the
// scriptlets, which TestScriptsWithoutSystemd covers) and removes it.
func TestRPMInstallRoot(t *testing.T) {
	t.Parallel()
	need(t, "rpm")
	_, rpmPath := packages(t)
	root := t.TempDir()
	rpm := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("rpm", append([]string{"--root", root, "--dbpath", "/var/lib/rpm"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("rpm %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	rpm("--initdb")
	rpm("-i", "--nodeps", "--noscripts", rpmPath)
	for _, p := range []string{"usr/bin/roster-collector", "usr/bin/rosterctl", strings.TrimPrefix(UnitPath, "/"), strings.TrimPrefix(ConfigPath, "/")} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("after rpm -i: %v", err)
		}
	}
	if got := strings.Fields(rpm("-qa", "--qf", "%{NAME}\n")); !slices.Contains(got, "roster-collector") {
		t.Errorf("rpm -qa: %v", got)
	}
	rpm("-e", "--nodeps", "--noscripts", "roster-collector")
	if _, err := os.Stat(filepath.Join(root, "usr/bin/roster-collector")); !os.IsNotExist(err) {
		t.Errorf("binary still there after rpm -e (%v)", err)
	}
}
