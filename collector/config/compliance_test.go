package config

import (
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/compliance"
)

func TestComplianceAndWebhooks(t *testing.T) {
	t.Parallel()
	good := "data_dir: /var/lib/roster\ncompliance:\n  policies: /etc/roster/policies.yaml\n  exception_max_validity: 720h\n  evaluate_interval: 1m\n" +
		"  cel_max_estimated_cost: 250000\n  cel_max_runtime_cost: 2000000\n" +
		"webhooks:\n  - id: siem\n    url: https://siem.example/hook\n    secret_file: /etc/roster/siem.secret\n    events: [\"compliance.*\"]\n"
	c := Default()
	if err := Decode([]byte(good), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Compliance.Policies != "/etc/roster/policies.yaml" || time.Duration(c.Compliance.ExceptionMaxValidity) != 720*time.Hour ||
		len(c.Webhooks) != 1 || c.Webhooks[0].SecretFile != "/etc/roster/siem.secret" || c.Webhooks[0].Events[0] != "compliance.*" {
		t.Errorf("decoded %+v %+v", c.Compliance, c.Webhooks)
	}
	if got, want := c.Compliance.CELLimits(), (compliance.Limits{MaxEstimatedCost: 250_000, MaxRuntimeCost: 2_000_000}); got != want {
		t.Errorf("got CEL limits %+v, want %+v", got, want)
	}
	if got, want := Default().Compliance.CELLimits(), compliance.DefaultLimits(); got != want {
		t.Errorf("got default CEL limits %+v, want %+v", got, want)
	}
	if d := Default(); time.Duration(d.Compliance.ExceptionMaxValidity) != 365*24*time.Hour || time.Duration(d.Compliance.EvaluateInterval) != 5*time.Minute {
		t.Errorf("defaults %+v", d.Compliance)
	}

	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown webhook key", "webhooks:\n  - id: a\n    url: https://a/\n    secret: s\n    event: [\"*\"]\n", []string{"line 5", `unknown key "webhooks[0].event"`}},
		{"webhook not a mapping", "webhooks:\n  - https://a/\n", []string{"line 2", "webhooks[0] must be a mapping"}},
		{"unknown compliance key", "compliance:\n  policy: x.yaml\n", []string{`unknown key "compliance.policy"`}},
		{"negative cost", "compliance:\n  cel_max_runtime_cost: -1\n", []string{"line 2", "cannot unmarshal"}},
		{"cost as a string", "compliance:\n  cel_max_estimated_cost: lots\n", []string{"line 2", "cannot unmarshal"}},
	}
	for _, tt := range tests {
		c := Default()
		err := Decode([]byte(tt.yaml), &c)
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: got %v, want an error containing %q", tt.name, err, w)
			}
		}
	}

	invalid := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no secret", func(c *Config) { c.Webhooks = []Webhook{{ID: "a", URL: "https://a/", Events: []string{"*"}}} }, "exactly one of secret and secret_file"},
		{"both secrets", func(c *Config) {
			c.Webhooks = []Webhook{{ID: "a", URL: "https://a/", Secret: "s", SecretFile: "f", Events: []string{"*"}}}
		}, "exactly one of secret and secret_file"},
		{"no events", func(c *Config) { c.Webhooks = []Webhook{{ID: "a", URL: "https://a/", Secret: "s"}} }, "webhooks[0].events"},
		{"duplicate id", func(c *Config) {
			w := Webhook{ID: "a", URL: "https://a/", Secret: "s", Events: []string{"*"}}
			c.Webhooks = []Webhook{w, w}
		}, `webhooks[1].id "a" is used twice`},
		{"escape in id", func(c *Config) {
			c.Webhooks = []Webhook{{ID: "siem\x1b[2J", URL: "https://a/", Secret: "s", Events: []string{"*"}}}
		}, "webhooks[0].id: control character U+001B at position 5 is not allowed"},
		{"bidi override in id", func(c *Config) {
			c.Webhooks = []Webhook{{ID: "a\u202eb", URL: "https://a/", Secret: "s", Events: []string{"*"}}}
		}, "webhooks[0].id: bidirectional control U+202E at position 2 is not allowed"},
		{"not http", func(c *Config) {
			c.Webhooks = []Webhook{{ID: "a", URL: "ftp://a/", Secret: "s", Events: []string{"*"}}}
		}, "webhooks[0].url"},
		{"interval too short", func(c *Config) { c.Compliance.EvaluateInterval = Duration(time.Second) }, "compliance.evaluate_interval"},
		{"no validity", func(c *Config) { c.Compliance.ExceptionMaxValidity = 0 }, "compliance.exception_max_validity"},
		{"no estimated cost", func(c *Config) { c.Compliance.CELMaxEstimatedCost = 0 },
			"compliance.cel_max_estimated_cost must be at least 1 (default 100000)"},
		{"runtime cost below the estimate", func(c *Config) { c.Compliance.CELMaxRuntimeCost = compliance.DefaultMaxEstimatedCost - 1 },
			"compliance.cel_max_runtime_cost 99999 must be at least compliance.cel_max_estimated_cost 100000"},
	}
	for _, tt := range invalid {
		c := Default()
		c.DataDir = "/var/lib/roster"
		tt.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}
