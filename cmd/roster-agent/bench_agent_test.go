package main

// Issue 4's figures (scripts/bench-agent.sh, part of `make bench`): the
// real roster-agent against the real roster-collector on loopback, through
// a counting proxy so bytes are what went over the wire. Skipped unless
// ROSTER_BENCH is set: it takes minutes and measures rather than checks.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/checkin"
	"github.com/rosterhq/roster/agent/enroll"
	"github.com/rosterhq/roster/agent/spool"
	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
	"github.com/rosterhq/roster/shared/wire"
)

// clkTck is USER_HZ, the unit of /proc/PID/stat's CPU times (100 on every
// Linux architecture Go supports).
const clkTck = 100

// counted is one proxied connection (TCP) or one client address (UDP).
type counted struct {
	up, down atomic.Int64 // agent → collector, collector → agent
	done     chan struct{}
}

// proxy relays 127.0.0.1:port to the collector over TCP (and UDP for
// HTTP/3), counting the payload bytes each way: TLS records and QUIC
// packets, without IP/TCP/UDP headers.
type proxy struct {
	t      *testing.T
	target string
	ln     net.Listener
	pc     *net.UDPConn
	mu     sync.Mutex
	tcp    []*counted
	udp    []*counted
	Port   int
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, target: target, ln: ln, Port: ln.Addr().(*net.TCPAddr).Port}
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p.Port})
	if err != nil {
		t.Fatal(err)
	}
	p.pc = pc
	t.Cleanup(func() { ln.Close(); pc.Close() })
	go p.acceptTCP()
	go p.relayUDP()
	return p
}

func (p *proxy) acceptTCP() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		cc := &counted{done: make(chan struct{})}
		p.mu.Lock()
		p.tcp = append(p.tcp, cc)
		p.mu.Unlock()
		go func() {
			defer close(cc.done)
			defer c.Close()
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				return
			}
			defer up.Close()
			var wg sync.WaitGroup
			wg.Add(2)
			pipe := func(dst, src net.Conn, n *atomic.Int64) {
				defer wg.Done()
				b := make([]byte, 32<<10)
				for {
					k, err := src.Read(b)
					if k > 0 {
						n.Add(int64(k))
						if _, werr := dst.Write(b[:k]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				// Either side ending ends the relay.
				dst.Close()
				src.Close()
			}
			go pipe(up, c, &cc.up)
			go pipe(c, up, &cc.down)
			wg.Wait()
		}()
	}
}

func (p *proxy) relayUDP() {
	target, err := net.ResolveUDPAddr("udp", p.target)
	if err != nil {
		return
	}
	type peer struct {
		conn *net.UDPConn
		cc   *counted
	}
	peers := map[string]peer{}
	b := make([]byte, 64<<10)
	for {
		n, from, err := p.pc.ReadFromUDP(b)
		if err != nil {
			for _, pe := range peers {
				pe.conn.Close()
			}
			return
		}
		pe, ok := peers[from.String()]
		if !ok {
			up, err := net.DialUDP("udp", nil, target)
			if err != nil {
				continue
			}
			pe = peer{up, &counted{done: make(chan struct{})}}
			peers[from.String()] = pe
			p.mu.Lock()
			p.udp = append(p.udp, pe.cc)
			p.mu.Unlock()
			go func() {
				defer close(pe.cc.done)
				rb := make([]byte, 64<<10)
				for {
					k, err := pe.conn.Read(rb)
					if err != nil {
						return
					}
					pe.cc.down.Add(int64(k))
					if _, err := p.pc.WriteToUDP(rb[:k], from); err != nil {
						return
					}
				}
			}()
		}
		pe.cc.up.Add(int64(n))
		_, _ = pe.conn.Write(b[:n])
	}
}

// mark is a point in the proxy's connection lists.
type mark struct{ tcp, udp int }

func (p *proxy) mark() mark {
	p.mu.Lock()
	defer p.mu.Unlock()
	return mark{len(p.tcp), len(p.udp)}
}

// traffic sums what connections opened since m carried; wait says to wait
// (bounded) for the TCP ones to close first.
type traffic struct {
	conns    int
	up, down int64
	each     []int64 // up+down per connection
}

func (tr traffic) total() int64 { return tr.up + tr.down }

func (p *proxy) since(m mark, udp, wait bool) traffic {
	p.t.Helper()
	p.mu.Lock()
	list := slices.Clone(p.tcp[m.tcp:])
	if udp {
		list = slices.Clone(p.udp[m.udp:])
	}
	p.mu.Unlock()
	var tr traffic
	for _, c := range list {
		if wait && !udp {
			select {
			case <-c.done:
			case <-time.After(10 * time.Second):
				p.t.Fatalf("proxied connection still open 10s after its agent exited")
			}
		}
		u, d := c.up.Load(), c.down.Load()
		tr.conns++
		tr.up += u
		tr.down += d
		tr.each = append(tr.each, u+d)
	}
	return tr
}

// totals is every byte relayed over TCP so far, and the connection count.
func (p *proxy) totals() (int, int64) {
	n, up, down := p.totalsEach()
	return n, up + down
}

// totalsEach is totals split by direction.
func (p *proxy) totalsEach() (n int, up, down int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.tcp {
		up += c.up.Load()
		down += c.down.Load()
	}
	return len(p.tcp), up, down
}

// procCPU is the CPU time pid used, its waited-for children included
// (utime+stime+cutime+cstime of /proc/PID/stat).
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("read CPU time: %v", err)
	}
	// The command name may hold spaces; fields start after its ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	var ticks int64
	for _, i := range []int{11, 12, 13, 14} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			t.Fatalf("parse /proc/%d/stat: %v", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clkTck
}

// memory is /proc/PID/status's resident sizes in KiB.
type memory struct{ rss, hwm, anon, file int64 }

// procMem is VmRSS and VmHWM of pid in KiB.
func procMem(t *testing.T, pid int) (rss, hwm int64) {
	m := procMemory(t, pid)
	return m.rss, m.hwm
}

func procMemory(t *testing.T, pid int) (m memory) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read memory: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			m.rss = n
		case "VmHWM":
			m.hwm = n
		case "RssAnon":
			m.anon = n
		case "RssFile":
			m.file = n
		}
	}
	return m
}

// metric sums the collector's /metrics samples of name whose labels
// contain label ("" for all).
func (a *api) metric(name, label string) float64 {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		a.t.Fatalf("metrics: %s", resp.Status)
	}
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
			continue
		}
		if label != "" && !strings.Contains(l, label) {
			continue
		}
		v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
		if err != nil {
			a.t.Fatalf("metrics line %q: %v", l, err)
		}
		sum += v
	}
	return sum
}

// loadStatus reads the agent's status.json.
func loadStatus(t *testing.T, stateDir string) state.Status {
	t.Helper()
	d, err := state.Open(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := d.LoadStatus()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitStatus polls status.json (a failure bound, not a delay) until ok.
func waitStatus(t *testing.T, p *agentProc, stateDir, what string, ok func(state.Status) bool) state.Status {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st := loadStatus(t, stateDir)
		if ok(st) {
			return st
		}
		select {
		case <-p.done:
			t.Fatalf("roster-agent run exited (%v) before %s", p.err, what)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s; status %+v", what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reportedSince is true once the agent published an acknowledged report
// made after since, with nothing left in its spool.
func reportedSince(since time.Time) func(state.Status) bool {
	return func(st state.Status) bool {
		return st.LastReportAt != nil && !st.LastReportAt.Before(since) && st.SpoolDepth == 0 && !st.UpdatedAt.Before(*st.LastReportAt)
	}
}

func (p *agentProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("roster-agent run still running 10s after SIGTERM")
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianInt(v []int64) float64 {
	f := make([]float64, len(v))
	for i, x := range v {
		f[i] = float64(x)
	}
	return median(f)
}

// benchConfig writes an agent config for a state directory.
func benchConfig(t *testing.T, stateDir string) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "agent.yaml")
	conf := "state_dir: " + stateDir + "\ntransport: https\nlog_level: info\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// inventory is one snapshot of the captured host by the real binary.
func captureSnapshot(t *testing.T, hostArgs ...string) *wire.Snapshot {
	t.Helper()
	r := runAgent(t, append([]string{"inventory"}, hostArgs...)...)
	if r.code != 0 {
		t.Fatalf("inventory: exit %d: %s", r.code, r.stderr)
	}
	var s wire.Snapshot
	if err := json.Unmarshal(r.stdout, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// deltaBody is the request body the agent's transport sends for the delta
// from a to b: the report's JSON, raw and gzipped (default level, as
// transport.PostJSON does).
func deltaBody(t *testing.T, a, b *wire.Snapshot) (raw, gz int) {
	t.Helper()
	ha, err1 := wire.SnapshotHash(a)
	hb, err2 := wire.SnapshotHash(b)
	d, err3 := wire.Diff(a, b)
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(wire.Report{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportDelta, Seq: 1 << 20, BaseHash: ha, Hash: hb, Delta: d})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(body)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return len(body), buf.Len()
}

// reportOnce runs `report --once --json` and checks the collector applied
// a report of kind.
func reportOnce(t *testing.T, kind string, args ...string) {
	t.Helper()
	r := runAgent(t, append([]string{"report", "--once", "--json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("report --once: exit %d: %s", r.code, r.stderr)
	}
	var res struct{ Status, Kind string }
	if err := json.Unmarshal(r.stdout, &res); err != nil || res.Status != wire.AckApplied || res.Kind != kind {
		t.Fatalf("report --once answered %s (%v), want an applied %s report", r.stdout, err, kind)
	}
}

// TestBenchAgent measures issue 4's figures and writes them to
// ROSTER_BENCH_OUT (or the test log).
func TestBenchAgent(t *testing.T) {
	if os.Getenv("ROSTER_BENCH") == "" {
		t.Skip("a benchmark, not a test: scripts/bench-agent.sh runs it with ROSTER_BENCH=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	collectorBin := os.Getenv("ROSTER_BENCH_COLLECTOR")
	if collectorBin == "" {
		var err error
		if collectorBin, err = collectortest.Build(ctx, t.TempDir(), ""); err != nil {
			t.Fatal(err)
		}
	}
	window := 20 * time.Second
	if s := os.Getenv("ROSTER_BENCH_WINDOW"); s != "" {
		var err error
		if window, err = time.ParseDuration(s); err != nil {
			t.Fatalf("ROSTER_BENCH_WINDOW: %v", err)
		}
	}
	var out strings.Builder
	say := func(format string, a ...any) { fmt.Fprintf(&out, format+"\n", a...) }
	defer func() {
		if path := os.Getenv("ROSTER_BENCH_OUT"); path != "" {
			if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
				t.Error(err)
			}
		} else {
			t.Log("\n" + out.String())
		}
	}()

	c := collectortest.Start(t, collectorBin, collectortest.Options{})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("collector log:\n%s", c.Stderr())
		}
	})
	a := newAPI(t, c)
	var secret struct {
		Secret string `json:"secret"`
	}
	if code := a.do("POST", "/api/v1/secrets", map[string]any{"label": "bench-agent", "expires_in": "1h", "max_uses": 2}, &secret); code != 201 {
		t.Fatalf("create secret: %d", code)
	}
	px := startProxy(t, c.Addr)
	via := fmt.Sprintf("https://localhost:%d", px.Port)
	logs := agentLog(t)
	enrol := func(cfg string, hostArgs ...string) {
		t.Helper()
		r := runAgent(t, append([]string{"enroll", "--collector", c.URL, "--secret", secret.Secret, "--ca-fingerprint", c.Fingerprint, "--config", cfg}, hostArgs...)...)
		if r.code != 0 {
			t.Fatalf("enroll: exit %d: %s", r.code, r.stderr)
		}
	}

	// Device 1: this machine, live inventory (the run loop's CPU and RSS).
	liveState := filepath.Join(t.TempDir(), "live")
	liveCfg := benchConfig(t, liveState)
	enrol(liveCfg)
	liveArgs := []string{"--config", liveCfg, "--collector", via}

	// Device 2: the captured Dell host, whose rpm database the bench
	// edits (deterministic bytes, the typical delta, the spool).
	hostDir := filepath.Join(t.TempDir(), "host")
	if err := os.CopyFS(hostDir, os.DirFS("../../testdata/hosts/linux/dell-r6515-centos7")); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(hostDir, rpmCapture))
	if err != nil {
		t.Fatal(err)
	}
	db := &rpmDB{path: filepath.Join(hostDir, rpmCapture), lines: strings.Split(strings.TrimRight(string(raw), "\n"), "\n")}
	dellState := filepath.Join(t.TempDir(), "dell")
	dellCfg := benchConfig(t, dellState)
	hostArgs := []string{"--host-root", hostDir, "--os", "linux"}
	enrol(dellCfg, hostArgs...)
	dellArgs := append([]string{"--config", dellCfg, "--collector", via}, hostArgs...)

	say("roster-agent (CGO_ENABLED=0) against roster-collector on loopback, %d CPUs; transport https through a", runtime.NumCPU())
	say("counting TCP proxy on 127.0.0.1 (URL https://localhost:PORT); bytes are TCP payload (TLS records),")
	say("without IP/TCP headers (about 52 B per segment on top).")
	say("")

	// --- 1. Steady-state RSS and CPU of `run` on this machine. ---
	// gctrace=1 makes the runtime log each collection's heap sizes.
	gcLog, err := os.Create(filepath.Join(t.TempDir(), "gctrace.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer gcLog.Close()
	t.Setenv("GODEBUG", "gctrace=1")
	start := time.Now()
	p := startAgent(t, gcLog, append(liveArgs, "--heartbeat-interval", "200ms", "--report-interval", "1h")...)
	t.Setenv("GODEBUG", "")
	pid := p.cmd.Process.Pid
	waitStatus(t, p, liveState, "the first report", reportedSince(start))
	firstCPU, firstWall := procCPU(t, pid), time.Since(start)
	_, hwmFirst := procMem(t, pid)
	cpu0, beats0 := procCPU(t, pid), a.metric("roster_heartbeats_total", `status="ok"`)
	conns0, up0, down0 := px.totalsEach()
	var rss, anon, file []float64
	tick := time.NewTicker(250 * time.Millisecond)
	for end := time.Now().Add(window); time.Now().Before(end); <-tick.C {
		mem := procMemory(t, pid)
		rss = append(rss, float64(mem.rss))
		anon, file = append(anon, float64(mem.anon)), append(file, float64(mem.file))
	}
	tick.Stop()
	cpu1, beats1 := procCPU(t, pid), a.metric("roster_heartbeats_total", `status="ok"`)
	conns1, up1, down1 := px.totalsEach()
	_, hwm := procMem(t, pid)
	p.stop(t)
	lastGC := lastGCTrace(t, gcLog.Name())
	beats := beats1 - beats0
	if beats < 10 {
		t.Fatalf("only %v heartbeats in %v", beats, window)
	}
	cpuBeat := (cpu1 - cpu0).Seconds() / beats
	beatReused := float64(up1-up0+down1-down0) / beats

	// The idle loop between check-ins.
	start = time.Now()
	p = startAgent(t, logs, append(liveArgs, "--heartbeat-interval", "1h", "--report-interval", "1h")...)
	waitStatus(t, p, liveState, "the first report", reportedSince(start))
	idle0 := procCPU(t, p.cmd.Process.Pid)
	time.Sleep(window / 2) // the measurement window itself
	idle := (procCPU(t, p.cmd.Process.Pid) - idle0).Seconds() / (window / 2).Seconds()
	p.stop(t)

	// Inventories back to back: CPU per cycle between two acknowledged
	// reports, children (apt, dmidecode…) included.
	start = time.Now()
	p = startAgent(t, logs, append(liveArgs, "--heartbeat-interval", "1h", "--report-interval", "4s")...)
	st := waitStatus(t, p, liveState, "the first report", reportedSince(start))
	invCPU0 := procCPU(t, p.cmd.Process.Pid)
	_, invBytes0 := px.totals()
	const cycles = 4
	for range cycles {
		last := *st.LastReportAt
		st = waitStatus(t, p, liveState, "the next report", func(s state.Status) bool {
			return s.LastReportAt != nil && s.LastReportAt.After(last) && s.SpoolDepth == 0
		})
	}
	invCPU := (procCPU(t, p.cmd.Process.Pid) - invCPU0).Seconds() / cycles
	_, invBytes1 := px.totals()
	_, invHWM := procMem(t, p.cmd.Process.Pid)
	p.stop(t)
	liveReport := float64(invBytes1-invBytes0) / cycles

	perHour := idle*3600 + 12*cpuBeat + invCPU
	say("1. run on this machine (live inventory):")
	say("   RSS steady %.1f MiB (median of %d VmRSS samples every 250 ms over %v with 200 ms heartbeats, after the first report; max %.1f MiB)",
		median(rss)/1024, len(rss), window, slices.Max(rss)/1024)
	say("   of which RssAnon %.1f MiB (Go heap, stacks, runtime) and RssFile %.1f MiB (the %.1f MiB binary's pages touched), medians;",
		median(anon)/1024, median(file)/1024, float64(binSize(t))/(1<<20))
	say("   last GC of the window (GODEBUG=gctrace=1): %s", lastGC)
	say("   VmHWM %.1f MiB after the first report, %.1f MiB at the end; %.1f MiB with an inventory every 4 s", float64(hwmFirst)/1024, float64(hwm)/1024, float64(invHWM)/1024)
	say("   start + first inventory + full report: %.3f s CPU, %.2f s wall", firstCPU.Seconds(), firstWall.Seconds())
	say("   CPU per heartbeat %.2f ms: utime+stime of /proc/PID/stat over %v / %v heartbeats (collector's roster_heartbeats_total)",
		cpuBeat*1000, window, beats)
	say("     (heartbeat_interval 200ms: validation only asks for a positive duration; 1 tick = 10 ms of CPU)")
	say("   CPU per inventory+report %.3f s: utime+stime+cutime+cstime between %d acknowledged reports 4 s apart", invCPU, cycles+1)
	say("   CPU idle %.2f ms/s: the same counters over %v with nothing due", idle*1000, window/2)
	say("   CPU per hour = 3600 s idle + 12 heartbeats + 1 inventory = %.2f s (%.3f %% of one core)", perHour, perHour/36)

	// --- 2. Bytes on the wire for an unchanged machine (captured host). ---
	m := px.mark()
	reportOnce(t, wire.ReportFull, dellArgs...)
	fullTr := px.since(m, false, true)
	var unchNew []int64
	for range 3 {
		m = px.mark()
		reportOnce(t, wire.ReportDelta, dellArgs...)
		unchNew = append(unchNew, px.since(m, false, true).total())
	}
	var beatNew, beatH3 []int64
	for range 5 {
		m = px.mark()
		r := runAgent(t, append([]string{"run", "--once-heartbeat"}, dellArgs...)...)
		if r.code != 0 {
			t.Fatalf("run --once-heartbeat: exit %d: %s", r.code, r.stderr)
		}
		tr := px.since(m, false, true)
		if tr.conns != 1 {
			t.Fatalf("a heartbeat opened %d connections, want 1", tr.conns)
		}
		beatNew = append(beatNew, tr.total())
	}
	for range 3 {
		m = px.mark()
		r := runAgent(t, append([]string{"run", "--once-heartbeat", "--transport", "http3"}, dellArgs...)...)
		if r.code != 0 {
			t.Fatalf("run --once-heartbeat --transport http3: exit %d: %s", r.code, r.stderr)
		}
		beatH3 = append(beatH3, px.since(m, true, false).total())
	}
	// Unchanged reports on one reused connection.
	start = time.Now()
	p = startAgent(t, logs, append(dellArgs, "--heartbeat-interval", "1h", "--report-interval", "300ms")...)
	waitStatus(t, p, dellState, "the first report", reportedSince(start))
	applied0 := a.metric("roster_reports_applied_total", `kind="delta"`)
	c0, b0 := px.totals()
	time.Sleep(3 * time.Second) // the measurement window
	p.stop(t)
	c1, b1 := px.totals()
	unchReports := a.metric("roster_reports_applied_total", `kind="delta"`) - applied0
	unchReused := float64(b1-b0) / unchReports
	snapA := captureSnapshot(t, hostArgs...)
	snapA2 := captureSnapshot(t, hostArgs...)
	unchRaw, unchGz := deltaBody(t, snapA, snapA2)

	hs := handshake(t, dellState, px)

	// In steady state every 5-minute heartbeat opens a new connection (the
	// old one idled out) that resumes the TLS session.
	beatResumed := medianInt(beatNew) - float64(hs.bytes) + float64(hs.resumedBytes)
	unchResumed := medianInt(unchNew) - float64(hs.bytes) + float64(hs.resumedBytes)
	beatDay := 288 * beatResumed
	repDay := 24 * unchResumed
	say("")
	say("2. unchanged machine (captured host dell-r6515-centos7), bytes both ways on the wire:")
	say("   heartbeat, new TLS connection: %.0f B (median of 5 `run --once-heartbeat`, one TCP connection each: handshake with client certificate, h2, request, answer, close)", medianInt(beatNew))
	say("     of which the TLS 1.3 handshake alone is %d B (up %d, down %d: a bare handshake with the agent's credentials through", hs.bytes, hs.up, hs.down)
	say("     the proxy, then close; server chain %d B DER in %d certificates, client certificate %d B DER, plus session tickets", hs.serverChain, hs.serverCerts, hs.clientCert)
	say("     the next connection resumes), and HTTP/2 set-up, headers, the JSON heartbeat, the answer and the close the rest;")
	say("   heartbeat, new TLS connection resumed (what `run` does after the idle connection closed: agent/transport keeps a")
	say("     TLS session cache): %.0f B = the full heartbeat with its %d-B handshake replaced by a measured resumed handshake of %d B (resumed: %v)",
		medianInt(beatNew)-float64(hs.bytes)+float64(hs.resumedBytes), hs.bytes, hs.resumedBytes, hs.resumed)
	say("     (the %d-B JSON heartbeat and its framing are %.0f B of the full one)", len(mustJSON(t, wire.Heartbeat{ProtocolVersion: wire.ProtocolVersion, AgentVersion: "dev", LastSeq: 1, LastHash: strings.Repeat("0", 71)})), medianInt(beatNew)-float64(hs.bytes))
	say("   heartbeat, reused connection:  %.0f B (up %.0f, down %.0f; 200 ms heartbeats of section 1, %d new connections in %v:", beatReused,
		float64(up1-up0)/beats, float64(down1-down0)/beats, conns1-conns0, window)
	say("     the agent keeps the connection); HTTP/2 frames (9 B each) in TLS records (22 B each) around the JSON both ways")
	say("   heartbeat over HTTP/3, new QUIC connection: %.0f B (median of 3, UDP payload through the same proxy; QUIC pads", medianInt(beatH3))
	say("     its handshake packets to 1200 B; transport auto, the default, tries HTTP/3 first)")
	say("   unchanged report, new connection: %.0f B (median of 3 `report --once`, a delta with no change: body %d B JSON, %d B gzip)", medianInt(unchNew), unchRaw, unchGz)
	say("   unchanged report, reused connection: %.0f B (%v reports 300 ms apart, %d new connections)", unchReused, unchReports, c1-c0)
	say("   full report (first, %d B snapshot JSON): %d B", len(mustJSON(t, snapA)), fullTr.total())
	say("   this machine's live delta 4 s apart, reused connection: %.0f B", liveReport)
	say("   per day = 288 heartbeats + 24 unchanged reports, each on a new connection (the client drops idle connections")
	say("   after 90 s, the collector after 2 min, so 5-min heartbeats never reuse one, but they resume the TLS session):")
	say("   %.0f + %.0f = %.1f KiB/day (without resumption it would be %.1f KiB/day)", beatDay, repDay, (beatDay+repDay)/1024,
		(288*medianInt(beatNew)+24*medianInt(unchNew))/1024)
	say("   (a report resets the heartbeat timer, so the loop really sends 264 heartbeats a day: this is an upper bound)")
	say("   with connection reuse it would be %.1f KiB/day", (288*beatReused+24*unchReused)/1024)
	say("   (keeping it would need both idle timeouts above 5 min, and TCP keep-alive probes every 30 s add header-only segments)")

	// --- 3. A typical delta: one package upgraded. ---
	before := captureSnapshot(t, hostArgs...)
	db.upgrade(t, "glibc", "2.17", "317.el7")
	db.write(t)
	after := captureSnapshot(t, hostArgs...)
	dRaw, dGz := deltaBody(t, before, after)
	m = px.mark()
	reportOnce(t, wire.ReportDelta, dellArgs...)
	upTr := px.since(m, false, true)
	say("")
	say("3. one package upgraded (glibc 2.17-106.el7_2.6 → 2.17-317.el7 in the captured rpm database):")
	say("   on the wire %d B (up %d, down %d) for `report --once` on a new connection; %+.0f B against an unchanged report",
		upTr.total(), upTr.up, upTr.down, float64(upTr.total())-medianInt(unchNew))
	say("   body %d B JSON, %d B gzip (the delta between two inventories before and after, encoded as the transport does)", dRaw, dGz)

	// --- 4. Draining a spool of 1,000 reports. ---
	// 999 deltas (a package version per report) spooled offline through
	// the agent's own Sender, as `run` spools them while the collector is
	// unreachable; the agent's start adds the 1,000th.
	dir, err := state.Open(dellState)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := spool.Open(filepath.Join(dellState, state.SpoolDir), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sender := &checkin.Sender{Dir: dir, Spool: sp}
	base := mustJSON(t, after)
	spoolStart := time.Now()
	const pending = 999
	for i := range pending {
		var v wire.Snapshot
		if err := json.Unmarshal(base, &v); err != nil {
			t.Fatal(err)
		}
		for j := range v.Software.Packages {
			if v.Software.Packages[j].Name == "tzdata" {
				v.Software.Packages[j].Version = fmt.Sprintf("2016d-%d.el7", i+2)
			}
		}
		v.CollectedAt = v.CollectedAt.Add(time.Duration(i+1) * time.Second)
		q, err := sender.Enqueue(&v, false)
		if err != nil {
			t.Fatal(err)
		}
		if q.Kind != wire.ReportDelta || q.Coalesced {
			t.Fatalf("spooled report %d is %s (coalesced %v), want a delta", i, q.Kind, q.Coalesced)
		}
	}
	spoolTime := time.Since(spoolStart)
	if st, err := sp.Stats(); err != nil || st.Depth != pending {
		t.Fatalf("spool holds %+v (%v), want %d reports", st, err, pending)
	}
	applied0 = a.metric("roster_reports_applied_total", "")
	rejected0 := a.metric("roster_reports_rejected_total", "")
	ingest0 := a.metric("roster_ingest_seconds_sum", "")
	start = time.Now()
	p = startAgent(t, logs, "--config", dellCfg, "--collector", c.URL, "--host-root", hostDir, "--os", "linux",
		"--heartbeat-interval", "1h", "--report-interval", "1h")
	st = waitStatus(t, p, dellState, "the spool to drain", reportedSince(start))
	drain := st.UpdatedAt.Sub(start)
	drainCPU := procCPU(t, p.cmd.Process.Pid)
	p.stop(t)
	ingest := a.metric("roster_ingest_seconds_sum", "") - ingest0
	applied := a.metric("roster_reports_applied_total", "") - applied0
	rejected := a.metric("roster_reports_rejected_total", "") - rejected0
	if applied != pending+1 || rejected != 0 {
		t.Fatalf("collector applied %v and rejected %v reports while draining, want %d and 0", applied, rejected, pending+1)
	}
	say("")
	say("4. spool of 1,000 reports drained in %.2f s = %.0f reports/s", drain.Seconds(), (pending+1)/drain.Seconds())
	say("   999 one-package deltas spooled offline by the agent's checkin.Sender into the enrolled state directory (%.2f s, %.0f/s,", spoolTime.Seconds(), pending/spoolTime.Seconds())
	say("   each fsynced), then `roster-agent run` started (its start-up report is the 1,000th) against the running collector,")
	say("   direct over https; timed from process start to the status.json that shows spool_depth 0; the collector's")
	say("   roster_reports_applied_total rose by %v, none rejected", applied)
	say("   where the time goes: the collector handled them in %.2f ms each (roster_ingest_seconds); the agent used %.2f ms",
		ingest/applied*1000, drainCPU.Seconds()/applied*1000)
	say("   of CPU per report (start and one inventory included); the rest is the round trip and the agent's fsyncs")
	say("   (ack recorded, spool file removed) one report after another")

	say("")
	say("%-44s %-16s %-14s %s", "goal", "measured", "verdict", "")
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	say("%-44s %-16s %-14s %s", "unchanged machine <= 300 B/heartbeat (wire)", fmt.Sprintf("%.0f B", beatResumed), verdict(beatResumed <= 300), "new TLS connection per heartbeat (as 5-min heartbeats are), session resumed")
	say("%-44s %-16s %-14s %s", "", fmt.Sprintf("%.0f B", medianInt(beatNew)), verdict(medianInt(beatNew) <= 300), "first heartbeat after a restart (full handshake)")
	say("%-44s %-16s %-14s %s", "", fmt.Sprintf("%.0f B", beatReused), verdict(beatReused <= 300), "if the connection were kept")
	say("%-44s %-16s %-14s %s", "RSS <= 16 MB steady", fmt.Sprintf("%.1f MB", median(rss)*1024/1e6), verdict(median(rss)*1024 <= 16e6),
		fmt.Sprintf("VmRSS median after the first report, MB = 10^6 B (%.1f MiB: %s against 16 MiB)", median(rss)/1024, verdict(median(rss) <= 16*1024)))
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// handshakeCost is a bare TLS handshake the way the agent makes one.
type handshakeCost struct {
	bytes, up, down                      int64
	serverChain, serverCerts, clientCert int
	// resumedBytes is a second handshake resuming the first's session.
	resumedBytes int64
	resumed      bool
}

// handshake dials the proxy with the agent's own TLS configuration
// (its CA, its client certificate, ALPN h2), completes the handshake,
// lets the collector's session tickets arrive and closes: what every new
// connection costs before the first HTTP byte.
func handshake(t *testing.T, stateDir string, px *proxy) handshakeCost {
	t.Helper()
	dir, err := state.Open(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := enroll.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := creds.TLS.Clone()
	cfg.ServerName = "localhost"
	cfg.NextProtos = []string{"h2", "http/1.1"}
	// As agent/transport does: a session cache, so the second handshake
	// below resumes the first (what the service loop's next heartbeat on a
	// new connection does).
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	m := px.mark()
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", px.Port), cfg)
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	var hc handshakeCost
	for _, c := range conn.ConnectionState().PeerCertificates {
		hc.serverChain += len(c.Raw)
		hc.serverCerts++
	}
	if len(cfg.Certificates) > 0 {
		for _, der := range cfg.Certificates[0].Certificate {
			hc.clientCert += len(der)
		}
	}
	// Session tickets come after the client's Finished; a read with a
	// deadline lets them through (the server sends nothing else).
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, _ = conn.Read(make([]byte, 1))
	conn.Close()
	tr := px.since(m, false, true)
	hc.bytes, hc.up, hc.down = tr.total(), tr.up, tr.down

	m = px.mark()
	conn, err = tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", px.Port), cfg)
	if err != nil {
		t.Fatalf("resumed TLS handshake: %v", err)
	}
	hc.resumed = conn.ConnectionState().DidResume
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, _ = conn.Read(make([]byte, 1))
	conn.Close()
	hc.resumedBytes = px.since(m, false, true).total()
	return hc
}

// lastGCTrace describes the heap of the last gctrace line in path.
func lastGCTrace(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(\d+)->(\d+)->(\d+) MB, (\d+) MB goal, (\d+) MB stacks, (\d+) MB globals`)
	all := re.FindAllStringSubmatch(string(b), -1)
	if len(all) == 0 {
		return "no collection"
	}
	m := all[len(all)-1]
	return fmt.Sprintf("%s MB live heap after it (rounded down), %s MB goal, %s MB stacks, %s MB globals (%d collections)", m[3], m[4], m[5], m[6], len(all))
}

func binSize(t *testing.T) int64 {
	t.Helper()
	st, err := os.Stat(agentBin)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
