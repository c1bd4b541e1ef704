package osinfo

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
)

// AptSource is one enabled binary ("deb") source of apt: a repository URI,
// a suite (or a flat repository's path, ending in "/") and its components.
// Archs, when set, limits the source to those architectures.
type AptSource struct {
	URI        string
	Suite      string
	Components []string
	Archs      []string
}

// ParseSourcesList reads apt's one-line format (sources.list(5)):
//
//	deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] https://host/path suite main contrib
//
// "deb-src" lines are not binary sources and are skipped. An option that
// changes which indexes apt uses in a way this reader does not follow
// (arch+=, arch-=, lang, target) is an error, so the caller can let apt
// answer instead.
func ParseSourcesList(r io.Reader) ([]AptSource, error) {
	var out []AptSource
	sc := newLineScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		var archs []string
		if len(f) > 0 && strings.HasPrefix(f[0], "[") {
			var opts []string
			for len(f) > 0 {
				w := f[0]
				f = f[1:]
				end := strings.HasSuffix(w, "]")
				w = strings.TrimSuffix(strings.TrimPrefix(w, "["), "]")
				if w != "" {
					opts = append(opts, w)
				}
				if end {
					break
				}
			}
			for _, o := range opts {
				k, v, _ := strings.Cut(o, "=")
				switch k {
				case "arch":
					archs = strings.Split(v, ",")
				case "signed-by", "trusted", "check-valid-until", "valid-until-min", "valid-until-max",
					"check-date", "date-max-future", "inrelease-path", "allow-insecure", "allow-weak", "allow-downgrade-to-insecure", "pdiffs", "by-hash":
				default:
					return out, fmt.Errorf("sources.list line %d: option %q is not evaluated natively", n, o)
				}
			}
		}
		if len(f) < 2 {
			continue
		}
		out = append(out, AptSource{URI: f[0], Suite: f[1], Components: f[2:], Archs: archs})
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read sources.list: %w", err)
	}
	return out, nil
}

// ParseDeb822Sources reads apt's deb822 format (*.sources): paragraphs
// with Types, URIs, Suites, Components and optional Architectures and
// Enabled; every URI × suite pair of a "deb" paragraph is one source.
func ParseDeb822Sources(r io.Reader) ([]AptSource, error) {
	var out []AptSource
	var perr error
	err := scanControl(stripComments(r), nil, nil, func(s stanza) error {
		if strings.EqualFold(s["Enabled"], "no") || !slices.Contains(strings.Fields(s["Types"]), "deb") {
			return nil
		}
		for _, k := range []string{"Architectures-Add", "Architectures-Remove", "Languages", "Targets"} {
			if _, ok := s[k]; ok && perr == nil {
				perr = fmt.Errorf("deb822 sources: field %s is not evaluated natively", k)
			}
		}
		var archs []string
		if a := strings.Fields(s["Architectures"]); len(a) > 0 {
			archs = a
		}
		for _, u := range strings.Fields(s["URIs"]) {
			for _, suite := range strings.Fields(s["Suites"]) {
				out = append(out, AptSource{URI: u, Suite: suite, Components: strings.Fields(s["Components"]), Archs: archs})
			}
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("read deb822 sources: %w", err)
	}
	return out, perr
}

// stripComments drops deb822 comment lines ("#" first), which would
// otherwise read as fields or end a paragraph's continuation.
func stripComments(r io.Reader) io.Reader {
	b, err := io.ReadAll(io.LimitReader(r, 4<<20))
	if err != nil {
		return bytes.NewReader(nil)
	}
	var out bytes.Buffer
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if t := bytes.TrimLeft(line, " \t"); len(t) > 0 && t[0] == '#' {
			continue
		}
		out.Write(line)
	}
	return &out
}

// aptListName is the file name apt gives a downloaded index: the URI
// without its scheme and credentials, with unsafe characters
// percent-escaped (apt's URItoFileName: "\|{}[]<>"^~_=!@#$%^&*", controls,
// space and bytes >= 0x7f) and "/" turned into "_".
func aptListName(uri string) string {
	if i := strings.Index(uri, ":"); i >= 0 && !strings.ContainsAny(uri[:i], "/") {
		uri = uri[i+1:]
	}
	uri = strings.TrimPrefix(uri, "//")
	if slash := strings.IndexByte(uri, '/'); slash >= 0 {
		if at := strings.LastIndexByte(uri[:slash], '@'); at >= 0 {
			uri = uri[at+1:]
		}
	} else if at := strings.LastIndexByte(uri, '@'); at >= 0 {
		uri = uri[at+1:]
	}
	var b strings.Builder
	for i := 0; i < len(uri); i++ {
		c := uri[i]
		switch {
		case c == '/':
			b.WriteByte('_')
		case c <= 0x20 || c >= 0x7f || strings.IndexByte(`\|{}[]<>"^~_=!@#$%&*`, c) >= 0:
			fmt.Fprintf(&b, "%%%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// indexBase is the list-file name, without a compression suffix, of the
// Packages index of one source, component and architecture, and of the
// source's Release file (release is "InRelease" or "Release").
func (s AptSource) indexBase(component, arch string) string {
	base := strings.TrimSuffix(s.URI, "/") + "/"
	suite := strings.ReplaceAll(s.Suite, "$(ARCH)", arch)
	if strings.HasSuffix(suite, "/") {
		return aptListName(base + flatSuite(suite) + "Packages")
	}
	return aptListName(base + "dists/" + suite + "/" + component + "/binary-" + arch + "/Packages")
}

func (s AptSource) releaseBase(release, arch string) string {
	base := strings.TrimSuffix(s.URI, "/") + "/"
	suite := strings.ReplaceAll(s.Suite, "$(ARCH)", arch)
	if strings.HasSuffix(suite, "/") {
		return aptListName(base + flatSuite(suite) + release)
	}
	return aptListName(base + "dists/" + suite + "/" + release)
}

// flatSuite is a flat repository's path as apt appends it: "./" and "/"
// name the URI itself.
func flatSuite(suite string) string {
	if suite == "./" || suite == "/" {
		return ""
	}
	return suite
}

// site is the host part of a source URI, what "Pin: origin" matches.
func (s AptSource) site() string {
	u := s.URI
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	} else {
		return ""
	}
	if i := strings.IndexByte(u, '/'); i >= 0 {
		u = u[:i]
	}
	if i := strings.LastIndexByte(u, '@'); i >= 0 {
		u = u[i+1:]
	}
	return u
}
