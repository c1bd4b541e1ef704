package registry

import (
	"testing"
	"time"
)

// TestLockoutFor: nothing for four failures, then a minute doubling with
// each further failure, never over an hour.
func TestLockoutFor(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		failures int
		want     time.Duration
	}{
		{0, 0}, {1, 0}, {4, 0},
		{5, time.Minute}, {6, 2 * time.Minute}, {7, 4 * time.Minute}, {10, 32 * time.Minute},
		{11, time.Hour}, {12, time.Hour}, {1000, time.Hour},
	} {
		if got := lockoutFor(tt.failures); got != tt.want {
			t.Errorf("lockoutFor(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
}
