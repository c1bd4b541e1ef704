package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/enroll"
	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/agent/winreg"
	"github.com/rosterhq/roster/shared/wire"
)

// Install-method markers the packages leave (docs/agent.md, "Packages").
const (
	linuxInstallMarker  = "/usr/share/roster-agent/install-method"
	darwinInstallMarker = "/usr/local/share/roster-agent/install-method"
)

// Secret sources, for logs (never the secret itself).
const (
	secretFromFile     = "secret_file"
	secretFromEnv      = config.SecretEnv
	secretFromRegistry = "registry " + config.RegistryKey + `\` + config.RegSecret
)

// preseed is the enrolment IT pre-seeded for the service: the config
// file's enroll section, completed on Windows by the registry, and the
// secret from the file, the environment or the registry.
type preseed struct {
	enroll config.Enroll
	// configured is false when neither the file nor the registry has any
	// enrolment setting.
	configured bool
	secret     string
	secretFrom string
	// installMethod is the registry's InstallMethod value (Windows).
	installMethod string
}

// readRegistrySeed reads config.RegistryKey through the host's registry;
// a missing key is an empty seed.
func readRegistrySeed(ctx context.Context, h *host.Host) (config.RegistrySeed, error) {
	if h == nil || h.Registry == nil {
		return config.RegistrySeed{}, nil
	}
	vals, err := h.Registry.Values(ctx, config.RegistryKey)
	if errors.Is(err, fs.ErrNotExist) {
		return config.RegistrySeed{}, nil
	}
	if err != nil {
		return config.RegistrySeed{}, fmt.Errorf("read registry %s: %w", config.RegistryKey, err)
	}
	m := make(map[string]string, len(vals))
	for name, v := range vals {
		if v.Type == winreg.TypeString || v.Type == winreg.TypeExpandString {
			m[name] = v.String
		}
	}
	return config.ParseRegistry(m)
}

// loadPreseed gathers the pre-seeded enrolment. getenv is os.Getenv
// outside tests.
func loadPreseed(ctx context.Context, h *host.Host, cfg config.Config, getenv func(string) string) (preseed, error) {
	var p preseed
	reg, err := readRegistrySeed(ctx, h)
	if err != nil {
		return p, err
	}
	p.installMethod = reg.InstallMethod
	if cfg.Enroll != nil {
		p.enroll, p.configured = *cfg.Enroll, true
	}
	if !reg.Empty() {
		p.enroll, p.configured = p.enroll.Merge(reg.Enroll), true
	}
	if len(p.enroll.URLs()) == 0 {
		// The top-level collector(s) serve enrolment too.
		p.enroll.Collector, p.enroll.Collectors = cfg.Collector, cfg.Collectors
	}
	if s := strings.TrimSpace(getenv(config.SecretEnv)); s != "" {
		p.configured = true
	}
	switch {
	case p.enroll.SecretFile != "":
		b, err := os.ReadFile(p.enroll.SecretFile)
		if err == nil && strings.TrimSpace(string(b)) != "" {
			p.secret, p.secretFrom = strings.TrimSpace(string(b)), secretFromFile
			break
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return p, fmt.Errorf("read enroll.secret_file: %w", err)
		}
		fallthrough
	default:
		if s := strings.TrimSpace(getenv(config.SecretEnv)); s != "" {
			p.secret, p.secretFrom = s, secretFromEnv
		} else if reg.Secret != "" {
			p.secret, p.secretFrom = reg.Secret, secretFromRegistry
		}
	}
	return p, nil
}

// ready says what is missing before p can enrol, naming where to put it;
// configPath is the config file the service reads.
func (p preseed) ready(configPath string) error {
	if !p.configured {
		return fmt.Errorf("not enrolled, and no enrolment is configured: add an enroll section (collector, ca_fingerprint, secret_file) to %s, set %s, or run roster-agent enroll", configPath, config.SecretEnv)
	}
	var missing []string
	if len(p.enroll.URLs()) == 0 {
		missing = append(missing, "enroll.collector")
	}
	if p.enroll.CAFingerprint == "" {
		missing = append(missing, "enroll.ca_fingerprint")
	}
	if p.secret == "" {
		where := "enroll.secret_file or " + config.SecretEnv
		if p.enroll.SecretFile != "" {
			where = fmt.Sprintf("the secret file %s (enroll.secret_file, missing or empty) or %s", p.enroll.SecretFile, config.SecretEnv)
		}
		missing = append(missing, "an enrolment secret in "+where)
	}
	if len(missing) > 0 {
		return fmt.Errorf("not enrolled, and the enrolment in %s is incomplete: it needs %s", configPath, strings.Join(missing, ", "))
	}
	return nil
}

// enrolFromPreseed enrols dir as p describes, then removes the secret it
// used from disk (the secret file) or the registry — only after success.
func enrolFromPreseed(ctx context.Context, dir *state.Dir, h *host.Host, cfg config.Config, p preseed, env Env, logger *slog.Logger) (enroll.Result, error) {
	cfg.Collector, cfg.Collectors = "", nil
	if urls := p.enroll.URLs(); len(urls) == 1 {
		cfg.Collector = urls[0]
	} else {
		cfg.Collectors = urls
	}
	res, err := enrolDevice(ctx, dir, h, cfg, p.secret, enroll.Trust{Fingerprint: p.enroll.CAFingerprint}, env, logger)
	if err != nil {
		return res, err
	}
	switch p.secretFrom {
	case secretFromFile:
		if err := os.Remove(p.enroll.SecretFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			logger.Error("enrolled, but the secret file could not be removed: remove it by hand", "file", p.enroll.SecretFile, "err", err)
		}
	case secretFromRegistry:
		if err := config.DeleteRegistrySecret(); err != nil {
			logger.Error("enrolled, but the registry secret could not be removed: remove it by hand", "err", err)
		}
	}
	return res, nil
}

// awaitEnrolment is the service's start on a device without enrolment:
// it reads the configuration again on every attempt (so a file dropped
// in later is picked up without a restart), enrols from the pre-seed
// and, failing that, logs why and waits, doubling from backoff_min to
// backoff_max. It returns nil once enrolled, ctx.Err() when stopped.
func awaitEnrolment(ctx context.Context, common *commonFlags, h *host.Host, env Env, logger *slog.Logger) error {
	configPath := common.configFile
	if configPath == "" {
		configPath = config.DefaultPath(env.GOOS)
	}
	wait := time.Duration(0)
	for attempt := 1; ; attempt++ {
		cfg, err := common.config(env.GOOS)
		if err == nil {
			var dir *state.Dir
			var p preseed
			if dir, err = state.Open(cfg.StateDir); err == nil {
				if _, derr := dir.Device(); derr == nil {
					return nil // enrolled meanwhile (roster-agent enroll by hand)
				}
				if p, err = loadPreseed(ctx, h, cfg, env.getenv); err == nil {
					if err = p.ready(configPath); err == nil {
						var res enroll.Result
						res, err = enrolFromPreseed(ctx, dir, h, cfg, p, env, logger)
						if err == nil {
							// At warn so the default log level (warn) shows it.
							logger.Warn("enrolled from the pre-seeded configuration", "device_id", res.DeviceID, "collector", res.Collector, "secret_from", p.secretFrom, "tags", p.enroll.Tags)
							return nil
						}
					}
				}
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		base := cfg.BackoffMin << min(attempt-1, 20)
		if base <= 0 || base > cfg.BackoffMax {
			base = cfg.BackoffMax
		}
		if base <= 0 {
			base = 15 * time.Minute
		}
		// The upper half of the interval, as the check-in loop draws it.
		wait = base/2 + rand.N(base/2+1)
		logger.Error("cannot enrol yet; retrying", "reason", err.Error(), "attempt", attempt, "retry_in", wait.Round(time.Second).String())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// agentInfo is the snapshot's account of the agent itself: the install
// method from the package's marker (the registry on Windows) and the
// pre-seeded tags.
func agentInfo(ctx context.Context, h *host.Host, cfg config.Config) *wire.AgentInfo {
	info := &wire.AgentInfo{InstallMethod: wire.InstallManual}
	var marker string
	switch h.OS {
	case wire.PlatformLinux:
		marker = linuxInstallMarker
	case wire.PlatformDarwin:
		marker = darwinInstallMarker
	}
	if marker != "" {
		if b, err := h.ReadFileLimit(marker, 64); err == nil {
			info.InstallMethod = installMethod(string(b))
		}
	}
	var reg config.RegistrySeed
	if h.OS == wire.PlatformWindows {
		// A registry the agent cannot parse is reported as manual and
		// untagged here; enrolment names the error.
		reg, _ = readRegistrySeed(ctx, h)
		if reg.InstallMethod != "" {
			info.InstallMethod = installMethod(reg.InstallMethod)
		}
	}
	if cfg.Enroll != nil && len(cfg.Enroll.Tags) > 0 {
		info.Tags = cfg.Enroll.Tags
	} else {
		info.Tags = reg.Enroll.Tags
	}
	return info
}

// installMethod maps a marker's word to a known method; anything else
// (an edited or truncated marker) is reported as manual.
func installMethod(s string) string {
	switch m := strings.ToLower(strings.TrimSpace(s)); m {
	case wire.InstallDeb, wire.InstallRPM, wire.InstallMSI, wire.InstallPkg, wire.InstallScript:
		return m
	}
	return wire.InstallManual
}
