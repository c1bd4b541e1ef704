// Package config is roster-collector's configuration, built in one order:
// defaults, then the YAML file named by --config (strict: an unknown key is
// an error naming the key and its line), then the command-line flags, then
// Validate. Keeping the order in one place means `serve`, `migrate` and the
// tests all see the same precedence.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/shared/fieldtext"
	"github.com/rosterhq/roster/shared/wire"
	"gopkg.in/yaml.v3"
)

// Config is everything roster-collector serve needs to start.
type Config struct {
	// Listen is host:port for both the TCP (HTTPS) and UDP (HTTP/3) listener.
	Listen string `yaml:"listen"`
	// DataDir holds roster.db (the SQLite store) and pki/.
	DataDir string `yaml:"data_dir"`
	// Store is the database the registry lives in.
	Store Store `yaml:"store"`
	// Hostnames are the names and addresses the server certificate covers.
	Hostnames []string `yaml:"hostnames"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// LogFormat is auto (JSON unless stderr is a terminal), json or text.
	LogFormat string `yaml:"log_format"`
	Limits    Limits `yaml:"limits"`
	// HTTP3 serves HTTP/3 on UDP beside HTTPS on TCP.
	HTTP3 bool `yaml:"http3"`
	// Agents is the check-in schedule acks tell agents to follow. Unset
	// keys are not sent, so each agent keeps its own configured value (the
	// agent's defaults are the Default* constants below).
	Agents Agents `yaml:"agents"`
	// Assets tunes the asset register's flags and reconciliation.
	Assets Assets `yaml:"assets"`
	// Compliance is where policies come from and how exceptions and the
	// periodic evaluation behave.
	Compliance Compliance `yaml:"compliance"`
	// Webhooks receive events (compliance changes, drift, register flags).
	Webhooks []Webhook `yaml:"webhooks"`
	// Enrolment is when a matching enrolment may continue a device record,
	// and how long a signed command stays valid.
	Enrolment Enrolment `yaml:"enrolment"`
	// Audit tunes the audit log's signed checkpoints.
	Audit Audit `yaml:"audit"`
	// Metrics is who may read /metrics.
	Metrics Metrics `yaml:"metrics"`
	// Offboarding holds the separation-of-duties rules of the wipe record.
	Offboarding Offboarding `yaml:"offboarding"`
	// Console is the web console under /ui/ and its sign-in (console.go).
	Console Console `yaml:"console"`
	// Backup is where scheduled, encrypted backups go (retention.go).
	Backup Backup `yaml:"backup"`
	// Retention is how long each kind of data is kept (retention.go).
	Retention Retention `yaml:"retention"`
	// Debug holds diagnostics that are off by default.
	Debug Debug `yaml:"debug"`
}

// Debug holds diagnostics that are off by default.
type Debug struct {
	// PprofListen is a loopback host:port serving Go's profiler
	// (/debug/pprof/) over plain HTTP, e.g. 127.0.0.1:6060; empty (the
	// default) serves nothing. A non-loopback address is refused: the
	// profiles show memory contents' shape and cost CPU on demand.
	PprofListen string `yaml:"pprof_listen"`
}

// Store engines.
const (
	StoreSQLite   = "sqlite"
	StorePostgres = "postgres"
)

// Store chooses the registry's database: SQLite in data_dir/roster.db (the
// default, one collector) or PostgreSQL (several collectors sharing it).
type Store struct {
	// Engine is sqlite or postgres.
	Engine string `yaml:"engine"`
	// DSN is the PostgreSQL connection string (postgres://user@host/db
	// or key=value form); the password may instead come from PGPASSWORD
	// or a ~/.pgpass file.
	DSN string `yaml:"dsn"`
	// KeyFile is an age identity file (`roster-collector keyfile create`)
	// that seals the CA and command-signing keys in the store, so that
	// every collector given the same file and DSN signs with the same
	// keys: the first to start publishes its keys, the others take them.
	// Unset, each collector keeps only its own pki/ (copy it to join).
	KeyFile string `yaml:"key_file"`
}

// Validate checks the engine and that a DSN is given exactly when the
// engine needs one.
func (s Store) Validate() error {
	switch s.Engine {
	case StoreSQLite:
		if s.DSN != "" {
			return errors.New("store.dsn is for engine postgres; sqlite uses data_dir/roster.db")
		}
	case StorePostgres:
		if strings.TrimSpace(s.DSN) == "" {
			return errors.New("store.dsn is required with store.engine postgres (e.g. postgres://roster@db.example.org/roster)")
		}
	default:
		return fmt.Errorf("store.engine %q must be sqlite or postgres", s.Engine)
	}
	return nil
}

// Offboarding configures the manual wipe record.
type Offboarding struct {
	// AllowSinglePerson lets one person perform and verify a manual wipe,
	// and the principal who started the offboarding record it: for teams
	// too small to have two. Off by default; the certificate of
	// sanitisation of a wipe recorded that way says so.
	AllowSinglePerson bool `yaml:"allow_single_person"`
}

// Audit configures the audit log.
type Audit struct {
	// CheckpointInterval is how often the collector signs the chain's
	// head (when it moved); verification flags older uncovered entries.
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
	// DeviceReports records every report that changed a device in the
	// audit log as well as in the device's history (default true).
	DeviceReports *bool `yaml:"device_reports"`
}

// AuditReports is Audit.DeviceReports with its default.
func (a Audit) AuditReports() bool { return a.DeviceReports == nil || *a.DeviceReports }

// Metrics configures GET /metrics.
type Metrics struct {
	// Public serves /metrics without a token. Off by default: the figures
	// name how many devices are revoked, noncompliant and where.
	Public bool `yaml:"public"`
}

// DefaultCheckpointInterval is Audit.CheckpointInterval's default.
const DefaultCheckpointInterval = 5 * time.Minute

// Compliance configures policy evaluation.
type Compliance struct {
	// Policies is the policy file (docs/policies.md); empty means the
	// embedded default baseline.
	Policies string `yaml:"policies"`
	// ExceptionMaxValidity caps how far ahead an exception may expire.
	ExceptionMaxValidity Duration `yaml:"exception_max_validity"`
	// EvaluateInterval is how often the whole fleet is re-evaluated for
	// results that change with time alone: stale devices, expired
	// exceptions, grace periods ending.
	EvaluateInterval Duration `yaml:"evaluate_interval"`
	// PolicyWatchInterval is how often the collector looks in the store
	// for a policy set replaced through another collector sharing it.
	PolicyWatchInterval Duration `yaml:"policy_watch_interval"`
	// CELMaxEstimatedCost refuses, when policies load (from the file, the
	// API or the store), a CEL expression whose estimated worst-case cost
	// is higher; docs/policies.md explains the cost units.
	CELMaxEstimatedCost uint64 `yaml:"cel_max_estimated_cost"`
	// CELMaxRuntimeCost stops a CEL evaluation that costs more, and the
	// policy is unknown for that device. It may not be below
	// CELMaxEstimatedCost, or a policy that loads could be stopped on a
	// device within the estimate's size hints.
	CELMaxRuntimeCost uint64 `yaml:"cel_max_runtime_cost"`
}

// CELLimits are the cost limits policy sets are compiled under.
func (c Compliance) CELLimits() compliance.Limits {
	return compliance.Limits{MaxEstimatedCost: c.CELMaxEstimatedCost, MaxRuntimeCost: c.CELMaxRuntimeCost}
}

// Enrolment tunes device continuity and signed commands
// (docs/roster-collector.md).
type Enrolment struct {
	// ReenrollAfterSilence is how long a device must have been silent
	// before an enrolment with its hardware identity continues its record
	// without other proof.
	ReenrollAfterSilence Duration `yaml:"reenroll_after_silence"`
	// CommandLifetime caps how long a signed command (a wipe) is valid
	// once signed; a later delivery signs it again.
	CommandLifetime Duration `yaml:"command_lifetime"`
}

// Enrolment defaults.
const (
	DefaultReenrollAfterSilence = 30 * 24 * time.Hour
	DefaultCommandLifetime      = 7 * 24 * time.Hour
)

// Webhook is one receiver of events. Give the secret inline or, better, in
// a file readable only by the collector (secret_file).
type Webhook struct {
	ID         string `yaml:"id"`
	URL        string `yaml:"url"`
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// Events are kind filters: exact kinds, globs ("compliance.*") or "*".
	Events []string `yaml:"events"`
}

// Assets tunes the asset register (docs/roster-collector.md).
type Assets struct {
	// MissingAfter is how long an in_service asset's device may stay
	// silent before the asset is flagged missing.
	MissingAfter Duration `yaml:"missing_after"`
	// RefreshInterval is how often every link and flag is recomputed;
	// missing is the flag that time alone sets.
	RefreshInterval Duration `yaml:"refresh_interval"`
	// HostnameRule is the naming rule reconcile applies: a regular
	// expression with named groups tag, owner and/or location.
	HostnameRule string `yaml:"hostname_rule"`
}

// Agents is the fleet's check-in timing, sent to agents in every report
// and heartbeat ack (wire.Schedule) so IT tunes it in one place.
type Agents struct {
	// ReportInterval is how often an agent inventories and reports.
	ReportInterval Duration `yaml:"report_interval"`
	// HeartbeatInterval is how often an agent says it is alive in between.
	HeartbeatInterval Duration `yaml:"heartbeat_interval"`
	// FullEvery is how often an agent sends a full report rather than a
	// delta.
	FullEvery Duration `yaml:"full_every"`
}

// Schedule is the agents' timing as it travels: whole seconds.
func (a Agents) Schedule() wire.Schedule {
	return wire.Schedule{
		ReportIntervalS:    int(time.Duration(a.ReportInterval) / time.Second),
		HeartbeatIntervalS: int(time.Duration(a.HeartbeatInterval) / time.Second),
		FullEveryS:         int(time.Duration(a.FullEvery) / time.Second),
	}
}

// Limits bound what one request may make the collector read.
type Limits struct {
	MaxReportBytes             ByteSize `yaml:"max_report_bytes"`
	MaxReportDecompressedBytes ByteSize `yaml:"max_report_decompressed_bytes"`
}

// Defaults.
const (
	DefaultListen                     = ":8443"
	DefaultMaxReportBytes             = 8 << 20
	DefaultMaxReportDecompressedBytes = 64 << 20
	DefaultReportInterval             = time.Hour
	DefaultHeartbeatInterval          = 5 * time.Minute
	DefaultFullEvery                  = 7 * 24 * time.Hour
	DefaultMissingAfter               = 14 * 24 * time.Hour
	DefaultAssetsRefreshInterval      = time.Hour
	DefaultExceptionMaxValidity       = 365 * 24 * time.Hour
	DefaultEvaluateInterval           = 5 * time.Minute
	DefaultPolicyWatchInterval        = 5 * time.Second
)

// Bounds of the agents: intervals. The minimum keeps a typo ("5s" for
// "5m") from making the whole fleet hammer the collector; the maximum
// keeps every interval within a 32-bit agent's int of seconds and within
// reason for "last seen".
const (
	MinAgentInterval = 10 * time.Second
	MaxAgentInterval = 365 * 24 * time.Hour
)

// Default returns the built-in configuration (no data directory: that one
// must be given).
func Default() Config {
	return Config{
		Listen:    DefaultListen,
		Hostnames: []string{"localhost", "127.0.0.1", "::1"},
		LogLevel:  "info",
		LogFormat: "auto",
		Limits: Limits{
			MaxReportBytes:             DefaultMaxReportBytes,
			MaxReportDecompressedBytes: DefaultMaxReportDecompressedBytes,
		},
		HTTP3: true,
		Store: Store{Engine: StoreSQLite},
		Assets: Assets{
			MissingAfter:    Duration(DefaultMissingAfter),
			RefreshInterval: Duration(DefaultAssetsRefreshInterval),
		},
		Audit:     Audit{CheckpointInterval: Duration(DefaultCheckpointInterval)},
		Backup:    Backup{Keep: DefaultBackupKeep},
		Retention: DefaultRetention(),
		Console: Console{
			SessionIdle:     Duration(DefaultSessionIdle),
			SessionAbsolute: Duration(DefaultSessionAbsolute),
		},
		Enrolment: Enrolment{
			ReenrollAfterSilence: Duration(DefaultReenrollAfterSilence),
			CommandLifetime:      Duration(DefaultCommandLifetime),
		},
		Compliance: Compliance{
			ExceptionMaxValidity: Duration(DefaultExceptionMaxValidity),
			EvaluateInterval:     Duration(DefaultEvaluateInterval),
			PolicyWatchInterval:  Duration(DefaultPolicyWatchInterval),
			CELMaxEstimatedCost:  compliance.DefaultMaxEstimatedCost,
			CELMaxRuntimeCost:    compliance.DefaultMaxRuntimeCost,
		},
	}
}

// Duration is a time.Duration written the Go way in YAML ("90s", "5m",
// "168h") or in whole days ("90d"); a bare number is refused rather than guessed to be seconds.
type Duration time.Duration

// UnmarshalYAML takes a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a duration must be a string like \"5m\" or \"168h\"", n.Line)
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: duration %q: use a number with a unit: s, m, h or d (e.g. \"5m\", \"168h\", \"90d\")", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Set is the flag.Value form: a Go duration.
func (d *Duration) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: use a number with a unit: s, m, h or d (e.g. \"5m\", \"90d\")", s)
	}
	*d = Duration(v)
	return nil
}

// parseDuration is time.ParseDuration plus whole days ("90d"), the unit
// retention periods are thought in.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("days %q: %w", days, err)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// String is the Go form ("1h0m0s").
func (d Duration) String() string { return time.Duration(d).String() }

// ByteSize is a byte count; YAML and flags take a plain integer or one with a
// unit (KiB, MiB, GiB, KB, MB, GB, B), e.g. "8MiB".
type ByteSize int64

// ParseByteSize parses "8388608", "8MiB", "512 KiB" or "1GB".
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') {
		i--
	}
	num, unit := strings.TrimSpace(t[:i]), strings.ToLower(strings.TrimSpace(t[i:]))
	mult := map[string]int64{"": 1, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "kb": 1e3, "mb": 1e6, "gb": 1e9}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("size %q: unknown unit %q (use B, KiB, MiB, GiB, KB, MB or GB)", s, t[i:])
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q is not a non-negative whole number of bytes", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return ByteSize(n * mult), nil
}

// UnmarshalYAML takes an integer or a string with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a size must be a number or a string like \"8MiB\"", n.Line)
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// String is the flag.Value form.
func (b *ByteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

// Set is the flag.Value form.
func (b *ByteSize) Set(s string) error {
	v, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// LoadFile applies the YAML file at path over c. Keys absent from the file
// keep their value in c.
func LoadFile(path string, c *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if err := Decode(data, c); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// Decode applies YAML bytes over c, refusing keys Config does not have.
func Decode(data []byte, c *Config) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file changes nothing
		}
		return fmt.Errorf("parse yaml: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: the configuration must be a mapping of keys to values", root.Line)
	}
	// Check keys ourselves rather than with KnownFields so the error names
	// the full dotted key, which is what a person searches the docs for.
	if err := checkKeys(root, reflect.TypeOf(Config{}), ""); err != nil {
		return err
	}
	if err := root.Decode(c); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

func checkKeys(n *yaml.Node, t reflect.Type, prefix string) error {
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" && name != "-" {
			fields[name] = f.Type
		}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ft, ok := fields[k.Value]
		if !ok {
			return fmt.Errorf("line %d: unknown key %q", k.Line, prefix+k.Value)
		}
		if seen[k.Value] {
			return fmt.Errorf("line %d: key %q given twice", k.Line, prefix+k.Value)
		}
		seen[k.Value] = true
		// An optional section (console.oidc) is a pointer to a struct:
		// its keys are checked like those of any other section.
		if ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct {
			ft = ft.Elem()
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				continue
			}
		}
		if ft.Kind() == reflect.Struct {
			if v.Kind != yaml.MappingNode {
				return fmt.Errorf("line %d: key %q must be a mapping", v.Line, prefix+k.Value)
			}
			if err := checkKeys(v, ft, prefix+k.Value+"."); err != nil {
				return err
			}
		}
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			if v.Kind != yaml.SequenceNode {
				return fmt.Errorf("line %d: key %q must be a list", v.Line, prefix+k.Value)
			}
			for j, item := range v.Content {
				if item.Kind != yaml.MappingNode {
					return fmt.Errorf("line %d: %s[%d] must be a mapping", item.Line, prefix+k.Value, j)
				}
				if err := checkKeys(item, ft.Elem(), fmt.Sprintf("%s[%d].", prefix+k.Value, j)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Flags are the command-line overrides of a FlagSet registered with
// RegisterFlags.
type Flags struct {
	fs         *flag.FlagSet
	configFile string
	c          Config
	hostnames  []string
}

// RegisterFlags adds --config, --data, --listen, --hostname (repeatable),
// --log-level, --log-format, --http3, --max-report-bytes,
// --max-report-decompressed-bytes and --pprof to fs.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs, c: Default()}
	fs.StringVar(&f.configFile, "config", "", "YAML configuration `file`")
	fs.StringVar(&f.c.DataDir, "data", "", "data `directory` (database and CA)")
	fs.StringVar(&f.c.Listen, "listen", DefaultListen, "`host:port` for HTTPS (TCP) and HTTP/3 (UDP)")
	fs.Func("hostname", "`name` or address for the server certificate (repeatable; default localhost, 127.0.0.1, ::1)", func(s string) error {
		f.hostnames = append(f.hostnames, s)
		return nil
	})
	fs.StringVar(&f.c.LogLevel, "log-level", "info", "log `level`: debug, info, warn, error")
	fs.StringVar(&f.c.LogFormat, "log-format", "auto", "log `format`: auto, json, text")
	fs.BoolVar(&f.c.HTTP3, "http3", true, "serve HTTP/3 on UDP on the same port")
	fs.Var(&f.c.Limits.MaxReportBytes, "max-report-bytes", "largest compressed report `size` (e.g. 8MiB)")
	fs.Var(&f.c.Limits.MaxReportDecompressedBytes, "max-report-decompressed-bytes", "largest decompressed report `size` (e.g. 64MiB)")
	fs.StringVar(&f.c.Compliance.Policies, "policies", "", "policy `file` (YAML; default: the embedded baseline)")
	fs.StringVar(&f.c.Debug.PprofListen, "pprof", "", "loopback `host:port` serving /debug/pprof/ over HTTP (off by default)")
	fs.Var(&f.c.Compliance.EvaluateInterval, "evaluate-interval", "how often the fleet is re-evaluated for time-based results (`duration`, e.g. 5m)")
	return f
}

// Config builds the configuration after fs.Parse: defaults, then the
// --config file, then the flags that were set on the command line, then
// Validate.
func (f *Flags) Config() (Config, error) {
	c := Default()
	if f.configFile != "" {
		if err := LoadFile(f.configFile, &c); err != nil {
			return Config{}, err
		}
	}
	f.fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "data":
			c.DataDir = f.c.DataDir
		case "listen":
			c.Listen = f.c.Listen
		case "hostname":
			c.Hostnames = f.hostnames
		case "log-level":
			c.LogLevel = f.c.LogLevel
		case "log-format":
			c.LogFormat = f.c.LogFormat
		case "http3":
			c.HTTP3 = f.c.HTTP3
		case "max-report-bytes":
			c.Limits.MaxReportBytes = f.c.Limits.MaxReportBytes
		case "max-report-decompressed-bytes":
			c.Limits.MaxReportDecompressedBytes = f.c.Limits.MaxReportDecompressedBytes
		case "policies":
			c.Compliance.Policies = f.c.Compliance.Policies
		case "evaluate-interval":
			c.Compliance.EvaluateInterval = f.c.Compliance.EvaluateInterval
		case "pprof":
			c.Debug.PprofListen = f.c.Debug.PprofListen
		}
	})
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate reports every problem at once, one per line, so a person fixes
// the file in one go.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if host, port, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen %q must be host:port (e.g. \":8443\" or \"127.0.0.1:8443\")", c.Listen)
	} else {
		if p, err := strconv.ParseUint(port, 10, 16); err != nil || (p == 0 && port != "0") {
			add("listen %q: port %q must be a number from 0 to 65535", c.Listen, port)
		}
		if strings.ContainsAny(host, " /") {
			add("listen %q: host %q is not a host name or address", c.Listen, host)
		}
	}
	if c.DataDir == "" {
		add("data_dir is required (--data DIR)")
	}
	if p := c.Debug.PprofListen; p != "" {
		if host, _, err := net.SplitHostPort(p); err != nil {
			add("debug.pprof_listen %q must be host:port on loopback (e.g. 127.0.0.1:6060)", p)
		} else if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			add("debug.pprof_listen %q: the profiler listens only on a loopback address (127.0.0.1 or ::1)", p)
		}
	}
	if err := c.Store.Validate(); err != nil {
		errs = append(errs, err)
	}
	if ci := time.Duration(c.Audit.CheckpointInterval); ci < 10*time.Second || ci > 24*time.Hour {
		add("audit.checkpoint_interval %s must be between 10s and 24h", ci)
	}
	if len(c.Hostnames) == 0 {
		add("hostnames must name at least one host name or address for the server certificate")
	}
	for _, h := range c.Hostnames {
		if !validHostname(h) {
			add("hostname %q is not a DNS name or IP address", h)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("log_level %q must be debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "auto", "json", "text":
	default:
		add("log_format %q must be auto, json or text", c.LogFormat)
	}
	if c.Limits.MaxReportBytes <= 0 {
		add("limits.max_report_bytes must be positive, got %d", c.Limits.MaxReportBytes)
	}
	if c.Limits.MaxReportDecompressedBytes <= 0 {
		add("limits.max_report_decompressed_bytes must be positive, got %d", c.Limits.MaxReportDecompressedBytes)
	} else if c.Limits.MaxReportDecompressedBytes < c.Limits.MaxReportBytes {
		add("limits.max_report_decompressed_bytes (%d) must be at least limits.max_report_bytes (%d)",
			c.Limits.MaxReportDecompressedBytes, c.Limits.MaxReportBytes)
	}
	a := c.Agents
	for _, iv := range []struct {
		key string
		d   Duration
	}{{"report_interval", a.ReportInterval}, {"heartbeat_interval", a.HeartbeatInterval}, {"full_every", a.FullEvery}} {
		switch d := time.Duration(iv.d); {
		case d == 0:
			// Not set: agents keep their own value.
		case d < MinAgentInterval:
			add("agents.%s %s is below the minimum %s", iv.key, d, MinAgentInterval)
		case d > MaxAgentInterval:
			add("agents.%s %s is above the maximum %s", iv.key, d, MaxAgentInterval)
		case d%time.Second != 0:
			add("agents.%s %s must be whole seconds", iv.key, d)
		}
	}
	// The cross-checks compare what agents will end up using: an unset key
	// means the agent default.
	eff := func(d Duration, def time.Duration) Duration {
		if d == 0 {
			return Duration(def)
		}
		return d
	}
	report, heartbeat, full := eff(a.ReportInterval, DefaultReportInterval), eff(a.HeartbeatInterval, DefaultHeartbeatInterval), eff(a.FullEvery, DefaultFullEvery)
	if heartbeat >= report {
		add("agents.heartbeat_interval (%s) must be shorter than agents.report_interval (%s)", heartbeat, report)
	}
	if full < report {
		add("agents.full_every (%s) must be at least agents.report_interval (%s)", full, report)
	}
	errs = append(errs, c.validateCompliance()...)
	errs = append(errs, c.Console.validate()...)
	errs = append(errs, c.validateRetention()...)
	if d := time.Duration(c.Enrolment.ReenrollAfterSilence); d < time.Hour || d > 366*24*time.Hour {
		add("enrolment.reenroll_after_silence %s must be between 1h and 8784h (366 days)", d)
	}
	if d := time.Duration(c.Enrolment.CommandLifetime); d < 10*time.Minute || d > 366*24*time.Hour {
		add("enrolment.command_lifetime %s must be between 10m and 8784h (366 days)", d)
	}
	if d := time.Duration(c.Assets.MissingAfter); d < time.Hour {
		add("assets.missing_after %s is below the minimum 1h", d)
	}
	if d := time.Duration(c.Assets.RefreshInterval); d < MinAgentInterval {
		add("assets.refresh_interval %s is below the minimum %s", d, MinAgentInterval)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	return nil
}

func validHostname(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '*' && label == "*") {
				return false
			}
		}
	}
	return true
}

// Bounds of compliance.evaluate_interval: often enough that an expired
// exception fails again within minutes, never so often that re-evaluating
// a large fleet becomes the collector's main work.
const (
	MinEvaluateInterval = 10 * time.Second
	MaxEvaluateInterval = 24 * time.Hour
)

func (c *Config) validateCompliance() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	cc := c.Compliance
	if d := time.Duration(cc.ExceptionMaxValidity); d <= 0 || d > 10*365*24*time.Hour {
		add("compliance.exception_max_validity %s must be positive and at most 87600h (10 years)", d)
	}
	if d := time.Duration(cc.EvaluateInterval); d < MinEvaluateInterval || d > MaxEvaluateInterval {
		add("compliance.evaluate_interval %s must be from %s to %s", d, MinEvaluateInterval, MaxEvaluateInterval)
	}
	if d := time.Duration(cc.PolicyWatchInterval); d < time.Second || d > 10*time.Minute {
		add("compliance.policy_watch_interval %s must be from 1s to 10m", d)
	}
	if cc.CELMaxEstimatedCost == 0 {
		add("compliance.cel_max_estimated_cost must be at least 1 (default %d)", compliance.DefaultMaxEstimatedCost)
	}
	if cc.CELMaxRuntimeCost < cc.CELMaxEstimatedCost {
		add("compliance.cel_max_runtime_cost %d must be at least compliance.cel_max_estimated_cost %d, "+
			"or a policy that loads could be stopped on an ordinary device", cc.CELMaxRuntimeCost, cc.CELMaxEstimatedCost)
	}
	ids := map[string]bool{}
	for i, w := range c.Webhooks {
		name := fmt.Sprintf("webhooks[%d]", i)
		switch {
		case w.ID == "":
			add("%s.id is required", name)
		case ids[w.ID]:
			add("%s.id %q is used twice", name, w.ID)
		}
		if err := fieldtext.Check(name+".id", w.ID); err != nil {
			add("%v", err)
		}
		ids[w.ID] = true
		if (w.Secret == "") == (w.SecretFile == "") {
			add("%s: give exactly one of secret and secret_file", name)
		}
		if len(w.Events) == 0 {
			add("%s.events must list event kinds (or \"*\")", name)
		}
		// The whole URL is checked by webhook.Endpoint.Validate at start,
		// never quoted: its path is often the secret.
		if !strings.HasPrefix(w.URL, "https://") && !strings.HasPrefix(w.URL, "http://") {
			add("%s.url must be an http:// or https:// URL", name)
		}
	}
	return errs
}
