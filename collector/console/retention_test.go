package console_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/retention"
)

// A retired device whose snapshot retention purged says so on its page:
// its facts are unknown, not "no inventory yet" and not empty.
func TestPurgedDevicePage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.reg.RevokeDevice(ctx, f.device, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	p := retention.Policy{Rules: []retention.Rule{{Kind: retention.RetiredDevices, Keep: 24 * time.Hour}}}
	rep, err := f.reg.Purge(ctx, p, f.clock.Now().Add(48*time.Hour))
	if err != nil || rep.Kinds[0].Tables["snapshots"] != 1 {
		t.Fatalf("purge: %+v, %v", rep, err)
	}
	b := f.browser(t)
	b.signIn("ada")
	pg := b.get("/ui/devices/" + f.device)
	if pg.status != http.StatusOK {
		t.Fatalf("device page: %d\n%s", pg.status, pg.body)
	}
	for _, want := range []string{"purged by retention on", "facts and software are unknown, not absent", "Unknown: retention purged what this retired device reported"} {
		if !strings.Contains(pg.body, want) {
			t.Errorf("purged device page lacks %q", want)
		}
	}
	if strings.Contains(pg.body, "No inventory stored yet") {
		t.Error("purged device page says no inventory was stored yet")
	}
}
