package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/inventory"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/agent/transport"
	"github.com/rosterhq/roster/shared/wire"
)

// commonFlags are the flags every collector-facing subcommand shares. They
// default to empty so only what the user set overrides the config file.
type commonFlags struct {
	stateDir   string
	configFile string
	transport  string
	collectors urlList
	goos       string
	hostRoot   string
	skip       string
	jsonOut    bool
	verbose    bool
}

func addCommonFlags(fs *flag.FlagSet, env Env) *commonFlags {
	c := &commonFlags{}
	fs.StringVar(&c.stateDir, "state-dir", "", fmt.Sprintf("keep key, certificates and report state in `DIR` (default %s)", config.Defaults(env.GOOS).StateDir))
	fs.StringVar(&c.configFile, "config", "", fmt.Sprintf("read settings from the YAML `FILE` (default %s, optional)", config.DefaultPath(env.GOOS)))
	fs.StringVar(&c.transport, "transport", "", "`MODE`: auto (HTTP/3, falling back to HTTPS), http3 or https (default auto)")
	fs.StringVar(&c.goos, "os", env.GOOS, "platform whose probes run (with --host-root)")
	fs.StringVar(&c.hostRoot, "host-root", "", "collect from a captured host tree in `DIR` instead of the live machine (tests)")
	fs.StringVar(&c.skip, "skip", "", "comma-separated probe `names` not to run, added to the config's skip list")
	fs.BoolVar(&c.jsonOut, "json", false, "print the result as JSON for scripts")
	fs.BoolVar(&c.verbose, "v", false, "log progress to stderr")
	return c
}

// config builds defaults → file → flags and validates the result.
func (c *commonFlags) config(goos string) (config.Config, error) {
	path, explicit := config.DefaultPath(goos), false
	if c.configFile != "" {
		path, explicit = c.configFile, true
	}
	return c.configFrom(goos, path, explicit)
}

// configFrom is config reading the file at path, which may be missing
// unless explicit (install names a file it is about to write).
func (c *commonFlags) configFrom(goos, path string, explicit bool) (config.Config, error) {
	cfg := config.Defaults(goos)
	if err := cfg.LoadFile(path, explicit); err != nil {
		return cfg, err
	}
	if c.stateDir != "" {
		cfg.StateDir = c.stateDir
	}
	if c.transport != "" {
		cfg.Transport = c.transport
	}
	switch len(c.collectors) {
	case 0:
	case 1:
		cfg.Collector, cfg.Collectors = c.collectors[0], nil
	default:
		cfg.Collector, cfg.Collectors = "", c.collectors
	}
	if c.verbose {
		cfg.LogLevel = "debug"
	}
	cfg.Skip = append(cfg.Skip, splitList(c.skip)...)
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// urlList is --collector: repeated, or with comma-separated values.
type urlList []string

func (l *urlList) String() string { return strings.Join(*l, ",") }

func (l *urlList) Set(s string) error {
	*l = append(*l, splitList(s)...)
	return nil
}

// addCollectorFlag registers --collector into c.
func (c *commonFlags) addCollectorFlag(fs *flag.FlagSet, usage string) {
	fs.Var(&c.collectors, "collector", usage+"; repeat it, or separate URLs with commas, for several collectors of one deployment, in order of preference")
}

func (c *commonFlags) logger(env Env, cfg config.Config) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelWarn
	}
	return newLogger(env.Stderr, level)
}

// host returns the live machine or, with --host-root, a captured tree.
func (c *commonFlags) host(env Env) (*host.Host, error) {
	if c.hostRoot != "" {
		return host.Captured(c.goos, c.hostRoot)
	}
	if c.goos != env.GOOS {
		return nil, fmt.Errorf("--os %s needs --host-root on a %s machine", c.goos, env.GOOS)
	}
	return host.Live(c.goos), nil
}

// checkSkip rejects probe names the platform does not have.
func checkSkip(goos string, names []string) error {
	probes, err := inventory.Probes(goos)
	if err != nil {
		return fmt.Errorf("--os: %w", err)
	}
	for _, name := range names {
		if !slices.ContainsFunc(probes, func(p probe.Probe) bool { return p.Name() == name }) {
			return fmt.Errorf("skip: no %s probe is called %q", goos, name)
		}
	}
	return nil
}

// collect runs the probes; a whole inventory (only empty) also says how
// the agent was installed and tagged.
func collect(ctx context.Context, h *host.Host, cfg config.Config, only []string, env Env, logger *slog.Logger) (*wire.Snapshot, error) {
	snap, err := inventory.Collect(ctx, h, probe.Options{
		Timeout:      cfg.ProbeTimeout,
		Only:         only,
		Skip:         cfg.Skip,
		AgentVersion: env.Version,
		Logger:       logger,
		Now:          time.Now,
	})
	if err != nil || len(only) > 0 {
		return snap, err
	}
	snap.Agent = agentInfo(ctx, h, cfg)
	return snap, nil
}

func transportOptions(cfg config.Config, logger *slog.Logger) transport.Options {
	return transport.Options{
		Mode:               cfg.Transport,
		QUICTimeout:        cfg.QUICTimeout,
		HTTP3RetryInterval: cfg.HTTP3RetryInterval,
		RequestTimeout:     cfg.RequestTimeout,
		RetryMax:           cfg.RetryMax,
		RetryWaitMin:       cfg.RetryWaitMin,
		RetryWaitMax:       cfg.RetryWaitMax,
		FailoverTimeout:    cfg.FailoverTimeout,
		FailbackInterval:   cfg.FailbackInterval,
		Logger:             logger,
	}
}
