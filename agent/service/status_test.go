package service

import (
	"errors"
	"strings"
	"testing"
	"time"

	kservice "github.com/kardianos/service"

	"github.com/rosterhq/roster/agent/state"
)

func TestFresh(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	tests := []struct {
		name string
		st   state.Status
		want bool
	}{
		{"never published", state.Status{}, false},
		{"just updated", state.Status{UpdatedAt: now.Add(-time.Minute)}, true},
		{"at the stale bound", state.Status{UpdatedAt: now.Add(-StatusStaleAfter)}, true},
		{"past the stale bound", state.Status{UpdatedAt: now.Add(-StatusStaleAfter - time.Second)}, false},
		{"collector lengthened the heartbeat", state.Status{UpdatedAt: now.Add(-50 * time.Minute), NextHeartbeatAt: at(10 * time.Minute)}, true},
		{"next report within grace", state.Status{UpdatedAt: now.Add(-2 * time.Hour), NextReportAt: at(-time.Minute)}, true},
		{"scheduled wake-up long past", state.Status{UpdatedAt: now.Add(-2 * time.Hour), NextHeartbeatAt: at(-time.Hour), NextReportAt: at(-30 * time.Minute)}, false},
		{"written in the future by a skewed clock", state.Status{UpdatedAt: now.Add(time.Hour)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Fresh(tt.st, now); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStateOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		st      kservice.Status
		err     error
		want    State
		wantErr bool
	}{
		{"running", kservice.StatusRunning, nil, StateRunning, false},
		{"stopped", kservice.StatusStopped, nil, StateStopped, false},
		{"not installed", kservice.StatusUnknown, kservice.ErrNotInstalled, StateNotInstalled, false},
		{"systemd failed", kservice.StatusUnknown, errors.New("service in failed state"), StateFailed, false},
		{"cannot ask", kservice.StatusUnknown, errors.New("exec: systemctl: not found"), StateUnknown, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := stateOf(tt.st, tt.err)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("got %v, %v, want %v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestOpenRefusesOtherPlatforms(t *testing.T) {
	t.Parallel()
	for _, goos := range []string{"plan9", "freebsd"} {
		t.Run(goos, func(t *testing.T) {
			t.Parallel()
			_, err := Open(Definition{GOOS: goos})
			if err == nil || !strings.Contains(err.Error(), "cannot manage a "+goos+" service") {
				t.Errorf("got %v, want a refusal to manage a %s service", err, goos)
			}
		})
	}
}
