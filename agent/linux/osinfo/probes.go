// Package osinfo reports what Linux distribution a host runs and how
// current it is: name, version and codename from os-release, the running
// kernel and architecture, when the OS was installed, when an update was
// last installed, whether a reboot is pending, and (in a probe of its
// own, because it is the slow one) which updates are available. It never
// changes the system: no index refresh, no package-manager lock, no
// writes. Parsing is done by pure functions named after their input.
package osinfo

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/linux/software"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/shared/wire"
)

// Commands the "os" probe may run.
var (
	unameArgs          = []string{"-m"}
	rpmArgs            = []string{"-qa", "--queryformat", software.RPMQueryFormat}
	pacmanArgs         = []string{"-Qi"}
	needsRestartingArg = []string{"-r"}
)

// Probes returns this package's probes in the order they run.
func Probes() []probe.Probe {
	return []probe.Probe{
		probe.Func{
			ProbeName: "os",
			ProbeArea: wire.AreaOS,
			Cmds: []string{
				host.CommandLine("uname", unameArgs...),
				host.CommandLine("rpm", rpmArgs...),
				host.CommandLine("pacman", pacmanArgs...),
				host.CommandLine("needs-restarting", needsRestartingArg...),
			},
			Fn: collectOS,
		},
		probe.Func{
			ProbeName: "os/updates",
			ProbeArea: wire.AreaOS,
			Cmds:      updateCommands(),
			Fn:        collectUpdates,
		},
	}
}

func osPart(s *wire.Snapshot) *wire.OS {
	if s.OS == nil {
		s.OS = &wire.OS{}
	}
	return s.OS
}

func setUnknown(o *wire.OS, field, reason string) {
	if o.Unknown == nil {
		o.Unknown = map[string]string{}
	}
	o.Unknown[field] = reason
}

// collectOS fills the facts that are cheap to read. Every part is tried;
// errors are collected and returned together so one unreadable file does
// not hide the others.
func collectOS(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	o := osPart(s)
	var errs []error
	if err := readOSRelease(h, o); err != nil {
		errs = append(errs, err)
	}
	if k, err := h.ReadString("/proc/sys/kernel/osrelease"); err == nil && k != "" {
		o.Kernel = k
	} else {
		setUnknown(o, "kernel", fmt.Sprintf("read /proc/sys/kernel/osrelease: %v", errOrEmpty(err)))
	}
	readArch(ctx, h, o)

	loc := software.HostLocation(h)
	rpms, rpmErr := listRPM(ctx, h)
	pacman, pacmanErr := listPacman(ctx, h, loc)
	for _, err := range []error{rpmErr, pacmanErr} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	installDate(h, o, rpms)
	if err := lastUpdate(h, o, loc, rpms, pacman); err != nil {
		errs = append(errs, err)
	}
	rebootRequired(ctx, h, o)
	return errors.Join(errs...)
}

func errOrEmpty(err error) error {
	if err == nil {
		return errors.New("empty")
	}
	return err
}

// readOSRelease follows os-release(5): /etc/os-release, else
// /usr/lib/os-release.
func readOSRelease(h *host.Host, o *wire.OS) error {
	var data []byte
	var err error
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		data, err = h.ReadFileLimit(p, 64<<10)
		if err == nil {
			break
		}
	}
	if err != nil {
		for _, f := range []string{"name", "id", "version"} {
			setUnknown(o, f, fmt.Sprintf("no /etc/os-release or /usr/lib/os-release: %v", err))
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("read os-release: %w", err)
	}
	rel, err := ParseOSRelease(bytes.NewReader(data))
	if err != nil {
		return err
	}
	o.Name, o.ID, o.Version, o.Codename = rel.Name, rel.ID, rel.VersionID, rel.Codename
	o.Build, o.Edition = rel.BuildID, rel.Variant
	if o.Version == "" && o.Build == "" {
		setUnknown(o, "version", "os-release has no VERSION_ID (a rolling release?)")
	}
	return nil
}

// readArch prefers /proc/sys/kernel/arch (Linux 6.1+), which needs no
// process, and falls back to `uname -m`.
func readArch(ctx context.Context, h *host.Host, o *wire.OS) {
	if a, err := h.ReadString("/proc/sys/kernel/arch"); err == nil && a != "" {
		o.Arch = a
		return
	}
	out, err := h.Run(ctx, "uname", unameArgs...)
	if a := strings.TrimSpace(string(out)); err == nil && a != "" {
		o.Arch = a
		return
	}
	setUnknown(o, "arch", fmt.Sprintf("no /proc/sys/kernel/arch and uname -m failed: %v", errOrEmpty(err)))
}

// listRPM lists rpm packages with their install times, or nil when the
// host has no rpm database.
func listRPM(ctx context.Context, h *host.Host) ([]software.RPMPackage, error) {
	if !h.Exists("/var/lib/rpm") && !h.Exists("/usr/lib/sysimage/rpm") {
		return nil, nil
	}
	out, err := h.Run(ctx, "rpm", rpmArgs...)
	if errors.Is(err, host.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list rpm install times: %w", err)
	}
	return software.ParseRPMQuery(bytes.NewReader(out))
}

func listPacman(ctx context.Context, h *host.Host, loc *time.Location) ([]software.PacmanPackage, error) {
	if !h.Exists("/var/lib/pacman/local") {
		return nil, nil
	}
	out, err := h.Run(ctx, "pacman", pacmanArgs...)
	if errors.Is(err, host.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list pacman install dates: %w", err)
	}
	return software.ParsePacmanQi(bytes.NewReader(out), loc)
}

// installDate reports when the OS was installed, from sources that are
// written once at installation and not touched afterwards:
//   - /var/log/installer/: the Debian installer (and Ubuntu's) leaves its
//     logs there at the end of the installation; the oldest entry's
//     modification time is the installation.
//   - rpm's basesystem package: installed first by anaconda and never
//     updated in practice (version 11 since 2010), so its INSTALLTIME is
//     the installation.
//
// Rejected sources: base-files (Debian) is upgraded in every point
// release; the oldest dpkg.log line is gone once logrotate drops it;
// /etc/machine-id and lost+found carry image-build times on cloned
// images; the birth time of / needs statx, which this file cannot call
// without a Linux-only build constraint, and reads 1970 on filesystems
// built by image tools.
func installDate(h *host.Host, o *wire.OS, rpms []software.RPMPackage) {
	if entries, err := h.ReadDir("/var/log/installer"); err == nil {
		var oldest time.Time
		for _, e := range entries {
			info, err := e.Info()
			if err != nil {
				continue
			}
			if t := info.ModTime(); t.Unix() > 0 && (oldest.IsZero() || t.Before(oldest)) {
				oldest = t
			}
		}
		if !oldest.IsZero() {
			t := oldest.UTC().Truncate(time.Second)
			o.InstallDate = &t
			return
		}
	}
	for _, p := range rpms {
		if p.Name == "basesystem" && !p.InstallTime.IsZero() {
			t := p.InstallTime.UTC()
			o.InstallDate = &t
			return
		}
	}
	setUnknown(o, "install_date", "no installer logs (/var/log/installer) and no rpm basesystem package; no other source records the installation reliably")
}

// logFiles returns base and its rotations, newest first: base, base.1,
// base.1.gz, base.2.gz, ... as logrotate names them.
func logFiles(base string) []string {
	out := []string{base, base + ".1", base + ".1.gz"}
	for i := 2; i <= 12; i++ {
		out = append(out, fmt.Sprintf("%s.%d.gz", base, i))
	}
	return out
}

type logParser func(io.Reader, *time.Location) (PackageEvent, bool, error)

// newestInLog parses base and, only while they hold no event, its older
// rotations. ok is false when no file held an event; exists is false
// when not even base exists.
func newestInLog(h *host.Host, base string, loc *time.Location, parse logParser) (ev PackageEvent, ok, exists bool, err error) {
	for _, p := range logFiles(base) {
		f, oerr := h.FS.Open(host.Path(p))
		if errors.Is(oerr, fs.ErrNotExist) {
			continue
		}
		if oerr != nil {
			return ev, false, true, fmt.Errorf("read %s: %w", p, oerr)
		}
		exists = true
		var r io.Reader = f
		if strings.HasSuffix(p, ".gz") {
			zr, zerr := gzip.NewReader(f)
			if zerr != nil {
				f.Close()
				return ev, false, true, fmt.Errorf("read %s: %w", p, zerr)
			}
			r = zr
		}
		ev, ok, err = parse(r, loc)
		f.Close()
		if err != nil {
			return ev, ok, true, fmt.Errorf("read %s: %w", p, err)
		}
		if ok {
			return ev, true, true, nil
		}
	}
	return ev, false, exists, nil
}

// lastUpdate reports the newest package install or upgrade any source
// records, naming the source. On Debian dpkg.log and apt's history both
// count: dpkg.log also sees `dpkg -i`, apt's history survives some
// log-cleaning image builds that empty dpkg.log.
func lastUpdate(h *host.Host, o *wire.OS, loc *time.Location, rpms []software.RPMPackage, pacman []software.PacmanPackage) error {
	var best time.Time
	var source string
	consider := func(t time.Time, src string) {
		if !t.IsZero() && t.After(best) {
			best, source = t, src
		}
	}
	var errs []error
	var looked []string
	for _, l := range []struct {
		path  string
		parse logParser
	}{
		{"/var/log/dpkg.log", ParseDpkgLog},
		{"/var/log/apt/history.log", ParseAptHistory},
		{"/var/log/zypp/history", ParseZyppHistory},
	} {
		ev, ok, exists, err := newestInLog(h, l.path, loc, l.parse)
		if err != nil {
			errs = append(errs, err)
		}
		if exists {
			looked = append(looked, l.path)
		}
		if ok {
			consider(ev.At, l.path)
		}
	}
	if len(rpms) > 0 {
		looked = append(looked, "rpm")
	}
	for _, p := range rpms {
		// gpg-pubkey is already skipped by the parser; imported keys
		// are not updates.
		consider(p.InstallTime, "rpm")
	}
	if len(pacman) > 0 {
		looked = append(looked, "pacman")
	}
	for _, p := range pacman {
		consider(p.InstallDate, "pacman")
	}
	if best.IsZero() {
		reason := "no package log or database with install times (looked for dpkg.log, apt history, zypp history, rpm, pacman)"
		if len(looked) > 0 {
			reason = "no install or upgrade recorded in " + strings.Join(looked, ", ")
		}
		setUnknown(o, "last_update_at", reason)
		return errors.Join(errs...)
	}
	t := best.UTC()
	o.LastUpdateAt = &t
	o.LastUpdateSource = source
	return errors.Join(errs...)
}

// rebootMarkers are the programs that write /var/run/reboot-required
// when a package needs a reboot. When one is installed, the marker's
// absence is a real "no"; without them nobody would have written it.
var rebootMarkers = []string{
	"/usr/share/update-notifier/notify-reboot-required", // Ubuntu update-notifier-common
	"/etc/kernel/postinst.d/unattended-upgrades",        // Debian unattended-upgrades
}

// rebootRequired combines the signals a Linux host gives:
//  1. /run/reboot-required (Debian, Ubuntu): yes when present.
//  2. `needs-restarting -r` (RHEL, from dnf-utils/yum-utils): exit 1 means
//     a reboot is needed, 0 that none is; it checks kernel, glibc,
//     systemd and the other core packages itself.
//  3. The newest installed kernel (/boot/vmlinuz-*, /lib/modules/*)
//     against the running one: a newer one installed means yes.
//
// "No" is only reported when a mechanism that would have said yes was in
// place (needs-restarting answered, or a reboot-required writer is
// installed and no newer kernel is waiting); a current kernel alone is
// not enough, because library updates need a reboot too.
func rebootRequired(ctx context.Context, h *host.Host, o *wire.OS) {
	for _, p := range []string{"/run/reboot-required", "/var/run/reboot-required"} {
		if h.Exists(p) {
			o.RebootRequired = wire.Yes
			return
		}
	}
	kernelState, kernelReason := kernelCheck(h, o.Kernel)
	if kernelState == wire.Yes {
		o.RebootRequired = wire.Yes
		return
	}
	_, err := h.Run(ctx, "needs-restarting", needsRestartingArg...)
	var ee *host.ExitError
	switch {
	case err == nil:
		o.RebootRequired = wire.No
		return
	case errors.As(err, &ee) && ee.Code == 1:
		o.RebootRequired = wire.Yes
		return
	}
	kernelFine := kernelState == wire.No || kernelReason == kernelNoneInstalled
	if kernelFine && slices.ContainsFunc(rebootMarkers, h.Exists) {
		o.RebootRequired = wire.No
		return
	}
	o.RebootRequired = wire.Unknown
	setUnknown(o, "reboot_required", "no /run/reboot-required writer (update-notifier, unattended-upgrades) installed, no needs-restarting, and "+kernelReason)
}

const kernelNoneInstalled = "no installed kernel found in /boot or /lib/modules (kernel supplied by the hypervisor or container host)"

// kernelCheck compares the running kernel with the installed ones. It
// returns Yes (newer installed), No (running is the newest) or Unknown,
// with the reason in words.
func kernelCheck(h *host.Host, running string) (wire.Tri, string) {
	installed := installedKernels(h)
	if len(installed) == 0 {
		return wire.Unknown, kernelNoneInstalled
	}
	if running == "" {
		return wire.Unknown, "running kernel unknown"
	}
	newest := NewestKernel(installed)
	switch c := CompareKernelVersions(newest, running); {
	case c > 0:
		return wire.Yes, fmt.Sprintf("kernel %s installed, %s running", newest, running)
	case c == 0 || slices.Contains(installed, running):
		return wire.No, "running kernel " + running + " is the newest installed"
	}
	return wire.Unknown, fmt.Sprintf("running kernel %s is not among the installed ones (%s)", running, strings.Join(installed, ", "))
}

// installedKernels lists kernel releases with an image in /boot or a
// module tree with modules.dep (depmod writes it when a kernel package is
// installed and it goes with the package; a directory without it is a
// leftover of a removed kernel, e.g. DKMS modules).
func installedKernels(h *host.Host) []string {
	var out []string
	if entries, err := h.ReadDir("/boot"); err == nil {
		for _, e := range entries {
			if k := kernelFromBootImage(e.Name()); k != "" {
				out = append(out, k)
			}
		}
	}
	for _, dir := range []string{"/lib/modules", "/usr/lib/modules"} {
		entries, err := h.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if h.Exists(path.Join(dir, e.Name(), "modules.dep")) && !slices.Contains(out, e.Name()) {
				out = append(out, e.Name())
			}
		}
	}
	return out
}
