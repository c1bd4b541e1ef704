package registry

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestFleetEvaluationOneAtATime: while one instance evaluates the fleet,
// another's EvaluateAll waits for it instead of running alongside.
func TestFleetEvaluationOneAtATime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := NewTestStore(t)
	a, err := OpenAndMigrate(ctx, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenAndMigrate(ctx, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	_, release, err := a.holdFleetEvaluation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := b.EvaluateAll(short, time.Now()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("b evaluated while a held the lease: %v", err)
	}
	release()
	if _, err := b.EvaluateAll(ctx, time.Now()); err != nil {
		t.Fatalf("b after a released: %v", err)
	}
	if _, err := a.EvaluateAll(ctx, time.Now()); err != nil {
		t.Fatalf("a after b released: %v", err)
	}
}
