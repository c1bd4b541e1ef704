package service

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"

	kservice "github.com/kardianos/service"
)

// State is the service manager's answer about the agent's service.
type State string

// States, as `roster-agent status` prints them (service_state).
const (
	StateRunning      State = "running"
	StateStopped      State = "stopped"
	StateFailed       State = "failed"
	StateNotInstalled State = "not-installed"
	StateUnknown      State = "unknown"
)

// Manager registers and controls the agent's service. The kardianos
// implementation comes from Open; tests pass a recording fake to the
// commands instead.
type Manager interface {
	// Platform names the service manager (linux-systemd, darwin-launchd,
	// windows-service).
	Platform() string
	Install(ctx context.Context) error
	Uninstall(ctx context.Context) error
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Restart(ctx context.Context) error
	// Status is StateNotInstalled with a nil error when the service is not
	// registered.
	Status(ctx context.Context) (State, error)
}

// Opener opens the manager for a definition; Open is the real one.
type Opener func(Definition) (Manager, error)

// platform is the kardianos system whose definition this package renders
// for goos: elsewhere (SysV init, upstart, OpenRC) kardianos would install
// its own script without the unit's hardening and resource limits.
func platform(goos string) string {
	switch goos {
	case "linux":
		return "linux-systemd"
	case "darwin":
		return "darwin-launchd"
	case "windows":
		return "windows-service"
	}
	return ""
}

// Open returns the running platform's service manager for d. Only the
// control commands may leave d's paths empty; Install validates them.
func Open(d Definition) (Manager, error) {
	if d.GOOS != runtime.GOOS {
		return nil, fmt.Errorf("open service manager: cannot manage a %s service on %s", d.GOOS, runtime.GOOS)
	}
	want := platform(d.GOOS)
	if want == "" {
		return nil, fmt.Errorf("open service manager: no service manager support for %s", d.GOOS)
	}
	if got := kservice.Platform(); got != want {
		if got == "" {
			got = "none found"
		}
		return nil, fmt.Errorf("open service manager: roster-agent installs with %s; this machine's service manager is %s", want, got)
	}
	return &manager{def: d}, nil
}

// manager drives kardianos/service. Its calls take no context; each
// method checks ctx first so a cancelled command does not start one.
type manager struct {
	def Definition
}

func (m *manager) Platform() string { return platform(m.def.GOOS) }

// service builds the kardianos service; install needs the full
// definition, the other actions only its name.
func (m *manager) service(full bool) (kservice.Service, error) {
	cfg := &kservice.Config{Name: m.def.Name()}
	if full {
		var err error
		if cfg, err = m.def.Config(); err != nil {
			return nil, err
		}
	}
	s, err := kservice.New(noProgram{}, cfg)
	if err != nil {
		return nil, fmt.Errorf("open service manager: %w", err)
	}
	return s, nil
}

func (m *manager) do(ctx context.Context, action string, full bool, f func(kservice.Service) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s service: %w", action, err)
	}
	s, err := m.service(full)
	if err != nil {
		return err
	}
	if err := f(s); err != nil {
		return fmt.Errorf("%s %s service: %s", action, m.def.Name(), lowerFirst(err.Error()))
	}
	return nil
}

func (m *manager) Install(ctx context.Context) error {
	return m.do(ctx, "install", true, kservice.Service.Install)
}

func (m *manager) Uninstall(ctx context.Context) error {
	return m.do(ctx, "uninstall", false, kservice.Service.Uninstall)
}

func (m *manager) Start(ctx context.Context) error {
	return m.do(ctx, "start", false, kservice.Service.Start)
}

func (m *manager) Stop(ctx context.Context) error {
	return m.do(ctx, "stop", false, kservice.Service.Stop)
}

func (m *manager) Restart(ctx context.Context) error {
	return m.do(ctx, "restart", false, kservice.Service.Restart)
}

func (m *manager) Status(ctx context.Context) (State, error) {
	if err := ctx.Err(); err != nil {
		return StateUnknown, fmt.Errorf("service status: %w", err)
	}
	s, err := m.service(false)
	if err != nil {
		return StateUnknown, err
	}
	st, err := s.Status()
	return stateOf(st, err)
}

// stateOf maps kardianos' answer, which reports "not installed" and
// systemd's failed state as errors.
func stateOf(st kservice.Status, err error) (State, error) {
	switch {
	case errors.Is(err, kservice.ErrNotInstalled):
		return StateNotInstalled, nil
	case err != nil && strings.Contains(err.Error(), "failed state"):
		return StateFailed, nil
	case err != nil:
		return StateUnknown, fmt.Errorf("service status: %w", err)
	case st == kservice.StatusRunning:
		return StateRunning, nil
	case st == kservice.StatusStopped:
		return StateStopped, nil
	}
	return StateUnknown, nil
}

// lowerFirst keeps kardianos' capitalised messages in our error style.
func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' || (len(s) > 1 && s[1] >= 'A' && s[1] <= 'Z') {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// noProgram satisfies kardianos' Interface for the control commands, which
// never run the service themselves.
type noProgram struct{}

func (noProgram) Start(kservice.Service) error { return nil }
func (noProgram) Stop(kservice.Service) error  { return nil }
