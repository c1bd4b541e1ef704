package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/shared/wire"
)

// By default the collector sends no schedule: each agent's own config
// (whose defaults are 1h, 5m, 7d) stays in force until IT sets agents:.
func TestAgentsDefaultsAndSchedule(t *testing.T) {
	t.Parallel()
	if diff := cmp.Diff(wire.Schedule{}, Default().Agents.Schedule()); diff != "" {
		t.Errorf("default schedule (-want +got):\n%s", diff)
	}
}

func TestAgentsFromFile(t *testing.T) {
	t.Parallel()
	file := writeFile(t, `
data_dir: /d
agents:
  report_interval: 30m
  heartbeat_interval: 90s
  full_every: 48h
`)
	got, err := parse(t, "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	want := Agents{ReportInterval: Duration(30 * time.Minute), HeartbeatInterval: Duration(90 * time.Second), FullEvery: Duration(48 * time.Hour)}
	if diff := cmp.Diff(want, got.Agents); diff != "" {
		t.Errorf("agents (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wire.Schedule{ReportIntervalS: 1800, HeartbeatIntervalS: 90, FullEveryS: 172800}, got.Agents.Schedule()); diff != "" {
		t.Errorf("schedule (-want +got):\n%s", diff)
	}

	// A key left out is not sent: agents keep their own value for it.
	c := Default()
	if err := Decode([]byte("agents:\n  heartbeat_interval: 2m\n"), &c); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wire.Schedule{HeartbeatIntervalS: 120}, c.Agents.Schedule()); diff != "" {
		t.Errorf("schedule with only heartbeat_interval set (-want +got):\n%s", diff)
	}
}

func TestAgentsValidate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name                         string
		report, heartbeat, fullEvery time.Duration
		want                         []string // nil means valid
	}{
		{"defaults", time.Hour, 5 * time.Minute, 168 * time.Hour, nil},
		{"the minimum everywhere but heartbeat", 10 * time.Second, 10 * time.Second, 10 * time.Second,
			[]string{"agents.heartbeat_interval (10s) must be shorter than agents.report_interval (10s)"}},
		{"tight but valid", 20 * time.Second, 10 * time.Second, 20 * time.Second, nil},
		{"typo: seconds for minutes", time.Hour, 5 * time.Second, 168 * time.Hour, []string{"agents.heartbeat_interval 5s is below the minimum 10s"}},
		{"unset: agents keep their own", 0, 0, 0, nil},
		{"heartbeat above the agents' default report interval", 0, 2 * time.Hour, 0, []string{"agents.heartbeat_interval (2h0m0s) must be shorter than agents.report_interval (1h0m0s)"}},
		{"heartbeat not below report", time.Hour, time.Hour, 168 * time.Hour, []string{"agents.heartbeat_interval (1h0m0s) must be shorter than agents.report_interval (1h0m0s)"}},
		{"full before report", time.Hour, 5 * time.Minute, 30 * time.Minute, []string{"agents.full_every (30m0s) must be at least agents.report_interval (1h0m0s)"}},
		{"fraction of a second", time.Hour, 90500 * time.Millisecond, 168 * time.Hour, []string{"agents.heartbeat_interval 1m30.5s must be whole seconds"}},
		{"over a year", time.Hour, 5 * time.Minute, 9000 * time.Hour, []string{"agents.full_every 9000h0m0s is above the maximum 8760h0m0s"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			c.DataDir = "/d"
			c.Agents = Agents{ReportInterval: Duration(tt.report), HeartbeatInterval: Duration(tt.heartbeat), FullEvery: Duration(tt.fullEvery)}
			err := c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Errorf("got %v, want valid", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got nil, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
		})
	}
}
