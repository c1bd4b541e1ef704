// Package software inventories the software installed on a Linux host,
// one probe per package source: dpkg, rpm, apk, pacman, snap and
// flatpak. Each probe reads its source's own database (or asks its tool)
// and reports every package with its version, architecture and, where
// the source records them, publisher and install date; a probe whose
// source is absent from the host says "not applicable". Parsing is done
// by pure functions named after their input, tested on real captures.
package software

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/shared/wire"
)

// Command lines the probes run, exactly as they run them.
var (
	rpmArgs     = []string{"-qa", "--queryformat", RPMQueryFormat}
	pacmanArgs  = []string{"-Qi"}
	snapArgs    = []string{"list"}
	flatpakArgs = []string{"list", "--columns=" + FlatpakColumns}
)

// Paths of the package databases.
const (
	dpkgStatusPath   = "/var/lib/dpkg/status"
	apkInstalledPath = "/lib/apk/db/installed"
	pacmanLocalPath  = "/var/lib/pacman/local"
)

// rpmDBPaths are where rpm keeps its database: the classic place and,
// since Fedora 36 / openSUSE Tumbleweed, /usr/lib/sysimage/rpm.
var rpmDBPaths = []string{"/var/lib/rpm", "/usr/lib/sysimage/rpm"}

// Probes returns this package's probes in the order they run.
func Probes() []probe.Probe {
	return []probe.Probe{
		probe.Func{ProbeName: "software/dpkg", ProbeArea: wire.AreaSoftware, Fn: collectDpkg},
		probe.Func{ProbeName: "software/rpm", ProbeArea: wire.AreaSoftware, Cmds: []string{host.CommandLine("rpm", rpmArgs...)}, Fn: collectRPM},
		probe.Func{ProbeName: "software/apk", ProbeArea: wire.AreaSoftware, Fn: collectAPK},
		probe.Func{ProbeName: "software/pacman", ProbeArea: wire.AreaSoftware, Cmds: []string{host.CommandLine("pacman", pacmanArgs...)}, Fn: collectPacman},
		probe.Func{ProbeName: "software/snap", ProbeArea: wire.AreaSoftware, Cmds: []string{host.CommandLine("snap", snapArgs...)}, Fn: collectSnap},
		probe.Func{ProbeName: "software/flatpak", ProbeArea: wire.AreaSoftware, Cmds: []string{host.CommandLine("flatpak", flatpakArgs...)}, Fn: collectFlatpak},
	}
}

func software(s *wire.Snapshot) *wire.Software {
	if s.Software == nil {
		s.Software = &wire.Software{Packages: []wire.Package{}}
	}
	return s.Software
}

// collectDpkg reads dpkg's status database directly rather than running
// dpkg-query: the file is the database, reading it needs no binary on a
// captured host, and it is what dpkg-query itself reads. No install date
// is reported: the only per-package time dpkg keeps is the mtime of
// /var/lib/dpkg/info/<pkg>.list, which dpkg rewrites on every reinstall
// and which image builders clamp to the build time (this project's own
// Debian 12 VM has all of them at 2025-05-20 00:00:00), so it would be
// a guess presented as a fact.
func collectDpkg(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	f, err := h.FS.Open(host.Path(dpkgStatusPath))
	if errors.Is(err, fs.ErrNotExist) {
		return probe.NotApplicable("no dpkg database (%s)", dpkgStatusPath)
	}
	if err != nil {
		return fmt.Errorf("read dpkg status: %w", err)
	}
	defer f.Close()
	pkgs, err := ParseDpkgStatus(f)
	sw := software(s)
	for _, p := range pkgs {
		if !p.Installed() {
			continue
		}
		sw.Packages = append(sw.Packages, wire.Package{
			Name:      p.Name,
			Version:   p.Version,
			Arch:      p.Architecture,
			Source:    wire.SourceDeb,
			Publisher: p.Maintainer,
		})
	}
	return err
}

func collectRPM(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	if !anyExists(h, rpmDBPaths) {
		return probe.NotApplicable("no rpm database (%s)", rpmDBPaths[0])
	}
	out, err := h.Run(ctx, "rpm", rpmArgs...)
	if errors.Is(err, host.ErrNotFound) {
		return probe.NotApplicable("rpm is not installed")
	}
	if err != nil {
		return fmt.Errorf("list rpm packages: %w", err)
	}
	pkgs, err := ParseRPMQuery(bytes.NewReader(out))
	sw := software(s)
	for _, p := range pkgs {
		sw.Packages = append(sw.Packages, wire.Package{
			Name:        p.Name,
			Version:     p.Version,
			Arch:        p.Arch,
			Source:      wire.SourceRPM,
			InstallDate: timePtr(p.InstallTime),
		})
	}
	return err
}

func collectAPK(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	f, err := h.FS.Open(host.Path(apkInstalledPath))
	if errors.Is(err, fs.ErrNotExist) {
		return probe.NotApplicable("no apk database (%s)", apkInstalledPath)
	}
	if err != nil {
		return fmt.Errorf("read apk database: %w", err)
	}
	defer f.Close()
	pkgs, err := ParseAPKInstalled(f)
	sw := software(s)
	for _, p := range pkgs {
		sw.Packages = append(sw.Packages, wire.Package{
			Name:      p.Name,
			Version:   p.Version,
			Arch:      p.Arch,
			Source:    wire.SourceAPK,
			Publisher: p.Maintainer,
		})
	}
	return err
}

// collectPacman runs `pacman -Qi` rather than reading
// /var/lib/pacman/local/*/desc because real captures of -Qi exist to
// test the parser on, and pacman reads its own database format best.
func collectPacman(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	if !h.Exists(pacmanLocalPath) {
		return probe.NotApplicable("no pacman database (%s)", pacmanLocalPath)
	}
	out, err := h.Run(ctx, "pacman", pacmanArgs...)
	if errors.Is(err, host.ErrNotFound) {
		return probe.NotApplicable("pacman is not installed")
	}
	if err != nil {
		return fmt.Errorf("list pacman packages: %w", err)
	}
	pkgs, err := ParsePacmanQi(bytes.NewReader(out), HostLocation(h))
	sw := software(s)
	for _, p := range pkgs {
		sw.Packages = append(sw.Packages, wire.Package{
			Name:        p.Name,
			Version:     p.Version,
			Arch:        p.Arch,
			Source:      wire.SourcePacman,
			Publisher:   p.Packager,
			InstallDate: timePtr(p.InstallDate),
		})
	}
	return err
}

// collectSnap asks snap; snap records no install date.
func collectSnap(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	out, err := h.Run(ctx, "snap", snapArgs...)
	if errors.Is(err, host.ErrNotFound) {
		return probe.NotApplicable("snap is not installed")
	}
	if err != nil {
		return fmt.Errorf("list snaps: %w", err)
	}
	pkgs, err := ParseSnapList(bytes.NewReader(out))
	sw := software(s)
	for _, p := range pkgs {
		sw.Packages = append(sw.Packages, wire.Package{
			Name:      p.Name,
			Version:   p.Version,
			Source:    wire.SourceSnap,
			Publisher: p.Publisher,
		})
	}
	return err
}

// collectFlatpak asks flatpak; flatpak records no install date. The
// installation (system or user) goes into Location, so the same app in
// two installations stays two entries.
func collectFlatpak(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	out, err := h.Run(ctx, "flatpak", flatpakArgs...)
	if errors.Is(err, host.ErrNotFound) {
		return probe.NotApplicable("flatpak is not installed")
	}
	if err != nil {
		return fmt.Errorf("list flatpaks: %w", err)
	}
	pkgs, err := ParseFlatpakList(bytes.NewReader(out))
	sw := software(s)
	for _, p := range pkgs {
		sw.Packages = append(sw.Packages, wire.Package{
			Name:     p.Application,
			Version:  p.Version,
			Arch:     p.Arch,
			Source:   wire.SourceFlatpak,
			Location: p.Installation,
		})
	}
	return err
}

func anyExists(h *host.Host, paths []string) bool {
	for _, p := range paths {
		if h.Exists(p) {
			return true
		}
	}
	return false
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
