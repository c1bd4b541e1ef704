package osinfo

import (
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
)

// AptPin is one paragraph of apt_preferences(5) in the forms this package
// evaluates: Package names (exact or glob, or "*" for every package),
// a Pin of "version V", "release k=v, ..." or "origin HOST", and a
// Pin-Priority between 1 and 999 (no downgrades, no never-install pins;
// those change apt's answer in ways left to apt itself).
type AptPin struct {
	Packages []string // nil means "*": a pin on package files
	Kind     string   // "version", "release" or "origin"
	Version  string   // a glob, for Kind "version"
	Release  map[string]string
	Origin   string
	Priority int
}

// ParseAptPreferences reads a preferences file. Anything outside the forms
// AptPin describes is an error naming it, so the caller can let apt answer.
func ParseAptPreferences(r io.Reader) ([]AptPin, error) {
	var out []AptPin
	var perr error
	err := scanControl(stripComments(r), nil, nil, func(s stanza) error {
		if perr != nil {
			return nil
		}
		p, err := parsePin(s)
		if err != nil {
			perr = err
			return nil
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("read apt preferences: %w", err)
	}
	return out, perr
}

func parsePin(s stanza) (AptPin, error) {
	var p AptPin
	pkgs, pin, prio := s["Package"], s["Pin"], s["Pin-Priority"]
	if pkgs == "" || pin == "" || prio == "" {
		return p, fmt.Errorf("preferences paragraph without Package, Pin and Pin-Priority (%q)", pkgs)
	}
	n, err := strconv.Atoi(prio)
	if err != nil || n <= 0 || n >= 1000 {
		return p, fmt.Errorf("pin priority %q of %q is not evaluated natively (only 1-999)", prio, pkgs)
	}
	p.Priority = n
	for _, name := range strings.Fields(pkgs) {
		if strings.HasPrefix(name, "/") || strings.HasPrefix(name, "src:") || strings.Contains(name, ":") {
			return p, fmt.Errorf("preferences package pattern %q is not evaluated natively", name)
		}
		if _, err := path.Match(name, ""); err != nil {
			return p, fmt.Errorf("preferences package pattern %q: %w", name, err)
		}
		if name == "*" {
			p.Packages = nil
			break
		}
		p.Packages = append(p.Packages, name)
	}
	kind, val, _ := strings.Cut(strings.TrimSpace(pin), " ")
	val = strings.TrimSpace(val)
	if strings.HasPrefix(val, "/") {
		return p, fmt.Errorf("pin %q: regular expressions are not evaluated natively", pin)
	}
	switch kind {
	case "version":
		if p.Packages == nil {
			return p, fmt.Errorf("pin %q on every package is not evaluated natively", pin)
		}
		p.Kind, p.Version = kind, val
	case "origin":
		p.Kind, p.Origin = kind, strings.Trim(val, `"`)
	case "release":
		p.Kind, p.Release = kind, map[string]string{}
		for _, kv := range strings.Split(val, ",") {
			kv = strings.TrimSpace(kv)
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				k, v = "v", kv
			}
			if !strings.Contains("anolcvb", k) || len(k) != 1 {
				return p, fmt.Errorf("pin %q: release key %q is not evaluated natively", pin, k)
			}
			v = strings.Trim(v, `"`)
			if strings.HasPrefix(v, "/") {
				return p, fmt.Errorf("pin %q: regular expressions are not evaluated natively", pin)
			}
			p.Release[k] = v
		}
	default:
		return p, fmt.Errorf("pin %q is not evaluated natively", pin)
	}
	return p, nil
}

// matchesName reports whether the pin is about the named package.
func (p AptPin) matchesName(name string) bool {
	for _, g := range p.Packages {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// matchesIndex reports whether a release or origin pin selects an index.
func (p AptPin) matchesIndex(ix *aptIndex) bool {
	switch p.Kind {
	case "origin":
		return globMatch(p.Origin, ix.Site)
	case "release":
		fields := map[string]string{"a": ix.Suite, "n": ix.Codename, "o": ix.Origin, "l": ix.Label,
			"c": ix.Component, "v": ix.Version, "b": ix.Arch}
		for k, want := range p.Release {
			if !globMatch(want, fields[k]) {
				return false
			}
		}
		return true
	}
	return false
}

// matchesVersion reports whether a package pin selects a version, which
// for release and origin pins means one of the indexes offering it.
func (p AptPin) matchesVersion(v *aptVersion) bool {
	if p.Kind == "version" {
		return globMatch(p.Version, v.Version)
	}
	for _, ix := range v.indexes {
		if p.matchesIndex(ix) {
			return true
		}
	}
	return false
}

func globMatch(pattern, s string) bool {
	if pattern == s {
		return true
	}
	ok, err := path.Match(pattern, s)
	return err == nil && ok
}
