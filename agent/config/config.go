// Package config is roster-agent's configuration, built in one order:
// Defaults for the platform, then the YAML file (--config), then the flags
// the user set, then Validate. A missing default config file is fine (most
// agents need none); a missing file the user named is an error.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rosterhq/roster/agent/state"
)

// Transport modes.
const (
	TransportAuto  = "auto"
	TransportHTTP3 = "http3"
	TransportHTTPS = "https"
)

// Config is the agent's configuration. YAML keys are stable.
type Config struct {
	// Collector is the collector's base URL (https://host:8443); enrolment
	// stores it, so reports need it only to override the enrolled one.
	Collector string `yaml:"collector"`
	// Collectors are several base URLs of one deployment (collectors
	// sharing one store and one CA) in order of preference, instead of
	// Collector: the agent fails over between them.
	Collectors []string `yaml:"collectors"`
	// FailoverTimeout bounds how long one of several collectors gets to
	// answer (its retries included) before the next one is tried.
	FailoverTimeout time.Duration `yaml:"failover_timeout"`
	// FailbackInterval is how long the agent stays with a collector other
	// than the first (preferred) one before trying the first again.
	FailbackInterval time.Duration `yaml:"failback_interval"`
	// StateDir holds the key, certificates and report state.
	StateDir string `yaml:"state_dir"`
	// Transport is auto (HTTP/3 first, HTTPS fallback), http3 or https.
	Transport string `yaml:"transport"`
	// QUICTimeout bounds the QUIC handshake before auto falls back.
	QUICTimeout time.Duration `yaml:"quic_timeout"`
	// HTTP3RetryInterval is how long auto keeps using HTTPS after HTTP/3
	// failed before trying HTTP/3 again.
	HTTP3RetryInterval time.Duration `yaml:"http3_retry_interval"`
	// RequestTimeout bounds one HTTP request attempt.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// RetryMax is how many times a failed request is retried (network
	// errors and 5xx; never 4xx).
	RetryMax int `yaml:"retry_max"`
	// RetryWaitMin and RetryWaitMax bound the exponential backoff.
	RetryWaitMin time.Duration `yaml:"retry_wait_min"`
	RetryWaitMax time.Duration `yaml:"retry_wait_max"`
	// ProbeTimeout bounds each inventory probe.
	ProbeTimeout time.Duration `yaml:"probe_timeout"`
	// Skip names probes not to run (e.g. os/updates).
	Skip []string `yaml:"skip"`
	// Delta lets report send a delta against the last acknowledged snapshot
	// when it is smaller than the full snapshot.
	Delta bool `yaml:"delta"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`

	// ReportInterval is how often `run` collects and reports the full
	// inventory (±10 % jitter); the collector's schedule overrides it.
	ReportInterval time.Duration `yaml:"report_interval"`
	// HeartbeatInterval is how often `run` tells the collector it is alive
	// between reports.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// FullEvery forces a full report instead of a delta this long after
	// the last full one.
	FullEvery time.Duration `yaml:"full_every"`
	// BackoffMin and BackoffMax bound the wait after a failed check-in; it
	// doubles per failure, with jitter.
	BackoffMin time.Duration `yaml:"backoff_min"`
	BackoffMax time.Duration `yaml:"backoff_max"`
	// MemoryLimit is the Go runtime's soft memory limit in bytes
	// (debug.SetMemoryLimit); 0 leaves the runtime's default.
	MemoryLimit int64 `yaml:"memory_limit"`
	// Spool bounds the reports waiting on disk for the collector.
	Spool Spool `yaml:"spool"`
	// Wipe is what a signed remote-wipe command may do on this device.
	Wipe Wipe `yaml:"wipe"`
	// Enroll, pre-seeded by IT beside a package (the MDM pattern), lets
	// the service enrol itself; nil when the file has no enroll section.
	Enroll *Enroll `yaml:"enroll"`
}

// Wipe configures remote wipe, which IT enables at install; off, the
// agent refuses every wipe command and names the manual path.
type Wipe struct {
	// Allow lets a verified wipe command erase the targets.
	Allow bool `yaml:"allow"`
	// Targets are "auto" (every LUKS volume backing a fixed file system)
	// and/or block device paths (/dev/...).
	Targets []string `yaml:"targets"`
	// HeaderBackups are LUKS header backup files to overwrite and remove
	// with the keyslots.
	HeaderBackups []string `yaml:"header_backups"`
}

// Spool bounds the spool; past either cap the pending reports are
// coalesced into one full report.
type Spool struct {
	MaxBytes   int64 `yaml:"max_bytes"`
	MaxReports int   `yaml:"max_reports"`
}

// DefaultPath is the config file read when --config is not given.
func DefaultPath(goos string) string {
	switch goos {
	case "darwin":
		return "/Library/Application Support/Roster/agent.yaml"
	case "windows":
		base := os.Getenv("ProgramData")
		if base == "" {
			base = `C:\ProgramData`
		}
		return base + `\Roster\agent.yaml`
	}
	return "/etc/roster/agent.yaml"
}

// Defaults is the configuration before any file or flag.
func Defaults(goos string) Config {
	return Config{
		StateDir:           state.DefaultDir(goos),
		Transport:          TransportAuto,
		QUICTimeout:        3 * time.Second,
		HTTP3RetryInterval: 24 * time.Hour,
		RequestTimeout:     60 * time.Second,
		RetryMax:           4,
		RetryWaitMin:       time.Second,
		RetryWaitMax:       30 * time.Second,
		FailoverTimeout:    10 * time.Second,
		FailbackInterval:   time.Hour,
		ProbeTimeout:       90 * time.Second,
		Delta:              true,
		LogLevel:           "warn",
		ReportInterval:     time.Hour,
		HeartbeatInterval:  5 * time.Minute,
		FullEvery:          7 * 24 * time.Hour,
		BackoffMin:         time.Second,
		BackoffMax:         15 * time.Minute,
		MemoryLimit:        64 << 20,
		Spool:              Spool{MaxBytes: 64 << 20, MaxReports: 1000},
		Wipe:               Wipe{Targets: []string{"auto"}},
	}
}

// maxFile bounds the config file; a real one is a few hundred bytes.
const maxFile = 1 << 20

// LoadFile applies the YAML file at path over c. When explicit is false a
// missing file leaves c unchanged. Unknown keys are errors, so a typo does
// not silently fall back to a default.
func (c *Config) LoadFile(path string, explicit bool) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return fmt.Errorf("read config %s: %w", path, err)
	}
	if len(b) > maxFile {
		return fmt.Errorf("read config %s: larger than %d bytes", path, maxFile)
	}
	return c.decode(path, b)
}

func (c *Config) decode(name string, b []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file
		}
		return fmt.Errorf("parse config %s: %w", name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("parse config %s: more than one YAML document", name)
	}
	return nil
}

// Validate reports every setting that cannot work, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	if c.Collector != "" {
		if err := CheckCollectorURL(c.Collector); err != nil {
			errs = append(errs, fmt.Errorf("collector: %w", err))
		}
	}
	if c.Collector != "" && len(c.Collectors) > 0 {
		errs = append(errs, errors.New("collectors: give collector or collectors, not both"))
	}
	errs = append(errs, CheckCollectorURLs("collectors", c.Collectors)...)
	if strings.TrimSpace(c.StateDir) == "" {
		errs = append(errs, errors.New("state_dir: must not be empty"))
	}
	switch c.Transport {
	case TransportAuto, TransportHTTP3, TransportHTTPS:
	default:
		errs = append(errs, fmt.Errorf("transport: %q is not auto, http3 or https", c.Transport))
	}
	positive := []struct {
		key string
		d   time.Duration
	}{
		{"quic_timeout", c.QUICTimeout},
		{"http3_retry_interval", c.HTTP3RetryInterval},
		{"request_timeout", c.RequestTimeout},
		{"retry_wait_min", c.RetryWaitMin},
		{"retry_wait_max", c.RetryWaitMax},
		{"failover_timeout", c.FailoverTimeout},
		{"failback_interval", c.FailbackInterval},
		{"probe_timeout", c.ProbeTimeout},
		{"report_interval", c.ReportInterval},
		{"heartbeat_interval", c.HeartbeatInterval},
		{"full_every", c.FullEvery},
		{"backoff_min", c.BackoffMin},
		{"backoff_max", c.BackoffMax},
	}
	for _, p := range positive {
		if p.d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %v", p.key, p.d))
		}
	}
	if c.RetryWaitMax < c.RetryWaitMin {
		errs = append(errs, fmt.Errorf("retry_wait_max: %v is below retry_wait_min %v", c.RetryWaitMax, c.RetryWaitMin))
	}
	if c.RetryMax < 0 || c.RetryMax > 20 {
		errs = append(errs, fmt.Errorf("retry_max: %d is outside 0..20", c.RetryMax))
	}
	if c.BackoffMax < c.BackoffMin {
		errs = append(errs, fmt.Errorf("backoff_max: %v is below backoff_min %v", c.BackoffMax, c.BackoffMin))
	}
	if c.MemoryLimit < 0 || (c.MemoryLimit > 0 && c.MemoryLimit < 8<<20) {
		errs = append(errs, fmt.Errorf("memory_limit: %d bytes is below 8 MiB (0 means no limit)", c.MemoryLimit))
	}
	if c.Spool.MaxBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("spool.max_bytes: %d is below 1 MiB", c.Spool.MaxBytes))
	}
	if c.Spool.MaxReports < 2 {
		errs = append(errs, fmt.Errorf("spool.max_reports: %d is below 2", c.Spool.MaxReports))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level: %q is not debug, info, warn or error", c.LogLevel))
	}
	errs = append(errs, c.Wipe.validate()...)
	if c.Enroll != nil {
		errs = append(errs, c.Enroll.validate()...)
	}
	return errors.Join(errs...)
}

func (w Wipe) validate() []error {
	var errs []error
	if w.Allow && len(w.Targets) == 0 {
		errs = append(errs, errors.New("wipe.targets: empty while wipe.allow is true; give [auto] or device paths"))
	}
	seen := map[string]bool{}
	for _, t := range w.Targets {
		switch {
		case seen[t]:
			errs = append(errs, fmt.Errorf("wipe.targets: %q listed twice", t))
		case t == "auto":
		case !strings.HasPrefix(t, "/dev/") || path.Clean(t) != t || len(t) <= len("/dev/"):
			errs = append(errs, fmt.Errorf("wipe.targets: %q is neither auto nor a clean /dev/... device path", t))
		}
		seen[t] = true
	}
	for _, b := range w.HeaderBackups {
		if !path.IsAbs(b) || path.Clean(b) != b {
			errs = append(errs, fmt.Errorf("wipe.header_backups: %q is not a clean absolute path", b))
		}
	}
	return errs
}

// URLs are the configured collectors in order of preference (Collectors,
// or Collector alone); nil when the config names none.
func (c *Config) URLs() []string {
	if len(c.Collectors) > 0 {
		return c.Collectors
	}
	if c.Collector != "" {
		return []string{c.Collector}
	}
	return nil
}

// CheckCollectorURLs checks each URL of a list as CheckCollectorURL does
// and refuses repeats (a trailing slash does not make another collector);
// key names the list in the errors.
func CheckCollectorURLs(key string, urls []string) []error {
	var errs []error
	seen := map[string]bool{}
	for i, u := range urls {
		if err := CheckCollectorURL(u); err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", key, i, err))
			continue
		}
		norm := strings.TrimRight(u, "/")
		if seen[norm] {
			errs = append(errs, fmt.Errorf("%s[%d]: %q is listed twice", key, i, u))
		}
		seen[norm] = true
	}
	return errs
}

// CheckCollectorURL accepts an https URL with a host and nothing past the
// base path, the form every agent endpoint is appended to.
func CheckCollectorURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", s, err)
	}
	if u.Scheme != "https" {
		return fmt.Errorf("%q must start with https://", s)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%q has no host", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q must be a plain https://host:port base URL", s)
	}
	if p := strings.TrimRight(u.Path, "/"); p != "" {
		return fmt.Errorf("%q must be a plain https://host:port base URL without a path", s)
	}
	return nil
}
