package registry_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/rosterhq/roster/collector/registry"
)

// TestOpenDoesNotMigrate: opening a store applies nothing; Migrate does,
// once, and says what it applied.
func TestOpenDoesNotMigrate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg, err := registry.Open(ctx, filepath.Join(t.TempDir(), "roster.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if err := reg.Ready(ctx); err == nil {
		t.Fatal("a store nobody migrated says it is ready")
	}
	applied, err := reg.Migrate(ctx)
	if err != nil || len(applied) == 0 {
		t.Fatalf("first Migrate: %v, applied %v", err, applied)
	}
	if err := reg.Ready(ctx); err != nil {
		t.Errorf("after Migrate: %v", err)
	}
	if again, err := reg.Migrate(ctx); err != nil || len(again) != 0 {
		t.Errorf("second Migrate: %v, applied %v, want nothing", err, again)
	}
}
