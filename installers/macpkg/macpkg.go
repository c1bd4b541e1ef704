package macpkg

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"text/template"
	"time"
)

// Identifier is the component package's identifier, the launchd label's.
const Identifier = "com.rosterhq.roster-agent"

// Owner and group of every path in Payload and Bom: root and admin, what
// Installer expects of a package's files.
const (
	payloadUID = 0
	payloadGID = 80
)

//go:embed scripts/preinstall
var preinstall []byte

//go:embed scripts/postinstall
var postinstall []byte

//go:embed agent.yaml.example
var agentYAMLExample []byte

// Package describes one architecture's pkg.
type Package struct {
	Version string    // the package version, e.g. "1.4.0"
	Arch    string    // Go's GOARCH: "amd64" or "arm64"
	Agent   []byte    // the darwin roster-agent binary for Arch
	ModTime time.Time // every time stamp inside (reproducible builds)
}

// Entry is one path of the install tree, relative to the install
// location "/" ("" is the root itself).
type Entry struct {
	Name string
	Mode fs.FileMode
	Data []byte
}

// Stats are the figures PackageInfo carries.
type Stats struct {
	NumberOfFiles int   // paths in the payload, directories included
	InstallKBytes int64 // what the payload occupies once installed
}

// hostArch is Installer's name for a GOARCH.
var hostArch = map[string]string{"amd64": "x86_64", "arm64": "arm64"}

// InstallTree is what the pkg installs. The state directory is 0700, as
// the agent keeps it (agent/state), for the install that creates it; on
// a Mac where a path already exists Installer leaves its owner and mode
// alone (PackageInfo's overwrite-permissions="false"), so neither the
// state directory nor a Homebrew-owned /usr/local/bin is changed.
func InstallTree(agent []byte) []Entry {
	dir := fs.ModeDir | 0o755
	return []Entry{
		{"", dir, nil},
		{"Library", dir, nil},
		{"Library/Application Support", dir, nil},
		{"Library/Application Support/Roster", fs.ModeDir | 0o700, nil},
		{"Library/Application Support/Roster/agent.yaml.example", 0o644, agentYAMLExample},
		{"usr", dir, nil},
		{"usr/local", dir, nil},
		{"usr/local/bin", dir, nil},
		{"usr/local/bin/roster-agent", 0o755, agent},
		{"usr/local/share", dir, nil},
		{"usr/local/share/roster-agent", dir, nil},
		{"usr/local/share/roster-agent/install-method", 0o644, []byte("pkg\n")},
	}
}

// Build writes p's product archive to w.
func Build(w io.Writer, p Package) (Stats, error) {
	if _, ok := hostArch[p.Arch]; !ok {
		return Stats{}, fmt.Errorf("architecture %q: want amd64 or arm64", p.Arch)
	}
	if p.Version == "" || strings.ContainsAny(p.Version, "<>&\"' ") {
		return Stats{}, fmt.Errorf("version %q: want a non-empty version without spaces or XML specials", p.Version)
	}
	if len(p.Agent) == 0 {
		return Stats{}, errors.New("no agent binary")
	}
	mtime := p.ModTime.Unix()
	if mtime < 0 || mtime > 1<<32-1 {
		return Stats{}, fmt.Errorf("modification time %v outside the Bom's range", p.ModTime)
	}
	tree := InstallTree(p.Agent)

	payload, err := gzipCpio(tree, mtime)
	if err != nil {
		return Stats{}, fmt.Errorf("payload: %w", err)
	}
	scripts, err := gzipCpio([]Entry{
		{"", fs.ModeDir | 0o755, nil},
		{"postinstall", 0o755, postinstall},
		{"preinstall", 0o755, preinstall},
	}, mtime)
	if err != nil {
		return Stats{}, fmt.Errorf("scripts: %w", err)
	}
	bom, err := bomWrite(bomFiles(tree, uint32(mtime)))
	if err != nil {
		return Stats{}, err
	}
	st := stats(tree)
	info, err := render(packageInfoTmpl, p, st)
	if err != nil {
		return Stats{}, fmt.Errorf("render PackageInfo: %w", err)
	}
	dist, err := render(distributionTmpl, p, st)
	if err != nil {
		return Stats{}, fmt.Errorf("render Distribution: %w", err)
	}
	err = writeXar(w, []*xarEntry{
		{Name: "Distribution", Data: dist, Compress: true},
		{Name: "roster-agent.pkg", Dir: true, Children: []*xarEntry{
			{Name: "Bom", Data: bom, Compress: true},
			{Name: "PackageInfo", Data: info, Compress: true},
			{Name: "Payload", Data: payload},
			{Name: "Scripts", Data: scripts},
		}},
	}, p.ModTime)
	return st, err
}

// gzipCpio is the gzip-compressed odc cpio archive of entries, sorted by
// path so that every directory precedes what it holds.
func gzipCpio(entries []Entry, mtime int64) ([]byte, error) {
	sorted := append([]Entry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	c, err := cpioODC(sorted, payloadUID, payloadGID, mtime)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	z, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	z.ModTime = time.Unix(mtime, 0)
	if _, err := z.Write(c); err != nil {
		return nil, err
	}
	if err := z.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// bomFiles lists the tree as mkbom would from the same files owned by
// payloadUID:payloadGID: sizes and checksums for files only.
func bomFiles(tree []Entry, mtime uint32) []BomFile {
	out := make([]BomFile, 0, len(tree))
	for _, e := range tree {
		mode, _ := unixMode(e.Mode) // cpioODC already refused other types
		f := BomFile{Path: archiveName(e.Name), Type: bomTypeDir, Mode: uint16(mode),
			UID: payloadUID, GID: payloadGID, ModTime: mtime}
		if !e.Mode.IsDir() {
			f.Type, f.Size, f.Checksum = bomTypeFile, uint32(len(e.Data)), cksum(e.Data)
		}
		out = append(out, f)
	}
	return out
}

// stats counts as pkgbuild does: every path, and the files' sizes in KiB
// rounded up per file.
func stats(tree []Entry) Stats {
	st := Stats{NumberOfFiles: len(tree)}
	for _, e := range tree {
		st.InstallKBytes += (int64(len(e.Data)) + 1023) / 1024
	}
	return st
}

func render(t *template.Template, p Package, st Stats) ([]byte, error) {
	var b bytes.Buffer
	err := t.Execute(&b, map[string]any{
		"ID": Identifier, "Version": p.Version, "HostArch": hostArch[p.Arch],
		"Files": st.NumberOfFiles, "KBytes": st.InstallKBytes,
	})
	return b.Bytes(), err
}

// PackageInfo of the component, with the attributes pkgbuild writes:
// installed by root at "/", scripts run by Installer before and after the
// payload, existing paths' owners and modes kept (see InstallTree).
var packageInfoTmpl = template.Must(template.New("PackageInfo").Parse(`<?xml version="1.0" encoding="utf-8"?>
<pkg-info format-version="2" identifier="{{.ID}}" version="{{.Version}}" install-location="/" auth="root" overwrite-permissions="false" relocatable="false" postinstall-action="none" generator-version="roster-macpkg">
    <payload numberOfFiles="{{.Files}}" installKBytes="{{.KBytes}}"/>
    <bundle-version/>
    <upgrade-bundle/>
    <update-bundle/>
    <atomic-update-bundle/>
    <strict-identifier/>
    <relocate/>
    <scripts>
        <preinstall file="./preinstall"/>
        <postinstall file="./postinstall"/>
    </scripts>
</pkg-info>
`))

// Distribution of the product archive: one hidden choice installing the
// component on the boot volume of a Mac of the package's architecture
// (macOS 12, the oldest the Go toolchain supports).
var distributionTmpl = template.Must(template.New("Distribution").Parse(`<?xml version="1.0" encoding="utf-8"?>
<installer-gui-script minSpecVersion="2">
    <title>Roster agent {{.Version}}</title>
    <options customize="never" require-scripts="false" rootVolumeOnly="true" hostArchitectures="{{.HostArch}}"/>
    <domains enable_anywhere="false" enable_currentUserHome="false" enable_localSystem="true"/>
    <volume-check>
        <allowed-os-versions>
            <os-version min="12.0"/>
        </allowed-os-versions>
    </volume-check>
    <choices-outline>
        <line choice="default">
            <line choice="{{.ID}}"/>
        </line>
    </choices-outline>
    <choice id="default"/>
    <choice id="{{.ID}}" visible="false">
        <pkg-ref id="{{.ID}}"/>
    </choice>
    <pkg-ref id="{{.ID}}" version="{{.Version}}" installKBytes="{{.KBytes}}" onConclusion="none">#roster-agent.pkg</pkg-ref>
</installer-gui-script>
`))
