package darwin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/shared/wire"
)

const (
	systemVersionPath  = "/System/Library/CoreServices/SystemVersion.plist"
	installHistoryPath = "/Library/Receipts/InstallHistory.plist"
)

// collectOS reads the OS name, version and build from SystemVersion.plist
// (system_profiler SPSoftwareDataType when the file cannot be read), the
// kernel and architecture from uname, and install and last-update dates
// from InstallHistory.plist.
func collectOS(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	o := &wire.OS{ID: "macos", Unknown: map[string]string{}}
	s.OS = o
	var errs []error

	// system_profiler is slow, so it runs at most once, and only when needed.
	var sp *spSoftware
	var spErr error
	spSoftwareOnce := func() (*spSoftware, error) {
		if sp == nil && spErr == nil {
			out, err := run(ctx, h, cmdSoftwareText)
			if err != nil {
				spErr = errors.New(reason(cmdSoftwareText, err))
				return nil, spErr
			}
			v, err := parseSPSoftwareText(out)
			if err != nil {
				spErr = err
				return nil, spErr
			}
			sp = &v
		}
		return sp, spErr
	}

	b, err := h.ReadFile(systemVersionPath)
	var sv systemVersion
	if err == nil {
		sv, err = parseSystemVersion(b)
	}
	if err == nil {
		o.Name = firstNonEmpty(sv.ProductName, "macOS")
		o.Version = strings.TrimSpace(sv.ProductVersion + " " + sv.ProductVersionExtra)
		o.Build = sv.ProductBuildVersion
		o.Codename = macOSCodename(sv.ProductVersion)
	} else if v, spe := spSoftwareOnce(); spe == nil {
		o.Name, o.Version, o.Build = firstNonEmpty(v.Name, "macOS"), v.Version, v.Build
		o.Codename = macOSCodename(v.Version)
	} else {
		if !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("read %s: %w", systemVersionPath, err))
		}
		why := fmt.Sprintf("read %s: %v; %v", systemVersionPath, err, spe)
		for _, f := range []string{"name", "version", "build"} {
			o.Unknown[f] = why
		}
	}

	if out, err := run(ctx, h, cmdUnameR); err == nil && strings.TrimSpace(string(out)) != "" {
		o.Kernel = strings.TrimSpace(string(out))
	} else if v, spe := spSoftwareOnce(); spe == nil && v.Kernel != "" {
		// "Darwin 19.2.0": keep the release, as uname -r prints it.
		o.Kernel = strings.TrimPrefix(v.Kernel, "Darwin ")
	} else {
		o.Unknown["kernel"] = reason(cmdUnameR, err)
	}
	if out, err := run(ctx, h, cmdUnameM); err == nil && strings.TrimSpace(string(out)) != "" {
		o.Arch = strings.TrimSpace(string(out))
	} else {
		o.Unknown["arch"] = reason(cmdUnameM, err)
	}

	if err := fillInstallHistory(h, o); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// fillInstallHistory sets the install date (the oldest full macOS install)
// and the last update (the newest macOS or security update) from
// InstallHistory.plist; see isOSUpdate for what counts.
func fillInstallHistory(h *host.Host, o *wire.OS) error {
	b, err := h.ReadFile(installHistoryPath)
	if err != nil {
		why := fmt.Sprintf("read %s: %v", installHistoryPath, err)
		o.Unknown["install_date"], o.Unknown["last_update_at"] = why, why
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("read %s: %w", installHistoryPath, err)
	}
	entries, err := parseInstallHistory(b)
	if err != nil {
		o.Unknown["install_date"], o.Unknown["last_update_at"] = err.Error(), err.Error()
		return err
	}
	if e, ok := firstOSInstall(entries); ok {
		t := e.Date.UTC()
		o.InstallDate = &t
	} else {
		o.Unknown["install_date"] = fmt.Sprintf("%s has no macOS installer record (%d records)", installHistoryPath, len(entries))
	}
	if e, ok := lastOSUpdate(entries); ok {
		t := e.Date.UTC()
		o.LastUpdateAt = &t
		name := e.DisplayName
		if e.DisplayVersion != "" && !strings.Contains(name, e.DisplayVersion) {
			name += " " + e.DisplayVersion
		}
		o.LastUpdateSource = fmt.Sprintf("%s (%s)", installHistoryPath, name)
	} else {
		o.Unknown["last_update_at"] = fmt.Sprintf("%s has no macOS update record (%d records)", installHistoryPath, len(entries))
	}
	return nil
}

// collectUpdates asks softwareupdate what Apple offers and is not installed.
func collectUpdates(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	o := &wire.OS{Unknown: map[string]string{}}
	s.OS = o
	unknown := func(why string) {
		for _, f := range []string{"pending_updates", "pending_security_updates", "reboot_required"} {
			o.Unknown[f] = why
		}
	}
	// softwareupdate prints "No new software available." on stderr.
	out, err := run(host.WithCombinedOutput(ctx), h, cmdSoftwareUpdateList)
	if errors.Is(err, host.ErrNotFound) {
		unknown(reason(cmdSoftwareUpdateList, err))
		return probe.NotApplicable("%s", reason(cmdSoftwareUpdateList, err))
	}
	if err != nil {
		unknown(reason(cmdSoftwareUpdateList, err))
		return fmt.Errorf("run %s: %w", cmdSoftwareUpdateList, err)
	}
	list := parseSoftwareUpdateList(out)
	if !list.Answered && len(list.Updates) == 0 {
		unknown(cmdSoftwareUpdateList + " printed neither a list nor \"No new software available.\"")
		return nil
	}
	n, labelled, restart := len(list.Updates), 0, false
	for _, u := range list.Updates {
		o.Pending = append(o.Pending, wire.PendingUpdate{Name: firstNonEmpty(u.Title, u.Label), Version: u.Version, Security: u.Security})
		if u.Security {
			labelled++
		}
		restart = restart || u.Restart
	}
	o.PendingUpdates = &n
	o.PendingSource = cmdSoftwareUpdateList
	if n == 0 {
		zero := 0
		o.PendingSecurityUpdates = &zero
	} else {
		o.Unknown["pending_security_updates"] = fmt.Sprintf(
			"softwareupdate does not flag security content: %d of %d pending updates are titled as security updates/responses, and macOS, Safari and other Apple updates usually carry security fixes too",
			labelled, n)
	}
	// macOS installs updates during a restart, so nothing sits installed
	// and waiting for one; "reboot required" here means a pending update
	// needs a restart to install (softwareupdate's "Action: restart").
	o.RebootRequired = wire.TriOf(restart)
	return nil
}
