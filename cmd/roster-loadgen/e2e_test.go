package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
)

// TestLoadAgainstRealCollector runs roster-loadgen for two seconds per
// kind and transport against the real roster-collector binary on loopback:
// every report it sends must be applied, and the collector must list the
// simulated devices.
func TestLoadAgainstRealCollector(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the real collector")
	}
	bin, err := collectortest.Build(t.Context(), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	c := collectortest.Start(t, bin, collectortest.Options{})
	secret := createSecret(t, c)
	snap := filepath.Join("..", "..", "testdata", "hosts", "linux", "debian12-firecracker-vm", "want.json")
	const devices = 4
	kinds := []string{"delta", "full", KindHeartbeat}
	for _, kind := range kinds {
		for _, tr := range []string{"https", "http3"} {
			t.Run(kind+"/"+tr, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				code := run(t.Context(), []string{"--collector", c.URL, "--ca-fingerprint", c.Fingerprint, "--secret", secret,
					"--devices", "4", "--concurrency", "2", "--duration", "2s", "--kind", kind, "--transport", tr,
					"--snapshot", snap, "--fleet", kind + "-" + tr, "--collector-pid", strconv.Itoa(c.PID()), "--json"}, &stdout, &stderr)
				if code != 0 {
					t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
				}
				var res Result
				if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
					t.Fatalf("decode %s: %v", stdout.String(), err)
				}
				if res.Applied == 0 || res.Applied != res.Sent || len(res.Errors) != 0 {
					t.Errorf("got %d sent, %d applied, errors %v; want all applied and no errors", res.Sent, res.Applied, res.Errors)
				}
				if res.Kind != kind || res.Transport != tr || res.Devices != devices {
					t.Errorf("got %+v, want kind %s over %s, %d devices", res, kind, tr, devices)
				}
				// The collector did the work: its CPU time was read.
				if res.CollectorCores <= 0 || res.CollectorCPUPerOp <= 0 {
					t.Errorf("collector CPU %.3f cores, %.3f ms per %s; want both measured", res.CollectorCores, res.CollectorCPUPerOp, kind)
				}
				if kind != KindHeartbeat && (res.RequestBytes <= 0 || res.ResponseBytes <= 0) {
					t.Errorf("got %+v, want the bytes of %s reports counted", res, kind)
				}
			})
		}
	}
	// Every run enrolled four machines of its own fleet, none mistaken
	// for another (identity_conflict), all active.
	var page struct {
		Items []struct {
			SystemSerial string `json:"system_serial"`
			State        string `json:"state"`
		} `json:"items"`
	}
	get(t, c, "/api/v1/devices?limit=1000", &page)
	n := 0
	for _, d := range page.Items {
		if strings.HasPrefix(d.SystemSerial, "LOADGEN-") {
			n++
			if d.State != "active" {
				t.Errorf("device %s is %s, want active", d.SystemSerial, d.State)
			}
		}
	}
	if want := 2 * len(kinds) * devices; n != want {
		t.Errorf("got %d LOADGEN devices, want %d: %+v", n, want, page.Items)
	}
}

func apiClient(t *testing.T, c *collectortest.Collector) *http.Client {
	t.Helper()
	ca, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}}
}

func createSecret(t *testing.T, c *collectortest.Collector) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, c.URL+"/api/v1/secrets", strings.NewReader(`{"label":"loadgen"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := apiClient(t, c).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Secret string `json:"secret"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated || out.Secret == "" {
		t.Fatalf("create secret: status %d, %v", resp.StatusCode, err)
	}
	return out.Secret
}

func get(t *testing.T, c *collectortest.Collector, path string, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, c.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.AdminToken)
	resp, err := apiClient(t, c).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}
