// Package collector packages roster-collector for servers: a .deb and an
// .rpm (nfpm, as a library) with the binary, rosterctl, a hardened systemd
// unit running it as the dedicated user roster, and a default
// /etc/roster/collector.yaml; and an OCI image, written without a container
// daemon (go-containerregistry), whose entrypoint is `roster-collector
// serve --data /var/lib/roster` as a non-root user. The files packaged are
// embedded here, beside the code, so packagers read what is shipped.
package collector

import (
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
	"github.com/goreleaser/nfpm/v2/rpm"

	"github.com/rosterhq/roster/installers/linuxpkg"
)

// Unit is the systemd unit, installed as
// /usr/lib/systemd/system/roster-collector.service.
//
//go:embed systemd/roster-collector.service
var Unit []byte

// DefaultConfig is /etc/roster/collector.yaml as shipped (a conffile: an
// upgrade never overwrites the administrator's copy).
//
//go:embed collector.yaml
var DefaultConfig []byte

//go:embed scripts/*.sh
var scripts embed.FS

// Package metadata shared by both formats.
const (
	name        = "roster-collector"
	maintainer  = "Roster maintainers <roster@rosterhq.org>"
	homepage    = "https://github.com/rosterhq/roster"
	license     = "Apache-2.0"
	summary     = "Roster collector: the device registry roster-agent reports to"
	description = summary + "\n" +
		"Records the inventory reports of roster-agent (hardware identity, disk\n" +
		"encryption, patch level, installed software) in an asset registry,\n" +
		"evaluates compliance policies and serves the API, rosterctl and a web\n" +
		"console over HTTPS and HTTP/3."
)

// Paths inside the packages.
const (
	UnitPath   = "/usr/lib/systemd/system/roster-collector.service"
	ConfigPath = "/etc/roster/collector.yaml"
)

// Options say what to package.
type Options struct {
	// Collector and Rosterctl are the linux binaries to ship.
	Collector, Rosterctl string
	// Describe is `git describe --tags --always --dirty`, mapped to package
	// versions as the agent's are (linuxpkg.ParseVersion).
	Describe string
	// Arch is the Go architecture, amd64 or arm64.
	Arch string
	// LibcVersion is the highest GLIBC_ symbol version Collector needs
	// (e.g. 2.34), for the .deb's Depends; empty for a static binary.
	LibcVersion string
	// MTime stamps every file, for reproducible packages; zero means now.
	MTime time.Time
}

// Names returns the file names Packages writes: roster-collector_<deb>_<arch>.deb
// and roster-collector-<ver>-<rel>.<rpmarch>.rpm.
func Names(v linuxpkg.Versions, arch string) (debName, rpmName string, err error) {
	ra, ok := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[arch]
	if !ok {
		return "", "", fmt.Errorf("no package architecture for %q", arch)
	}
	return fmt.Sprintf("%s_%s_%s.deb", name, v.Deb, arch), fmt.Sprintf("%s-%s-%s.%s.rpm", name, v.RPMVersion, v.RPMRelease, ra), nil
}

// Packages writes the .deb and the .rpm into dir and returns their paths.
func Packages(dir string, o Options) (debPath, rpmPath string, err error) {
	v, err := linuxpkg.ParseVersion(o.Describe)
	if err != nil {
		return "", "", err
	}
	debName, rpmName, err := Names(v, o.Arch)
	if err != nil {
		return "", "", err
	}
	if o.MTime.IsZero() {
		o.MTime = time.Now().UTC().Truncate(time.Second)
	}
	staged, err := os.MkdirTemp("", "roster-collector-pkg-")
	if err != nil {
		return "", "", fmt.Errorf("stage package files: %w", err)
	}
	defer os.RemoveAll(staged)
	src, err := stage(staged, v, o.MTime)
	if err != nil {
		return "", "", err
	}
	debPath = filepath.Join(dir, debName)
	rpmPath = filepath.Join(dir, rpmName)
	for _, p := range []struct {
		format, path string
		packager     nfpm.Packager
	}{{"deb", debPath, deb.Default}, {"rpm", rpmPath, rpm.DefaultRPM}} {
		info := packageInfo(o, v, src, p.format)
		if err := write(p.path, p.format, p.packager, info); err != nil {
			return "", "", err
		}
	}
	return debPath, rpmPath, nil
}

func write(path, format string, p nfpm.Packager, info *nfpm.Info) error {
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return fmt.Errorf("prepare %s: %w", format, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", format, err)
	}
	if err := p.Package(info, f); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("build %s: %w", format, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// staged are the paths of the files written from the embedded copies.
type staged struct {
	unit, config, postinst, prerm, postrm, copyright, changelog, overrides string
}

func stage(dir string, v linuxpkg.Versions, mtime time.Time) (staged, error) {
	s := staged{
		unit: filepath.Join(dir, "roster-collector.service"), config: filepath.Join(dir, "collector.yaml"),
		postinst: filepath.Join(dir, "postinstall.sh"), prerm: filepath.Join(dir, "preremove.sh"), postrm: filepath.Join(dir, "postremove.sh"),
		copyright: filepath.Join(dir, "copyright"), changelog: filepath.Join(dir, "changelog.gz"),
		overrides: filepath.Join(dir, "lintian-overrides"),
	}
	changelog, err := debianChangelog(v, mtime)
	if err != nil {
		return s, err
	}
	files := map[string][]byte{s.unit: Unit, s.config: DefaultConfig, s.copyright: []byte(copyright), s.changelog: changelog, s.overrides: []byte(lintianOverrides)}
	for path, src := range map[string]string{s.postinst: "scripts/postinstall.sh", s.prerm: "scripts/preremove.sh", s.postrm: "scripts/postremove.sh"} {
		b, err := scripts.ReadFile(src)
		if err != nil {
			return s, err
		}
		files[path] = b
	}
	for path, b := range files {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return s, fmt.Errorf("stage package files: %w", err)
		}
	}
	return s, nil
}

// copyright is the Debian machine-readable copyright file.
const copyright = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: roster
Source: https://github.com/rosterhq/roster

Files: *
Copyright: 2026 The Roster authors
License: Apache-2.0
 On Debian systems the full text of the Apache License, Version 2.0 is in
 /usr/share/common-licenses/Apache-2.0. The modules compiled into the
 binaries and their licences are listed in the NOTICE file of the source.
`

// lintianOverrides: lintian exempts Go binaries only when it can see a
// Debian source package build-depending on golang; rosterctl is pure Go
// (CGO_ENABLED=0) and static by design. roster-collector links glibc.
const lintianOverrides = `# rosterctl is a pure Go program: static by design.
roster-collector: statically-linked-binary [usr/bin/rosterctl]
# Holds a database DSN: root:roster 0640 (the group is set by postinst).
roster-collector: non-standard-file-perm 0640 != 0644 [etc/roster/collector.yaml]
`

// debianChangelog is the one-entry changelog Debian policy asks of every
// package, gzipped without a name or time in the header (reproducible).
func debianChangelog(v linuxpkg.Versions, mtime time.Time) ([]byte, error) {
	text := fmt.Sprintf("%s (%s) unstable; urgency=medium\n\n  * Built from the git repository; its history lists the changes.\n\n -- %s  %s\n",
		name, v.Deb, maintainer, mtime.UTC().Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(zw, text); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func packageInfo(o Options, v linuxpkg.Versions, s staged, format string) *nfpm.Info {
	file := func(src, dst string, mode os.FileMode) *files.Content {
		return &files.Content{Source: src, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: mode, MTime: o.MTime}}
	}
	contents := files.Contents{
		file(o.Collector, "/usr/bin/roster-collector", 0o755),
		file(o.Rosterctl, "/usr/bin/rosterctl", 0o755),
		file(s.unit, UnitPath, 0o644),
		{Source: s.config, Destination: ConfigPath, Type: files.TypeConfigNoReplace, FileInfo: &files.ContentFileInfo{Mode: 0o640, MTime: o.MTime}},
		{Destination: "/etc/roster", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o755, MTime: o.MTime}},
	}
	if format == "deb" {
		contents = append(contents,
			file(s.copyright, "/usr/share/doc/roster-collector/copyright", 0o644),
			file(s.changelog, "/usr/share/doc/roster-collector/changelog.gz", 0o644),
			file(s.overrides, "/usr/share/lintian/overrides/roster-collector", 0o644))
	}
	info := &nfpm.Info{
		Name:          name,
		Arch:          o.Arch,
		Platform:      "linux",
		Version:       v.Deb,
		VersionSchema: "none",
		Release:       v.RPMRelease,
		Section:       "admin",
		Priority:      "optional",
		Maintainer:    maintainer,
		Description:   description,
		Vendor:        "Roster",
		Homepage:      homepage,
		License:       license,
		MTime:         o.MTime,
		Overridables: nfpm.Overridables{
			Contents: contents,
			Scripts:  nfpm.Scripts{PostInstall: s.postinst, PreRemove: s.prerm, PostRemove: s.postrm},
			RPM:      nfpm.RPM{Summary: summary, Group: "System Environment/Daemons", Compression: "zstd"},
			Deb:      nfpm.Deb{Compression: "xz"},
		},
	}
	if format == "deb" {
		// A native Debian version carries no revision.
		info.Release = ""
		// useradd (passwd) and getent (libc-bin) are Essential or Priority:
		// required on Debian; the binary itself needs glibc.
		info.Depends = []string{"passwd"}
		if o.LibcVersion != "" {
			info.Depends = append(info.Depends, "libc6 (>= "+o.LibcVersion+")")
		}
	} else {
		info.Version = v.RPMVersion
		info.Depends = []string{"shadow-utils"}
		info.RPM.Requires.Post = []string{"shadow-utils"}
	}
	return info
}
