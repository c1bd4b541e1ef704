package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/rosterhq/roster/agent/enroll"
	"github.com/rosterhq/roster/agent/transport"
	"github.com/rosterhq/roster/shared/wire"
)

// soakSchedule is the compressed check-in schedule of the soak's devices.
type soakSchedule struct {
	// ReportEvery is the inventory interval (each inventory adds one
	// package), HeartbeatEvery the heartbeat interval; both get ±50 %
	// jitter.
	ReportEvery, HeartbeatEvery time.Duration
	// BackoffMax caps the exponential backoff after a failed request.
	BackoffMax time.Duration
}

// soakDevice is one simulated agent with the real agent's reporting
// protocol (agent/checkin.Sender), its spool kept in memory: every report
// is queued before it is sent and leaves the queue only once the collector
// acknowledged it (applied or duplicate); a failed send keeps it and
// retries after a backoff; a resync answer to a delta replaces the queue
// with one full report of the newest state under a new sequence number; a
// heartbeat answered resync with nothing queued queues a full report. The
// device itself never crashes: the collector does.
type soakDevice struct {
	index  int
	serial string
	base   *wire.Snapshot // shared by all devices, read only
	hw     *wire.Hardware // this device's identity
	client *transport.Client
	rng    *rand.Rand

	// seq is the last sequence number used; added the packages the soak
	// added, in order, all in the newest queued state.
	seq     uint64
	added   []string
	pending []*wire.Report
	// acked are the sequence numbers the collector acknowledged, in
	// order; lastAck/lastHash the newest.
	acked    []uint64
	lastAck  uint64
	lastHash string

	stats soakStats
}

// soakStats are one device's counts, summed at the end.
type soakStats struct {
	Reports, Applied, Duplicates, Resyncs, Heartbeats, HeartbeatResyncs int
	// Failures counts failed sends (retried) by kind.
	Failures map[string]int
	// Latencies are the acknowledged reports' round trips.
	Latencies []time.Duration
	// Violations are protocol answers no crash may cause: a refused
	// report, a resync to a full report, a heartbeat resync although the
	// collector acknowledged the device's last report.
	Violations []string
	// Outages are how long the device kept failing, from its first
	// failed send to its next success, one per streak.
	Outages []time.Duration
}

func (s *soakStats) add(o soakStats) {
	s.Reports += o.Reports
	s.Applied += o.Applied
	s.Duplicates += o.Duplicates
	s.Resyncs += o.Resyncs
	s.Heartbeats += o.Heartbeats
	s.HeartbeatResyncs += o.HeartbeatResyncs
	if s.Failures == nil {
		s.Failures = map[string]int{}
	}
	for k, v := range o.Failures {
		s.Failures[k] += v
	}
	s.Latencies = append(s.Latencies, o.Latencies...)
	s.Violations = append(s.Violations, o.Violations...)
	s.Outages = append(s.Outages, o.Outages...)
}

func soakPackage(device, n int) wire.Package {
	return wire.Package{Source: "deb", Name: fmt.Sprintf("soakpkg-%d-%d", device, n), Version: "1.0", Arch: "amd64"}
}

// snapshot is the device's newest state at time at: the shared base with
// its own identity and the packages the soak added.
func (d *soakDevice) snapshot(at time.Time) (*wire.Snapshot, string, error) {
	s := *d.base
	s.Hardware = d.hw
	s.CollectedAt = at
	sw := *d.base.Software
	sw.Packages = make([]wire.Package, 0, len(d.base.Software.Packages)+len(d.added))
	sw.Packages = append(sw.Packages, d.base.Software.Packages...)
	for n := range d.added {
		sw.Packages = append(sw.Packages, soakPackage(d.index, n))
	}
	s.Software = &sw
	h, err := wire.SnapshotHash(&s)
	return &s, h, err
}

// inventory queues the next report: one new package, as a delta against
// the newest queued state, or in full when full.
func (d *soakDevice) inventory(now time.Time, full bool) error {
	prev := d.hash()
	d.added = append(d.added, soakPackage(d.index, len(d.added)).Name)
	return d.queue(now, full, prev)
}

// hash is the hash of the newest queued state ("" before the first).
func (d *soakDevice) hash() string {
	if n := len(d.pending); n > 0 {
		return d.pending[n-1].Hash
	}
	return d.lastHash
}

func (d *soakDevice) queue(now time.Time, full bool, prevHash string) error {
	at := now.UTC().Truncate(time.Millisecond)
	snap, h, err := d.snapshot(at)
	if err != nil {
		return err
	}
	d.seq++
	rep := &wire.Report{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportFull, Seq: d.seq, Snapshot: snap, Hash: h}
	if !full && prevHash != "" {
		pkg := soakPackage(d.index, len(d.added)-1)
		rep.Kind, rep.Snapshot, rep.BaseHash = wire.ReportDelta, nil, prevHash
		rep.Delta = &wire.Delta{CollectedAt: at, AgentVersion: snap.AgentVersion, Platform: snap.Platform, Agent: snap.Agent,
			Probes: snap.Probes, SoftwareAdded: []wire.Package{pkg}}
	}
	d.pending = append(d.pending, rep)
	return nil
}

// resync replaces the queue with one full report of the newest state.
func (d *soakDevice) resync(now time.Time) error {
	d.pending = nil
	return d.queue(now, true, "")
}

// errSoakRefused is a report or heartbeat answer the soak counts as a
// violation; the device carries on as the agent would.
var errSoakRefused = errors.New("refused")

// drain sends the queued reports in order until none is left or one fails.
func (d *soakDevice) drain(ctx context.Context) error {
	for len(d.pending) > 0 {
		rep := d.pending[0]
		var ack wire.Ack
		d.stats.Reports++
		began := time.Now()
		_, err := d.client.PostJSON(ctx, ReportPath, rep, true, &ack)
		var he *transport.HTTPError
		switch {
		case errors.As(err, &he) && he.Status >= 400 && he.Status < 500 && he.Status != http.StatusRequestTimeout && he.Status != http.StatusTooManyRequests:
			d.violation("report seq %d (%s) refused: %v", rep.Seq, rep.Kind, err)
			if err := d.resync(time.Now()); err != nil {
				return err
			}
			return errSoakRefused
		case err != nil:
			return fmt.Errorf("send %s report seq %d: %w", rep.Kind, rep.Seq, err)
		}
		if ack.Seq != rep.Seq {
			d.violation("report seq %d acknowledged as seq %d", rep.Seq, ack.Seq)
		}
		switch ack.Status {
		case wire.AckApplied, wire.AckDuplicate:
			if ack.Status == wire.AckApplied {
				d.stats.Applied++
			} else {
				d.stats.Duplicates++
			}
			if ack.Status == wire.AckDuplicate && ack.Hash != rep.Hash {
				d.violation("report seq %d answered duplicate but the collector holds %s, not %s", rep.Seq, ack.Hash, rep.Hash)
			}
			d.stats.Latencies = append(d.stats.Latencies, time.Since(began))
			d.acked = append(d.acked, rep.Seq)
			d.lastAck, d.lastHash = rep.Seq, rep.Hash
			d.pending = d.pending[1:]
		case wire.AckResync:
			d.stats.Resyncs++
			if rep.Kind == wire.ReportFull {
				d.violation("full report seq %d answered resync: %s", rep.Seq, ack.Message)
				return errSoakRefused
			}
			// The base of a delta whose predecessor was acknowledged must
			// be the collector's: a resync means it lost a report.
			d.violation("delta seq %d on acknowledged seq %d answered resync: %s", rep.Seq, d.lastAck, ack.Message)
			if err := d.resync(time.Now()); err != nil {
				return err
			}
		default:
			return fmt.Errorf("report seq %d: unknown ack status %q", rep.Seq, ack.Status)
		}
	}
	return nil
}

// heartbeat sends one heartbeat; with nothing queued, a resync answer
// means the collector does not hold the last acknowledged report.
func (d *soakDevice) heartbeat(ctx context.Context) error {
	hb := wire.Heartbeat{ProtocolVersion: wire.ProtocolVersion, AgentVersion: d.base.AgentVersion, LastSeq: d.lastAck, LastHash: d.lastHash, SpoolDepth: len(d.pending)}
	var ack wire.HeartbeatAck
	d.stats.Heartbeats++
	if _, err := d.client.PostJSON(ctx, HeartbeatPath, hb, false, &ack); err != nil {
		return fmt.Errorf("send heartbeat: %w", err)
	}
	if ack.Status == wire.HeartbeatResync && len(d.pending) == 0 {
		d.stats.HeartbeatResyncs++
		d.violation("heartbeat after acknowledged seq %d answered resync", d.lastAck)
		return d.resync(time.Now())
	}
	return nil
}

func (d *soakDevice) violation(format string, args ...any) {
	d.stats.Violations = append(d.stats.Violations, fmt.Sprintf("device %d: ", d.index)+fmt.Sprintf(format, args...))
}

// jitter is every ±50 %.
func (d *soakDevice) jitter(every time.Duration) time.Duration {
	return every/2 + time.Duration(d.rng.Int64N(int64(every)+1))
}

// loop runs the device's schedule until load is done, then sends what it
// still holds until it holds nothing or ctx ends. It returns whether the
// queue is empty at the end.
func (d *soakDevice) loop(ctx context.Context, load <-chan struct{}, sch soakSchedule) bool {
	now := time.Now()
	nextReport, nextBeat := now.Add(d.jitter(sch.ReportEvery)), now.Add(d.jitter(sch.HeartbeatEvery))
	var failingSince time.Time
	fails := 0
	for {
		now = time.Now()
		loading := load != nil
		if loading && !now.Before(nextReport) {
			if err := d.inventory(now, false); err != nil {
				d.violation("queue report: %v", err)
				return false
			}
			nextReport = now.Add(d.jitter(sch.ReportEvery))
		}
		var err error
		switch {
		case len(d.pending) > 0:
			err = d.drain(ctx)
		case !loading:
			return true
		case !now.Before(nextBeat):
			err = d.heartbeat(ctx)
			nextBeat = now.Add(d.jitter(sch.HeartbeatEvery))
		}
		var wait time.Duration
		switch {
		case err != nil && !errors.Is(err, errSoakRefused):
			if ctx.Err() != nil {
				return len(d.pending) == 0
			}
			if d.stats.Failures == nil {
				d.stats.Failures = map[string]int{}
			}
			d.stats.Failures[failureKind(err)]++
			if fails == 0 {
				failingSince = now
			}
			fails++
			// Capped exponential backoff with jitter, as the agent's loop.
			wait = d.jitter(min(sch.BackoffMax, 100*time.Millisecond<<min(fails, 8)))
		case !loading:
			wait = 0
		default:
			next := nextReport
			if nextBeat.Before(next) {
				next = nextBeat
			}
			wait = time.Until(next)
		}
		if err == nil && fails > 0 {
			d.stats.Outages = append(d.stats.Outages, time.Since(failingSince))
			fails = 0
		}
		t := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return len(d.pending) == 0
		case <-load:
			load = nil
		case <-t.C:
		}
		t.Stop()
	}
}

// enrolSoakDevice enrols device i of fleet with its own key and returns it
// with its first full report queued.
func enrolSoakDevice(ctx context.Context, url, fingerprint, secret, host, fleet string, base *wire.Snapshot, enroller *transport.Client, i int, seed uint64) (*soakDevice, error) {
	s, err := deviceSnapshot(&wire.Snapshot{Hardware: base.Hardware}, fleet, i)
	if err != nil {
		return nil, fmt.Errorf("device %d: %w", i, err)
	}
	key, csr, err := enroll.NewKeyAndCSR(s.Hardware.Hostname)
	if err != nil {
		return nil, fmt.Errorf("device %d: %w", i, err)
	}
	id := *base
	id.Hardware = s.Hardware
	var resp wire.EnrollResponse
	if _, err := enroller.PostJSON(ctx, enroll.EnrollPath, wire.EnrollRequest{
		Secret: secret, CSR: string(csr), Identity: wire.IdentityOf(&id), AgentVersion: base.AgentVersion,
	}, false, &resp); err != nil {
		return nil, fmt.Errorf("device %d: enrol: %w", i, err)
	}
	certs, err := transport.ParseCertificates([]byte(resp.Certificate))
	if err != nil {
		return nil, fmt.Errorf("device %d: enrol: %w", i, err)
	}
	cfg, err := transport.PinnedTLS(fingerprint, host)
	if err != nil {
		return nil, err
	}
	cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{certs[0].Raw}, PrivateKey: key, Leaf: certs[0]}}
	// The agent's defaults: a 60 s request timeout, no retries inside the
	// transport (the loop's backoff retries).
	client, err := transport.New(transport.Options{BaseURL: url, TLS: cfg, Mode: transport.ModeHTTPS, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	d := &soakDevice{index: i, serial: s.Hardware.SystemSerial, base: base, hw: s.Hardware, client: client,
		rng: rand.New(rand.NewPCG(seed, uint64(i)))}
	return d, d.queue(time.Now(), true, "")
}
