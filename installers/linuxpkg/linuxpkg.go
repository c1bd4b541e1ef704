// Package linuxpkg builds roster-agent's .deb and .rpm packages with nfpm
// used as a library: the cross-compiled binary as /usr/bin/roster-agent,
// the systemd unit rendered by the code `roster-agent install` uses
// (agent/service), an example configuration, the install-method marker the
// snapshot reports, the maintainer scripts under scripts/ and the
// copyright and changelog Debian's policy asks for. The packages install
// the service but do not enrol: the service enrols itself from a
// pre-seeded /etc/roster/agent.yaml (docs/agent.md, "Packages").
package linuxpkg

import (
	"bytes"
	"compress/gzip"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
	"github.com/goreleaser/nfpm/v2/rpm"

	"github.com/rosterhq/roster/agent/service"
)

// Installed paths.
const (
	Name        = "roster-agent"
	BinaryPath  = "/usr/bin/roster-agent"
	UnitPath    = "/lib/systemd/system/roster-agent.service"
	ConfigPath  = "/etc/roster/agent.yaml"
	ExamplePath = "/etc/roster/agent.yaml.example"
	StateDir    = "/var/lib/roster-agent"
	MarkerPath  = "/usr/share/roster-agent/install-method"
	DocDir      = "/usr/share/doc/roster-agent"
	// LintianOverridesPath explains the one lintian error a Go binary
	// raises (statically-linked-binary).
	LintianOverridesPath = "/usr/share/lintian/overrides/roster-agent"
	maintainer           = "Roster maintainers <maintainers@rosterhq.org>"
	homepage             = "https://github.com/rosterhq/roster"
	summary              = "Roster agent: reports this device's inventory to a collector"
	longSummary          = "roster-agent collects this machine's hardware identity, disk encryption,\noperating system and installed software and reports them to a Roster\ncollector over mutually authenticated TLS. The package installs the\nsystemd service; it enrols itself from the enroll section of\n/etc/roster/agent.yaml (see /etc/roster/agent.yaml.example)."
	unitHeaderOld        = "# Installed by `roster-agent install`; docs/agent.md (\"Running as a service\")\n# explains every directive. Remove with `roster-agent uninstall`.\n"
	unitHeaderNew        = "# Installed by the roster-agent package; docs/agent.md (\"Running as a service\")\n# explains every directive. Remove the package to remove it.\n"
)

//go:embed scripts/*.sh files/*
var assets embed.FS

// Formats the package is built in.
const (
	FormatDeb = "deb"
	FormatRPM = "rpm"
)

// Arches maps Go's architecture names to each format's.
var archNames = map[string]map[string]string{
	FormatDeb: {"amd64": "amd64", "arm64": "arm64"},
	FormatRPM: {"amd64": "x86_64", "arm64": "aarch64"},
}

// Options are one build.
type Options struct {
	// Binaries maps a Go architecture (amd64, arm64) to its linux binary.
	Binaries map[string]string
	// Describe is `git describe --tags --always --dirty` output.
	Describe string
	// OutDir receives the packages.
	OutDir string
	// MTime is every file's time and the changelog's date
	// (SOURCE_DATE_EPOCH, or the commit's time, for reproducible builds).
	MTime time.Time
	// Formats to build; both when empty.
	Formats []string
}

// FileName is the package's name in the output directory.
func FileName(format string, v Versions, goarch string) (string, error) {
	arch, ok := archNames[format][goarch]
	if !ok {
		return "", fmt.Errorf("no %s architecture for GOARCH %q", format, goarch)
	}
	switch format {
	case FormatDeb:
		return fmt.Sprintf("%s_%s_%s.deb", Name, v.Deb, arch), nil
	case FormatRPM:
		return fmt.Sprintf("%s-%s-%s.%s.rpm", Name, v.RPMVersion, v.RPMRelease, arch), nil
	}
	return "", fmt.Errorf("unknown package format %q", format)
}

// Build writes every package Options asks for and returns their paths.
func Build(o Options) ([]string, error) {
	v, err := ParseVersion(o.Describe)
	if err != nil {
		return nil, err
	}
	if len(o.Binaries) == 0 {
		return nil, errors.New("no binaries to package")
	}
	formats := o.Formats
	if len(formats) == 0 {
		formats = []string{FormatDeb, FormatRPM}
	}
	if o.MTime.IsZero() {
		o.MTime = time.Now()
	}
	o.MTime = o.MTime.UTC().Truncate(time.Second)
	stage, err := os.MkdirTemp("", "roster-agent-pkg-")
	if err != nil {
		return nil, fmt.Errorf("stage package files: %w", err)
	}
	defer os.RemoveAll(stage)
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", o.OutDir, err)
	}
	var out []string
	for _, format := range formats {
		if err := stageFiles(stage, format, v, o.MTime); err != nil {
			return nil, err
		}
		for _, goarch := range []string{"amd64", "arm64"} {
			bin, ok := o.Binaries[goarch]
			if !ok {
				continue
			}
			name, err := FileName(format, v, goarch)
			if err != nil {
				return nil, err
			}
			path := filepath.Join(o.OutDir, name)
			if err := buildOne(path, format, goarch, bin, stage, v, o.MTime); err != nil {
				return nil, fmt.Errorf("build %s: %w", name, err)
			}
			out = append(out, path)
		}
	}
	return out, nil
}

// stageFiles writes the files nfpm copies from disk into stage.
func stageFiles(stage, format string, v Versions, mtime time.Time) error {
	def := service.Definition{GOOS: "linux", Executable: BinaryPath, StateDir: StateDir, ConfigFile: ConfigPath}
	unit, err := def.SystemdUnit()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(unit, unitHeaderOld) {
		return errors.New("the systemd unit's header changed: update unitHeaderOld")
	}
	unit = unitHeaderNew + strings.TrimPrefix(unit, unitHeaderOld)
	changelog, err := gzipped(fmt.Sprintf("%s (%s) unstable; urgency=medium\n\n  * Built from the roster repository at version %s.\n  * The project's history: %s/commits\n\n -- %s  %s\n",
		Name, v.Deb, v.Deb, homepage, maintainer, mtime.Format("Mon, 02 Jan 2006 15:04:05 -0700")), mtime)
	if err != nil {
		return err
	}
	write := map[string][]byte{
		"roster-agent.service": []byte(unit),
		"install-method":       []byte(format + "\n"),
		"changelog.gz":         changelog,
	}
	for _, name := range []string{"files/copyright", "files/agent.yaml.example", "files/lintian-overrides", "scripts/postinst.sh", "scripts/prerm.sh", "scripts/postrm.sh"} {
		b, err := assets.ReadFile(name)
		if err != nil {
			return err
		}
		write[filepath.Base(name)] = b
	}
	for name, b := range write {
		if err := os.WriteFile(filepath.Join(stage, name), b, 0o644); err != nil {
			return fmt.Errorf("stage %s: %w", name, err)
		}
	}
	return nil
}

// gzipped compresses s at the best level without a name or time in the
// header, as dh_compress does (lintian checks both).
func gzipped(s string, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(zw, s); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func buildOne(path, format, goarch, bin, stage string, v Versions, mtime time.Time) error {
	file := func(src, dst string, mode os.FileMode, typ string) *files.Content {
		return &files.Content{Source: src, Destination: dst, Type: typ,
			FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode, MTime: mtime}}
	}
	s := func(name string) string { return filepath.Join(stage, name) }
	contents := files.Contents{
		file(bin, BinaryPath, 0o755, files.TypeFile),
		file(s("roster-agent.service"), UnitPath, 0o644, files.TypeFile),
		file(s("agent.yaml.example"), ExamplePath, 0o644, files.TypeConfigNoReplace),
		file(s("install-method"), MarkerPath, 0o644, files.TypeFile),
		file(s("copyright"), DocDir+"/copyright", 0o644, files.TypeFile),
	}
	if format == FormatDeb {
		// Debian wants the changelog; rpm keeps its own in the header.
		contents = append(contents,
			file(s("changelog.gz"), DocDir+"/changelog.gz", 0o644, files.TypeFile),
			file(s("lintian-overrides"), LintianOverridesPath, 0o644, files.TypeFile))
	}
	info := &nfpm.Info{
		Name:          Name,
		Arch:          goarch,
		Platform:      "linux",
		Version:       v.Deb,
		VersionSchema: "none",
		Section:       "admin",
		Priority:      "optional",
		Maintainer:    maintainer,
		Vendor:        "Roster",
		Homepage:      homepage,
		License:       "Apache-2.0",
		Description:   summary + "\n" + longSummary,
		MTime:         mtime,
		Overridables: nfpm.Overridables{
			Contents: contents,
			Umask:    0o022,
			Scripts: nfpm.Scripts{
				PostInstall: s("postinst.sh"),
				PreRemove:   s("prerm.sh"),
				PostRemove:  s("postrm.sh"),
			},
			RPM: nfpm.RPM{Group: "System Environment/Daemons", Summary: summary, Packager: maintainer, BuildHost: "roster-build"},
		},
	}
	var packager nfpm.Packager = deb.Default
	if format == FormatRPM {
		packager = rpm.DefaultRPM
		info.Version, info.Release = v.RPMVersion, v.RPMRelease
		info.Description = longSummary
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := packager.Package(info, f); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
