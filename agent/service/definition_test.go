package service

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"howett.net/plist"
)

// linuxDef is the definition install builds on a Linux machine with the
// defaults.
var linuxDef = Definition{
	GOOS:       "linux",
	Executable: "/usr/local/bin/roster-agent",
	StateDir:   "/var/lib/roster-agent",
	ConfigFile: "/etc/roster/agent.yaml",
}

// parseUnit reads a unit file into section → key → values, the way
// systemd's parser sees it (comments and blank lines dropped).
func parseUnit(t *testing.T, unit string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	section := ""
	for i, line := range strings.Split(unit, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("unit line %d %q is not key=value inside a section", i+1, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	spaced := linuxDef
	spaced.Executable = "/opt/roster agent/roster-agent"
	spaced.StateDir = "/srv/state 100%/roster"
	spaced.ConfigFile = "/etc/roster/$agent.yaml"
	tests := []struct {
		name          string
		def           Definition
		wantExecStart string
		wantCondition string
		wantRWPaths   string
	}{
		{"defaults", linuxDef,
			"/usr/local/bin/roster-agent run --state-dir /var/lib/roster-agent --config /etc/roster/agent.yaml",
			"/usr/local/bin/roster-agent", "/var/lib/roster-agent"},
		{"paths needing quotes and escapes", spaced,
			`"/opt/roster agent/roster-agent" run --state-dir "/srv/state 100%%/roster" --config /etc/roster/$$agent.yaml`,
			"/opt/roster agent/roster-agent", `"/srv/state 100%%/roster"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			text, err := tt.def.SystemdUnit()
			if err != nil {
				t.Fatal(err)
			}
			got := parseUnit(t, text)
			want := map[string]map[string][]string{
				"Unit": {
					"Description":               {"Roster agent: reports this device's inventory to a Roster collector"},
					"Documentation":             {"https://github.com/rosterhq/roster/blob/main/docs/agent.md"},
					"Wants":                     {"network-online.target"},
					"After":                     {"network-online.target"},
					"ConditionFileIsExecutable": {tt.wantCondition},
					"StartLimitIntervalSec":     {"600"},
					"StartLimitBurst":           {"10"},
				},
				"Service": {
					"Type":                  {"simple"},
					"ExecStart":             {tt.wantExecStart},
					"Restart":               {"on-failure"},
					"RestartSec":            {"30"},
					"KillSignal":            {"SIGTERM"},
					"TimeoutStopSec":        {"15"},
					"Nice":                  {"10"},
					"CPUSchedulingPolicy":   {"batch"},
					"IOSchedulingClass":     {"idle"},
					"MemoryMax":             {"256M"},
					"NoNewPrivileges":       {"yes"},
					"ProtectSystem":         {"full"},
					"ReadWritePaths":        {tt.wantRWPaths},
					"ProtectHome":           {"read-only"},
					"PrivateTmp":            {"yes"},
					"ProtectKernelTunables": {"yes"},
					"ProtectControlGroups":  {"yes"},
					"RestrictSUIDSGID":      {"yes"},
					"LockPersonality":       {"yes"},
					"UMask":                 {"0077"},
				},
				"Install": {"WantedBy": {"multi-user.target"}},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("unit (-want +got):\n%s", diff)
			}
			// kardianos/service renders SystemdScript with its template
			// engine once more; text without "{{" passes unchanged.
			if strings.Contains(text, "{{") {
				t.Errorf("unit contains {{, which kardianos would render:\n%s", text)
			}
		})
	}
}

// TestSystemdAnalyzeVerify has systemd itself check the rendered unit: it
// parses every directive, checks the ExecStart binary and fails on any
// warning (unknown keys and bad values only warn, with exit 0).
func TestSystemdAnalyzeVerify(t *testing.T) {
	t.Parallel()
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	dir := t.TempDir()
	tests := []struct {
		name string
		dir  string
	}{
		{"plain paths", filepath.Join(dir, "plain")},
		{"paths with spaces", filepath.Join(dir, "with space")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := os.MkdirAll(filepath.Join(tt.dir, "state"), 0o700); err != nil {
				t.Fatal(err)
			}
			exe := filepath.Join(tt.dir, "roster-agent")
			if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			def := Definition{GOOS: "linux", Executable: exe, StateDir: filepath.Join(tt.dir, "state"), ConfigFile: filepath.Join(tt.dir, "agent.yaml")}
			unit, err := def.SystemdUnit()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(tt.dir, def.Name()+".service")
			if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			cmd := exec.CommandContext(t.Context(), tool, "verify", "--man=no", path)
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil || out.Len() > 0 {
				t.Errorf("systemd-analyze verify: %v\n%s", err, out.String())
			}
		})
	}
}

// TestSystemdAnalyzeCatchesErrors shows the verify test above can fail.
func TestSystemdAnalyzeCatchesErrors(t *testing.T) {
	t.Parallel()
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	unit, err := linuxDef.SystemdUnit()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "roster-agent.service")
	bad := strings.Replace(unit, "Nice=10", "Nice=ten", 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.CommandContext(t.Context(), tool, "verify", "--man=no", path).CombinedOutput()
	if !strings.Contains(string(out), "nice priority") {
		t.Errorf("systemd-analyze verify said %q, want a complaint about Nice=ten", out)
	}
}

func TestLaunchdPlist(t *testing.T) {
	t.Parallel()
	def := Definition{
		GOOS:       "darwin",
		Executable: "/usr/local/bin/roster-agent",
		StateDir:   "/Library/Application Support/Roster",
		ConfigFile: "/Library/Application Support/Roster/agent & co.yaml",
	}
	text, err := def.LaunchdPlist()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if _, err := plist.Unmarshal([]byte(text), &got); err != nil {
		t.Fatalf("plist does not parse: %v\n%s", err, text)
	}
	want := map[string]any{
		"Label": "com.rosterhq.roster-agent",
		"ProgramArguments": []any{"/usr/local/bin/roster-agent", "run",
			"--state-dir", "/Library/Application Support/Roster",
			"--config", "/Library/Application Support/Roster/agent & co.yaml"},
		"RunAtLoad":         true,
		"KeepAlive":         map[string]any{"SuccessfulExit": false},
		"ThrottleInterval":  uint64(30),
		"ExitTimeOut":       uint64(15),
		"ProcessType":       "Background",
		"LowPriorityIO":     true,
		"Nice":              uint64(10),
		"Umask":             uint64(0o077),
		"StandardErrorPath": "/Library/Logs/roster-agent.log",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plist (-want +got):\n%s", diff)
	}
	if strings.Contains(text, "{{") {
		t.Errorf("plist contains {{, which kardianos would render")
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	darwin := Definition{GOOS: "darwin", Executable: "/usr/local/bin/roster-agent", StateDir: "/Library/Application Support/Roster", ConfigFile: "/Library/Application Support/Roster/agent.yaml"}
	windows := Definition{GOOS: "windows", Executable: `C:\Program Files\Roster\roster-agent.exe`, StateDir: `C:\ProgramData\Roster`, ConfigFile: `C:\ProgramData\Roster\agent.yaml`}
	unit, err := linuxDef.SystemdUnit()
	if err != nil {
		t.Fatal(err)
	}
	plistText, err := darwin.LaunchdPlist()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		def        Definition
		wantName   string
		wantOption map[string]any
	}{
		{linuxDef, "roster-agent", map[string]any{"SystemdScript": unit}},
		{darwin, "com.rosterhq.roster-agent", map[string]any{"LaunchdConfig": plistText, "KeepAlive": true, "RunAtLoad": true}},
		{windows, "roster-agent", map[string]any{
			"StartType": "automatic", "DelayedAutoStart": true,
			"OnFailure": "restart", "OnFailureDelayDuration": "30s", "OnFailureResetPeriod": 86400,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.def.GOOS, func(t *testing.T) {
			t.Parallel()
			c, err := tt.def.Config()
			if err != nil {
				t.Fatal(err)
			}
			if c.Name != tt.wantName || c.Executable != tt.def.Executable || c.DisplayName == "" || c.Description == "" {
				t.Errorf("config name %q executable %q display %q description %q, want name %q executable %q and a display name and description",
					c.Name, c.Executable, c.DisplayName, c.Description, tt.wantName, tt.def.Executable)
			}
			wantArgs := []string{"run", "--state-dir", tt.def.StateDir, "--config", tt.def.ConfigFile}
			if diff := cmp.Diff(wantArgs, c.Arguments); diff != "" {
				t.Errorf("arguments (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantOption, map[string]any(c.Option)); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		def     Definition
		wantErr string
	}{
		{"linux ok", linuxDef, ""},
		{"windows ok", Definition{GOOS: "windows", Executable: `C:\roster\roster-agent.exe`, StateDir: `C:\ProgramData\Roster`, ConfigFile: `\\server\share\agent.yaml`}, ""},
		{"relative executable", Definition{GOOS: "linux", Executable: "roster-agent", StateDir: "/s", ConfigFile: "/c"}, `executable "roster-agent": not an absolute path`},
		{"missing state dir", Definition{GOOS: "linux", Executable: "/x", ConfigFile: "/c"}, "state directory: no path"},
		{"windows path on linux", Definition{GOOS: "linux", Executable: "/x", StateDir: `C:\s`, ConfigFile: "/c"}, `state directory "C:\\s": not an absolute path`},
		{"unix path on windows", Definition{GOOS: "windows", Executable: `C:\x.exe`, StateDir: `C:\s`, ConfigFile: "/etc/c"}, `config file "/etc/c": not an absolute path`},
		{"newline", Definition{GOOS: "linux", Executable: "/x", StateDir: "/s\nExecStartPre=/bin/evil", ConfigFile: "/c"}, "contains a control character"},
		{"template braces", Definition{GOOS: "linux", Executable: "/x", StateDir: "/s/{{Path}}", ConfigFile: "/c"}, "contains {{"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.def.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
			if _, err := tt.def.SystemdUnit(); err == nil {
				t.Errorf("SystemdUnit rendered an invalid definition")
			}
		})
	}
}

func TestFill(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		tmpl    string
		values  map[string]string
		want    string
		wantErr string
	}{
		{"all filled", "a=@A@ b=@B_C@ mail@example.com", map[string]string{"@A@": "1", "@B_C@": "@A@"}, "a=1 b=@A@ mail@example.com", ""},
		{"placeholder without value", "a=@A@ b=@B@", map[string]string{"@A@": "1"}, "", "no value for @B@"},
		{"value without placeholder", "a=@A@", map[string]string{"@A@": "1", "@B@": "2"}, "", "the template has no @B@"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := fill(tt.tmpl, tt.values)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v, want %q", got, err, tt.want)
			}
		})
	}
}
