package throttle

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	l := New(func() time.Time { return now }, 3)
	for i := range 3 {
		if w := l.Blocked("10.0.0.1"); w != 0 {
			t.Fatalf("blocked after %d failures", i)
		}
		l.Fail("10.0.0.1")
	}
	if w := l.Blocked("10.0.0.1"); w != Window {
		t.Errorf("after 3 failures: wait %v, want %v", w, Window)
	}
	if w := l.Blocked("10.0.0.2"); w != 0 {
		t.Errorf("another source blocked: %v", w)
	}
	now = now.Add(40 * time.Second)
	if w := l.Blocked("10.0.0.1"); w != 20*time.Second {
		t.Errorf("40 s later: wait %v, want 20s", w)
	}
	now = now.Add(20 * time.Second)
	if w := l.Blocked("10.0.0.1"); w != 0 {
		t.Errorf("after the window: wait %v", w)
	}
	off := New(func() time.Time { return now }, -1)
	for range 100 {
		off.Fail("x")
	}
	if w := off.Blocked("x"); w != 0 {
		t.Errorf("a negative burst still blocks: %v", w)
	}
	if New(time.Now, 0).burst != DefaultBurst {
		t.Error("0 does not mean the default burst")
	}
}
