package main

// The spool's guarantee, end to end: the real roster-collector, the real
// roster-agent running `run` against a captured host tree whose rpm
// database the test changes, the collector stopped for a while, the agent
// killed with SIGKILL at random moments and restarted, the collector back
// on the same data directory and address. Every change made on the
// "machine" must reach the registry, and none twice.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
)

// rpmCapture is the captured `rpm -qa` output of the Dell host.
const rpmCapture = "commands/rpm_-qa_--queryformat___NAME__t__EPOCH____EPOCH____0___t__VERSION__t__RELEASE__t__INSTALLTIME__t__ARCH__n.out"

// api reads the collector's REST API with an admin token.
type api struct {
	t      *testing.T
	url    string
	token  string
	client *http.Client
}

func newAPI(t *testing.T, c *collectortest.Collector) *api {
	t.Helper()
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", c.CAFile)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}
	t.Cleanup(tr.CloseIdleConnections)
	return &api{t: t, url: c.URL, token: c.AdminToken, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

func (a *api) do(method, path string, in, out any) int {
	a.t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			a.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.url+path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	if resp.StatusCode < 300 && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

type swItem struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// software is the device's package set as "name version" strings, sorted.
func (a *api) software(id string) []string {
	a.t.Helper()
	var out struct {
		Items []swItem `json:"items"`
	}
	if code := a.do("GET", "/api/v1/devices/"+id+"/software?limit=1000", nil, &out); code != 200 {
		return nil
	}
	var s []string
	for _, p := range out.Items {
		s = append(s, p.Name+" "+p.Version)
	}
	slices.Sort(s)
	return s
}

type event struct {
	Seq     uint64 `json:"seq"`
	Kind    string `json:"kind"`
	Subject string `json:"subject"`
	Old     string `json:"old"`
	New     string `json:"new"`
}

func (a *api) history(id string) []event {
	a.t.Helper()
	var out struct {
		Items []event `json:"items"`
	}
	if code := a.do("GET", "/api/v1/devices/"+id+"/history?limit=1000", nil, &out); code != 200 {
		a.t.Fatalf("history: %d", code)
	}
	return out.Items
}

// rpmDB is the host's package database: the capture's lines plus what
// the test installed, upgraded and removed.
type rpmDB struct {
	path  string
	lines []string // "name\tepoch\tversion\trelease\tinstalltime\tarch"
}

func (db *rpmDB) write(t *testing.T) {
	t.Helper()
	// Atomically, as rpm's own database changes: a half-written capture
	// would be a machine with half its packages.
	tmp := db.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(db.lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, db.path); err != nil {
		t.Fatal(err)
	}
}

func (db *rpmDB) add(name, version, release string) {
	db.lines = append(db.lines, strings.Join([]string{name, "0", version, release, "1700000000", "x86_64"}, "\t"))
}

func (db *rpmDB) upgrade(t *testing.T, name, version, release string) {
	t.Helper()
	for i, l := range db.lines {
		f := strings.Split(l, "\t")
		if f[0] == name {
			f[2], f[3] = version, release
			db.lines[i] = strings.Join(f, "\t")
			return
		}
	}
	t.Fatalf("no package %s to upgrade", name)
}

func (db *rpmDB) remove(t *testing.T, name string) {
	t.Helper()
	for i, l := range db.lines {
		if strings.HasPrefix(l, name+"\t") {
			db.lines = slices.Delete(db.lines, i, i+1)
			return
		}
	}
	t.Fatalf("no package %s to remove", name)
}

// agentProc is one `roster-agent run` process.
type agentProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process was waited for
	err  error
}

func startAgent(t *testing.T, logs *os.File, args ...string) *agentProc {
	t.Helper()
	cmd := exec.Command(agentBin, append([]string{"run"}, args...)...)
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start roster-agent run: %v", err)
	}
	p := &agentProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// agentLog is a file every agent process appends its log to (a file, so
// concurrent writers need no lock), shown when the test fails.
func agentLog(t *testing.T) *os.File {
	t.Helper()
	logs, err := os.Create(filepath.Join(t.TempDir(), "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("agent log:\n%s", b)
		}
		logs.Close()
	})
	return logs
}

func (p *agentProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill agent: %v", err)
	}
	<-p.done
}

// TestOutageKillsLoseNothing is the guarantee test.
func TestOutageKillsLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real collector")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	collectorBin, err := collectortest.Build(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("ROSTER_OUTAGE_SEED"); s != "" {
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatalf("ROSTER_OUTAGE_SEED: %v", err)
		}
	}
	t.Logf("seed %d (ROSTER_OUTAGE_SEED=%d reproduces the kill moments)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	// Kill moments are what the test varies, not a way to wait for
	// something: any of them must keep the guarantee.
	pause := func() { time.Sleep(time.Duration(50+rng.IntN(600)) * time.Millisecond) }

	dataDir := filepath.Join(t.TempDir(), "data")
	c := collectortest.Start(t, collectorBin, collectortest.Options{DataDir: dataDir})
	a := newAPI(t, c)
	var secret struct {
		Secret string `json:"secret"`
	}
	if code := a.do("POST", "/api/v1/secrets", map[string]any{"label": "outage", "expires_in": "1h", "max_uses": 1}, &secret); code != 201 {
		t.Fatalf("create secret: %d", code)
	}

	hostDir := filepath.Join(t.TempDir(), "host")
	if err := os.CopyFS(hostDir, os.DirFS("../../testdata/hosts/linux/dell-r6515-centos7")); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(hostDir, rpmCapture))
	if err != nil {
		t.Fatal(err)
	}
	db := &rpmDB{path: filepath.Join(hostDir, rpmCapture), lines: strings.Split(strings.TrimRight(string(raw), "\n"), "\n")}

	stateDir := filepath.Join(t.TempDir(), "state")
	cfg := filepath.Join(t.TempDir(), "agent.yaml")
	conf := "state_dir: " + stateDir + `
transport: https
report_interval: 200ms
heartbeat_interval: 1s
backoff_min: 50ms
backoff_max: 500ms
retry_max: 0
request_timeout: 5s
log_level: info
`
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	hostArgs := []string{"--config", cfg, "--host-root", hostDir, "--os", "linux"}
	r := runAgent(t, append([]string{"enroll", "--collector", c.URL, "--secret", secret.Secret, "--ca-fingerprint", c.Fingerprint}, hostArgs...)...)
	if r.code != 0 {
		t.Fatalf("enroll: exit %d: %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(string(r.stdout))

	logs := agentLog(t)
	agent := startAgent(t, logs, hostArgs...)

	// Bounded polling of the registry: a failure bound, not a delay.
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(40 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var baseline []string
	waitFor("the first report", func() bool { baseline = a.software(id); return len(baseline) > 0 })

	var added, upgraded, removed []string
	upgrades := []string{"tzdata", "glibc", "libstdc++"}
	round := func(i int) {
		name := fmt.Sprintf("roster-outage-%d", i)
		db.add(name, "1.0", "1.el7")
		added = append(added, name)
		if i%2 == 1 && len(upgrades) > 0 {
			db.upgrade(t, upgrades[0], "99.0", "1.el7")
			upgraded, upgrades = append(upgraded, upgrades[0]), upgrades[1:]
		}
		if i == 4 {
			db.remove(t, "nss-softokn-freebl")
			removed = append(removed, "nss-softokn-freebl")
		}
		db.write(t)
		pause()
		agent.kill(t)
		agent = startAgent(t, logs, hostArgs...)
	}
	// Kills while the collector is up (mid-send, mid-ack), then while it
	// is down (reports pile up in the spool).
	for i := range 2 {
		round(i)
	}
	if code := c.Stop(); code != 0 {
		t.Fatalf("collector exited %d", code)
	}
	for i := 2; i < 7; i++ {
		round(i)
	}
	pause()
	c2 := collectortest.Start(t, collectorBin, collectortest.Options{DataDir: dataDir, Args: []string{"--listen", c.Addr}})
	if c2.URL != c.URL {
		t.Fatalf("collector came back on %s, want %s", c2.URL, c.URL)
	}
	// One more kill while the spool drains.
	pause()
	agent.kill(t)
	lastStart := time.Now()
	agent = startAgent(t, logs, hostArgs...)

	want := slices.Clone(baseline)
	for _, n := range added {
		want = append(want, n+" 1.0-1.el7")
	}
	for _, n := range upgraded {
		i := slices.IndexFunc(want, func(s string) bool { return strings.HasPrefix(s, n+" ") })
		want[i] = n + " 99.0-1.el7"
	}
	for _, n := range removed {
		want = slices.DeleteFunc(want, func(s string) bool { return strings.HasPrefix(s, n+" ") })
	}
	slices.Sort(want)
	a2 := newAPI(t, c2)
	var got []string
	waitFor("the registry to hold the host's final package set", func() bool {
		got = a2.software(id)
		return slices.Equal(got, want)
	})

	// Every change arrived exactly once.
	count := map[string]int{}
	seqs := map[uint64]bool{}
	for _, e := range a2.history(id) {
		f := strings.Split(e.Subject, ":")
		if len(f) >= 2 && strings.HasPrefix(e.Kind, "software_") {
			count[e.Kind+" "+f[1]]++
			seqs[e.Seq] = true
		}
	}
	// The changes came in several reports, not one final snapshot: what
	// was spooled before the kills and during the outage arrived.
	if len(seqs) < 2 {
		t.Errorf("all changes arrived in reports %v, want them spread over the reports made meanwhile", seqs)
	}
	check := func(kind string, names []string) {
		for _, n := range names {
			if got := count[kind+" "+n]; got != 1 {
				t.Errorf("%s %s recorded %d times, want once", kind, n, got)
			}
		}
	}
	check("software_added", added)
	check("software_changed", upgraded)
	check("software_removed", removed)
	for k, n := range count {
		name := strings.SplitN(k, " ", 2)[1]
		if !slices.Contains(added, name) && !slices.Contains(upgraded, name) && !slices.Contains(removed, name) {
			t.Errorf("unexpected history %q ×%d for a package the test did not change", k, n)
		}
	}
	if len(added) != 7 || len(upgraded) != 3 || len(removed) != 1 {
		t.Fatalf("test made %d adds, %d upgrades, %d removals; want 7, 3, 1", len(added), len(upgraded), len(removed))
	}

	// A stop signal ends the loop cleanly and promptly, once the loop
	// runs (before main installs its handler, SIGTERM kills the process).
	statusFile := filepath.Join(stateDir, "status.json")
	waitFor("the last agent to publish its status", func() bool {
		st, err := os.Stat(statusFile)
		return err == nil && st.ModTime().After(lastStart)
	})
	if err := agent.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-agent.done:
		if agent.err != nil {
			t.Errorf("roster-agent run after SIGTERM: %v, want exit 0", agent.err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("roster-agent run still running 10s after SIGTERM")
	}
	var st map[string]any
	b, err := os.ReadFile(statusFile)
	spooled, _ := filepath.Glob(filepath.Join(stateDir, "spool", "*.report"))
	if err != nil || json.Unmarshal(b, &st) != nil || st["device_id"] != id || st["spool_depth"] != float64(len(spooled)) ||
		st["stopped"] != nil || st["last_report_status"] == nil {
		t.Errorf("status.json %s (%v), want device %s, spool depth %d, a last report, not stopped", b, err, id, len(spooled))
	}
}
