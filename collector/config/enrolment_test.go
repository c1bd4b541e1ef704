package config

import (
	"strings"
	"testing"
	"time"
)

// TestEnrolmentSection: the enrolment policy's defaults are issue 11's (a
// device silent 30 days may be continued by its hardware identity alone;
// a signed command lives at most 7 days once signed), the section decodes
// days as a unit, and values outside the bounds are refused by name.
func TestEnrolmentSection(t *testing.T) {
	t.Parallel()
	d := Default()
	if got := time.Duration(d.Enrolment.ReenrollAfterSilence); got != 30*24*time.Hour {
		t.Errorf("default reenroll_after_silence %s, want 720h", got)
	}
	if got := time.Duration(d.Enrolment.CommandLifetime); got != 7*24*time.Hour {
		t.Errorf("default command_lifetime %s, want 168h", got)
	}

	c := Default()
	if err := Decode([]byte("data_dir: /var/lib/roster\nenrolment:\n  reenroll_after_silence: 90d\n  command_lifetime: 36h\n"), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.Enrolment.ReenrollAfterSilence) != 90*24*time.Hour || time.Duration(c.Enrolment.CommandLifetime) != 36*time.Hour {
		t.Errorf("decoded %+v, want 90 days and 36h", c.Enrolment)
	}
	if err := Decode([]byte("enrolment:\n  reenroll_after: 90d\n"), &c); err == nil || !strings.Contains(err.Error(), `unknown key "enrolment.reenroll_after"`) {
		t.Errorf("unknown enrolment key: %v", err)
	}

	for _, tt := range []struct {
		name string
		edit func(*Enrolment)
		want string
	}{
		{"silence window too short", func(e *Enrolment) { e.ReenrollAfterSilence = Duration(30 * time.Minute) }, "enrolment.reenroll_after_silence 30m0s must be between 1h"},
		{"silence window too long", func(e *Enrolment) { e.ReenrollAfterSilence = Duration(400 * 24 * time.Hour) }, "enrolment.reenroll_after_silence 9600h0m0s must be between"},
		{"command lifetime too short", func(e *Enrolment) { e.CommandLifetime = Duration(time.Minute) }, "enrolment.command_lifetime 1m0s must be between 10m"},
		{"command lifetime too long", func(e *Enrolment) { e.CommandLifetime = Duration(367 * 24 * time.Hour) }, "enrolment.command_lifetime 8808h0m0s must be between"},
	} {
		c := Default()
		c.DataDir = "/var/lib/roster"
		tt.edit(&c.Enrolment)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}
