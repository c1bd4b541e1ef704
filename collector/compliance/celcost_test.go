package compliance

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/shared/wire"
)

// remoteTools is a realistic banned-software list written as one CEL
// policy: forty lookups, each a scan of the device's packages.
const remoteTools = `["teamviewer*", "anydesk*", "rustdesk*", "splashtop*", "logmein*", "gotomypc*", "ammyy*", "ultraviewer*",
"supremo*", "remotepc*", "dwservice*", "meshagent*", "screenconnect*", "connectwise*", "bomgar*", "beyondtrust*",
"zoho-assist*", "islonline*", "netsupport*", "radmin*", "vnc-server*", "realvnc*", "tightvnc*", "ultravnc*",
"tigervnc*", "x11vnc*", "nomachine*", "parsec*", "chrome-remote-desktop*", "dameware*", "aeroadmin*", "litemanager*",
"remote-utilities*", "action1*", "atera*", "level-agent*", "tacticalrmm*", "fleetdeck*", "getscreen*", "iperius*"]`

func TestCELEstimatedCostLimit(t *testing.T) {
	t.Parallel()
	// The policy under test starts at line 7 and its expr is on line 11.
	const head = "policies:\n  - id: CFG-OK-01\n    title: t\n    severity: low\n    kind: cel\n    expr: 'true'\n" +
		"  - id: CFG-COST-01\n    title: t\n    severity: low\n    kind: cel\n"
	tests := []struct {
		name   string
		limits Limits
		expr   string
		// want is a regexp for the whole error; "" means the file loads.
		want string
	}{
		{"comprehensions nested three deep", Limits{},
			`encryption.volumes.all(a, encryption.volumes.all(b, encryption.volumes.all(c, a.mount != "x")))`,
			`^policies\.yaml:11: policy CFG-COST-01: expr: estimated cost \d+ is above the limit 100000 \(compliance\.cel_max_estimated_cost\): ` +
				`each comprehension multiplies the cost of its body by its list's size \(up to 64 volumes or 64 tags\) ` +
				`and each software lookup costs up to 2000 \(20000 packages\)$`},
		{"a software lookup per asset tag", Limits{}, `asset.tags.all(t, !has_software(t + "*"))`,
			`^policies\.yaml:11: policy CFG-COST-01: expr: estimated cost \d+ is above the limit 100000 `},
		{"comparing whole volumes pairwise", Limits{},
			`encryption.volumes.all(a, encryption.volumes.all(b, a == b || a.mount != b.mount))`,
			`^policies\.yaml:11: policy CFG-COST-01: expr: estimated cost \d+ is above the limit 100000 `},
		{"a multi-line expr names the expr key's line", Limits{},
			"|\n      encryption.volumes.all(a,\n        encryption.volumes.all(b,\n          encryption.volumes.all(c, a.mount != b.mount)))",
			`^policies\.yaml:11: policy CFG-COST-01: expr: estimated cost \d+ is above the limit 100000 `},
		{"two nested comparing with constants", Limits{},
			`encryption.volumes.all(a, a.encrypted == "yes" || encryption.volumes.exists(b, b.system == true && b.status == "on"))`, ""},
		{"two nested comparing strings pairwise", Limits{},
			`encryption.volumes.all(a, encryption.volumes.all(b, a.mount != b.mount || a.device == b.device))`,
			`^policies\.yaml:11: policy CFG-COST-01: expr: estimated cost \d+ is above the limit 100000 `},
		{"forty software lookups", Limits{}, remoteTools + `.all(n, !has_software(n))`, ""},
		{"three nested under a raised limit", Limits{MaxEstimatedCost: 5_000_000},
			`encryption.volumes.all(a, encryption.volumes.all(b, encryption.volumes.all(c, a.mount != "x")))`, ""},
		{"two lookups under a lowered limit", Limits{MaxEstimatedCost: 1000},
			`!has_software("teamviewer*") && !has_software("anydesk*")`,
			`^policies\.yaml:11: policy CFG-COST-01: expr: estimated cost \d+ is above the limit 1000 `},
		{"a string fact's length is bounded", Limits{MaxEstimatedCost: 1000}, `device.hostname.matches("^web-[0-9]+$")`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := head + "    expr: " + tt.expr + "\n"
			if !strings.HasPrefix(tt.expr, "|") {
				doc = head + "    expr: '" + tt.expr + "'\n"
			}
			_, err := ParseWithLimits([]byte(doc), "policies.yaml", tt.limits)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want the file to load", err)
			case tt.want != "" && (err == nil || !regexp.MustCompile(tt.want).MatchString(err.Error())):
				t.Errorf("got %v, want %s", err, tt.want)
			}
		})
	}
}

// TestCELRuntimeCostLimit evaluates policies that load (their estimate is
// under the limit) on real hosts made larger than the size hints.
func TestCELRuntimeCostLimit(t *testing.T) {
	t.Parallel()
	const stopped = "evaluation exceeded its cost limit of %d (compliance.cel_max_runtime_cost) " +
		"on this device's facts: the expression does too much work to be judged"
	lookups := remoteTools + `.all(n, !has_software(n))`
	pairs := `encryption.volumes.all(a, encryption.volumes.all(b, b.system == true || b.encrypted == "yes"))`
	tests := []struct {
		name   string
		limits Limits
		host   string
		// packages and volumes multiply the host's real lists.
		packages, volumes int
		expr              string
		status, reason    string
	}{
		{"lookups on the real package list", Limits{}, "linux/debian12-firecracker-vm", 1, 1, lookups,
			StatusPass, "condition holds"},
		{"lookups at the hinted 20,000 packages", Limits{}, "linux/debian12-firecracker-vm", 26, 1, lookups,
			StatusPass, "condition holds"},
		{"lookups on 5 times the hinted packages", Limits{}, "linux/debian12-firecracker-vm", 130, 1, lookups,
			StatusPass, "condition holds"},
		{"lookups on 8 times the hinted packages", Limits{}, "linux/debian12-firecracker-vm", 200, 1, lookups,
			StatusUnknown, fmt.Sprintf(stopped, DefaultMaxRuntimeCost)},
		{"a stopped negation does not pass", Limits{}, "linux/debian12-firecracker-vm", 200, 1,
			`!` + remoteTools + `.exists(n, has_software(n))`, StatusUnknown, fmt.Sprintf(stopped, DefaultMaxRuntimeCost)},
		{"a stopped evaluation does not fail", Limits{}, "linux/debian12-firecracker-vm", 200, 1,
			remoteTools + `.exists(n, has_software(n))`, StatusUnknown, fmt.Sprintf(stopped, DefaultMaxRuntimeCost)},
		{"the stop explains, not an unknown fact read before it", Limits{}, "linux/debian12-firecracker-vm", 200, 1,
			`os.reboot_required == "no" || ` + lookups, StatusUnknown, fmt.Sprintf(stopped, DefaultMaxRuntimeCost)},
		{"a lower runtime limit", Limits{MaxRuntimeCost: 50_000}, "linux/debian12-firecracker-vm", 26, 1, lookups,
			StatusUnknown, fmt.Sprintf(stopped, 50_000)},
		{"nested volumes on the real volumes", Limits{}, "windows/win10-20h2-vmware", 0, 1, pairs,
			StatusPass, "condition holds"},
		{"nested volumes on 5 times the hinted volumes", Limits{}, "windows/win10-20h2-vmware", 0, 320, pairs,
			StatusUnknown, fmt.Sprintf(stopped, DefaultMaxRuntimeCost)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			set, err := ParseWithLimits([]byte("policies:\n  - id: TST-X-01\n    title: test\n    severity: low\n    kind: cel\n    expr: '"+
				tt.expr+"'\n"), "policies.yaml", tt.limits)
			if err != nil {
				t.Fatalf("the policy must load: %v", err)
			}
			in := largerHost(t, tt.host, tt.packages, tt.volumes)
			in.FailingSince = map[string]time.Time{"TST-X-01": testNow().Add(-time.Hour)}
			got := set.Evaluate(in)[0]
			if got.Status != tt.status || got.Reason != tt.reason {
				t.Errorf("got %s %q, want %s %q", got.Status, got.Reason, tt.status, tt.reason)
			}
			if got.Status == StatusUnknown && !got.FailingSince.Equal(in.FailingSince["TST-X-01"]) {
				t.Errorf("got failing since %v, want it carried over: %v", got.FailingSince, in.FailingSince["TST-X-01"])
			}
		})
	}
}

// largerHost is a real host whose package list is repeated packages times
// (names made unique) and whose volumes are repeated volumes times.
func largerHost(t testing.TB, host string, packages, volumes int) Input {
	t.Helper()
	in := input(t, host)
	if packages > 1 {
		real := loadSnapshot(t, host).Software.Packages
		pkgs := make([]wire.Package, 0, len(real)*packages)
		for i := range packages {
			for _, p := range real {
				p.Name = fmt.Sprintf("%s-%d", p.Name, i)
				pkgs = append(pkgs, p)
			}
		}
		n := len(pkgs)
		in.Software, in.Facts.Packages = SoftwareList(pkgs), &n
	}
	if volumes > 1 {
		e := *in.Facts.Encryption
		e.Volumes = nil
		for i := range volumes {
			for _, v := range in.Facts.Encryption.Volumes {
				v.Mount = fmt.Sprintf("%s%d", v.Mount, i)
				e.Volumes = append(e.Volumes, v)
			}
		}
		in.Facts.Encryption = &e
	}
	return in
}

// TestCELCostPerEvaluation evaluates one set concurrently on a device that
// exceeds the runtime limit and one that does not: each evaluation has its
// own cost tracker, priced by its own device's package count.
func TestCELCostPerEvaluation(t *testing.T) {
	t.Parallel()
	set := one(t, "kind: cel\nexpr: '"+remoteTools+".all(n, !has_software(n))'")
	small := largerHost(t, "linux/debian12-firecracker-vm", 1, 1)
	large := largerHost(t, "linux/debian12-firecracker-vm", 200, 1)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in, want := small, StatusPass
			if i%2 == 1 {
				in, want = large, StatusUnknown
			}
			if got := set.Evaluate(in)[0].Status; got != want {
				t.Errorf("evaluation %d: got %s, want %s", i, got, want)
			}
		}()
	}
	wg.Wait()
}

// TestCostLimitsLoadShippedPolicies loads the default baseline and every CEL
// example of docs/policies.md under the default limits.
func TestCostLimitsLoadShippedPolicies(t *testing.T) {
	t.Parallel()
	set, err := ParseWithLimits(DefaultFile(), "default.yaml", DefaultLimits())
	if err != nil {
		t.Fatalf("default.yaml: %v", err)
	}
	if got, want := set.Limits(), DefaultLimits(); got != want {
		t.Errorf("got limits %+v, want %+v", got, want)
	}
	f, err := os.Open("../../docs/policies.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var exprs []string
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if s := strings.TrimSpace(sc.Text()); strings.HasPrefix(s, "expr: ") {
			exprs = append(exprs, fmt.Sprintf("policies.md:%d: %s", line, s))
		}
	}
	if len(exprs) < 5 {
		t.Fatalf("found %d CEL examples in docs/policies.md, want at least 5", len(exprs))
	}
	for _, e := range exprs {
		where, expr, _ := strings.Cut(e, ": ")
		doc := "policies:\n  - id: DOC-X-01\n    title: t\n    severity: low\n    kind: cel\n    " + expr + "\n"
		if _, err := ParseWithLimits([]byte(doc), where, DefaultLimits()); err != nil {
			t.Errorf("%s: %v", where, err)
		}
	}
}

func TestLimitsZeroMeansDefault(t *testing.T) {
	t.Parallel()
	set, err := Parse([]byte("policies: []\n"), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := set.Limits(), DefaultLimits(); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	set, err = ParseWithLimits([]byte("policies: []\n"), "p.yaml", Limits{MaxRuntimeCost: 7})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := set.Limits(), (Limits{MaxEstimatedCost: DefaultMaxEstimatedCost, MaxRuntimeCost: 7}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
