package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/enroll"
	"github.com/rosterhq/roster/agent/service"
	"github.com/rosterhq/roster/agent/state"
)

const installHelp = `Registers the agent with this machine's service manager (systemd, launchd,
the Windows Service Control Manager) so that it starts at boot and restarts
after a crash, then starts it. The service runs
"roster-agent run --state-dir DIR --config FILE" with the paths given here.
Unless the state directory already holds an enrolment, install first enrols
this device (same flags as "roster-agent enroll"); a failed enrolment
registers nothing. With no enrolment flag at all, install registers the
service and the service enrols itself from the enroll section of the
config file (or ROSTER_ENROLL_SECRET), as the packages do. The config file is written when it does not exist (or
with --write-config), so the service reads the settings given here.`

const controlHelp = `Asks the service manager to %s the agent's service.`

const statusHelp = `Prints whether the agent's service runs (the service manager's answer, and
whether the run loop's status file is fresh), the device id, the collector,
the last acknowledged report, the spool depth, the next check-in, the
transport and why sending stopped, if it did. Exit status: 0 running,
3 not running or not installed, 1 the state could not be read.`

// Status exit codes, after LSB init scripts' "status".
const (
	exitRunning    = 0
	exitNotRunning = 3
)

// runService runs install, uninstall, start, stop, restart and status; open
// reaches the service manager (service.Open outside tests).
func runService(ctx context.Context, args []string, env Env, open service.Opener) int {
	switch args[0] {
	case "install":
		return runInstall(ctx, args[1:], env, open)
	case "status":
		return runStatus(ctx, args[1:], env, open)
	}
	return runControl(ctx, args[0], args[1:], env, open)
}

func runControl(ctx context.Context, action string, args []string, env Env, open service.Opener) int {
	name := "roster-agent " + action
	fs := newFlagSet(action, env.Stderr, fmt.Sprintf(controlHelp, action))
	if code, ok := parseArgs(fs, args, name, env.Stderr); !ok {
		return code
	}
	def := service.Definition{GOOS: env.GOOS}
	m, err := open(def)
	if err == nil {
		switch action {
		case "uninstall":
			// A running service is stopped first so no orphan keeps running
			// (systemd's disable and the SCM's delete leave it running).
			if st, serr := m.Status(ctx); serr == nil && st == service.StateRunning {
				err = m.Stop(ctx)
			}
			if err == nil {
				err = m.Uninstall(ctx)
			}
		case "start":
			err = m.Start(ctx)
		case "stop":
			err = m.Stop(ctx)
		case "restart":
			err = m.Restart(ctx)
		}
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
		return 1
	}
	fmt.Fprintf(env.Stderr, "%s: done (%s)\n", name, m.Platform())
	return 0
}

// parseArgs parses a command's flags and refuses arguments; when ok is
// false the command ends with code (0 after -h, 2 on bad usage).
func parseArgs(fs *flag.FlagSet, args []string, name string, stderr io.Writer) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", name, fs.Arg(0))
		return 2, false
	}
	return 0, true
}

// installResult is what install --json prints.
type installResult struct {
	DeviceID  string `json:"device_id"`
	Collector string `json:"collector"`
	// Collectors are the collectors enrolled with, when several.
	Collectors []string `json:"collectors,omitempty"`
	// Enrolled is true when this install enrolled the device.
	Enrolled      bool   `json:"enrolled"`
	ConfigWritten bool   `json:"config_written"`
	Service       string `json:"service"`
	Platform      string `json:"platform"`
	Command       string `json:"command"`
	Started       bool   `json:"started"`
	// EnrolsFromConfig is true when install registered the service
	// without enrolment flags or an enrolment: the service enrols from
	// the pre-seeded configuration.
	EnrolsFromConfig bool `json:"enrols_from_config,omitempty"`
}

func runInstall(ctx context.Context, args []string, env Env, open service.Opener) int {
	const name = "roster-agent install"
	fs := newFlagSet("install", env.Stderr, installHelp)
	common := addCommonFlags(fs, env)
	ef := addEnrolFlags(fs, common)
	writeConfig := fs.Bool("write-config", false, "replace an existing config file with the settings given here")
	noStart := fs.Bool("no-start", false, "register the service without starting it")
	if code, ok := parseArgs(fs, args, name, env.Stderr); !ok {
		return code
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(env.Stderr, name+": "+format+"\n", a...)
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
		return 1
	}
	configPath := common.configFile
	if configPath == "" {
		configPath = config.DefaultPath(env.GOOS)
	}
	configPath, err := filepath.Abs(configPath)
	if err != nil {
		return usageErr("--config: %v", err)
	}
	// The config file may not exist yet: install writes it below.
	cfg, err := common.configFrom(env.GOOS, configPath, false)
	if err != nil {
		return usageErr("%v", err)
	}
	if cfg.StateDir, err = filepath.Abs(cfg.StateDir); err != nil {
		return usageErr("--state-dir: %v", err)
	}
	_, statErr := os.Stat(configPath)
	configExists := statErr == nil
	if configExists && !*writeConfig && common.transport != "" {
		return usageErr("--transport would not reach the service: %s exists; add --write-config to replace it", configPath)
	}
	exe, err := os.Executable()
	if err != nil {
		return fail(fmt.Errorf("find the agent binary: %w", err))
	}
	def := service.Definition{GOOS: env.GOOS, Executable: exe, StateDir: cfg.StateDir, ConfigFile: configPath}
	if err := def.Validate(); err != nil {
		return usageErr("%v", err)
	}

	// Decide on enrolment before any change: everything a usage error can
	// reject is rejected while nothing is written yet.
	dev, enrolErr := enrolledDevice(cfg.StateDir)
	enrolNow := errors.Is(enrolErr, state.ErrNotEnrolled)
	if enrolErr != nil && !enrolNow {
		return fail(enrolErr)
	}
	var secret string
	var trust enroll.Trust
	// With no enrolment flag at all, the service enrols itself from the
	// pre-seeded configuration (a package's pattern); install only
	// registers it.
	serviceEnrols := enrolNow && !ef.given() && len(common.collectors) == 0
	if serviceEnrols {
		enrolNow = false
		if err := checkSkip(common.goos, cfg.Skip); err != nil {
			return usageErr("%v", err)
		}
	}
	if enrolNow {
		if err := checkCollector(cfg); err != nil {
			return usageErr("%v", err)
		}
		if secret, trust, err = ef.parse(); err != nil {
			return usageErr("%v", err)
		}
		if err := checkSkip(common.goos, cfg.Skip); err != nil {
			return usageErr("%v", err)
		}
	} else if ef.given() {
		fmt.Fprintf(env.Stderr, "%s: already enrolled as %s with %s; keeping that enrolment (roster-agent enroll enrols again)\n", name, dev.DeviceID, dev.Collector)
	}
	h, err := common.host(env)
	if err != nil {
		return usageErr("%v", err)
	}

	m, err := open(def)
	if err != nil {
		return fail(err)
	}
	switch st, err := m.Status(ctx); {
	case err != nil:
		return fail(err)
	case st != service.StateNotInstalled:
		return fail(fmt.Errorf("the %s service is already installed (%s); run roster-agent uninstall first to replace it", def.Name(), st))
	}

	res := installResult{Service: def.Name(), Platform: m.Platform(), Command: def.CommandLine()}
	if enrolNow {
		logger := common.logger(env, cfg)
		dir, err := state.Open(cfg.StateDir)
		if err != nil {
			return fail(err)
		}
		er, err := enrolDevice(ctx, dir, h, cfg, secret, trust, env, logger)
		if err != nil {
			return fail(err)
		}
		dev = state.Device{DeviceID: er.DeviceID, Collector: er.Collector, Collectors: er.Collectors}
		res.Enrolled = true
	}
	res.DeviceID, res.Collector, res.Collectors = dev.DeviceID, dev.Collector, dev.Collectors
	if serviceEnrols {
		res.EnrolsFromConfig = true
		note := "the service enrols itself from the enroll section of " + configPath
		if p, err := loadPreseed(ctx, h, cfg, env.getenv); err != nil {
			note += fmt.Sprintf(", which cannot be used yet: %v", err)
		} else if err := p.ready(configPath); err != nil {
			note += fmt.Sprintf(" once it is complete (%v); it retries until then", err)
		}
		fmt.Fprintf(env.Stderr, "%s: not enrolled yet: %s\n", name, note)
	}
	if !configExists || *writeConfig {
		if err := writeAgentConfig(configPath, cfg); err != nil {
			return fail(err)
		}
		res.ConfigWritten = true
	}
	if err := m.Install(ctx); err != nil {
		return fail(err)
	}
	if !*noStart {
		if err := m.Start(ctx); err != nil {
			return fail(fmt.Errorf("%w (the service is installed; fix the cause and run roster-agent start)", err))
		}
		res.Started = true
	}

	if common.jsonOut {
		if err := json.NewEncoder(env.Stdout).Encode(res); err != nil {
			return fail(err)
		}
		return 0
	}
	verb := "installed"
	if res.Started {
		verb = "installed and started"
	}
	if res.EnrolsFromConfig {
		fmt.Fprintf(env.Stderr, "%s: %s the %s service (%s), which enrols from %s; it runs: %s\n",
			name, verb, res.Service, res.Platform, configPath, res.Command)
		return 0
	}
	fmt.Fprintf(env.Stdout, "%s\n", res.DeviceID)
	fmt.Fprintf(env.Stderr, "%s: %s the %s service (%s) reporting as %s to %s; it runs: %s\n",
		name, verb, res.Service, res.Platform, res.DeviceID, res.Collector, res.Command)
	return 0
}

// enrolledDevice reads the enrolment in stateDir without creating the
// directory; state.ErrNotEnrolled when there is none.
func enrolledDevice(stateDir string) (state.Device, error) {
	if _, err := os.Stat(stateDir); errors.Is(err, fs.ErrNotExist) {
		return state.Device{}, state.ErrNotEnrolled
	}
	dir, err := state.Open(stateDir)
	if err != nil {
		return state.Device{}, err
	}
	return dir.Device()
}

// writtenConfig is what install writes: only what the service must share
// with the install command. The collector is left out because the
// enrolment records it, and a copy here would outlive a re-enrolment.
type writtenConfig struct {
	StateDir  string `yaml:"state_dir"`
	Transport string `yaml:"transport"`
}

const configHeader = `# roster-agent configuration, written by "roster-agent install".
# Every key is described in docs/agent.md.
`

// writeAgentConfig writes the config file atomically; it holds no secret,
// so it is readable (0644) for people checking the settings.
func writeAgentConfig(path string, cfg config.Config) error {
	b, err := yaml.Marshal(writtenConfig{StateDir: cfg.StateDir, Transport: cfg.Transport})
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".agent-*.yaml")
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.WriteString(tmp, configHeader+string(b)); err != nil {
		tmp.Close()
		return fmt.Errorf("write config: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write config: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// agentStatus is what status --json prints: the run loop's state.Status
// with the fields the status command fills, plus whether the file is fresh.
type agentStatus struct {
	state.Status
	// StatusFresh is false when no loop rewrote the status file lately
	// (service.Fresh): the figures are then history.
	StatusFresh bool `json:"status_fresh"`
}

func runStatus(ctx context.Context, args []string, env Env, open service.Opener) int {
	const name = "roster-agent status"
	fs := newFlagSet("status", env.Stderr, statusHelp)
	common := &commonFlags{}
	fs.StringVar(&common.stateDir, "state-dir", "", fmt.Sprintf("the agent's state `DIR` (default %s)", config.Defaults(env.GOOS).StateDir))
	fs.StringVar(&common.configFile, "config", "", fmt.Sprintf("read settings from the YAML `FILE` (default %s, optional)", config.DefaultPath(env.GOOS)))
	fs.BoolVar(&common.jsonOut, "json", false, "print the status as JSON (keys documented in docs/agent.md)")
	if code, ok := parseArgs(fs, args, name, env.Stderr); !ok {
		return code
	}
	cfg, err := common.config(env.GOOS)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
		return 2
	}
	var errs []error
	st, err := readStatus(cfg.StateDir)
	if err != nil {
		errs = append(errs, err)
	}
	out := agentStatus{Status: st, StatusFresh: service.Fresh(st, time.Now())}
	out.ServiceState, out.Running = string(service.StateUnknown), false
	platform := "no service manager"
	if m, err := open(service.Definition{GOOS: env.GOOS}); err != nil {
		errs = append(errs, err)
	} else {
		platform = m.Platform()
		svcState, err := m.Status(ctx)
		if err != nil {
			errs = append(errs, err)
		}
		out.ServiceState, out.Running = string(svcState), svcState == service.StateRunning
	}

	if common.jsonOut {
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			errs = append(errs, err)
		}
		fmt.Fprintf(env.Stdout, "%s\n", b)
	} else {
		printStatus(env.Stdout, out, platform, time.Now())
	}
	if len(errs) > 0 {
		fmt.Fprintf(env.Stderr, "%s: %v\n", name, errors.Join(errs...))
		return 1
	}
	if out.Running {
		return exitRunning
	}
	return exitNotRunning
}

// readStatus combines the loop's status file with the enrolment, which
// names the device before the loop first ran. A missing state directory
// is not an error: the agent is then simply not enrolled.
func readStatus(stateDir string) (state.Status, error) {
	if _, err := os.Stat(stateDir); errors.Is(err, fs.ErrNotExist) {
		return state.Status{}, nil
	}
	dir, err := state.Open(stateDir)
	if err != nil {
		return state.Status{}, fmt.Errorf("read status: %w", err)
	}
	st, err := dir.LoadStatus()
	if err != nil {
		return st, fmt.Errorf("read status: %w", err)
	}
	dev, err := dir.Device()
	switch {
	case errors.Is(err, state.ErrNotEnrolled):
	case err != nil:
		return st, fmt.Errorf("read status: %w", err)
	default:
		if st.DeviceID == "" {
			st.DeviceID = dev.DeviceID
		}
		if st.Collector == "" {
			st.Collector = dev.Collector
		}
		if len(st.Collectors) == 0 {
			st.Collectors = dev.URLs()
		}
	}
	return st, nil
}

// printStatus writes the status for people, one "label: value" per line.
func printStatus(w io.Writer, st agentStatus, platform string, now time.Time) {
	line := func(label, format string, a ...any) {
		fmt.Fprintf(w, "%-15s %s\n", label+":", fmt.Sprintf(format, a...))
	}
	line("service", "%s (%s)", st.ServiceState, platform)
	switch {
	case st.UpdatedAt.IsZero():
		line("agent", "no status published yet")
	case st.StatusFresh:
		line("agent", "status updated %s", ago(st.UpdatedAt, now))
	default:
		line("agent", "status is stale: last updated %s, so no run loop is publishing", ago(st.UpdatedAt, now))
	}
	orNone := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	if st.DeviceID == "" {
		line("device", "not enrolled (roster-agent install or enroll)")
	} else {
		line("device", "%s", st.DeviceID)
	}
	line("collector", "%s", orNone(st.Collector))
	if len(st.Collectors) > 1 {
		line("collectors", "%s", strings.Join(st.Collectors, ", "))
	}
	if st.Stopped != "" {
		line("stopped", "%s", st.Stopped)
	}
	report := when(st.LastReportAt, now)
	if st.LastReportAt != nil && st.LastReportStatus != "" {
		report += " (" + st.LastReportStatus + ")"
	}
	line("last report", "%s", report)
	line("last heartbeat", "%s", when(st.LastHeartbeatAt, now))
	line("next report", "%s", when(st.NextReportAt, now))
	line("next heartbeat", "%s", when(st.NextHeartbeatAt, now))
	line("spool", "%d reports, %d bytes", st.SpoolDepth, st.SpoolBytes)
	line("transport", "%s", orNone(st.Transport))
	if st.LastError != "" {
		line("last error", "%s (%s)", st.LastError, when(st.LastErrorAt, now))
	}
}

func when(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339) + ", " + ago(*t, now)
}

// ago says how far t is from now, to the minute once past one.
func ago(t, now time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		return "in " + roughly(-d)
	}
	return roughly(d) + " ago"
}

func roughly(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Round(time.Minute)/time.Minute))
	case d < 48*time.Hour:
		m := int(d.Round(time.Minute) / time.Minute)
		return fmt.Sprintf("%dh%02dm", m/60, m%60)
	}
	h := int(d.Round(time.Hour) / time.Hour)
	return fmt.Sprintf("%dd%dh", h/24, h%24)
}
