package msi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Preset is a configured package's defaults for the ROSTER_* properties,
// stored in its Property table, for deployments that cannot pass
// properties (Group Policy software installation) — as
// `fleetctl package --fleet-url --enroll-secret` does. A property given to
// msiexec still wins over its preset.
type Preset map[string]string

// Validate accepts only the pre-seeded properties and values the Property
// table can hold as they are: the table is written as an IDT archive,
// where a tab or line break would end the field, and its code page is not
// Unicode, so the values are printable ASCII (which a collector's
// generated secret is; anything else goes in ROSTER_SECRET_FILE).
func (p Preset) Validate() error {
	var errs []string
	for _, k := range p.keys() {
		v := p[k]
		if !slices.ContainsFunc(Seeds, func(s Seed) bool { return s.Property == k }) {
			errs = append(errs, fmt.Sprintf("%s: not a ROSTER_* property of the package", k))
			continue
		}
		if v == "" {
			errs = append(errs, fmt.Sprintf("%s: empty value", k))
		}
		if i := strings.IndexFunc(v, func(r rune) bool { return r < 0x20 || r > 0x7e }); i >= 0 {
			errs = append(errs, fmt.Sprintf("%s: character %q at %d is not printable ASCII", k, v[i], i))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("preset: %s", strings.Join(errs, "; "))
	}
	return nil
}

func (p Preset) keys() []string {
	var keys []string
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// digest names the preset in the product and package codes, so a
// configured package is another product than the plain one (installing
// one over the other is then an upgrade, not error 1638).
func (p Preset) digest() string {
	if len(p) == 0 {
		return ""
	}
	h := sha256.New()
	for _, k := range p.keys() {
		fmt.Fprintf(h, "%s\x00%s\x00", k, p[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// apply adds the preset to the Property table of db: the table is exported
// as IDT, extended and imported again, since the MSI SQL dialect has no
// escape for a quote inside a literal and wixl would expand $(...) and
// re-serialise the XML.
func (p Preset) apply(ctx context.Context, r Runner, db, workDir string) error {
	if len(p) == 0 {
		return nil
	}
	idt, err := r.Run(ctx, "msiinfo", "export", db, "Property")
	if err != nil {
		return fmt.Errorf("preset: export Property table: %w", err)
	}
	idt = bytes.TrimRight(idt, "\r\n")
	for _, k := range p.keys() {
		idt = append(idt, "\r\n"+k+"\t"+p[k]...)
	}
	idt = append(idt, "\r\n"...)
	path := filepath.Join(workDir, "Property.idt")
	if err := os.WriteFile(path, idt, 0o600); err != nil {
		return fmt.Errorf("preset: %w", err)
	}
	defer os.Remove(path)
	if _, err := r.Run(ctx, "msibuild", db, "-i", path); err != nil {
		return fmt.Errorf("preset: import Property table: %w", err)
	}
	return nil
}
