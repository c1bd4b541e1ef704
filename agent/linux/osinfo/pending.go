package osinfo

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/shared/wire"
)

// The pending-update command lines. None of them changes the system:
//   - apt-get --just-print (= -s) only simulates; Debug::NoLocking keeps
//     it off the dpkg lock so it never waits for, or blocks, a running
//     apt; the empty pkgcache settings make apt build its cache in memory
//     instead of rewriting /var/cache/apt/*.bin. -qq leaves only the
//     Inst/Conf lines, the format of the captures the parser is tested on.
//   - dnf/yum -C (cache only) and zypper --no-refresh use the metadata
//     already on disk, as apt does: refreshing it is the package
//     manager's own timer's job, not an inventory's.
//
// The answer is therefore as fresh as the host's last metadata refresh.
var (
	aptArgs = []string{"--just-print", "-qq", "-o", "Debug::NoLocking=1",
		"-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=", "full-upgrade"}
	dnfCheckArgs    = []string{"-q", "-C", "check-update"}
	dnfSecurityArgs = []string{"-q", "-C", "updateinfo", "list", "--security"}
	zypperListArgs  = []string{"--non-interactive", "--no-refresh", "-q", "list-updates"}
	zypperPatchArgs = []string{"--non-interactive", "--no-refresh", "-q", "list-patches", "--category", "security"}
	// aptInputs are what apt's answer depends on: the installed packages,
	// the downloaded package lists, and apt's sources, pins and options.
	// While none changes, the service loop reuses the last answer instead
	// of running the resolver (~2 s of CPU and ~80 MB) every hour.
	aptInputs = []string{"/var/lib/dpkg/status", "/var/lib/dpkg/updates", "/var/lib/apt/lists",
		"/etc/apt", "/etc/apt/sources.list.d", "/etc/apt/preferences.d", "/etc/apt/apt.conf.d"}
)

func updateCommands() []string {
	return []string{
		host.CommandLine("apt-get", aptArgs...),
		host.CommandLine("dnf", dnfCheckArgs...),
		host.CommandLine("dnf", dnfSecurityArgs...),
		host.CommandLine("yum", dnfCheckArgs...),
		host.CommandLine("yum", dnfSecurityArgs...),
		host.CommandLine("zypper", zypperListArgs...),
		host.CommandLine("zypper", zypperPatchArgs...),
	}
}

// collectUpdates asks the host's package manager what it would upgrade.
// The tool is chosen by the package database present (dpkg means apt),
// then by which of dnf, yum, zypper is installed. A missing tool or a
// failed run leaves the counts nil with the reason in Unknown.
func collectUpdates(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	o := osPart(s)
	if h.Exists("/var/lib/dpkg/status") {
		return aptUpdates(ctx, h, o)
	}
	for _, tool := range []string{"dnf", "yum"} {
		err := dnfUpdates(ctx, h, o, tool)
		if !errors.Is(err, host.ErrNotFound) {
			return err
		}
	}
	err := zypperUpdates(ctx, h, o)
	if !errors.Is(err, host.ErrNotFound) {
		return err
	}
	unknownPending(o, "no supported package manager for pending updates (apt-get, dnf, yum, zypper) on this host")
	return nil
}

func unknownPending(o *wire.OS, reason string) {
	setUnknown(o, "pending_updates", reason)
	setUnknown(o, "pending_security_updates", reason)
}

func setPending(o *wire.OS, source string, pending []wire.PendingUpdate, security *int) {
	n := len(pending)
	o.PendingUpdates = &n
	o.PendingSecurityUpdates = security
	o.PendingSource = source
	o.Pending = pending
}

// aptUpdates answers from the host's files when it can (see
// nativeAptPending: the same counts as apt-get's simulation without its
// resolver), and otherwise asks apt-get.
func aptUpdates(ctx context.Context, h *host.Host, o *wire.OS) error {
	res, err := nativeAptPending(ctx, h)
	switch {
	case err != nil:
		// An unreadable file: apt-get may still read what it needs.
	case res.Unknown != "":
		unknownPending(o, res.Unknown)
		return nil
	case res.Fallback == "":
		sec := res.Security
		setPending(o, "apt", res.Pending, &sec)
		return nil
	}
	return aptGetUpdates(ctx, h, o)
}

// aptGetUpdates runs apt-get's simulation: the resolver's own answer, for
// what the native reader leaves to apt.
func aptGetUpdates(ctx context.Context, h *host.Host, o *wire.OS) error {
	out, err := h.RunCached(ctx, aptInputs, "apt-get", aptArgs...)
	if errors.Is(err, host.ErrNotFound) {
		unknownPending(o, "dpkg host without apt-get")
		return nil
	}
	if err != nil {
		unknownPending(o, fmt.Sprintf("apt-get simulation failed: %v", err))
		return fmt.Errorf("simulate apt upgrade: %w", err)
	}
	pending, err := ParseAptSimulation(bytes.NewReader(out))
	if err != nil {
		unknownPending(o, err.Error())
		return err
	}
	sec := 0
	for _, p := range pending {
		if p.Security {
			sec++
		}
	}
	setPending(o, "apt", pending, &sec)
	return nil
}

// dnfUpdates runs check-update, which exits 100 when updates are
// available, 0 when none are and 1 on error; the runner hands exit 100
// back as an *host.ExitError carrying the output.
func dnfUpdates(ctx context.Context, h *host.Host, o *wire.OS, tool string) error {
	out, err := h.Run(ctx, tool, dnfCheckArgs...)
	if errors.Is(err, host.ErrNotFound) {
		return err
	}
	var ee *host.ExitError
	if errors.As(err, &ee) && ee.Code == 100 {
		out, err = ee.Stdout, nil
	}
	if err != nil {
		unknownPending(o, fmt.Sprintf("%s check-update failed: %v", tool, err))
		return fmt.Errorf("%s check-update: %w", tool, err)
	}
	pending, err := ParseDNFCheckUpdate(bytes.NewReader(out))
	if err != nil {
		unknownPending(o, err.Error())
		return err
	}
	// Security advisories need updateinfo metadata, which not every
	// repository publishes (CentOS 7's did not): a failure leaves only
	// the security count unknown.
	var sec *int
	secOut, secErr := h.Run(ctx, tool, dnfSecurityArgs...)
	if secErr == nil {
		names, perr := ParseDNFUpdateInfo(bytes.NewReader(secOut))
		if perr == nil {
			isSec := map[string]bool{}
			for _, n := range names {
				isSec[n] = true
			}
			n := 0
			for i := range pending {
				if isSec[pending[i].Name] {
					pending[i].Security = true
					n++
				}
			}
			sec = &n
		} else {
			secErr = perr
		}
	}
	setPending(o, tool, pending, sec)
	if secErr != nil {
		setUnknown(o, "pending_security_updates", fmt.Sprintf("%s updateinfo --security failed: %v", tool, secErr))
	}
	return nil
}

// zypperUpdates counts packages from list-updates and security patches
// from list-patches: zypper ties security to patches, not packages, so
// the security count is of needed security patches. zypper exits 100
// (ZYPPER_EXIT_INF_UPDATE_NEEDED) or 101 (security updates needed) when
// there is something to install; that is an answer, not a failure.
func zypperUpdates(ctx context.Context, h *host.Host, o *wire.OS) error {
	out, err := h.Run(ctx, "zypper", zypperListArgs...)
	if errors.Is(err, host.ErrNotFound) {
		return err
	}
	var ee *host.ExitError
	if errors.As(err, &ee) && (ee.Code == 100 || ee.Code == 101) {
		out, err = ee.Stdout, nil
	}
	if err != nil {
		unknownPending(o, fmt.Sprintf("zypper list-updates failed: %v", err))
		return fmt.Errorf("zypper list-updates: %w", err)
	}
	pending, err := ParseZypperListUpdates(bytes.NewReader(out))
	if err != nil {
		unknownPending(o, err.Error())
		return err
	}
	var sec *int
	patchOut, perr := h.Run(ctx, "zypper", zypperPatchArgs...)
	if errors.As(perr, &ee) && (ee.Code == 100 || ee.Code == 101) {
		patchOut, perr = ee.Stdout, nil
	}
	if perr == nil {
		n, cerr := ParseZypperPatches(bytes.NewReader(patchOut))
		if cerr == nil {
			sec = &n
		} else {
			perr = cerr
		}
	}
	setPending(o, "zypper", pending, sec)
	if perr != nil {
		setUnknown(o, "pending_security_updates", fmt.Sprintf("zypper list-patches failed: %v", perr))
	}
	return nil
}
