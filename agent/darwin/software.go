package darwin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/shared/wire"
)

// appDirs are where app bundles are installed: /System/Applications holds
// Apple's own apps since macOS 10.15.
var appDirs = []string{"/Applications", "/Applications/Utilities", "/System/Applications", "/System/Applications/Utilities"}

// collectApps lists applications. The primary source is system_profiler's
// SPApplicationsDataType: it finds apps wherever they are, and says who
// signed them. It depends on Spotlight, though, and returns nothing when
// indexing is off, so an empty or missing answer falls back to reading the
// Info.plist of every bundle in appDirs. Only one of the two is reported,
// never both, so an app is never listed twice.
func collectApps(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	sw := &wire.Software{Packages: []wire.Package{}}
	s.Software = sw
	var errs []error
	why := ""
	out, err := run(ctx, h, cmdApplicationsXML)
	switch {
	case err == nil:
		apps, perr := parseSPApplicationsXML(out)
		if perr == nil && len(apps) > 0 {
			for _, a := range apps {
				sw.Packages = append(sw.Packages, appPackage(a))
			}
			return nil
		}
		if perr != nil {
			errs = append(errs, perr)
		}
		why = cmdApplicationsXML + " listed no applications"
	case errors.Is(err, host.ErrNotFound):
		why = reason(cmdApplicationsXML, err)
	default:
		errs = append(errs, fmt.Errorf("run %s: %w", cmdApplicationsXML, err))
		why = reason(cmdApplicationsXML, err)
	}

	pkgs, found, werr := walkApplications(h)
	sw.Packages = append(sw.Packages, pkgs...)
	if werr != nil {
		errs = append(errs, werr)
	}
	if !found && len(errs) == 0 {
		return probe.NotApplicable("%s, and no app bundle directory (%s) exists", why, strings.Join(appDirs, ", "))
	}
	return errors.Join(errs...)
}

// appPackage turns a system_profiler application into a package.
// lastModified is left out on purpose: it is the bundle's modification
// time, which an update or a copy changes, not when the app was installed.
func appPackage(a spApp) wire.Package {
	p := wire.Package{
		Name:      a.Name,
		Version:   a.Version,
		Source:    wire.SourceApp,
		Location:  a.Path,
		Publisher: appPublisher(a),
	}
	if a.Runtime == "arch_x86" && a.Has64BitIntl == "yes" {
		p.Arch = "x86_64"
	}
	return p
}

// appPublisher names who signed the app, from the leaf of its certificate
// chain: "Developer ID Application: Chef Software, Inc. (EU3VF8YLX2)" is
// Chef Software, Inc.; Apple's own "Software Signing" is Apple. Mac App
// Store signatures ("Apple Mac OS Application Signing") do not name the
// developer, so those stay without a publisher.
func appPublisher(a spApp) string {
	if len(a.SignedBy) == 0 {
		return ""
	}
	leaf := a.SignedBy[0]
	if leaf == "Software Signing" {
		return appleVendor
	}
	if name, ok := strings.CutPrefix(leaf, "Developer ID Application: "); ok {
		if i := strings.LastIndex(name, " ("); i > 0 && strings.HasSuffix(name, ")") {
			name = name[:i]
		}
		return strings.TrimSpace(name)
	}
	return ""
}

// walkApplications reads the Info.plist of every *.app in appDirs. found
// reports whether any of the directories exists.
func walkApplications(h *host.Host) (pkgs []wire.Package, found bool, err error) {
	var errs []error
	for _, dir := range appDirs {
		entries, derr := h.ReadDir(dir)
		if derr != nil {
			if !errors.Is(derr, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("list %s: %w", dir, derr))
			}
			continue
		}
		found = true
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".app") {
				continue
			}
			bundle := path.Join(dir, e.Name())
			b, rerr := h.ReadFile(bundle + "/Contents/Info.plist")
			if errors.Is(rerr, fs.ErrNotExist) {
				continue // not a bundle (an alias, or an empty folder named .app)
			}
			if rerr != nil {
				errs = append(errs, fmt.Errorf("read %s/Contents/Info.plist: %w", bundle, rerr))
				continue
			}
			info, perr := parseInfoPlist(b)
			if perr != nil {
				errs = append(errs, fmt.Errorf("%s: %w", bundle, perr))
				continue
			}
			pkgs = append(pkgs, wire.Package{
				Name:     firstNonEmpty(info.DisplayName, info.Name, strings.TrimSuffix(e.Name(), ".app")),
				Version:  firstNonEmpty(info.ShortVersion, info.Version),
				Source:   wire.SourceApp,
				Location: bundle,
			})
		}
	}
	return pkgs, found, errors.Join(errs...)
}

const receiptsDir = "/var/db/receipts"

// collectReceipts lists installer packages from their receipts, the data
// `pkgutil --pkgs` prints.
func collectReceipts(_ context.Context, h *host.Host, s *wire.Snapshot) error {
	entries, err := h.ReadDir(receiptsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return probe.NotApplicable("no package receipts: %s does not exist", receiptsDir)
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", receiptsDir, err)
	}
	sw := &wire.Software{Packages: []wire.Package{}}
	s.Software = sw
	var errs []error
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".plist") {
			continue // the .bom beside each receipt
		}
		p := path.Join(receiptsDir, e.Name())
		b, err := h.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", p, err))
			continue
		}
		r, err := parseReceipt(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		pkg := wire.Package{Name: r.PackageIdentifier, Version: r.PackageVersion, Source: wire.SourcePkgutil}
		if !r.InstallDate.IsZero() {
			t := r.InstallDate.UTC()
			pkg.InstallDate = &t
		}
		if r.InstallPrefixPath != "" && r.InstallPrefixPath != "/" {
			pkg.Location = r.InstallPrefixPath
		}
		sw.Packages = append(sw.Packages, pkg)
	}
	return errors.Join(errs...)
}

// brewPrefixes are Homebrew's default prefixes on Apple silicon and Intel.
var brewPrefixes = []string{"/opt/homebrew", "/usr/local"}

// collectBrew lists Homebrew formulae and casks from the Cellar and
// Caskroom directories (<name>/<version>), which is what `brew list
// --versions` reads, without running brew as the user who owns it.
func collectBrew(_ context.Context, h *host.Host, s *wire.Snapshot) error {
	var pkgs []wire.Package
	var errs []error
	found := false
	for _, prefix := range brewPrefixes {
		for _, room := range []string{"Cellar", "Caskroom"} {
			dir := prefix + "/" + room
			names, err := h.ReadDir(dir)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("list %s: %w", dir, err))
				continue
			}
			found = true
			for _, n := range names {
				if !n.IsDir() || strings.HasPrefix(n.Name(), ".") {
					continue
				}
				versions, err := h.ReadDir(dir + "/" + n.Name())
				if err != nil {
					errs = append(errs, fmt.Errorf("list %s/%s: %w", dir, n.Name(), err))
					continue
				}
				for _, v := range versions {
					// Caskroom/<cask>/.metadata is Homebrew's own bookkeeping.
					if !v.IsDir() || strings.HasPrefix(v.Name(), ".") {
						continue
					}
					pkgs = append(pkgs, wire.Package{
						Name:     n.Name(),
						Version:  v.Name(),
						Source:   wire.SourceBrew,
						Location: dir + "/" + n.Name() + "/" + v.Name(),
					})
				}
			}
		}
	}
	if !found && len(errs) == 0 {
		return probe.NotApplicable("Homebrew is not installed: no Cellar or Caskroom under %s", strings.Join(brewPrefixes, " or "))
	}
	s.Software = &wire.Software{Packages: pkgs}
	if pkgs == nil {
		s.Software.Packages = []wire.Package{}
	}
	return errors.Join(errs...)
}
