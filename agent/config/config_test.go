package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDefaultsValidate(t *testing.T) {
	t.Parallel()
	for _, goos := range []string{"linux", "darwin", "windows"} {
		c := Defaults(goos)
		if err := c.Validate(); err != nil {
			t.Errorf("%s defaults: %v", goos, err)
		}
	}
	if got := DefaultPath("linux"); got != "/etc/roster/agent.yaml" {
		t.Errorf("DefaultPath(linux) = %q", got)
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", `
collector: https://collector.example:8443
state_dir: /tmp/agent-a
transport: https
quic_timeout: 2s
http3_retry_interval: 12h
retry_max: 2
skip: [os/updates]
delta: false
report_interval: 200ms
heartbeat_interval: 1m
full_every: 24h
backoff_max: 30s
memory_limit: 33554432
spool:
  max_bytes: 2097152
  max_reports: 50
wipe:
  allow: true
  targets: [/dev/loop7]
  header_backups: [/root/luks-header.bak]
`)
	empty := write("empty.yaml", "")
	unknown := write("unknown.yaml", "colector: https://x\n")
	badDur := write("baddur.yaml", "quic_timeout: soon\n")
	twoDocs := write("two.yaml", "retry_max: 1\n---\nretry_max: 2\n")
	several := write("several.yaml", `
collectors:
  - https://a.example:8443
  - https://b.example:8443
failover_timeout: 5s
failback_interval: 30m
`)
	wantSeveral := Defaults("linux")
	wantSeveral.Collectors = []string{"https://a.example:8443", "https://b.example:8443"}
	wantSeveral.FailoverTimeout = 5 * time.Second
	wantSeveral.FailbackInterval = 30 * time.Minute

	want := Defaults("linux")
	want.Collector = "https://collector.example:8443"
	want.StateDir = "/tmp/agent-a"
	want.Transport = "https"
	want.QUICTimeout = 2 * time.Second
	want.HTTP3RetryInterval = 12 * time.Hour
	want.RetryMax = 2
	want.Skip = []string{"os/updates"}
	want.Delta = false
	want.ReportInterval = 200 * time.Millisecond
	want.HeartbeatInterval = time.Minute
	want.FullEvery = 24 * time.Hour
	want.BackoffMax = 30 * time.Second
	want.MemoryLimit = 32 << 20
	want.Spool = Spool{MaxBytes: 2 << 20, MaxReports: 50}
	// The file's list replaces the default [auto], not appends to it.
	want.Wipe = Wipe{Allow: true, Targets: []string{"/dev/loop7"}, HeaderBackups: []string{"/root/luks-header.bak"}}

	tests := []struct {
		name     string
		path     string
		explicit bool
		want     *Config
		wantErr  string
	}{
		{"file over defaults", good, true, &want, ""},
		{"several collectors", several, true, &wantSeveral, ""},
		{"empty file keeps defaults", empty, true, ptr(Defaults("linux")), ""},
		{"missing default file is fine", filepath.Join(dir, "none.yaml"), false, ptr(Defaults("linux")), ""},
		{"missing explicit file is an error", filepath.Join(dir, "none.yaml"), true, nil, "no such file"},
		{"unknown key", unknown, true, nil, "field colector not found"},
		{"bad duration", badDur, true, nil, "cannot unmarshal !!str `soon` into time.Duration"},
		{"two documents", twoDocs, true, nil, "more than one YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Defaults("linux")
			err := c.LoadFile(tt.path, tt.explicit)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(*tt.want, c); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{"http collector", func(c *Config) { c.Collector = "http://x:8443" }, "collector: \"http://x:8443\" must start with https://"},
		{"collector with path", func(c *Config) { c.Collector = "https://x:8443/api" }, "without a path"},
		{"collector without host", func(c *Config) { c.Collector = "https://:8443" }, "has no host"},
		{"trailing slash is fine", func(c *Config) { c.Collector = "https://x:8443/" }, ""},
		{"several collectors", func(c *Config) { c.Collectors = []string{"https://a:8443", "https://b:8443/"} }, ""},
		{"collector and collectors", func(c *Config) { c.Collector, c.Collectors = "https://a:8443", []string{"https://b:8443"} }, "collectors: give collector or collectors, not both"},
		{"one of several collectors over http", func(c *Config) { c.Collectors = []string{"https://a:8443", "http://b:8443"} }, `collectors[1]: "http://b:8443" must start with https://`},
		{"collector listed twice", func(c *Config) { c.Collectors = []string{"https://a:8443", "https://a:8443/"} }, `collectors[1]: "https://a:8443/" is listed twice`},
		{"empty collector in the list", func(c *Config) { c.Collectors = []string{""} }, `collectors[0]: "" must start with https://`},
		{"zero failover timeout", func(c *Config) { c.FailoverTimeout = 0 }, "failover_timeout: must be positive"},
		{"negative failback interval", func(c *Config) { c.FailbackInterval = -time.Hour }, "failback_interval: must be positive"},
		{"unknown transport", func(c *Config) { c.Transport = "quic" }, `transport: "quic" is not auto, http3 or https`},
		{"no state dir", func(c *Config) { c.StateDir = " " }, "state_dir: must not be empty"},
		{"zero quic timeout", func(c *Config) { c.QUICTimeout = 0 }, "quic_timeout: must be positive"},
		{"backoff upside down", func(c *Config) { c.RetryWaitMin, c.RetryWaitMax = time.Minute, time.Second }, "retry_wait_max: 1s is below retry_wait_min 1m0s"},
		{"negative retries", func(c *Config) { c.RetryMax = -1 }, "retry_max: -1 is outside 0..20"},
		{"log level", func(c *Config) { c.LogLevel = "loud" }, `log_level: "loud"`},
		{"zero report interval", func(c *Config) { c.ReportInterval = 0 }, "report_interval: must be positive"},
		{"negative heartbeat interval", func(c *Config) { c.HeartbeatInterval = -time.Second }, "heartbeat_interval: must be positive"},
		{"zero full_every", func(c *Config) { c.FullEvery = 0 }, "full_every: must be positive"},
		{"check-in backoff upside down", func(c *Config) { c.BackoffMin, c.BackoffMax = time.Minute, time.Second }, "backoff_max: 1s is below backoff_min 1m0s"},
		{"tiny memory limit", func(c *Config) { c.MemoryLimit = 1 << 20 }, "memory_limit: 1048576 bytes is below 8 MiB"},
		{"no memory limit is fine", func(c *Config) { c.MemoryLimit = 0 }, ""},
		{"tiny spool", func(c *Config) { c.Spool.MaxBytes = 1000 }, "spool.max_bytes: 1000 is below 1 MiB"},
		{"one-report spool", func(c *Config) { c.Spool.MaxReports = 1 }, "spool.max_reports: 1 is below 2"},
		{"wipe allowed on auto", func(c *Config) { c.Wipe.Allow = true }, ""},
		{"wipe allowed on devices", func(c *Config) { c.Wipe = Wipe{Allow: true, Targets: []string{"auto", "/dev/nvme0n1p3"}} }, ""},
		{"wipe allowed without targets", func(c *Config) { c.Wipe = Wipe{Allow: true} }, "wipe.targets: empty while wipe.allow is true"},
		{"wipe target not a device", func(c *Config) { c.Wipe.Targets = []string{"/home"} }, `wipe.targets: "/home" is neither auto nor a clean /dev/... device path`},
		{"wipe target unclean", func(c *Config) { c.Wipe.Targets = []string{"/dev/../etc/passwd"} }, "neither auto nor a clean"},
		{"wipe target twice", func(c *Config) { c.Wipe.Targets = []string{"/dev/sda2", "/dev/sda2"} }, `wipe.targets: "/dev/sda2" listed twice`},
		{"relative header backup", func(c *Config) { c.Wipe.HeaderBackups = []string{"hdr.bak"} }, `wipe.header_backups: "hdr.bak" is not a clean absolute path`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Defaults("linux")
			tt.change(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestURLs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    Config
		want []string
	}{
		{"none", Config{}, nil},
		{"one", Config{Collector: "https://a:8443"}, []string{"https://a:8443"}},
		{"several", Config{Collectors: []string{"https://a:8443", "https://b:8443"}}, []string{"https://a:8443", "https://b:8443"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.c.URLs()); diff != "" {
				t.Errorf("URLs (-want +got):\n%s", diff)
			}
		})
	}
}
