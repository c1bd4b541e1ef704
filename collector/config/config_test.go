package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func parse(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	return f.Config()
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, `
listen: "127.0.0.1:9000"
data_dir: /var/lib/roster
hostnames: [collector.example.com]
log_level: debug
limits:
  max_report_bytes: 1MiB
`)
	tests := []struct {
		name string
		args []string
		want func(*Config)
	}{
		{"defaults", []string{"--data", "/d"}, func(c *Config) { c.DataDir = "/d" }},
		{"file over defaults", []string{"--config", file}, func(c *Config) {
			c.Listen = "127.0.0.1:9000"
			c.DataDir = "/var/lib/roster"
			c.Hostnames = []string{"collector.example.com"}
			c.LogLevel = "debug"
			c.Limits.MaxReportBytes = 1 << 20
		}},
		{"flags over file", []string{"--config", file, "--listen", "[::1]:0", "--hostname", "a.example", "--hostname", "10.0.0.1", "--http3=false", "--max-report-decompressed-bytes", "2MiB"}, func(c *Config) {
			c.Listen = "[::1]:0"
			c.DataDir = "/var/lib/roster"
			c.Hostnames = []string{"a.example", "10.0.0.1"}
			c.LogLevel = "debug"
			c.HTTP3 = false
			c.Limits.MaxReportBytes = 1 << 20
			c.Limits.MaxReportDecompressedBytes = 2 << 20
		}},
		{"flag default does not override file", []string{"--config", file, "--data", "/x"}, func(c *Config) {
			c.Listen = "127.0.0.1:9000"
			c.DataDir = "/x"
			c.Hostnames = []string{"collector.example.com"}
			c.LogLevel = "debug"
			c.Limits.MaxReportBytes = 1 << 20
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parse(t, tt.args...)
			if err != nil {
				t.Fatalf("parse %v: %v", tt.args, err)
			}
			want := Default()
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c := Default()
	if c.Listen != ":8443" || !c.HTTP3 || c.Limits.MaxReportBytes != 8<<20 || c.Limits.MaxReportDecompressedBytes != 64<<20 {
		t.Errorf("got %+v, want :8443, http3, 8 MiB, 64 MiB", c)
	}
	if diff := cmp.Diff([]string{"localhost", "127.0.0.1", "::1"}, c.Hostnames); diff != "" {
		t.Errorf("hostnames (-want +got):\n%s", diff)
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml string
		want       []string // substrings of the error
	}{
		{"unknown top-level key", "listen: \":1\"\nlisten_addr: x\n", []string{`line 2`, `unknown key "listen_addr"`}},
		{"unknown nested key", "limits:\n  max_report_bytes: 10\n  max_bytes: 3\n", []string{`line 3`, `unknown key "limits.max_bytes"`}},
		{"duplicate key", "listen: a\nlisten: b\n", []string{`line 2`, `"listen" given twice`}},
		{"limits not a mapping", "limits: 5\n", []string{`line 1`, `"limits" must be a mapping`}},
		{"bad size", "limits:\n  max_report_bytes: 8 parsecs\n", []string{`line 2`, `unknown unit`}},
		{"wrong type", "http3: maybe\n", []string{`line 1`, `maybe`}},
		{"not a mapping", "- a\n- b\n", []string{`must be a mapping`}},
		{"syntax", "listen: [\n", []string{`parse yaml`}},
		{"two documents", "listen: a\n---\nlisten: b\n", []string{`more than one YAML document`}},
		{"duration without unit", "agents:\n  report_interval: 3600\n", []string{`line 2`, `duration "3600"`, `with a unit`}},
		{"duration with a space", "agents:\n  heartbeat_interval: 5 min\n", []string{`line 2`, `duration "5 min"`}},
		{"duration in fractional days", "agents:\n  full_every: 7.5d\n", []string{`line 2`, `duration "7.5d"`, `90d`}},
		{"duration not a scalar", "agents:\n  full_every: [1h]\n", []string{`line 2`, `must be a string like`}},
		{"unknown agents key", "agents:\n  interval: 1h\n", []string{`line 2`, `unknown key "agents.interval"`}},
		{"agents not a mapping", "agents: 1h\n", []string{`line 1`, `"agents" must be a mapping`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			err := Decode([]byte(tt.yaml), &c)
			if err == nil {
				t.Fatalf("Decode(%q): got nil error, want one containing %q", tt.yaml, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got error %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestDecodeEmpty(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "# nothing\n", "~\n"} {
		c := Default()
		if err := Decode([]byte(in), &c); err != nil {
			t.Errorf("Decode(%q): %v", in, err)
		}
		if diff := cmp.Diff(Default(), c); diff != "" {
			t.Errorf("Decode(%q) changed the config (-want +got):\n%s", in, diff)
		}
	}
}

func TestMissingConfigFile(t *testing.T) {
	t.Parallel()
	_, err := parse(t, "--config", filepath.Join(t.TempDir(), "nope.yaml"), "--data", "/d")
	if err == nil || !strings.Contains(err.Error(), "read config") {
		t.Errorf("got %v, want a read config error", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // "" means valid
	}{
		{"valid", func(c *Config) {}, ""},
		{"port zero", func(c *Config) { c.Listen = "127.0.0.1:0" }, ""},
		{"ipv6", func(c *Config) { c.Listen = "[::1]:8443" }, ""},
		{"no port", func(c *Config) { c.Listen = "localhost" }, `listen "localhost" must be host:port`},
		{"port not a number", func(c *Config) { c.Listen = ":https" }, `port "https" must be a number`},
		{"port too large", func(c *Config) { c.Listen = ":70000" }, `must be a number from 0 to 65535`},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "data_dir is required"},
		{"no hostnames", func(c *Config) { c.Hostnames = nil }, "hostnames must name at least one"},
		{"bad hostname", func(c *Config) { c.Hostnames = []string{"https://x"} }, `hostname "https://x" is not a DNS name`},
		{"bad level", func(c *Config) { c.LogLevel = "loud" }, `log_level "loud"`},
		{"bad format", func(c *Config) { c.LogFormat = "xml" }, `log_format "xml"`},
		{"zero limit", func(c *Config) { c.Limits.MaxReportBytes = 0 }, "limits.max_report_bytes must be positive"},
		{"negative decompressed", func(c *Config) { c.Limits.MaxReportDecompressedBytes = -1 }, "limits.max_report_decompressed_bytes must be positive"},
		{"decompressed below compressed", func(c *Config) { c.Limits.MaxReportDecompressedBytes = 1 << 20 }, "must be at least limits.max_report_bytes"},
		{"postgres", func(c *Config) { c.Store = Store{Engine: StorePostgres, DSN: "postgres://roster@db/roster"} }, ""},
		{"postgres without dsn", func(c *Config) { c.Store = Store{Engine: StorePostgres} }, "store.dsn is required with store.engine postgres"},
		{"sqlite with dsn", func(c *Config) { c.Store.DSN = "postgres://roster@db/roster" }, "store.dsn is for engine postgres"},
		{"unknown engine", func(c *Config) { c.Store.Engine = "mysql" }, `store.engine "mysql" must be sqlite or postgres`},
		{"pprof on loopback", func(c *Config) { c.Debug.PprofListen = "127.0.0.1:6060" }, ""},
		{"pprof on ipv6 loopback", func(c *Config) { c.Debug.PprofListen = "[::1]:6060" }, ""},
		{"pprof on every address", func(c *Config) { c.Debug.PprofListen = ":6060" }, "the profiler listens only on a loopback address"},
		{"pprof on a public address", func(c *Config) { c.Debug.PprofListen = "192.0.2.1:6060" }, "the profiler listens only on a loopback address"},
		{"pprof by name", func(c *Config) { c.Debug.PprofListen = "localhost:6060" }, "the profiler listens only on a loopback address"},
		{"pprof without port", func(c *Config) { c.Debug.PprofListen = "127.0.0.1" }, "debug.pprof_listen \"127.0.0.1\" must be host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			c.DataDir = "/d"
			tt.modify(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestValidateReportsAll(t *testing.T) {
	t.Parallel()
	c := Config{Listen: "x", LogLevel: "info", LogFormat: "auto", Hostnames: []string{"localhost"}}
	err := c.Validate()
	if err == nil {
		t.Fatal("got nil, want errors")
	}
	for _, w := range []string{"listen", "data_dir", "max_report_bytes", "max_report_decompressed_bytes"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("got %q, want it to mention %s", err, w)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    ByteSize
		wantErr bool
	}{
		{"8388608", 8 << 20, false},
		{"8MiB", 8 << 20, false},
		{"512 KiB", 512 << 10, false},
		{"1GB", 1e9, false},
		{"10b", 10, false},
		{"", 0, true},
		{"MiB", 0, true},
		{"-1", 0, true},
		{"1.5MiB", 0, true},
		{"3 furlongs", 0, true},
		{"99999999999GiB", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestStoreFromFile(t *testing.T) {
	t.Parallel()
	c, err := parse(t, "--data", "/d", "--config", writeFile(t, "store:\n  engine: postgres\n  dsn: postgres://roster@db.example.org/roster\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Store{Engine: StorePostgres, DSN: "postgres://roster@db.example.org/roster"}); c.Store != want {
		t.Errorf("got %+v, want %+v", c.Store, want)
	}
	if c, _ := parse(t, "--data", "/d"); c.Store.Engine != StoreSQLite {
		t.Errorf("default engine %q, want sqlite", c.Store.Engine)
	}
}

func TestRetentionAndBackupConfig(t *testing.T) {
	c := Default()
	c.DataDir = t.TempDir()
	if err := Decode([]byte("retention:\n  events: 30d\n  audit_log: 0s\nbackup:\n  interval: 24h\n  recipients: [age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq]\n  keep: 3\n"), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(c.Retention.Events); got != 30*24*time.Hour {
		t.Errorf("events = %s, want 720h", got)
	}
	if c.Retention.AuditLog != 0 || c.Retention.DeviceHistory != Duration(DefaultDeviceHistory) {
		t.Errorf("audit_log %s device_history %s: want 0 and the default", c.Retention.AuditLog, c.Retention.DeviceHistory)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"retention:\n  device_history: 90d\n", "retention.device_history 2160h0m0s is below"},
		{"retention:\n  report_bookkeeping: 1d\n", "retention.report_bookkeeping 24h0m0s is below"},
		{"retention:\n  interval: 10s\n", "retention.interval 10s must be"},
		{"backup:\n  interval: 24h\n", "no backup.recipients"},
		{"backup:\n  recipients: [ssh-ed25519 AAAA]\n", "not an age public key"},
		{"backup:\n  interval: 10m\n  recipients_file: /x\n", "backup.interval 10m0s must be 0"},
	} {
		c := Default()
		c.DataDir = t.TempDir()
		if err := Decode([]byte(tc.yaml), &c); err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: Validate = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
