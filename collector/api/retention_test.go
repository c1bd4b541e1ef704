package api_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/retention"
)

// After a retention purge the API still verifies the audit chain (from
// the signed checkpoint it now starts after) and says which device's
// snapshot was purged rather than answering as if it never reported.
func TestAPIAfterRetentionPurge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, tls.RequestClientCert)
	a := f.reportedDevice(t)
	if r := f.admin(t, http.MethodPost, "/api/v1/devices/"+a.deviceID+"/revoke", nil); r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	cp, err := f.reg.Checkpoint(ctx, f.ca.Command.KeyID(), f.ca.Command.Sign, time.Now())
	if err != nil || cp == nil {
		t.Fatalf("checkpoint: %v, %v", cp, err)
	}
	p := retention.Policy{Rules: []retention.Rule{
		{Kind: retention.RetiredDevices, Keep: 400 * 24 * time.Hour},
		{Kind: retention.AuditLog, Keep: 400 * 24 * time.Hour},
	}}
	if _, err := f.reg.Purge(ctx, p, time.Now().Add(1000*24*time.Hour)); err != nil {
		t.Fatal(err)
	}

	r := f.admin(t, http.MethodGet, "/api/v1/audit/verify", nil)
	var res struct {
		OK       bool  `json:"ok"`
		FirstSeq int64 `json:"first_seq"`
		Anchor   int64 `json:"anchor"`
	}
	if err := json.Unmarshal(r.body, &res); err != nil || r.status != http.StatusOK {
		t.Fatalf("audit verify: %d %s", r.status, r.body)
	}
	if !res.OK || res.Anchor != cp.Seq || res.FirstSeq != cp.Seq+1 {
		t.Errorf("audit verify after the purge: %s, want ok from entry %d anchored on %d", r.body, cp.Seq+1, cp.Seq)
	}

	r = f.admin(t, http.MethodGet, "/api/v1/devices/"+a.deviceID, nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"snapshot_purged_at":"`) {
		t.Errorf("device after the purge: %d, want snapshot_purged_at\n%s", r.status, r.body)
	}
	r = f.admin(t, http.MethodGet, "/api/v1/devices/"+a.deviceID+"/snapshot", nil)
	if r.status != http.StatusNotFound || !strings.Contains(string(r.body), "purged by retention") {
		t.Errorf("snapshot after the purge: %d %s, want 404 saying it was purged", r.status, r.body)
	}
}
