package main

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rosterhq/roster/shared/wire"
)

// The real schedule (the agent's defaults, docs/agent.md) the fleet mode
// compresses.
const (
	fleetHeartbeatEvery = 5 * time.Minute
	fleetInventoryEvery = time.Hour
	fleetChurnEvery     = 24 * time.Hour
	fleetFullEvery      = 7 * 24 * time.Hour
	maxFleetDevices     = 200000
)

// The goals for a fleet run (issue 17), per collector.
const (
	goalCPUCores = 1.0
	goalP99      = 250 * time.Millisecond
	goalRSS      = 1 << 30
)

// FleetOptions are one fleet run's parameters.
type FleetOptions struct {
	// Collectors are the base URLs; device i talks to Collectors[i % n]
	// (collectors sharing one PostgreSQL store and one CA).
	Collectors  []string
	Fingerprint string
	Secret      string
	Devices     int
	// Duration is the scheduled phase's real length, after the enrolment
	// storm; Compress is simulated seconds per real second.
	Duration time.Duration
	Compress float64
	// EnrolConcurrency bounds the storm's enrolments in flight,
	// Concurrency the scheduled phase's check-ins in flight.
	EnrolConcurrency, Concurrency int
	// HTTP3Share, OfflineShare and FullShare are the shares of devices on
	// HTTP/3, of devices that go offline once for a while (then return
	// with spooled reports) and of inventories sent in full (a resync).
	HTTP3Share, OfflineShare, FullShare float64
	Templates                           []*fleetTemplate
	Fleet                               string
	Seed                                uint64
	// PIDs are the collectors' processes and DB the database's files or
	// directories, sampled every SampleEvery.
	PIDs        []int
	DB          []string
	SampleEvery time.Duration
	// MemProfile, when set, is where the load generator's own heap
	// profiles go, at the end of the storm (MemProfile.storm: what a
	// simulated device holds) and of the schedule (MemProfile.schedule).
	MemProfile string
}

// KindResult is one kind of request's figures in one phase.
type KindResult struct {
	Sent      int            `json:"sent"`
	OK        int            `json:"ok"`
	PerSecond float64        `json:"ok_per_s"`
	P50       float64        `json:"p50_ms"`
	P90       float64        `json:"p90_ms"`
	P99       float64        `json:"p99_ms"`
	Max       float64        `json:"max_ms"`
	Errors    map[string]int `json:"errors,omitempty"`
}

// PhaseResult is one phase (the enrolment storm, the schedule).
type PhaseResult struct {
	Seconds float64               `json:"seconds"`
	Kinds   map[string]KindResult `json:"kinds"`
	// All is every request of the phase together.
	All KindResult `json:"all"`
}

// ProcResult is one collector process's usage during the schedule.
type ProcResult struct {
	PID         int     `json:"pid"`
	CPUAvg      float64 `json:"cpu_avg_cores"`
	CPUMax      float64 `json:"cpu_max_cores"`
	RSSMax      int64   `json:"rss_max_bytes"`
	StormCPUAvg float64 `json:"storm_cpu_avg_cores"`
}

// FleetResult is what a fleet run measured.
type FleetResult struct {
	Devices      int         `json:"devices"`
	Collectors   int         `json:"collectors"`
	HTTP3Devices int         `json:"http3_devices"`
	Compress     float64     `json:"compress"`
	SimHours     float64     `json:"simulated_hours"`
	Templates    []string    `json:"templates"`
	Storm        PhaseResult `json:"storm"`
	Schedule     PhaseResult `json:"schedule"`
	// Offline devices went away once; Returned came back and sent
	// Spooled reports kept meanwhile.
	Offline   int `json:"offline_devices"`
	Returned  int `json:"returned_devices"`
	Spooled   int `json:"spooled_reports"`
	ChurnDays int `json:"churn_days"`
	Churned   int `json:"churned_packages"`
	// Applied is every report the collectors acknowledged, both phases.
	Applied int `json:"applied_reports"`
	// LagP99 is how late the 99th percentile check-in started against
	// its schedule: above a second, the fleet's demand was not met.
	LagP99   float64      `json:"lag_p99_ms"`
	Procs    []ProcResult `json:"collectors_usage"`
	DBBytes  int64        `json:"db_bytes"`
	DBPerDev float64      `json:"db_bytes_per_device"`
	Usage    []usagePoint `json:"usage"`
	StormEnd float64      `json:"storm_end_s"`
	// Self is the load generator's own memory at the end of the storm
	// and of the schedule.
	Self    [2]selfMem `json:"load_generator_memory"`
	Met     bool       `json:"goals_met"`
	Verdict string     `json:"verdict"`
}

// tallies collects samples by kind, for the phase in progress.
type tallies struct {
	mu    sync.Mutex
	kinds map[string]*kindTally
	lags  []time.Duration
}

type kindTally struct {
	sent, ok int
	lat      []time.Duration
	errs     map[string]int
}

func newTallies() *tallies { return &tallies{kinds: map[string]*kindTally{}} }

func (t *tallies) record(s sample) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := t.kinds[s.kind]
	if k == nil {
		k = &kindTally{errs: map[string]int{}}
		t.kinds[s.kind] = k
	}
	k.sent++
	if s.latency > 0 {
		k.lat = append(k.lat, s.latency)
	}
	if s.err == "" {
		k.ok++
	} else {
		k.errs[s.err]++
	}
}

func (t *tallies) lag(d time.Duration) {
	t.mu.Lock()
	t.lags = append(t.lags, d)
	t.mu.Unlock()
}

func kindResult(sent, ok int, lat []time.Duration, errs map[string]int, secs float64) KindResult {
	l := summarise(lat)
	r := KindResult{Sent: sent, OK: ok, P50: ms(l.P50), P90: ms(l.P90), P99: ms(l.P99), Max: ms(l.Max)}
	if secs > 0 {
		r.PerSecond = float64(ok) / secs
	}
	if len(errs) > 0 {
		r.Errors = errs
	}
	return r
}

func (t *tallies) result(secs float64) PhaseResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := PhaseResult{Seconds: secs, Kinds: map[string]KindResult{}}
	var all []time.Duration
	allErrs := map[string]int{}
	sent, ok := 0, 0
	for name, k := range t.kinds {
		p.Kinds[name] = kindResult(k.sent, k.ok, slices.Clone(k.lat), k.errs, secs)
		all = append(all, k.lat...)
		sent += k.sent
		ok += k.ok
		for e, n := range k.errs {
			allErrs[name+": "+e] += n
		}
	}
	p.All = kindResult(sent, ok, all, allErrs, secs)
	return p
}

// Fleet runs the fleet mode: the enrolment storm (every device enrols
// and sends its first full report, EnrolConcurrency at a time), then the
// compressed schedule for Duration, sampling the collectors meanwhile.
func Fleet(ctx context.Context, opt FleetOptions) (FleetResult, error) {
	res := FleetResult{Devices: opt.Devices, Collectors: len(opt.Collectors), Compress: opt.Compress}
	for _, t := range opt.Templates {
		res.Templates = append(res.Templates, fmt.Sprintf("%s (%d packages)", t.name, len(t.snap.Software.Packages)))
	}
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var usage []usagePoint
	sampled := make(chan struct{})
	go func() {
		usage = sampleUsage(sampleCtx, opt.PIDs, opt.DB, opt.SampleEvery)
		close(sampled)
	}()
	began := time.Now()

	// The storm.
	storm := newTallies()
	devs := make([]*fleetDevice, opt.Devices)
	next := make(chan int)
	var firstErr, err error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for range opt.EnrolConcurrency {
		wg.Go(func() {
			zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
			for i := range next {
				d, err := enrolFleetDevice(ctx, opt, opt.Templates[i%len(opt.Templates)], i, storm.record)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					continue
				}
				c, err := d.client()
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					continue
				}
				d.drain(ctx, c, zw, false, storm.record)
				c.Close()
				devs[i] = d
			}
		})
	}
	for i := range opt.Devices {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	stormSecs := time.Since(began).Seconds()
	res.StormEnd = stormSecs
	res.Storm = storm.result(stormSecs)
	if res.Self[0], err = selfMemory(opt.MemProfile, "storm"); err != nil {
		stopSampling()
		return res, err
	}
	if ctx.Err() != nil {
		stopSampling()
		return res, ctx.Err()
	}

	// The schedule: a goroutine per device sleeping until its next
	// check-in, Concurrency of them at work at once. Reports are
	// compressed with gzip writers from a pool: once used, a writer keeps
	// ~700 KB of compressor state, and one per device was most of the
	// load generator's memory (850 MB of heap at 4,000 devices), one per
	// slot still 184 MB at 256 slots; reports are a tenth of the
	// check-ins, so few are in use at once.
	sched := newTallies()
	start := time.Now()
	end := start.Add(opt.Duration)
	simDur := time.Duration(float64(opt.Duration) * opt.Compress)
	res.SimHours = simDur.Hours()
	sim := func(t time.Time) time.Duration { return time.Duration(float64(t.Sub(start)) * opt.Compress) }
	real := func(s time.Duration) time.Time { return start.Add(time.Duration(float64(s) / opt.Compress)) }
	sem := make(chan struct{}, opt.Concurrency)
	zws := &sync.Pool{New: func() any {
		zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
		return zw
	}}
	var mu sync.Mutex
	for _, d := range devs {
		if d == nil {
			continue
		}
		if d.mode != "https" {
			res.HTTP3Devices++
		}
		wg.Go(func() {
			st := d.live(ctx, sched, sem, zws, simDur, opt, sim, real, end)
			mu.Lock()
			res.Spooled += st.spooled
			res.ChurnDays += st.churnDays
			res.Churned += st.churned
			if st.offline {
				res.Offline++
			}
			if st.returned {
				res.Returned++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	schedSecs := time.Since(start).Seconds()
	stopSampling()
	<-sampled
	res.Schedule = sched.result(schedSecs)
	if res.Self[1], err = selfMemory(opt.MemProfile, "schedule"); err != nil {
		return res, err
	}
	res.LagP99 = ms(summarise(sched.lags).P99)
	res.Usage = usage
	for _, d := range devs {
		if d != nil {
			res.Applied += d.applied
		}
	}
	for i, pid := range opt.PIDs {
		pr := ProcResult{PID: pid}
		var sum, n, ssum, sn float64
		for _, u := range usage {
			if u.At <= stormSecs {
				ssum += u.CPU[i]
				sn++
				continue
			}
			sum += u.CPU[i]
			n++
			pr.CPUMax = max(pr.CPUMax, u.CPU[i])
			pr.RSSMax = max(pr.RSSMax, u.RSS[i])
		}
		if n > 0 {
			pr.CPUAvg = sum / n
		}
		if sn > 0 {
			pr.StormCPUAvg = ssum / sn
		}
		res.Procs = append(res.Procs, pr)
	}
	res.DBBytes = pathBytes(opt.DB)
	if opt.Devices > 0 {
		res.DBPerDev = float64(res.DBBytes) / float64(opt.Devices)
	}
	res.Met, res.Verdict = verdict(res)
	if firstErr != nil {
		return res, fmt.Errorf("enrolment storm: %w", firstErr)
	}
	return res, nil
}

// liveStats is what one device did during the schedule.
type liveStats struct {
	spooled, churnDays, churned int
	offline, returned           bool
}

// live runs device d's schedule until end: a heartbeat every 5 minutes
// and an inventory every hour (a delta; one in FullShare in full, and
// every 7 days), the day's package churn in the first inventory of each
// day, and for OfflineShare of the devices one absence during which
// inventories are spooled and sent on return. Times are simulated; each
// device starts at a random phase of every interval.
func (d *fleetDevice) live(ctx context.Context, t *tallies, sem chan struct{}, zws *sync.Pool, simDur time.Duration, opt FleetOptions,
	sim func(time.Time) time.Duration, real func(time.Duration) time.Time, end time.Time) liveStats {
	var st liveStats
	r := d.rng
	nextHB := time.Duration(r.Int64N(int64(fleetHeartbeatEvery)))
	nextInv := time.Duration(r.Int64N(int64(fleetInventoryEvery)))
	dayPhase := time.Duration(r.Int64N(int64(fleetChurnEvery)))
	day := int64(dayPhase / fleetChurnEvery)
	lastFull := -time.Duration(r.Int64N(int64(fleetFullEvery)))
	offFrom, offUntil := simDur, simDur
	if r.Float64() < opt.OfflineShare {
		// Away between one and three hours of the schedule (half the run
		// when that is shorter), back before the last tenth of it.
		length := min(time.Hour+time.Duration(r.Int64N(int64(2*time.Hour))), simDur/2)
		room := simDur*9/10 - length
		offFrom = time.Duration(r.Int64N(int64(max(room, 1))))
		offUntil = offFrom + length
		st.offline = true
	}
	for {
		due := min(nextHB, nextInv)
		now := sim(time.Now())
		if now < offUntil && offUntil < due && now >= offFrom {
			due = offUntil
		}
		at := real(due)
		if !at.Before(end) {
			return st
		}
		if w := time.Until(at); w > 0 {
			tm := time.NewTimer(w)
			select {
			case <-ctx.Done():
				tm.Stop()
				return st
			case <-tm.C:
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return st
		}
		t.lag(time.Since(at))
		now = sim(time.Now())
		away := now >= offFrom && now < offUntil
		if now >= nextInv {
			churn := int64((now+dayPhase)/fleetChurnEvery) > day
			if churn {
				day = int64((now + dayPhase) / fleetChurnEvery)
				st.churnDays++
			}
			full := r.Float64() < opt.FullShare || now-lastFull >= fleetFullEvery
			if full {
				lastFull = now
			}
			n, err := d.queueInventory(time.Now(), full, churn)
			if err != nil {
				t.record(sample{kind: "inventory", err: "encode"})
			}
			st.churned += n
			if away {
				st.spooled++
			}
			for nextInv <= now {
				nextInv += fleetInventoryEvery
			}
		}
		if !away {
			returning := st.offline && !st.returned && now >= offUntil
			if returning {
				st.returned = true
			}
			c, err := d.client()
			if err != nil {
				t.record(sample{kind: "client", err: err.Error()})
			} else {
				if len(d.pending) > 0 {
					zw := zws.Get().(*gzip.Writer)
					d.drain(ctx, c, zw, returning, t.record)
					zws.Put(zw)
				} else if now >= nextHB {
					d.heartbeat(ctx, c, t.record)
				}
				c.Close()
			}
		}
		for nextHB <= now {
			nextHB += fleetHeartbeatEvery
		}
		<-sem
	}
}

// verdict judges a run against the goals: per collector, CPU at
// most one core on average and RSS at most 1 GiB; p99 at most 250 ms and
// no error over the schedule; the load generator keeping to the schedule.
func verdict(r FleetResult) (bool, string) {
	var bad []string
	for _, p := range r.Procs {
		if p.CPUAvg > goalCPUCores {
			bad = append(bad, fmt.Sprintf("collector %d CPU %.2f cores > 1", p.PID, p.CPUAvg))
		}
		if p.RSSMax > goalRSS {
			bad = append(bad, fmt.Sprintf("collector %d RSS %d MiB > 1024", p.PID, p.RSSMax>>20))
		}
	}
	if r.Schedule.All.P99 > ms(goalP99) {
		bad = append(bad, fmt.Sprintf("p99 %.0f ms > 250", r.Schedule.All.P99))
	}
	if n := errCount(r.Storm.All.Errors) + errCount(r.Schedule.All.Errors); n > 0 {
		bad = append(bad, fmt.Sprintf("%d errors", n))
	}
	if r.LagP99 > 1000 {
		bad = append(bad, fmt.Sprintf("check-ins ran late (p99 %.1f s behind schedule)", r.LagP99/1000))
	}
	goals := "CPU <= 1 core avg, RSS <= 1 GiB per collector, p99 <= 250 ms, zero errors"
	if len(bad) == 0 {
		return true, "goals met (" + goals + ")"
	}
	return false, "goals NOT met: " + strings.Join(bad, "; ") + " (" + goals + ")"
}

func errCount(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// runFleet is `roster-loadgen fleet`.
func runFleet(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("roster-loadgen fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opt FleetOptions
	var snaps, pids listFlag
	var collectors listFlag
	var dbPaths listFlag
	var asJSON bool
	fs.Var(&collectors, "collector", "collector `URL` on loopback (repeatable: devices are spread over them)")
	fs.StringVar(&opt.Fingerprint, "ca-fingerprint", "", "collector CA `fingerprint` (sha256:…)")
	fs.StringVar(&opt.Secret, "secret", "", "enrolment `secret` (needs at least --devices uses)")
	fs.IntVar(&opt.Devices, "devices", 100, "simulated `devices`")
	fs.DurationVar(&opt.Duration, "duration", time.Minute, "scheduled phase's real `length`, after the enrolment storm")
	fs.Float64Var(&opt.Compress, "compress", 10, "time compression: simulated seconds of the schedule per real `second`")
	fs.IntVar(&opt.EnrolConcurrency, "enrol-concurrency", 16, "enrolments in flight during the storm")
	fs.IntVar(&opt.Concurrency, "concurrency", 256, "check-ins in flight during the schedule")
	fs.Float64Var(&opt.HTTP3Share, "http3-share", 0.3, "`share` of devices on HTTP/3 (the others on HTTPS)")
	fs.Float64Var(&opt.OfflineShare, "offline-share", 0.05, "`share` of devices that go offline once and return with spooled reports")
	fs.Float64Var(&opt.FullShare, "full-share", 0.005, "`share` of inventories sent in full (a resync)")
	fs.Var(&snaps, "snapshot", "captured snapshot JSON `file` devices are made from (repeatable; packages are mixed between them)")
	fs.Var(&pids, "collector-pid", "collector process `id` to sample CPU and RSS of (repeatable)")
	fs.Var(&dbPaths, "db", "database file or directory `path` whose size to sample (repeatable)")
	fs.DurationVar(&opt.SampleEvery, "sample-every", time.Second, "sampling `interval`")
	fs.StringVar(&opt.MemProfile, "memprofile", "", "write the load generator's heap profiles to `file`.storm and file.schedule at the end of each phase")
	fs.StringVar(&opt.Fleet, "fleet", "", "`name` of this run's simulated machines; default a random one")
	seed := fs.Uint64("seed", 1, "random `seed`")
	fs.BoolVar(&asJSON, "json", false, "print the figures as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	opt.Seed = *seed
	opt.Collectors = collectors
	opt.DB = dbPaths
	for _, p := range pids {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			fmt.Fprintf(stderr, "roster-loadgen fleet: --collector-pid %q: want a process id\n", p)
			return 2
		}
		opt.PIDs = append(opt.PIDs, n)
	}
	if err := validateFleet(fs, opt, snaps); err != nil {
		fmt.Fprintf(stderr, "roster-loadgen fleet: %v\n", err)
		return 2
	}
	var loaded []*wire.Snapshot
	var names []string
	for _, f := range snaps {
		s, err := loadSnapshot(ctx, f, nil)
		if err != nil {
			fmt.Fprintf(stderr, "roster-loadgen fleet: %v\n", err)
			return 1
		}
		loaded = append(loaded, s)
		names = append(names, filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f))
	}
	ts, err := newTemplates(names, loaded)
	if err != nil {
		fmt.Fprintf(stderr, "roster-loadgen fleet: %v\n", err)
		return 2
	}
	opt.Templates = ts
	if opt.Fleet == "" {
		opt.Fleet = fmt.Sprintf("f%08x", rand.Uint32())
	}
	res, err := Fleet(ctx, opt)
	if err != nil {
		fmt.Fprintf(stderr, "roster-loadgen fleet: %v\n", err)
		return 1
	}
	if asJSON {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			fmt.Fprintf(stderr, "roster-loadgen fleet: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s\n", b)
		return 0
	}
	writeFleetText(stdout, res)
	return 0
}

func validateFleet(fs *flag.FlagSet, opt FleetOptions, snaps []string) error {
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	case len(opt.Collectors) == 0:
		return errors.New("--collector is required")
	case opt.Fingerprint == "" || opt.Secret == "":
		return errors.New("--ca-fingerprint and --secret are required")
	case len(snaps) == 0:
		return errors.New("--snapshot is required (captured hosts' snapshots, e.g. testdata/hosts/*/*/want.json with packages)")
	case opt.Devices < 1 || opt.Devices > maxFleetDevices:
		return fmt.Errorf("--devices %d: want 1 to %d", opt.Devices, maxFleetDevices)
	case opt.Duration <= 0 || opt.Duration > 4*time.Hour:
		return fmt.Errorf("--duration %v: want more than 0 and at most 4h", opt.Duration)
	case opt.Compress < 1 || opt.Compress > 100000:
		return fmt.Errorf("--compress %g: want 1 to 100000", opt.Compress)
	case opt.EnrolConcurrency < 1 || opt.EnrolConcurrency > maxConcurrency || opt.Concurrency < 1 || opt.Concurrency > 4096:
		return fmt.Errorf("--enrol-concurrency %d, --concurrency %d: want 1 to %d and 1 to 4096", opt.EnrolConcurrency, opt.Concurrency, maxConcurrency)
	case opt.SampleEvery < 100*time.Millisecond:
		return fmt.Errorf("--sample-every %v: want at least 100ms", opt.SampleEvery)
	}
	for _, s := range []float64{opt.HTTP3Share, opt.OfflineShare, opt.FullShare} {
		if s < 0 || s > 1 {
			return fmt.Errorf("share %g: want 0 to 1", s)
		}
	}
	for _, c := range opt.Collectors {
		u, err := url.Parse(c)
		if err != nil || u.Scheme != "https" || u.Port() == "" || !loopback(u.Hostname()) {
			return fmt.Errorf("--collector %q: want https://LOOPBACK:PORT", c)
		}
	}
	return nil
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func writeFleetText(w io.Writer, r FleetResult) {
	fmt.Fprintf(w, "fleet: %d devices (%d on HTTP/3) over %d collector(s), schedule compressed %gx: %.0fs real = %.1f h simulated\n",
		r.Devices, r.HTTP3Devices, r.Collectors, r.Compress, r.Schedule.Seconds, r.SimHours)
	// Compression multiplies the request rate, not the fleet: the
	// schedule's load is that of devices × compress agents in real time.
	fmt.Fprintf(w, "real-time load equivalent: %.0f devices (heartbeats due %.0f/s, inventories %.1f/s)\n",
		float64(r.Devices)*r.Compress, float64(r.Devices)*r.Compress/fleetHeartbeatEvery.Seconds(), float64(r.Devices)*r.Compress/fleetInventoryEvery.Seconds())
	fmt.Fprintf(w, "templates: %s\n", strings.Join(r.Templates, ", "))
	phase := func(name string, p PhaseResult) {
		fmt.Fprintf(w, "%s (%.1fs):\n  %-10s %9s %9s %9s %8s %8s %8s %8s  %s\n", name, p.Seconds, "kind", "sent", "ok", "ok/s", "p50_ms", "p90_ms", "p99_ms", "max_ms", "errors")
		var names []string
		for k := range p.Kinds {
			names = append(names, k)
		}
		slices.Sort(names)
		row := func(n string, k KindResult) {
			errs := "none"
			if len(k.Errors) > 0 {
				var e []string
				for x, c := range k.Errors {
					e = append(e, fmt.Sprintf("%s=%d", x, c))
				}
				slices.Sort(e)
				errs = strings.Join(e, " ")
			}
			fmt.Fprintf(w, "  %-10s %9d %9d %9.1f %8.2f %8.2f %8.2f %8.2f  %s\n", n, k.Sent, k.OK, k.PerSecond, k.P50, k.P90, k.P99, k.Max, errs)
		}
		for _, n := range names {
			row(n, p.Kinds[n])
		}
		row("all", p.All)
	}
	phase("enrolment storm", r.Storm)
	phase("schedule", r.Schedule)
	fmt.Fprintf(w, "offline: %d devices went away, %d returned with %d spooled reports; churn: %d device-days, %d packages changed; applied reports: %d; check-ins late by p99 %.0f ms\n",
		r.Offline, r.Returned, r.Spooled, r.ChurnDays, r.Churned, r.Applied, r.LagP99)
	for _, p := range r.Procs {
		fmt.Fprintf(w, "collector pid %d: CPU %.2f cores avg, %.2f max over the schedule (%.2f avg in the storm); RSS max %.0f MiB\n",
			p.PID, p.CPUAvg, p.CPUMax, p.StormCPUAvg, float64(p.RSSMax)/(1<<20))
	}
	if len(r.Usage) > 0 {
		fmt.Fprintf(w, "over time (storm ends at %.0fs):\n  %7s %-22s %-22s %12s %12s\n", r.StormEnd, "t_s", "cpu_cores", "rss_MiB", "db_MiB", "loadgen_MiB")
		step := max(1, len(r.Usage)/12)
		for i := 0; i < len(r.Usage); i += step {
			u := r.Usage[i]
			var c, m []string
			for j := range u.CPU {
				c = append(c, fmt.Sprintf("%.2f", u.CPU[j]))
				m = append(m, fmt.Sprintf("%.0f", float64(u.RSS[j])/(1<<20)))
			}
			fmt.Fprintf(w, "  %7.0f %-22s %-22s %12.1f %12.0f\n", u.At, strings.Join(c, " "), strings.Join(m, " "), float64(u.DBBytes)/(1<<20), float64(u.Self)/(1<<20))
		}
	}
	fmt.Fprintf(w, "database: %.1f MiB, %.0f bytes per device\n", float64(r.DBBytes)/(1<<20), r.DBPerDev)
	var selfMax int64
	for _, u := range r.Usage {
		selfMax = max(selfMax, u.Self)
	}
	fmt.Fprintf(w, "load generator: RSS max %.0f MiB (%.1f KB per device)\n", float64(selfMax)/(1<<20), float64(selfMax)/1000/float64(max(r.Devices, 1)))
	for i, phase := range []string{"storm", "schedule"} {
		m := r.Self[i]
		fmt.Fprintf(w, "load generator at the end of the %s: heap %.0f MiB, stacks %.0f MiB, RSS %.0f MiB (%.1f KB per device)\n",
			phase, float64(m.Heap)/(1<<20), float64(m.Stacks)/(1<<20), float64(m.RSS)/(1<<20), float64(m.RSS)/1000/float64(max(r.Devices, 1)))
	}
	fmt.Fprintf(w, "verdict: %s\n", r.Verdict)
}

// selfMem is the load generator's memory at one moment, after a
// collection: what its simulated devices hold is most of it.
type selfMem struct {
	Heap   uint64 `json:"heap_bytes"`
	Stacks uint64 `json:"stack_bytes"`
	RSS    int64  `json:"rss_bytes"`
}

// selfMemory measures the load generator after a collection and, when
// profile is set, writes its heap profile to profile.phase.
func selfMemory(profile, phase string) (selfMem, error) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := selfMem{Heap: ms.HeapInuse, Stacks: ms.StackInuse}
	_, m.RSS, _ = procUsage(os.Getpid())
	if profile == "" {
		return m, nil
	}
	f, err := os.Create(profile + "." + phase)
	if err != nil {
		return m, fmt.Errorf("heap profile: %w", err)
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return m, fmt.Errorf("heap profile: %w", err)
	}
	if err := f.Close(); err != nil {
		return m, fmt.Errorf("heap profile: %w", err)
	}
	return m, nil
}
