package registry_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/registry"
)

// TestTwoInstancesKeepAuditChain has two registries on one store (two
// collectors sharing a database), each writing audited changes from
// several goroutines at once, and checkpointing meanwhile. Each entry
// links to the head its writer read; on PostgreSQL two writers reading the
// same head collide on the next seq or on serialization, and write runs
// the loser again, so the chain ends whole and every change is in it
// exactly once.
func TestTwoInstancesKeepAuditChain(t *testing.T) {
	t.Parallel()
	store := registry.NewTestStore(t)
	a := registry.OpenTestStore(t, store)
	b := registry.OpenTestStore(t, store)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	sign := func(m []byte) string { return base64.StdEncoding.EncodeToString(ed25519.Sign(priv, m)) }
	ctx := access.WithActor(context.Background(), access.Actor{Principal: access.Principal{ID: "p1", Name: "alice", Kind: access.KindPerson, Role: access.Admin}, Source: "127.0.0.1"})

	const perWriter = 15
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i, reg := range []*registry.Registry{a, b, a, b} {
		wg.Go(func() {
			for j := range perWriter {
				if _, _, err := reg.CreateSecret(ctx, fmt.Sprintf("w%d-%d", i, j), time.Hour, 0, t0); err != nil {
					errs <- fmt.Errorf("writer %d: create secret %d: %w", i, j, err)
					return
				}
				if j%5 == 4 {
					if _, err := reg.Checkpoint(ctx, "k1", sign, time.Now()); err != nil {
						errs <- fmt.Errorf("writer %d: checkpoint: %w", i, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for name, reg := range map[string]*registry.Registry{"a": a, "b": b} {
		res, err := reg.VerifyAudit(ctx, pub, nil, audit.Options{})
		if err != nil {
			t.Fatalf("%s: verify: %v", name, err)
		}
		if !res.OK || res.Entries != 4*perWriter || res.Problem != nil {
			t.Errorf("%s: got %+v, want OK with %d entries", name, res, 4*perWriter)
		}
	}
	secrets, err := a.ListSecrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets) != 4*perWriter {
		t.Errorf("got %d secrets, want %d", len(secrets), 4*perWriter)
	}
}

// TestConcurrentMigrate: collectors starting together on a new store each
// open it (migrating it) without tripping over the other, and it ends
// migrated once.
func TestConcurrentMigrate(t *testing.T) {
	t.Parallel()
	store := registry.NewTestStore(t)
	regs := make([]*registry.Registry, 3)
	errs := make([]error, len(regs))
	var wg sync.WaitGroup
	for i := range regs {
		wg.Go(func() { regs[i], errs[i] = registry.OpenAndMigrate(context.Background(), store, nil) })
	}
	wg.Wait()
	for i, r := range regs {
		if errs[i] != nil {
			t.Errorf("instance %d: %v", i, errs[i])
			continue
		}
		if err := r.Ready(context.Background()); err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
		r.Close()
	}
}
