package registry_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/rosterhq/roster/collector/registry"
)

// TestPublishSharedKeysOnce: collectors starting together on one store
// each try to publish their keys; exactly one set is stored, every caller
// is handed that set, and the publication is in the audit log once.
func TestPublishSharedKeysOnce(t *testing.T) {
	t.Parallel()
	store := registry.NewTestStore(t)
	regs := []*registry.Registry{registry.OpenTestStore(t, store), registry.OpenTestStore(t, store), registry.OpenTestStore(t, store)}
	ctx := context.Background()
	if _, found, err := regs[0].LoadSharedKeys(ctx); err != nil || found {
		t.Fatalf("new store: found=%v err=%v, want none", found, err)
	}
	held := make([]registry.SharedKeys, len(regs))
	won := make([]bool, len(regs))
	errs := make([]error, len(regs))
	var wg sync.WaitGroup
	for i, reg := range regs {
		wg.Go(func() {
			held[i], won[i], errs[i] = reg.PublishSharedKeys(ctx, registry.SharedKeys{
				CAFingerprint: fmt.Sprintf("sha256:%d", i), Sealed: fmt.Sprintf("sealed-%d", i), CreatedBy: fmt.Sprintf("collector-%d", i),
			}, t0)
		})
	}
	wg.Wait()
	winners := 0
	for i := range regs {
		if errs[i] != nil {
			t.Fatalf("collector %d: %v", i, errs[i])
		}
		if won[i] {
			winners++
		}
		if held[i].CAFingerprint != held[0].CAFingerprint || held[i].Sealed != held[0].Sealed {
			t.Errorf("collector %d was handed %+v, collector 0 %+v", i, held[i], held[0])
		}
	}
	if winners != 1 {
		t.Fatalf("%d collectors published, want exactly 1", winners)
	}
	got, found, err := regs[2].LoadSharedKeys(ctx)
	if err != nil || !found || got.Sealed != held[0].Sealed || !got.CreatedAt.Equal(t0) {
		t.Fatalf("load: %+v found=%v err=%v, want %+v at %v", got, found, err, held[0], t0)
	}
	es, _, err := regs[0].ListAudit(ctx, registry.AuditFilter{Action: "collector.keys_published"})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Target != held[0].CAFingerprint {
		t.Errorf("audit: %+v, want one publication of %s", es, held[0].CAFingerprint)
	}
}
