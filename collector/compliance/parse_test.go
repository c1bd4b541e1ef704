package compliance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseErrors(t *testing.T) {
	t.Parallel()
	const head = "policies:\n  - id: CFG-X-01\n    title: t\n    severity: low\n" // policy at line 2
	tests := []struct {
		name, yaml, want string
	}{
		{"CEL undeclared fact", head + "    kind: cel\n    expr: os.verison == \"12\"\n",
			"policies.yaml:6: policy CFG-X-01: expr: 1:3: undeclared reference to 'os.verison' (did you mean 'os.version'?)"},
		{"CEL syntax on line 2 of the expr", head + "    kind: cel\n    expr: |\n      os.id == \"debian\" &&\n        os.version >\n",
			"policies.yaml:6: policy CFG-X-01: expr: 3:1: Syntax error: mismatched input '<EOF>'"},
		{"CEL type error", head + "    kind: cel\n    expr: os.pending_updates == \"3\"\n",
			"policies.yaml:6: policy CFG-X-01: expr: 1:20: found no matching overload for '_==_' applied to '(int, string)'"},
		{"CEL not bool", head + "    kind: cel\n    expr: os.pending_updates + 1\n",
			"policies.yaml:6: policy CFG-X-01: expr: must be a bool expression, not int"},
		{"CEL unknown function", head + "    kind: cel\n    expr: has_sofware(\"x\")\n",
			"policies.yaml:6: policy CFG-X-01: expr: 1:12: undeclared reference to 'has_sofware'"},
		{"CEL without expr", head + "    kind: cel\n", "policies.yaml:2: policy CFG-X-01: expr: is required for kind cel"},
		{"unknown policy key", head + "    kind: cel\n    expresion: x\n", `policies.yaml:6: policy CFG-X-01: unknown key "expresion"`},
		{"unknown params key", head + "    kind: max_days_since_update\n    params:\n      dayz: 3\n", `policies.yaml:7: policy CFG-X-01: unknown key "params.dayz"`},
		{"unknown scope key", head + "    kind: max_days_since_update\n    scope:\n      platform: [linux]\n", `policies.yaml:7: policy CFG-X-01: unknown key "scope.platform"`},
		{"unknown top key", "policy: []\n", `policies.yaml:1: unknown key "policy"`},
		{"param of another kind", head + "    kind: max_days_since_update\n    params:\n      days: 3\n      count: 2\n",
			"policies.yaml:8: policy CFG-X-01: params.count: does not apply to kind max_days_since_update (it takes days)"},
		{"missing param", head + "    kind: max_pending_security_updates\n", "policies.yaml:2: policy CFG-X-01: params.count: is required for kind max_pending_security_updates"},
		{"bad encryption scope", head + "    kind: disk_encryption\n    params: {scope: root}\n", `policies.yaml:6: policy CFG-X-01: params.scope: "root" must be system or all_fixed`},
		{"bad constraint", head + "    kind: banned_software\n    params: {name: x, version: \"<\"}\n", `policies.yaml:6: policy CFG-X-01: params.version: version constraint "<" has no version`},
		{"match-all pattern", head + "    kind: banned_software\n    params: {name: \"*\"}\n", `policies.yaml:6: policy CFG-X-01: params.name: name pattern "*" matches every package`},
		{"type mismatch", head + "    kind: max_days_since_update\n    params:\n      days: thirty\n",
			"policies.yaml:2: policy CFG-X-01: line 7: cannot unmarshal !!str `thirty` into int"},
		{"bad kind", head + "    kind: encryption\n", `policies.yaml:5: policy CFG-X-01: kind: "encryption" must be one of disk_encryption, max_days_since_update, min_os_version, max_pending_security_updates, required_software, banned_software, max_days_since_checkin, cel`},
		{"bad severity", "policies:\n  - id: CFG-X-01\n    title: t\n    severity: urgent\n    kind: cel\n    expr: 'true'\n",
			`policies.yaml:4: policy CFG-X-01: severity: "urgent" must be one of low, medium, high, critical`},
		{"bad id", "policies:\n  - id: cfg_x\n    title: t\n    severity: low\n    kind: cel\n    expr: 'true'\n",
			`policies.yaml:2: policy cfg_x: id: "cfg_x" must be upper-case words and digits joined by '-', e.g. CFG-ENC-01`},
		{"bad classification", head + "    scope: {classifications: [secret]}\n    kind: cel\n    expr: 'true'\n",
			`policies.yaml:5: policy CFG-X-01: scope.classifications: "secret" must be one of confidential, internal, public`},
		{"duplicate id", head + "    kind: cel\n    expr: 'true'\n  - id: CFG-X-01\n    title: t\n    severity: low\n    kind: cel\n    expr: 'false'\n",
			"policies.yaml:7: policy CFG-X-01: id: duplicate policy id"},
		{"duplicate key", head + "    kind: cel\n    kind: cel\n", `policies.yaml:2: policy CFG-X-01: line 6: mapping key "kind" already defined at line 5`},
		{"two documents", head + "    kind: cel\n    expr: 'true'\n---\npolicies: []\n", "policies.yaml: only one YAML document is allowed"},
		{"not a list", "policies: {id: x}\n", "policies.yaml:1: policies must be a list"},
		{"escape in title", "policies:\n  - id: CFG-X-01\n    title: \"Disk \\e[2J\"\n    severity: low\n    kind: cel\n    expr: 'true'\n",
			"policies.yaml:3: policy CFG-X-01: title: control character U+001B at position 6 is not allowed"},
		{"bidi override in fail_reason", head + "    kind: cel\n    expr: 'true'\n    fail_reason: \"ok \\u202E\"\n",
			"policies.yaml:7: policy CFG-X-01: fail_reason: bidirectional control U+202E at position 4 is not allowed"},
		{"NUL in a multi-line description", head + "    description: \"line one\\nline\\0 two\"\n    kind: cel\n    expr: 'true'\n",
			"policies.yaml:5: policy CFG-X-01: description: control character U+0000 at position 14 is not allowed"},
		{"line break in a scope tag", head + "    scope: {tags: [a, \"b\\nc\"]}\n    kind: cel\n    expr: 'true'\n",
			"policies.yaml:5: policy CFG-X-01: scope.tags[1]: line break U+000A at position 2 is not allowed"},
		{"negative grace", head + "    kind: cel\n    expr: 'true'\n    grace_days: -1\n", "policies.yaml:7: policy CFG-X-01: grace_days: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.yaml), "policies.yaml")
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %v, want %s", err, tt.want)
			}
		})
	}
}

func TestParseRoundTrip(t *testing.T) {
	t.Parallel()
	set := mustSet(t, `# a comment
policies:
  - id: SEC-EDR-01
    title: EDR agent installed
    description: CrowdStrike Falcon on every workstation.
    severity: critical
    scope:
      platforms: [darwin, windows]
      classifications: [confidential, internal]
      asset_types: [laptop, desktop]
      tags: [corp]
    kind: required_software
    params:
      name: "CrowdStrike*"
      min_version: "7.10"
    grace_days: 2
    validity_days: 14
  - id: SEC-OS-02
    title: No reboot pending
    severity: low
    kind: cel
    expr: os.reboot_required == "no"
`)
	want := []Policy{
		{ID: "SEC-EDR-01", Title: "EDR agent installed", Description: "CrowdStrike Falcon on every workstation.", Severity: "critical",
			Scope: Scope{Platforms: []string{"darwin", "windows"}, Classifications: []string{"confidential", "internal"},
				AssetTypes: []string{"laptop", "desktop"}, Tags: []string{"corp"}},
			Kind: KindRequiredSoftware, Params: Params{Name: "CrowdStrike*", MinVersion: "7.10"}, GraceDays: 2, ValidityDays: 14},
		{ID: "SEC-OS-02", Title: "No reboot pending", Severity: "low", Kind: KindCEL, Expr: `os.reboot_required == "no"`, ValidityDays: DefaultValidityDays},
	}
	if diff := cmp.Diff(want, set.Policies()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if p, ok := set.Policy("SEC-OS-02"); !ok || p.Kind != KindCEL {
		t.Errorf("Policy(SEC-OS-02): got %+v %v", p, ok)
	}
	if _, ok := set.Policy("NOPE-1"); ok {
		t.Error("Policy(NOPE-1) found")
	}
	// NewSet accepts the same policies (the API's JSON path).
	if _, err := NewSet(set.Policies()); err != nil {
		t.Errorf("NewSet(Policies()): %v", err)
	}
}

func TestParseEmpty(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "# nothing\n", "policies:\n", "policies: []\n"} {
		s, err := Parse([]byte(in), "p.yaml")
		if err != nil || len(s.Policies()) != 0 {
			t.Errorf("Parse(%q): got %v, %v; want an empty set", in, s, err)
		}
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "policies.yaml")
	if err := os.WriteFile(path, DefaultFile(), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Default().Policies(), s.Policies()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.HasPrefix(err.Error(), "read policies: ") {
		t.Errorf("missing file: got %v", err)
	}
}

// FuzzParse feeds the policy loader arbitrary bytes (policy files come from
// admins and the API): it must return a set or an error, never panic, and a
// set it accepts must evaluate, and nothing may pass for a device that never
// checked in and has no facts.
func FuzzParse(f *testing.F) {
	f.Add(DefaultFile())
	f.Add([]byte("policies:\n  - id: CFG-X-01\n    title: t\n    severity: low\n    kind: cel\n    expr: 'has_software(\"a*\") && os.id == \"debian\"'\n"))
	f.Add([]byte("policies:\n  - {id: A-1, title: t, severity: low, kind: banned_software, params: {name: \"x?\", version: \">= 1:2.0-1\"}}\n"))
	f.Add([]byte("policies: &a [*a]\n"))
	f.Add([]byte("policies:\n  - id: A-1\n    <<: {title: t}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		in := Input{Facts: Facts{Device: DeviceFacts{Platform: "linux"}}, Software: SoftwareList(nil), Now: testNow()}
		for _, r := range s.Evaluate(in) {
			if r.Status == StatusPass {
				t.Errorf("%s passed without facts: %s", r.PolicyID, r.Reason)
			}
		}
	})
}
