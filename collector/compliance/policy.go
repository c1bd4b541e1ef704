// Package compliance is Roster's policy engine: it loads policies (built-in
// kinds and CEL expressions) from YAML, extracts the compact Facts a policy
// reads from a device's snapshot, and evaluates a Set of policies against one
// device's facts, asset record, software, exceptions and previous failures,
// giving one Result per policy, and decides what those results change in
// the device's stored ones (DiffResults). It is pure: no database, no
// network, no clock (the caller passes Now), so the registry can run it
// after every report and over the whole fleet when a policy or an exception
// changes, and tests can pin every boundary. Missing facts make a result unknown, never
// pass. docs/policies.md describes the file format and the default baseline.
package compliance

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
)

// Built-in policy kinds, and KindCEL for a CEL expression.
const (
	KindDiskEncryption            = "disk_encryption"
	KindMaxDaysSinceUpdate        = "max_days_since_update"
	KindMinOSVersion              = "min_os_version"
	KindMaxPendingSecurityUpdates = "max_pending_security_updates"
	KindRequiredSoftware          = "required_software"
	KindBannedSoftware            = "banned_software"
	KindMaxDaysSinceCheckin       = "max_days_since_checkin"
	KindCEL                       = "cel"
)

// Kinds lists every policy kind in documentation order.
func Kinds() []string {
	return []string{KindDiskEncryption, KindMaxDaysSinceUpdate, KindMinOSVersion, KindMaxPendingSecurityUpdates,
		KindRequiredSoftware, KindBannedSoftware, KindMaxDaysSinceCheckin, KindCEL}
}

// Severities, lowest first.
func Severities() []string { return []string{"low", "medium", "high", "critical"} }

// Classifications an asset may carry, as the register spells them.
func Classifications() []string { return []string{"confidential", "internal", "public"} }

// AssetTypes an asset (or a device's form factor) may have.
func AssetTypes() []string { return []string{"laptop", "desktop", "server", "vm", "other"} }

// DefaultValidityDays is how long a device's facts count as current when a
// policy does not say: a week, the usual check-in requirement.
const DefaultValidityDays = 7

// Policy is one compliance rule.
type Policy struct {
	// ID is upper-case words and digits joined by '-', e.g. CFG-ENC-01.
	ID          string `yaml:"id" json:"id"`
	Title       string `yaml:"title" json:"title"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Severity is low, medium, high or critical.
	Severity string `yaml:"severity" json:"severity"`
	Scope    Scope  `yaml:"scope,omitempty" json:"scope,omitzero"`
	// Kind is one of Kinds().
	Kind   string `yaml:"kind" json:"kind"`
	Params Params `yaml:"params,omitempty" json:"params,omitzero"`
	// Expr is the CEL expression of a "cel" policy; it must be a bool.
	Expr string `yaml:"expr,omitempty" json:"expr,omitempty"`
	// FailReason is the reason shown when a "cel" policy is false.
	FailReason string `yaml:"fail_reason,omitempty" json:"fail_reason,omitempty"`
	// Remedy is what the user or IT should do when the policy fails; empty
	// means the kind's built-in advice (Remedy in remedy.go).
	Remedy string `yaml:"remedy,omitempty" json:"remedy,omitempty"`
	// GraceDays is how long a policy may fail (in_grace) before it is fail.
	GraceDays int `yaml:"grace_days,omitempty" json:"grace_days,omitempty"`
	// ValidityDays is how recent the last check-in must be for the facts to
	// count; older gives stale. 0 means DefaultValidityDays.
	ValidityDays int `yaml:"validity_days,omitempty" json:"validity_days,omitempty"`
}

// Scope selects the devices a policy applies to. Each non-empty list must
// match (one of its values); empty lists match everything.
type Scope struct {
	// Platforms: linux, darwin, windows.
	Platforms []string `yaml:"platforms,omitempty" json:"platforms,omitempty"`
	// Classifications of the linked asset: confidential, internal, public.
	Classifications []string `yaml:"classifications,omitempty" json:"classifications,omitempty"`
	// AssetTypes: the linked asset's type, else the device's form factor.
	AssetTypes []string `yaml:"asset_types,omitempty" json:"asset_types,omitempty"`
	// Tags of the linked asset; any one matches.
	Tags []string `yaml:"tags,omitempty" json:"tags,omitempty"`
}

// Params holds every built-in kind's parameters; each kind accepts only its
// own (see docs/policies.md), so one flat struct stays easy to store and
// serve as JSON while a misplaced key is still an error.
type Params struct {
	// Scope (disk_encryption): "system" or "all_fixed".
	Scope string `yaml:"scope,omitempty" json:"scope,omitempty"`
	// Days (max_days_since_update, max_days_since_checkin): the limit.
	Days int `yaml:"days,omitempty" json:"days,omitempty"`
	// Count (max_pending_security_updates): the most allowed.
	Count *int `yaml:"count,omitempty" json:"count,omitempty"`
	// Versions (min_os_version): OS id (or platform, or "windows-server")
	// to minimum version; "*" accepts any version.
	Versions map[string]string `yaml:"versions,omitempty" json:"versions,omitempty"`
	// Unlisted (min_os_version): result for an OS not in Versions, "fail"
	// (the default: an allow-list) or "not_applicable".
	Unlisted string `yaml:"unlisted,omitempty" json:"unlisted,omitempty"`
	// Name (required_software, banned_software): a MatchPattern pattern.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// MinVersion (required_software): the oldest acceptable version.
	MinVersion string `yaml:"min_version,omitempty" json:"min_version,omitempty"`
	// Version (banned_software): only versions matching this constraint
	// ("< 15.0", ">= 2.0", "= 1.2.3") are banned; empty bans every version.
	Version string `yaml:"version,omitempty" json:"version,omitempty"`
}

// set lists the keys of the parameters that are set, as spelt in YAML.
func (p Params) set() []string {
	var keys []string
	add := func(ok bool, key string) {
		if ok {
			keys = append(keys, key)
		}
	}
	add(p.Scope != "", "scope")
	add(p.Days != 0, "days")
	add(p.Count != nil, "count")
	add(p.Versions != nil, "versions")
	add(p.Unlisted != "", "unlisted")
	add(p.Name != "", "name")
	add(p.MinVersion != "", "min_version")
	add(p.Version != "", "version")
	return keys
}

// kindParams says which parameters each kind takes and which it requires.
func kindParams(kind string) (allowed, required []string) {
	switch kind {
	case KindDiskEncryption:
		return []string{"scope"}, []string{"scope"}
	case KindMaxDaysSinceUpdate, KindMaxDaysSinceCheckin:
		return []string{"days"}, []string{"days"}
	case KindMinOSVersion:
		return []string{"versions", "unlisted"}, []string{"versions"}
	case KindMaxPendingSecurityUpdates:
		return []string{"count"}, []string{"count"}
	case KindRequiredSoftware:
		return []string{"name", "min_version"}, []string{"name"}
	case KindBannedSoftware:
		return []string{"name", "version"}, []string{"name"}
	}
	return nil, nil
}

// Set is a validated, compiled collection of policies, safe for concurrent
// Evaluate calls.
type Set struct {
	policies []*compiled
	byID     map[string]*compiled
	limits   Limits
}

// compiled is a policy with what evaluation precomputes.
type compiled struct {
	Policy
	banned   *Constraint
	program  *celProgram // kind cel only
	patterns []string    // software patterns the policy looks up
}

// FieldError is a problem with one field of one policy.
type FieldError struct {
	PolicyID string
	// Field is the key path, e.g. "expr" or "params.days".
	Field string
	Err   error
	// index is the policy's position in the input, for Parse's line numbers.
	index int
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("policy %s: %v", e.PolicyID, e.Err)
	}
	return fmt.Sprintf("policy %s: %s: %v", e.PolicyID, e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// NewSet validates and compiles policies (defaults filled in) under the
// default cost limits, rejecting duplicate ids; a validation error is a
// *FieldError. A collector compiles under its configured limits with
// ParseWithLimits.
func NewSet(policies []Policy) (*Set, error) { return newSet(policies, Limits{}) }

func newSet(policies []Policy, lim Limits) (*Set, error) {
	lim = lim.withDefaults()
	env, err := newCELEnv()
	if err != nil {
		return nil, fmt.Errorf("build cel environment: %w", err)
	}
	s := &Set{byID: make(map[string]*compiled, len(policies)), limits: lim}
	for i, p := range policies {
		c, err := compile(env, p, lim)
		var fe *FieldError
		if errors.As(err, &fe) {
			fe.index = i
		}
		if err != nil {
			return nil, err
		}
		if _, dup := s.byID[p.ID]; dup {
			return nil, &FieldError{PolicyID: p.ID, Field: "id", Err: errors.New("duplicate policy id"), index: i}
		}
		s.byID[p.ID] = c
		s.policies = append(s.policies, c)
	}
	return s, nil
}

// Limits returns the cost limits the set was compiled under, so that a set
// replacing it (through the API, or stored and loaded again) is compiled
// under the same ones.
func (s *Set) Limits() Limits { return s.limits }

// idPattern is the policy id syntax: CFG-ENC-01, SEC-EDR-2, ISO-A8-1.
func idPattern() *regexp.Regexp { return regexp.MustCompile(`^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$`) }

func compile(env *cel.Env, p Policy, lim Limits) (*compiled, error) {
	fail := func(field, format string, args ...any) error {
		return &FieldError{PolicyID: p.ID, Field: field, Err: fmt.Errorf(format, args...)}
	}
	switch {
	case p.ID == "":
		return nil, fail("id", "is required")
	case len(p.ID) > 64 || !idPattern().MatchString(p.ID):
		return nil, fail("id", "%q must be upper-case words and digits joined by '-', e.g. CFG-ENC-01", p.ID)
	case strings.TrimSpace(p.Title) == "":
		return nil, fail("title", "is required")
	case !slices.Contains(Severities(), p.Severity):
		return nil, fail("severity", "%q must be one of %s", p.Severity, strings.Join(Severities(), ", "))
	case p.GraceDays < 0:
		return nil, fail("grace_days", "must not be negative")
	case p.ValidityDays < 0:
		return nil, fail("validity_days", "must not be negative")
	}
	if field, err := p.checkText(); err != nil {
		return nil, fail(field, "%s", err.Detail())
	}
	for _, c := range []struct {
		field  string
		values []string
		valid  []string
	}{
		{"scope.platforms", p.Scope.Platforms, []string{"linux", "darwin", "windows"}},
		{"scope.classifications", p.Scope.Classifications, Classifications()},
		{"scope.asset_types", p.Scope.AssetTypes, AssetTypes()},
	} {
		for _, v := range c.values {
			if !slices.Contains(c.valid, v) {
				return nil, fail(c.field, "%q must be one of %s", v, strings.Join(c.valid, ", "))
			}
		}
	}
	if p.ValidityDays == 0 {
		p.ValidityDays = DefaultValidityDays
	}
	c := &compiled{Policy: p}
	if p.Kind == KindCEL {
		if len(p.Params.set()) > 0 {
			return nil, fail("params", "kind cel takes no params (use expr)")
		}
		if strings.TrimSpace(p.Expr) == "" {
			return nil, fail("expr", "is required for kind cel")
		}
		prg, patterns, err := compileCEL(env, p.Expr, lim)
		if err != nil {
			return nil, fail("expr", "%w", err)
		}
		c.program, c.patterns = prg, patterns
		return c, nil
	}
	if !slices.Contains(Kinds(), p.Kind) {
		return nil, fail("kind", "%q must be one of %s", p.Kind, strings.Join(Kinds(), ", "))
	}
	if p.Expr != "" || p.FailReason != "" {
		return nil, fail("expr", "only kind cel takes expr and fail_reason")
	}
	allowed, required := kindParams(p.Kind)
	set := p.Params.set()
	for _, k := range set {
		if !slices.Contains(allowed, k) {
			return nil, fail("params."+k, "does not apply to kind %s (it takes %s)", p.Kind, strings.Join(allowed, ", "))
		}
	}
	for _, k := range required {
		if !slices.Contains(set, k) {
			return nil, fail("params."+k, "is required for kind %s", p.Kind)
		}
	}
	return c, c.validateParams()
}

func (c *compiled) validateParams() error {
	p := c.Params
	fail := func(field, format string, args ...any) error {
		return &FieldError{PolicyID: c.ID, Field: "params." + field, Err: fmt.Errorf(format, args...)}
	}
	switch c.Kind {
	case KindDiskEncryption:
		if p.Scope != "system" && p.Scope != "all_fixed" {
			return fail("scope", "%q must be system or all_fixed", p.Scope)
		}
	case KindMaxDaysSinceUpdate, KindMaxDaysSinceCheckin:
		if p.Days < 1 {
			return fail("days", "must be at least 1")
		}
	case KindMaxPendingSecurityUpdates:
		if *p.Count < 0 {
			return fail("count", "must not be negative")
		}
	case KindMinOSVersion:
		if len(p.Versions) == 0 {
			return fail("versions", "is empty")
		}
		for id, v := range p.Versions {
			if id == "" || strings.TrimSpace(v) == "" {
				return fail("versions", "entry %q: %q needs an OS id and a version (or \"*\")", id, v)
			}
		}
		if p.Unlisted != "" && p.Unlisted != StatusFail && p.Unlisted != StatusNotApplicable {
			return fail("unlisted", "%q must be fail or not_applicable", p.Unlisted)
		}
	case KindRequiredSoftware, KindBannedSoftware:
		if err := validPattern(p.Name); err != nil {
			return fail("name", "%w", err)
		}
		c.patterns = []string{p.Name}
		if p.Version != "" {
			k, err := ParseConstraint(p.Version)
			if err != nil {
				return fail("version", "%w", err)
			}
			c.banned = &k
		}
	}
	return nil
}

// Policies returns the policies in file order, defaults filled in.
func (s *Set) Policies() []Policy {
	out := make([]Policy, len(s.policies))
	for i, c := range s.policies {
		out[i] = c.Policy
	}
	return out
}

// Policy returns the policy with the given id.
func (s *Set) Policy(id string) (Policy, bool) {
	c, ok := s.byID[id]
	if !ok {
		return Policy{}, false
	}
	return c.Policy, true
}

// SoftwarePatterns returns, per policy id, the software name patterns the
// policy looks up: the name of a required/banned_software policy and the
// constant arguments of has_software / software_version in a CEL policy.
// A fleet-wide SoftwareView can query each pattern once and answer every
// device from that. A CEL policy that computes a pattern at run time still
// calls Match with it, so an index must fall back to a per-device lookup.
func (s *Set) SoftwarePatterns() map[string][]string {
	out := map[string][]string{}
	for _, c := range s.policies {
		if len(c.patterns) > 0 {
			out[c.ID] = slices.Clone(c.patterns)
		}
	}
	return out
}

// defaultPolicies is a string, not a []byte, so the embedded file cannot be
// changed at run time.
//
//go:embed default.yaml
var defaultPolicies string

// DefaultFile returns the embedded default policy file (the SOC 2 / ISO
// 27001 baseline documented in docs/policies.md), e.g. for "rosterctl
// policies init" to write out as a starting point.
func DefaultFile() []byte { return []byte(defaultPolicies) }

// Default returns the default policy set. The embedded file is checked by the
// package's tests, so failing to load it is a build defect and panics.
func Default() *Set {
	s, err := Parse([]byte(defaultPolicies), "default.yaml")
	if err != nil {
		panic("compliance: embedded default policies: " + err.Error())
	}
	return s
}

// LoadFile reads and parses a policy file.
func LoadFile(path string) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policies: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes a YAML policy file strictly (unknown keys, duplicate keys
// and type mismatches are errors), then validates and compiles it under the
// default cost limits. Errors name the file, the line and the policy id, e.g.
//
//	policies.yaml:14: policy CFG-X-01: expr: 1:4: undeclared reference to 'os.verison'
func Parse(data []byte, filename string) (*Set, error) {
	return ParseWithLimits(data, filename, Limits{})
}

// ParseWithLimits is Parse under the given cost limits (zero fields mean
// the defaults). An expression whose estimated cost is above
// lim.MaxEstimatedCost is refused like a compile error:
//
//	policies.yaml:14: policy CFG-X-01: expr: estimated cost 1593666 is above the limit 100000 (compliance.cel_max_estimated_cost): ...
func ParseWithLimits(data []byte, filename string, lim Limits) (*Set, error) {
	policies, lines, err := decodeFile(data, filename)
	if err != nil {
		return nil, err
	}
	s, err := newSet(policies, lim)
	var fe *FieldError
	if errors.As(err, &fe) {
		if l := lines.find(fe.index, fe.Field); l > 0 {
			return nil, fmt.Errorf("%s:%d: %w", filename, l, err)
		}
		return nil, fmt.Errorf("%s: %w", filename, err)
	}
	return s, err
}

// days turns a day count into a duration.
func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }
