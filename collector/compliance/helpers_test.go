package compliance

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/shared/wire"
)

// hostsDir holds the real captured hosts; their want.json is the snapshot
// the agent produces from each capture.
const hostsDir = "../../testdata/hosts"

// now is the evaluation time of the tests: 47 days after the Debian
// capture's last apt run, so the 30-day patch policy fails with a known age.
func testNow() time.Time { return time.Date(2027, 1, 9, 18, 23, 37, 0, time.UTC) }

func loadSnapshot(t testing.TB, host string) *wire.Snapshot {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(hostsDir, host, "want.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s wire.Snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("decode %s: %v", host, err)
	}
	return &s
}

func allHosts(t testing.TB) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(hostsDir, "*", "*", "want.json"))
	if err != nil || len(matches) == 0 {
		t.Fatalf("no captured hosts under %s: %v", hostsDir, err)
	}
	var hosts []string
	for _, m := range matches {
		rel, _ := filepath.Rel(hostsDir, filepath.Dir(m))
		hosts = append(hosts, filepath.ToSlash(rel))
	}
	return hosts
}

// input builds an evaluation input for a real host, seen an hour ago.
func input(t testing.TB, host string) Input {
	t.Helper()
	s := loadSnapshot(t, host)
	in := Input{DeviceID: "dev-" + host, Facts: FactsFromSnapshot(s), LastSeen: testNow().Add(-time.Hour), Now: testNow()}
	if s.Software != nil {
		in.Software = SoftwareList(s.Software.Packages)
	}
	return in
}

// mustSet parses a policy file given as YAML and fails the test on error.
func mustSet(t testing.TB, yaml string) *Set {
	t.Helper()
	s, err := Parse([]byte(yaml), "policies.yaml")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return s
}

// one parses a single policy written as the body of a list item.
func one(t testing.TB, body string) *Set {
	t.Helper()
	return mustSet(t, "policies:\n  - id: TST-X-01\n    title: test\n    severity: low\n"+indent(body))
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

func ptr[T any](v T) *T { return &v }
