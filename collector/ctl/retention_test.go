package ctl

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/retention"
)

// TestAuditVerifyAfterPurge: the witness rosterctl kept names a checkpoint
// whose entry retention has since purged; the chain the collector verified
// from a later signed checkpoint is accepted, and the witness moves on.
func TestAuditVerifyAfterPurge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env, reg := usersCollector(t)
	env["HOME"] = t.TempDir()
	key, err := pki.LoadCommandKey(filepath.Join(filepath.Dir(env["ROSTER_CA"]), "pki"))
	if err != nil {
		t.Fatal(err)
	}
	entries := func(n int) {
		for i := range n {
			if _, _, err := reg.CreateSecret(ctx, "site", time.Hour, 0, time.Now()); err != nil {
				t.Fatalf("secret %d: %v", i, err)
			}
		}
	}
	checkpoint := func() {
		if _, err := reg.Checkpoint(ctx, key.KeyID(), key.Sign, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	entries(3)
	checkpoint()
	if r := runCtl(t, env, "audit", "verify"); r.code != 0 {
		t.Fatalf("first verify: %d %s", r.code, r.stderr)
	}
	entries(2)
	checkpoint()
	entries(1)
	p := retention.Policy{Rules: []retention.Rule{{Kind: retention.AuditLog, Keep: 400 * 24 * time.Hour}}}
	rep, err := reg.Purge(ctx, p, time.Now().Add(1000*24*time.Hour))
	if err != nil || rep.Kinds[0].ThroughSeq == 0 {
		t.Fatalf("purge: %+v, %v", rep, err)
	}
	r := runCtl(t, env, "audit", "verify")
	if r.code != 0 || !strings.Contains(r.stdout, "audit log verified") {
		t.Errorf("verify after the purge, the witness predating it: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCtl(t, env, "audit", "verify"); r.code != 0 {
		t.Errorf("verify with the witness moved on: exit %d %s", r.code, r.stderr)
	}
}
