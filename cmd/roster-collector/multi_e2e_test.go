package main

// Issue 12's several-collectors test with the real binaries: two
// collectors on one real PostgreSQL (pgtest), joined through the store
// (one store.key_file: the first publishes its CA and command-signing key
// sealed, the second takes them), agents split between them,
// rosterctl against either seeing the same registry, a policy change made
// through A judging a device that reports to B, and A killed while an
// agent reports: the agent fails over to B and nothing is lost.

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
	"github.com/rosterhq/roster/collector/store/pgtest"
	"github.com/rosterhq/roster/collector/webhook"
)

// fleetPeriod is the fleet re-evaluation period of the two collectors (the
// shortest the configuration allows).
const fleetPeriod = 10 * time.Second

// scrape reads a collector's /metrics into series (name{labels}) → value.
func scrape(t *testing.T, hc *http.Client, c *collectortest.Collector) map[string]float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", c.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+c.AdminToken)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", c.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", c.URL, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape %s: line %q: %v", c.URL, line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func TestTwoCollectorsOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and two collectors")
	}
	pg := pgtest.Start(t)
	// One webhook receiver both collectors deliver to: every event must
	// arrive once, not once per collector.
	const hookSecret = "multi-collector-webhook-secret"
	var (
		mu         sync.Mutex
		deliveries = map[string]int{}
		events     = map[string]int{}
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(hookSecret, r.Header.Get(webhook.HeaderSignature), r.Header.Get(webhook.HeaderTimestamp), body, time.Now(), 0); err != nil {
			t.Errorf("webhook signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev struct {
			ID string `json:"id"`
		}
		json.Unmarshal(body, &ev)
		mu.Lock()
		deliveries[r.Header.Get(webhook.HeaderDelivery)]++
		events[ev.ID]++
		mu.Unlock()
	}))
	t.Cleanup(recv.Close)
	cfg := filepath.Join(t.TempDir(), "collector.yaml")
	keyFile := newKeyFile(t)
	yaml := "store:\n  engine: postgres\n  dsn: " + pg.DSN("postgres") + "\n  key_file: " + keyFile + "\n" +
		"compliance:\n  evaluate_interval: " + fleetPeriod.String() + "\n" +
		"webhooks:\n  - id: multi\n    url: " + recv.URL + "\n    secret: " + hookSecret + "\n    events: [\"compliance.*\"]\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	dirA, dirB := filepath.Join(root, "a"), filepath.Join(root, "b")
	aStarted := time.Now()
	a := collectortest.Start(t, collectorBin, collectortest.Options{DataDir: dirA, Config: cfg, Args: []string{"--http3=false"}})
	// B starts with an empty data directory and takes A's CA and
	// command-signing key from the store.
	b := collectortest.Start(t, collectorBin, collectortest.Options{DataDir: dirB, Config: cfg, Args: []string{"--http3=false"}})
	if a.Fingerprint != b.Fingerprint {
		t.Fatalf("joined collectors have different CAs: %s and %s", a.Fingerprint, b.Fingerprint)
	}
	if b.BootstrapToken != "" {
		t.Error("the joined collector printed a bootstrap token of its own")
	}

	out, errOut, code := rosterctl(t, a, a.AdminToken, "secrets", "create", "--label", "multi", "--expires", "1h", "--json")
	if code != 0 {
		t.Fatalf("secrets create: exit %d: %s", code, errOut)
	}
	var secret struct {
		Secret string `json:"secret"`
	}
	decodeJSON(t, "secrets create", out, &secret)

	// Agent 1 prefers A, agent 2 prefers B; different captured machines.
	type agentRun struct {
		base []string
		id   string
	}
	enrol := func(host, collectors string) agentRun {
		t.Helper()
		hostRoot, _ := filepath.Abs(filepath.Join("../../testdata/hosts/linux", host))
		base := []string{"--state-dir", filepath.Join(t.TempDir(), "state"), "--transport", "https", "--os", "linux", "--host-root", hostRoot}
		out, errOut, code := agent(t, append([]string{"enroll", "--collector", collectors, "--secret", secret.Secret, "--ca-fingerprint", a.Fingerprint, "--json"}, base...)...)
		if code != 0 {
			t.Fatalf("enroll %s: exit %d: %s", host, code, errOut)
		}
		var e struct {
			DeviceID string `json:"device_id"`
		}
		decodeJSON(t, "enroll", out, &e)
		return agentRun{base: base, id: e.DeviceID}
	}
	report := func(r agentRun) string {
		t.Helper()
		out, errOut, code := agent(t, append([]string{"report", "--once", "--json"}, r.base...)...)
		if code != 0 {
			t.Fatalf("report: exit %d: %s", code, errOut)
		}
		var res struct {
			Status    string `json:"status"`
			Collector string `json:"collector"`
		}
		decodeJSON(t, "report", out, &res)
		if res.Status != "applied" {
			t.Fatalf("report status %q: %s", res.Status, out)
		}
		return res.Collector
	}
	one := enrol("dell-r6515-centos7", a.URL+","+b.URL)
	two := enrol("alpine", b.URL+","+a.URL)
	if got := report(one); got != a.URL {
		t.Errorf("agent 1 reported to %s, want %s", got, a.URL)
	}
	if got := report(two); got != b.URL {
		t.Errorf("agent 2 reported to %s, want %s", got, b.URL)
	}

	// Either collector serves the same registry.
	for _, c := range []*collectortest.Collector{a, b} {
		out, errOut, code := rosterctl(t, c, c.AdminToken, "devices", "list", "--json")
		if code != 0 {
			t.Fatalf("devices list via %s: exit %d: %s", c.URL, code, errOut)
		}
		var page struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		decodeJSON(t, "devices list", out, &page)
		var ids []string
		for _, d := range page.Items {
			ids = append(ids, d.ID)
		}
		if !slices.Contains(ids, one.id) || !slices.Contains(ids, two.id) {
			t.Errorf("devices via %s: %v, want both %s and %s", c.URL, ids, one.id, two.id)
		}
	}

	// A policy change made through A judges the device that reports to B,
	// as B shows it, without a new report.
	policies := "policies:\n  - id: TEST-NO-LIBSSL\n    title: no libssl\n    severity: high\n    kind: banned_software\n    params:\n      name: \"libssl*\"\n"
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(a.CAFile)
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("PUT", a.URL+"/api/v1/policies", strings.NewReader(policies))
	req.Header.Set("Authorization", "Bearer "+a.AdminToken)
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT policies through A: %d", resp.StatusCode)
	}
	out, errOut, code = rosterctl(t, b, b.AdminToken, "devices", "show", two.id, "--json")
	if code != 0 {
		t.Fatalf("devices show via B: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, `"TEST-NO-LIBSSL"`) || !strings.Contains(out, `"fail"`) {
		t.Errorf("device 2 via B after the policy change through A does not fail TEST-NO-LIBSSL:\n%s", out)
	}

	// Every compliance event either collector stored reached the receiver
	// exactly once, whichever collector's worker sent it.
	out, errOut, code = rosterctl(t, b, b.AdminToken, "events", "--kind", "compliance.changed", "--all", "--json")
	if code != 0 {
		t.Fatalf("events via B: exit %d: %s", code, errOut)
	}
	var stored struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	decodeJSON(t, "events", out, &stored)
	if len(stored.Items) == 0 {
		t.Fatal("no compliance.changed events stored")
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		missing := 0
		for _, e := range stored.Items {
			if events[e.ID] == 0 {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d compliance events never reached the webhook receiver", missing, len(stored.Items))
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	t.Logf("%d compliance events stored, %d distinct events and %d deliveries received", len(stored.Items), len(events), len(deliveries))
	for id, n := range events {
		if n != 1 {
			t.Errorf("event %s delivered %d times, want once", id, n)
		}
	}
	for id, n := range deliveries {
		if n != 1 {
			t.Errorf("delivery %s sent %d times, want once", id, n)
		}
	}
	mu.Unlock()

	// Each periodic job ran in one collector only: the fleet
	// re-evaluation (every 10 s here) ran at most once per period in all,
	// in A (which took its lease first), never in B.
	if wait := time.Until(aStarted.Add(2*fleetPeriod + time.Second)); wait > 0 {
		time.Sleep(wait)
	}
	elapsed := time.Since(aStarted)
	ma, mb := scrape(t, hc, a), scrape(t, hc, b)
	const fleet = `job="compliance.evaluate_fleet"`
	runsA, runsB := ma["roster_job_runs_total{"+fleet+"}"], mb["roster_job_runs_total{"+fleet+"}"]
	t.Logf("fleet re-evaluation in %v: %v runs in A, %v in B", elapsed.Round(time.Second), runsA, runsB)
	if runsA < 2 || runsB != 0 || runsA+runsB > float64(elapsed/fleetPeriod)+1 {
		t.Errorf("fleet re-evaluation ran %v times in A and %v in B in %v, want ≥ 2 in A, none in B, at most one per %v period", runsA, runsB, elapsed.Round(time.Second), fleetPeriod)
	}
	for _, job := range []string{leaseFleetEvaluate, leaseFlagsRefresh, leaseWipeExpiry, leaseAuditCheckpoint} {
		key := `roster_job_lease_held{job="` + job + `"}`
		if ma[key]+mb[key] != 1 {
			t.Errorf("job %s: lease held by A %v, by B %v; want exactly one", job, ma[key], mb[key])
		}
	}

	// A dies; agent 1 fails over to B and its report is applied there.
	a.Kill()
	if got := report(one); got != b.URL {
		t.Errorf("after A died agent 1 reported to %s, want %s", got, b.URL)
	}
	// The report B took is the device's newest: B's view of its last
	// report and sequence moved on.
	out, errOut, code = rosterctl(t, b, b.AdminToken, "devices", "show", one.id, "--json")
	if code != 0 {
		t.Fatalf("devices show via B: exit %d: %s", code, errOut)
	}
	if m := regexp.MustCompile(`"last_report_seq":\s*(\d+)`).FindStringSubmatch(out); m == nil || m[1] != "2" {
		t.Errorf("device 1 via B after the failover: last_report_seq %v, want 2 (the report B took):\n%s", m, out)
	}
	// One audit chain, written by both collectors, verifies.
	if out, errOut, code := rosterctl(t, b, b.AdminToken, "audit", "verify", "--witness", "none"); code != 0 || !strings.Contains(out, "audit log verified") {
		t.Errorf("audit verify via B: exit %d\n%s%s", code, out, errOut)
	}
}
