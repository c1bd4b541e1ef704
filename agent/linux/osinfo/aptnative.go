package osinfo

import (
	"bytes"
	"cmp"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/pierrec/lz4/v4"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/shared/wire"

	"github.com/rosterhq/roster/shared/debversion"
)

// The native apt reader answers what `apt-get -s full-upgrade` would
// upgrade without apt's resolver: it reads the dpkg database, the sources
// apt is configured with, their downloaded Packages indexes and Release
// files, and apt's preferences, picks each installed package's candidate
// the way apt's policy does (pin priorities: 500 for a source, 1 for
// NotAutomatic, 100 with ButAutomaticUpgrades, 100 for the installed
// version, pins from preferences; the highest priority wins, the highest
// version among equals, and nothing below the installed version), and
// counts candidates newer than what is installed.
//
// Whatever would make apt's resolver decide something (install a new
// package, remove one, keep one back), and every configuration this reader
// does not evaluate, is not guessed: the reader says why it cannot answer
// and the caller asks apt-get instead. On a host where nothing like that
// happens (the usual case) it gives apt's answer in a small fraction of
// the time and memory, since the resolver and its cache of every package
// in every list are never built.

// aptIndex is one downloaded Packages index with the facts of its Release
// file that pins and the security rule look at.
type aptIndex struct {
	File                                 string // host path of the index
	Site, Origin, Label, Suite, Codename string
	Version, Component, Arch             string
	NotAutomatic, ButAutomaticUpgrades   bool
}

// aptVersion is one version of one package (name and architecture) from
// the dpkg database, the indexes, or both.
type aptVersion struct {
	Version   string
	fields    stanza
	indexes   []*aptIndex
	installed bool
}

type aptPkg struct {
	Name, Arch string // Arch "all" is counted as the native architecture, as apt does
	installed  *aptVersion
	held       bool
	versions   []*aptVersion
}

func (p *aptPkg) key() string { return p.Name + ":" + p.Arch }

// aptRelationFields are the fields the consistency check reads.
var aptRelationFields = []string{"Depends", "Pre-Depends", "Recommends", "Breaks", "Conflicts", "Provides"}

func aptKeep(extra ...string) map[string]bool {
	m := map[string]bool{"Package": true, "Version": true, "Architecture": true, "Multi-Arch": true}
	for _, f := range aptRelationFields {
		m[f] = true
	}
	for _, f := range extra {
		m[f] = true
	}
	return m
}

// aptNativeResult is the native reader's answer, or why it has none:
// Fallback names what only apt can decide (ask apt-get), Unknown what
// no one can answer from this host (no downloaded lists).
type aptNativeResult struct {
	Pending  []wire.PendingUpdate
	Security int
	Fallback string
	Unknown  string
}

// Paths the native reader uses.
const (
	aptListsDir  = "/var/lib/apt/lists"
	dpkgStatus   = "/var/lib/dpkg/status"
	dpkgUpdates  = "/var/lib/dpkg/updates"
	dpkgArchFile = "/var/lib/dpkg/arch"
)

// aptPartName is the file-name rule apt applies to files in its .d
// directories; others (such as "x.list.disabled" or "x.dpkg-old") are
// ignored by apt and therefore here.
var aptPartName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// nativeAptPending answers from the host's files. A non-nil error is an
// unreadable file the host does have; the result then says what to do.
func nativeAptPending(ctx context.Context, h *host.Host) (aptNativeResult, error) {
	var res aptNativeResult
	if !h.Exists("/etc/apt") {
		res.Fallback = "no /etc/apt on this host"
		return res, nil
	}
	if reason, err := aptConfigUnsupported(h); err != nil || reason != "" {
		res.Fallback = reason
		if err != nil {
			res.Fallback = err.Error()
		}
		return res, nil
	}
	sources, err := readAptSources(h)
	if err != nil {
		res.Fallback = err.Error()
		return res, nil
	}
	if len(sources) == 0 {
		res.Unknown = "apt has no enabled sources (sources.list, sources.list.d)"
		return res, nil
	}
	pins, err := readAptPreferences(h)
	if err != nil {
		res.Fallback = err.Error()
		return res, nil
	}
	if ents, err := h.ReadDir(dpkgUpdates); err == nil {
		for _, e := range ents {
			if e.Name() != "tmp.i" {
				res.Fallback = "dpkg has unapplied updates in " + dpkgUpdates + " (an interrupted dpkg run)"
				return res, nil
			}
		}
	}
	statusData, err := h.ReadFile(dpkgStatus)
	if err != nil {
		return res, fmt.Errorf("read %s: %w", dpkgStatus, err)
	}
	pkgs, native, reason, err := parseInstalled(bytes.NewReader(statusData))
	if err != nil {
		return res, err
	}
	if reason != "" {
		res.Fallback = reason
		return res, nil
	}
	archs := []string{native}
	if b, err := h.ReadFile(dpkgArchFile); err == nil {
		for _, a := range strings.Fields(string(b)) {
			if !slices.Contains(archs, a) {
				archs = append(archs, a)
			}
		}
	}
	indexes, reason, err := findAptIndexes(h, sources, archs)
	if err != nil {
		return res, err
	}
	if reason != "" {
		res.Fallback = reason
		return res, nil
	}
	if len(indexes) == 0 {
		res.Unknown = "no downloaded package lists in " + aptListsDir + " for the configured sources (apt-get update has not run, or its lists were removed)"
		return res, nil
	}
	if err := readAptIndexes(ctx, h, indexes, pkgs, native); err != nil {
		return res, err
	}
	return computeAptPending(pkgs, pins, native), nil
}

// aptConfigKeys are apt options that change candidates or the upgrade
// and are not evaluated here; a configuration that mentions one is left
// to apt. Matched on lower-cased text without comments, so both
// "APT::Default-Release" and a scoped "APT { Default-Release ...; }" are
// seen.
var aptConfigKeys = []string{"default-release", "architectures", "phased", "dir::state", "dir::etc", "get::upgrade"}

// aptConfigDir finds settings of apt's directories, in either syntax;
// only Dir::Cache (where apt keeps its binary cache) is harmless here.
var aptConfigDir = regexp.MustCompile(`(?:^|[\s;{])dir(?:\s*\{|\s+"|::([a-z]+))`)

func aptConfigUnsupported(h *host.Host) (string, error) {
	files := []string{"/etc/apt/apt.conf"}
	if ents, err := h.ReadDir("/etc/apt/apt.conf.d"); err == nil {
		for _, e := range ents {
			n := e.Name()
			if aptPartName.MatchString(n) && (!strings.Contains(n, ".") || path.Ext(n) == ".conf") {
				files = append(files, "/etc/apt/apt.conf.d/"+n)
			}
		}
	}
	for _, f := range files {
		b, err := h.ReadFileLimit(f, 1<<20)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("read %s: %w", f, err)
		}
		text := strings.ToLower(aptConfigText(string(b)))
		for _, k := range aptConfigKeys {
			if strings.Contains(text, k) {
				return fmt.Sprintf("%s sets %q, which the native reader does not evaluate", f, k), nil
			}
		}
		for _, m := range aptConfigDir.FindAllStringSubmatch(text, -1) {
			if m[1] != "cache" {
				return fmt.Sprintf("%s moves apt's directories (Dir), which the native reader does not follow", f), nil
			}
		}
	}
	return "", nil
}

// aptConfigText drops apt.conf comments: "//" and "#" to the end of the
// line, and "/* */" blocks, outside quotes.
func aptConfigText(s string) string {
	var b strings.Builder
	inQuote, inBlock := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inBlock:
			if c == '*' && i+1 < len(s) && s[i+1] == '/' {
				inBlock = false
				i++
			}
		case inQuote:
			b.WriteByte(c)
			if c == '"' {
				inQuote = false
			}
		case c == '"':
			inQuote = true
			b.WriteByte(c)
		case c == '#' || (c == '/' && i+1 < len(s) && s[i+1] == '/'):
			for i < len(s) && s[i] != '\n' {
				i++
			}
			b.WriteByte('\n')
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			inBlock = true
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func readAptSources(h *host.Host) ([]AptSource, error) {
	var out []AptSource
	read := func(p string, parse func(io.Reader) ([]AptSource, error)) error {
		b, err := h.ReadFileLimit(p, 4<<20)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		s, err := parse(bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, s...)
		return nil
	}
	if err := read("/etc/apt/sources.list", ParseSourcesList); err != nil {
		return nil, err
	}
	ents, err := h.ReadDir("/etc/apt/sources.list.d")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("list /etc/apt/sources.list.d: %w", err)
	}
	for _, e := range ents {
		n := e.Name()
		if !aptPartName.MatchString(n) {
			continue
		}
		p := "/etc/apt/sources.list.d/" + n
		var err error
		switch path.Ext(n) {
		case ".list":
			err = read(p, ParseSourcesList)
		case ".sources":
			err = read(p, ParseDeb822Sources)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func readAptPreferences(h *host.Host) ([]AptPin, error) {
	files := []string{"/etc/apt/preferences"}
	if ents, err := h.ReadDir("/etc/apt/preferences.d"); err == nil {
		for _, e := range ents {
			n := e.Name()
			if aptPartName.MatchString(n) && (!strings.Contains(n, ".") || path.Ext(n) == ".pref") {
				files = append(files, "/etc/apt/preferences.d/"+n)
			}
		}
	}
	var pins []AptPin
	for _, f := range files {
		b, err := h.ReadFileLimit(f, 4<<20)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		p, err := ParseAptPreferences(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		pins = append(pins, p...)
	}
	return pins, nil
}

// parseInstalled reads the dpkg database: installed packages by
// name:arch with their relations, and the native architecture (dpkg's
// own package's). A package half-way through an operation, or needing a
// reinstall, makes apt want to repair first; that is apt's to answer.
func parseInstalled(r io.Reader) (map[string]*aptPkg, string, string, error) {
	var all []stanza
	err := scanControl(r, aptKeep("Status"), nil, func(s stanza) error {
		all = append(all, s)
		return nil
	})
	if err != nil {
		return nil, "", "", fmt.Errorf("read dpkg status: %w", err)
	}
	native := ""
	for _, s := range all {
		if s["Package"] == "dpkg" && s["Architecture"] != "all" {
			native = s["Architecture"]
		}
	}
	if native == "" {
		return nil, "", "the dpkg database has no dpkg package to tell the native architecture", nil
	}
	pkgs := map[string]*aptPkg{}
	for _, s := range all {
		st := strings.Fields(s["Status"])
		if len(st) != 3 || s["Package"] == "" {
			continue
		}
		want, flag, state := st[0], st[1], st[2]
		switch state {
		case "not-installed", "config-files":
			continue
		case "installed", "triggers-pending", "triggers-awaited":
		default:
			return nil, native, fmt.Sprintf("package %s is %s (an interrupted dpkg run apt would repair)", s["Package"], state), nil
		}
		if flag != "ok" {
			return nil, native, fmt.Sprintf("package %s is marked %s", s["Package"], flag), nil
		}
		arch := s["Architecture"]
		if arch == "all" || arch == "" {
			arch = native
		}
		v := &aptVersion{Version: s["Version"], fields: s, installed: true}
		p := &aptPkg{Name: s["Package"], Arch: arch, installed: v, held: want == "hold", versions: []*aptVersion{v}}
		pkgs[p.key()] = p
	}
	return pkgs, native, "", nil
}

// listCompressions are the suffixes apt may keep an index under
// (Acquire::GzipIndexes keeps them compressed), in the order tried.
var listCompressions = []string{"", ".lz4", ".gz", ".bz2", ".xz", ".zst", ".lzma"}

// findAptIndexes maps the sources onto the downloaded files. A source
// with neither a Release file nor an index was never downloaded (apt
// ignores it too); one with a Release file but no index for the native
// architecture, or an index without a Release file, is a state this
// reader does not model.
func findAptIndexes(h *host.Host, sources []AptSource, archs []string) ([]*aptIndex, string, error) {
	ents, err := h.ReadDir(aptListsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("list %s: %w", aptListsDir, err)
	}
	present := map[string]bool{}
	for _, e := range ents {
		present[e.Name()] = true
	}
	find := func(base string) (string, bool) {
		for _, c := range listCompressions {
			if present[base+c] {
				return base + c, true
			}
		}
		return "", false
	}
	var out []*aptIndex
	seen := map[string]bool{}
	releases := map[string]stanza{}
	for _, src := range sources {
		srcArchs := archs
		if len(src.Archs) > 0 {
			srcArchs = nil
			for _, a := range src.Archs {
				if slices.Contains(archs, a) {
					srcArchs = append(srcArchs, a)
				}
			}
		}
		if len(srcArchs) == 0 {
			continue
		}
		relName, ok := find(src.releaseBase("InRelease", srcArchs[0]))
		if !ok {
			relName, ok = find(src.releaseBase("Release", srcArchs[0]))
		}
		comps := src.Components
		if strings.HasSuffix(src.Suite, "/") {
			comps = []string{""}
		}
		if !ok {
			for _, c := range comps {
				if _, has := find(src.indexBase(c, srcArchs[0])); has {
					return nil, fmt.Sprintf("index of %s %s without a Release file", src.URI, src.Suite), nil
				}
			}
			continue
		}
		rel, done := releases[relName]
		if !done {
			b, err := h.ReadFileLimit(aptListsDir+"/"+relName, 16<<20)
			if err != nil {
				return nil, "", fmt.Errorf("read %s/%s: %w", aptListsDir, relName, err)
			}
			rel, err = ParseAptRelease(bytes.NewReader(b))
			if err != nil {
				return nil, "", fmt.Errorf("%s/%s: %w", aptListsDir, relName, err)
			}
			releases[relName] = rel
		}
		for _, c := range comps {
			for i, a := range append(slices.Clone(srcArchs), "all") {
				name, has := find(src.indexBase(c, a))
				if !has {
					if i == 0 {
						return nil, fmt.Sprintf("no downloaded %s index for %s %s %s although its Release file is there", a, src.URI, src.Suite, c), nil
					}
					continue
				}
				if seen[name] {
					continue
				}
				seen[name] = true
				switch path.Ext(name) {
				case ".xz", ".zst", ".lzma":
					return nil, fmt.Sprintf("index %s is compressed in a format the native reader does not read", name), nil
				}
				out = append(out, &aptIndex{
					File: aptListsDir + "/" + name, Site: src.site(),
					Origin: rel["Origin"], Label: rel["Label"], Suite: rel["Suite"], Codename: rel["Codename"],
					Version: rel["Version"], Component: c, Arch: a,
					NotAutomatic:         rel["NotAutomatic"] == "yes",
					ButAutomaticUpgrades: rel["ButAutomaticUpgrades"] == "yes",
				})
			}
		}
	}
	return out, "", nil
}

// ParseAptRelease reads a Release or InRelease file (the latter
// clear-signed: only the signed text is read, so an armour header such as
// "Version: GnuPG" cannot pass for the release's Version). apt checked
// the signature when it downloaded the file.
func ParseAptRelease(r io.Reader) (stanza, error) {
	b, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("read release file: %w", err)
	}
	if rest, ok := bytes.CutPrefix(b, []byte("-----BEGIN PGP SIGNED MESSAGE-----")); ok {
		// The armour headers end at the first empty line.
		if i := bytes.Index(rest, []byte("\n\n")); i >= 0 {
			rest = rest[i+2:]
		} else {
			return nil, errors.New("release file: clear-signed text without a body")
		}
		if i := bytes.Index(rest, []byte("\n-----BEGIN PGP SIGNATURE-----")); i >= 0 {
			rest = rest[:i+1]
		}
		b = rest
	}
	keep := map[string]bool{"Origin": true, "Label": true, "Suite": true, "Codename": true, "Version": true,
		"NotAutomatic": true, "ButAutomaticUpgrades": true, "Date": true, "Valid-Until": true}
	var out stanza
	err = scanControl(bytes.NewReader(b), keep, nil, func(s stanza) error {
		if out == nil {
			out = s
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read release file: %w", err)
	}
	if out == nil {
		out = stanza{}
	}
	return out, nil
}

// openIndex opens a downloaded index, decompressing it by its suffix.
func openIndex(h *host.Host, p string) (io.Reader, func() error, error) {
	f, err := h.FS.Open(host.Path(p))
	if err != nil {
		return nil, nil, err
	}
	switch path.Ext(p) {
	case ".lz4":
		return lz4.NewReader(f), f.Close, nil
	case ".gz":
		zr, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		return zr, f.Close, nil
	case ".bz2":
		return bzip2.NewReader(f), f.Close, nil
	}
	return f, f.Close, nil
}

// readAptIndexes adds the indexes' versions of installed packages to
// pkgs, reading the indexes concurrently.
func readAptIndexes(ctx context.Context, h *host.Host, indexes []*aptIndex, pkgs map[string]*aptPkg, native string) error {
	names := map[string]bool{}
	for _, p := range pkgs {
		names[p.Name] = true
	}
	keep := aptKeep("Phased-Update-Percentage")
	found := make([][]stanza, len(indexes))
	errs := make([]error, len(indexes))
	var wg sync.WaitGroup
	for i, ix := range indexes {
		wg.Go(func() {
			if ctx.Err() != nil {
				errs[i] = ctx.Err()
				return
			}
			r, closeFn, err := openIndex(h, ix.File)
			if err != nil {
				errs[i] = fmt.Errorf("open %s: %w", ix.File, err)
				return
			}
			defer closeFn()
			err = scanControl(r, keep, names, func(s stanza) error {
				found[i] = append(found[i], s)
				return ctx.Err()
			})
			if err != nil {
				errs[i] = fmt.Errorf("read %s: %w", ix.File, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, ix := range indexes {
		for _, s := range found[i] {
			arch := s["Architecture"]
			if arch == "all" || arch == "" {
				arch = native
			}
			p := pkgs[s["Package"]+":"+arch]
			if p == nil {
				continue // the same name installed for another architecture only
			}
			j := slices.IndexFunc(p.versions, func(v *aptVersion) bool { return v.Version == s["Version"] })
			if j < 0 {
				p.versions = append(p.versions, &aptVersion{Version: s["Version"], fields: s})
				j = len(p.versions) - 1
			}
			p.versions[j].indexes = append(p.versions[j].indexes, ix)
		}
	}
	return nil
}

// indexPriority is a package file's priority: the first general pin
// ("Package: *") that selects it, else apt's default for its Release.
func indexPriority(ix *aptIndex, pins []AptPin) int {
	for _, p := range pins {
		if p.Packages == nil && p.matchesIndex(ix) {
			return p.Priority
		}
	}
	switch {
	case ix.NotAutomatic && ix.ButAutomaticUpgrades:
		return 100
	case ix.NotAutomatic:
		return 1
	}
	return 500
}

// versionPriority is apt's GetPriority for a version: the first pin
// naming the package that selects the version, else the highest
// priority of the files offering it (the dpkg database counts 100).
func versionPriority(p *aptPkg, v *aptVersion, pins []AptPin) int {
	for _, pin := range pins {
		if pin.Packages != nil && pin.matchesName(p.Name) && pin.matchesVersion(v) {
			return pin.Priority
		}
	}
	best := 0
	if v.installed {
		best = 100
	}
	for _, ix := range v.indexes {
		best = max(best, indexPriority(ix, pins))
	}
	return best
}

// candidate is apt's policy choice: going down from the highest version,
// the first with the highest priority, stopping at the installed version
// (pins are below 1000 here, so nothing is downgraded).
func candidate(p *aptPkg, pins []AptPin) *aptVersion {
	vs := slices.Clone(p.versions)
	slices.SortStableFunc(vs, func(a, b *aptVersion) int { return debversion.Compare(b.Version, a.Version) })
	var best *aptVersion
	maxPrio := 0
	for _, v := range vs {
		prio := versionPriority(p, v, pins)
		if prio > maxPrio {
			best, maxPrio = v, prio
		}
		if v == p.installed {
			break
		}
	}
	return best
}

// aptSecurityIndex mirrors aptSecurityOrigin, the rule the apt-get
// simulation is read with: apt prints an origin as Label:Version/Suite,
// and a security archive is Debian's "Debian-Security" label or a suite
// ending in "-security" (Ubuntu's jammy-security).
func aptSecurityIndex(ix *aptIndex) bool {
	suite := ix.Suite
	if suite == "" {
		suite = ix.Codename
	}
	return ix.Label == "Debian-Security" || strings.HasSuffix(suite, "-security")
}

// computeAptPending picks candidates and checks that the upgrade needs no
// decision of apt's resolver.
func computeAptPending(pkgs map[string]*aptPkg, pins []AptPin, native string) aptNativeResult {
	var res aptNativeResult
	after := map[string]*aptVersion{} // name:arch → version after the upgrade
	keys := make([]string, 0, len(pkgs))
	for k := range pkgs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var upgraded []*aptPkg
	for _, k := range keys {
		p := pkgs[k]
		after[k] = p.installed
		c := candidate(p, pins)
		if c == nil || debversion.Compare(c.Version, p.installed.Version) <= 0 {
			continue
		}
		if p.held {
			continue // apt keeps held packages back
		}
		if ph, ok := c.fields["Phased-Update-Percentage"]; ok && ph != "100" {
			res.Fallback = fmt.Sprintf("%s %s is a phased update (%s%%), which apt applies per machine", p.Name, c.Version, ph)
			return res
		}
		after[k] = c
		upgraded = append(upgraded, p)
	}
	st := newAptState(pkgs, after, native)
	if reason := st.check(upgraded); reason != "" {
		res.Fallback = reason
		return res
	}
	for _, p := range upgraded {
		c := after[p.key()]
		u := wire.PendingUpdate{Name: p.Name, Version: c.Version, Installed: p.installed.Version}
		if p.Arch != native {
			u.Name = p.key()
		}
		u.Security = slices.ContainsFunc(c.indexes, aptSecurityIndex)
		if u.Security {
			res.Security++
		}
		res.Pending = append(res.Pending, u)
	}
	slices.SortFunc(res.Pending, func(a, b wire.PendingUpdate) int { return cmp.Compare(a.Name, b.Name) })
	return res
}

type aptProvider struct {
	key, version string // version provided, "" when unversioned
}

// aptState is the set of packages installed after the upgrade.
type aptState struct {
	pkgs     map[string]*aptPkg
	after    map[string]*aptVersion
	byName   map[string][]string // name → name:arch keys
	provides map[string][]aptProvider
	native   string
}

func newAptState(pkgs map[string]*aptPkg, after map[string]*aptVersion, native string) *aptState {
	st := &aptState{pkgs: pkgs, after: after, byName: map[string][]string{}, provides: map[string][]aptProvider{}, native: native}
	for k, v := range after {
		p := pkgs[k]
		st.byName[p.Name] = append(st.byName[p.Name], k)
		for _, g := range parseRelations(v.fields["Provides"]) {
			for _, r := range g {
				st.provides[r.Name] = append(st.provides[r.Name], aptProvider{key: k, version: r.Version})
			}
		}
	}
	return st
}

// archOK reports whether package key (with its Multi-Arch) may satisfy a
// relation of a package of architecture from, with qualifier q.
func (st *aptState) archOK(key, from, q string) bool {
	p := st.pkgs[key]
	ma := st.after[key].fields["Multi-Arch"]
	switch q {
	case "any":
		return p.Arch == from || ma == "allowed" || ma == "foreign"
	case "native":
		return p.Arch == st.native
	case "":
		return p.Arch == from || ma == "foreign"
	}
	return p.Arch == q
}

// satisfied reports whether one alternative holds after the upgrade.
func (st *aptState) satisfied(r aptRel, from string) bool {
	for _, k := range st.byName[r.Name] {
		if st.archOK(k, from, r.ArchQual) && versionSatisfies(st.after[k].Version, r.Op, r.Version) {
			return true
		}
	}
	for _, pr := range st.provides[r.Name] {
		if !st.archOK(pr.key, from, r.ArchQual) {
			continue
		}
		if r.Op == "" || (pr.version != "" && versionSatisfies(pr.version, r.Op, r.Version)) {
			return true
		}
	}
	return false
}

// hits reports which installed package a Breaks/Conflicts relation of
// package self hits after the upgrade, or "".
func (st *aptState) hits(r aptRel, self string) string {
	for _, k := range st.byName[r.Name] {
		if k != self && st.pkgs[k].Name != st.pkgs[self].Name && versionSatisfies(st.after[k].Version, r.Op, r.Version) {
			return k
		}
	}
	for _, pr := range st.provides[r.Name] {
		if pr.key == self || st.pkgs[pr.key].Name == st.pkgs[self].Name {
			continue
		}
		if r.Op == "" || (pr.version != "" && versionSatisfies(pr.version, r.Op, r.Version)) {
			return pr.key
		}
	}
	return ""
}

// check returns why apt's resolver would have to act, or "": every
// installed package's Depends and Pre-Depends hold after the upgrade, no
// Breaks or Conflicts hits, and no upgraded package recommends something
// new that is not installed (apt installs new recommendations).
func (st *aptState) check(upgraded []*aptPkg) string {
	keys := make([]string, 0, len(st.after))
	for k := range st.after {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := st.after[k]
		from := st.pkgs[k].Arch
		for _, f := range []string{"Pre-Depends", "Depends"} {
			for _, g := range parseRelations(v.fields[f]) {
				if !slices.ContainsFunc(g, func(r aptRel) bool { return st.satisfied(r, from) }) {
					return fmt.Sprintf("%s %s needs %s, which the upgrade leaves unmet (apt's resolver would install, remove or keep back packages)", k, v.Version, relText(g))
				}
			}
		}
		for _, f := range []string{"Breaks", "Conflicts"} {
			for _, g := range parseRelations(v.fields[f]) {
				for _, r := range g {
					if hit := st.hits(r, k); hit != "" {
						return fmt.Sprintf("%s %s %s %s %s (apt's resolver would remove or keep back packages)", k, v.Version, strings.ToLower(f), hit, st.after[hit].Version)
					}
				}
			}
		}
	}
	for _, p := range upgraded {
		old := map[string]bool{}
		for _, g := range parseRelations(p.installed.fields["Recommends"]) {
			for _, r := range g {
				old[r.Name] = true
			}
		}
		for _, g := range parseRelations(st.after[p.key()].fields["Recommends"]) {
			if slices.ContainsFunc(g, func(r aptRel) bool { return old[r.Name] || st.satisfied(r, p.Arch) }) {
				continue
			}
			return fmt.Sprintf("%s %s newly recommends %s, which apt would install", p.key(), st.after[p.key()].Version, relText(g))
		}
	}
	return ""
}

func relText(g []aptRel) string {
	var parts []string
	for _, r := range g {
		s := r.Name
		if r.ArchQual != "" {
			s += ":" + r.ArchQual
		}
		if r.Op != "" {
			s += " (" + r.Op + " " + r.Version + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " | ")
}
