// Package service registers roster-agent with the platform's service manager
// (systemd, launchd, the Windows Service Control Manager) through
// kardianos/service, so that the manager starts `roster-agent run` at boot
// and restarts it after a crash. Definition renders what gets installed (the
// systemd unit and launchd plist come from the templates in installers/),
// Manager is the small interface the install/status commands drive, so that
// tests can record what would be registered, and Fresh tells whether the
// status file the run loop publishes is recent.
package service

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	kservice "github.com/kardianos/service"

	"github.com/rosterhq/roster/installers"
)

// Definition is the service to register: the agent binary and the state
// directory and config file its run loop uses.
type Definition struct {
	// GOOS selects the service manager (runtime.GOOS outside tests).
	GOOS string
	// Executable is the absolute path of roster-agent.
	Executable string
	StateDir   string
	ConfigFile string
}

// Name is the service's name in the service manager: launchd wants a
// reverse-DNS label, systemd and the SCM a plain word.
func (d Definition) Name() string {
	if d.GOOS == "darwin" {
		return "com.rosterhq.roster-agent"
	}
	return "roster-agent"
}

// Arguments are what the service manager passes to the executable: the
// foreground loop with the paths install resolved, so the service does not
// depend on the defaults of a later version.
func (d Definition) Arguments() []string {
	return []string{"run", "--state-dir", d.StateDir, "--config", d.ConfigFile}
}

// Validate rejects paths a service manager cannot take: each must be
// absolute (the manager starts the agent from /) and free of control
// characters (they would end a unit-file line early).
func (d Definition) Validate() error {
	var errs []error
	for _, p := range []struct{ name, path string }{
		{"executable", d.Executable}, {"state directory", d.StateDir}, {"config file", d.ConfigFile},
	} {
		switch {
		case p.path == "":
			errs = append(errs, fmt.Errorf("%s: no path", p.name))
		case !isAbs(d.GOOS, p.path):
			errs = append(errs, fmt.Errorf("%s %q: not an absolute path", p.name, p.path))
		case strings.ContainsFunc(p.path, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			errs = append(errs, fmt.Errorf("%s %q: contains a control character", p.name, p.path))
		case strings.Contains(p.path, "{{"):
			// kardianos/service renders the finished text as a template once
			// more; without "{{" that render is the identity.
			errs = append(errs, fmt.Errorf("%s %q: contains {{", p.name, p.path))
		}
	}
	return errors.Join(errs...)
}

// isAbs judges a path by the rules of the target platform, not the one the
// code runs on, so Windows definitions are testable on Linux.
func isAbs(goos, p string) bool {
	if goos == "windows" {
		return len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') || strings.HasPrefix(p, `\\`)
	}
	return strings.HasPrefix(p, "/")
}

// SystemdUnit renders the systemd unit (installers/systemd) for d.
func (d Definition) SystemdUnit() (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("render systemd unit: %w", err)
	}
	words := append([]string{d.Executable}, d.Arguments()...)
	for i, w := range words {
		words[i] = systemdWord(w, true)
	}
	return fill(installers.SystemdUnit, map[string]string{
		"@EXECUTABLE@": systemdSpecifiers(d.Executable),
		"@EXEC_START@": strings.Join(words, " "),
		"@STATE_DIR@":  systemdWord(filepath.Clean(d.StateDir), false),
	})
}

// LaunchdPlist renders the launchd daemon plist (installers/launchd) for d.
func (d Definition) LaunchdPlist() (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("render launchd plist: %w", err)
	}
	var args []string
	for _, a := range append([]string{d.Executable}, d.Arguments()...) {
		args = append(args, "\t\t<string>"+xmlEscape(a)+"</string>")
	}
	return fill(installers.LaunchdPlist, map[string]string{
		"@LABEL@":             xmlEscape(d.Name()),
		"@PROGRAM_ARGUMENTS@": strings.Join(args, "\n"),
	})
}

// placeholder is how the templates in installers/ mark a value.
var placeholder = regexp.MustCompile(`@[A-Z_]+@`)

// fill replaces the template's placeholders; one without a value, or a value
// the template lacks, means the template and this code disagree.
func fill(tmpl string, values map[string]string) (string, error) {
	used := map[string]bool{}
	for _, p := range placeholder.FindAllString(tmpl, -1) {
		if _, ok := values[p]; !ok {
			return "", fmt.Errorf("render service definition: no value for %s", p)
		}
		used[p] = true
	}
	var pairs []string
	for k, v := range values {
		if !used[k] {
			return "", fmt.Errorf("render service definition: the template has no %s", k)
		}
		pairs = append(pairs, k, v)
	}
	return strings.NewReplacer(pairs...).Replace(tmpl), nil
}

// systemdSpecifiers escapes %, which starts a specifier in every unit
// setting that takes a path.
func systemdSpecifiers(s string) string {
	return strings.ReplaceAll(s, "%", "%%")
}

// systemdWord makes one word of a space-separated setting, double-quoted
// when it holds a space, quote or backslash (as in "/Library/Application
// Support" style paths); inExec also escapes $, which ExecStart expands.
func systemdWord(s string, inExec bool) string {
	s = systemdSpecifiers(s)
	if inExec {
		s = strings.ReplaceAll(s, "$", "$$")
	}
	if !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s)
}

// Windows recovery: restart 30 s after a crash; the SCM forgets failures
// after a day without one.
const (
	windowsRestartDelay = 30 * time.Second
	windowsResetPeriod  = 24 * time.Hour
)

// Config is the kardianos/service configuration for d on d.GOOS. On Linux
// and macOS the unit or plist is rendered here and handed over finished
// (SystemdScript, LaunchdConfig): kardianos renders it once more with its
// own engine, which leaves text without "{{" unchanged, so what the tests
// inspect is byte for byte what gets installed.
func (d Definition) Config() (*kservice.Config, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("service definition: %w", err)
	}
	c := &kservice.Config{
		Name:        d.Name(),
		DisplayName: "Roster agent",
		Description: "Reports this device's inventory to a Roster collector.",
		Executable:  d.Executable,
		Arguments:   d.Arguments(),
		Option:      kservice.KeyValue{},
	}
	switch d.GOOS {
	case "linux":
		unit, err := d.SystemdUnit()
		if err != nil {
			return nil, err
		}
		c.Option["SystemdScript"] = unit
	case "darwin":
		plist, err := d.LaunchdPlist()
		if err != nil {
			return nil, err
		}
		c.Option["LaunchdConfig"] = plist
		c.Option["KeepAlive"] = true
		c.Option["RunAtLoad"] = true
	case "windows":
		// The option names are constants only in kardianos' Windows build.
		c.Option["StartType"] = "automatic"
		c.Option["DelayedAutoStart"] = true
		c.Option["OnFailure"] = "restart"
		c.Option["OnFailureDelayDuration"] = windowsRestartDelay.String()
		c.Option["OnFailureResetPeriod"] = int(windowsResetPeriod / time.Second)
	default:
		return nil, fmt.Errorf("service definition: no service manager support for %s", d.GOOS)
	}
	return c, nil
}

// quoteArgs shows a command line to people.
func quoteArgs(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		if w == "" || strings.ContainsAny(w, " \t\"'\\$") {
			w = strconv.Quote(w)
		}
		out[i] = w
	}
	return strings.Join(out, " ")
}

// CommandLine is what the service manager runs, for messages.
func (d Definition) CommandLine() string {
	return quoteArgs(append([]string{d.Executable}, d.Arguments()...))
}
