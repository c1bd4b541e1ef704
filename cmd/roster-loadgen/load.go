package main

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/rosterhq/roster/agent/enroll"
	"github.com/rosterhq/roster/agent/transport"
	"github.com/rosterhq/roster/shared/wire"
)

// ReportPath is the agent report endpoint (docs/api.md).
const ReportPath = "/api/v1/agent/report"

// Options are one run's parameters.
type Options struct {
	Collector   string
	Fingerprint string
	Secret      string
	Devices     int
	Duration    time.Duration
	// Kind is wire.ReportFull, wire.ReportDelta or KindHeartbeat.
	Kind string
	// Transport is transport.ModeHTTPS or transport.ModeHTTP3.
	Transport   string
	Concurrency int
	Snapshot    *wire.Snapshot
	// Fleet names this run's machines (deviceSnapshot); runs with the same
	// name enrol the same machines again.
	Fleet string
	// CollectorPID, when not 0, is the collector process on this machine
	// whose CPU time over the timed phase the result reports.
	CollectorPID int
	Logger       *slog.Logger
}

// KindHeartbeat is the --kind whose timed phase sends heartbeats instead
// of reports: each device's last acknowledged hash, as an unchanged
// agent's heartbeat every five minutes carries.
const KindHeartbeat = "heartbeat"

// Result is what a run measured. Only the timed phase counts: enrolment
// and each device's first full report come before it.
type Result struct {
	Kind        string         `json:"kind"`
	Transport   string         `json:"transport"`
	Devices     int            `json:"devices"`
	Concurrency int            `json:"concurrency"`
	Seconds     float64        `json:"seconds"`
	Sent        int            `json:"sent"`
	Applied     int            `json:"applied"`
	Errors      map[string]int `json:"errors"`
	// PerSecond is applied reports (or heartbeats answered ok) per
	// second.
	PerSecond float64   `json:"reports_per_s"`
	Latency   Latencies `json:"-"`
	// RequestBytes and ResponseBytes are per report: the gzip request body
	// and the response body.
	RequestBytes  float64 `json:"request_bytes_per_report"`
	ResponseBytes float64 `json:"response_bytes_per_report"`
	// RawBytes is the request body before compression.
	RawBytes     float64 `json:"raw_request_bytes_per_report"`
	SetupSeconds float64 `json:"setup_seconds"`
	// CollectorCores is the collector's CPU time over the timed phase
	// divided by its length, and CollectorCPUPerOp that CPU time in
	// milliseconds per applied report or heartbeat: a cost per request
	// that other work on the machine changes less than a rate (both 0
	// without Options.CollectorPID).
	CollectorCores    float64 `json:"collector_cores,omitempty"`
	CollectorCPUPerOp float64 `json:"collector_cpu_ms_per_op,omitempty"`
}

// device is one simulated agent.
type device struct {
	index  int
	plan   *plan
	client *transport.Client
	// seq is the last sequence number sent; state the plan state the
	// collector last applied.
	seq      uint64
	state    int
	needFull bool
}

// tally is one worker's counts, merged at the end.
type tally struct {
	sent, applied     int
	errors            map[string]int
	latencies         []time.Duration
	reqBytes, rspByte int64
	rawBytes          int64
}

func newTally() *tally { return &tally{errors: map[string]int{}} }

func (t *tally) add(o *tally) {
	t.sent += o.sent
	t.applied += o.applied
	for k, v := range o.errors {
		t.errors[k] += v
	}
	t.latencies = append(t.latencies, o.latencies...)
	t.reqBytes += o.reqBytes
	t.rspByte += o.rspByte
	t.rawBytes += o.rawBytes
}

// Run enrols the devices, sends each its first full report, then sends
// reports for opt.Duration and returns the figures.
func Run(ctx context.Context, opt Options) (Result, error) {
	u, err := url.Parse(opt.Collector)
	if err != nil {
		return Result{}, fmt.Errorf("collector URL: %w", err)
	}
	start := time.Now()
	devs, err := setUp(ctx, opt, u.Hostname())
	defer func() {
		for _, d := range devs {
			if d != nil && d.client != nil {
				d.client.Close()
			}
		}
	}()
	if err != nil {
		return Result{}, err
	}
	setup := time.Since(start)

	conc := min(opt.Concurrency, len(devs))
	tallies := make([]*tally, conc)
	var cpu0 time.Duration
	if opt.CollectorPID != 0 {
		if cpu0, _, err = procUsage(opt.CollectorPID); err != nil {
			return Result{}, err
		}
	}
	deadline := time.Now().Add(opt.Duration)
	begin := time.Now()
	var wg sync.WaitGroup
	for w := range conc {
		tallies[w] = newTally()
		// Worker w owns devices w, w+conc, …: a device's reports go one
		// after the other, as a real agent's do.
		var mine []*device
		for i := w; i < len(devs); i += conc {
			mine = append(mine, devs[i])
		}
		wg.Go(func() {
			// The few dozen bytes around the sequence number at the
			// fastest level, whose Reset does not clear flate's hash
			// tables (the default level's was ~11 % of the load
			// generator's CPU); the rest of each body is compressed
			// once at the default level (newBody), as the fleet mode
			// does.
			zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
			for n := 0; time.Now().Before(deadline) && ctx.Err() == nil; n++ {
				if opt.Kind == KindHeartbeat {
					beat(ctx, mine[n%len(mine)], tallies[w])
					continue
				}
				send(ctx, mine[n%len(mine)], opt.Kind, zw, tallies[w])
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	var cpu time.Duration
	if opt.CollectorPID != 0 {
		cpu1, _, err := procUsage(opt.CollectorPID)
		if err != nil {
			return Result{}, err
		}
		cpu = cpu1 - cpu0
	}
	all := newTally()
	for _, t := range tallies {
		all.add(t)
	}
	res := Result{
		Kind: opt.Kind, Transport: opt.Transport, Devices: len(devs), Concurrency: conc,
		Seconds: elapsed.Seconds(), Sent: all.sent, Applied: all.applied, Errors: all.errors,
		PerSecond: float64(all.applied) / elapsed.Seconds(), Latency: summarise(all.latencies),
		SetupSeconds: setup.Seconds(),
	}
	if opt.CollectorPID != 0 {
		res.CollectorCores = cpu.Seconds() / elapsed.Seconds()
		if all.applied > 0 {
			res.CollectorCPUPerOp = float64(cpu.Microseconds()) / 1000 / float64(all.applied)
		}
	}
	if all.sent > 0 {
		res.RequestBytes = float64(all.reqBytes) / float64(all.sent)
		res.ResponseBytes = float64(all.rspByte) / float64(all.sent)
		res.RawBytes = float64(all.rawBytes) / float64(all.sent)
	}
	return res, nil
}

// setUp builds, enrols and first-reports every device, opt.Concurrency at
// a time; any failure ends the run, whose figures would mean nothing.
func setUp(ctx context.Context, opt Options, host string) ([]*device, error) {
	enrolTLS, err := transport.PinnedTLS(opt.Fingerprint, host)
	if err != nil {
		return nil, err
	}
	enroller, err := transport.New(transport.Options{BaseURL: opt.Collector, TLS: enrolTLS, Mode: opt.Transport, Logger: opt.Logger})
	if err != nil {
		return nil, err
	}
	defer enroller.Close()
	devs := make([]*device, opt.Devices)
	next := make(chan int)
	errs := make(chan error, opt.Concurrency)
	var wg sync.WaitGroup
	for range opt.Concurrency {
		wg.Go(func() {
			zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
			for i := range next {
				d, err := enrolDevice(ctx, opt, host, enroller, i)
				devs[i] = d
				if err == nil {
					t := newTally()
					d.needFull = true
					send(ctx, d, wire.ReportFull, zw, t)
					if t.applied != 1 {
						err = fmt.Errorf("device %d: first full report: %v", i, t.errors)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var first error
feed:
	for i := range opt.Devices {
		select {
		case next <- i:
		case first = <-errs:
			break feed
		case <-ctx.Done():
			first = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil {
		select {
		case first = <-errs:
		default:
		}
	}
	return devs, first
}

func enrolDevice(ctx context.Context, opt Options, host string, enroller *transport.Client, i int) (*device, error) {
	p, err := newPlan(opt.Snapshot, opt.Fleet, i)
	if err != nil {
		return nil, fmt.Errorf("device %d: %w", i, err)
	}
	key, csr, err := enroll.NewKeyAndCSR(p.states[0].Hardware.Hostname)
	if err != nil {
		return nil, fmt.Errorf("device %d: %w", i, err)
	}
	var resp wire.EnrollResponse
	if _, err := enroller.PostJSON(ctx, enroll.EnrollPath, wire.EnrollRequest{
		Secret: opt.Secret, CSR: string(csr), Identity: wire.IdentityOf(p.states[0]), AgentVersion: p.states[0].AgentVersion,
	}, false, &resp); err != nil {
		return nil, fmt.Errorf("device %d: enrol: %w", i, err)
	}
	certs, err := transport.ParseCertificates([]byte(resp.Certificate))
	if err != nil {
		return nil, fmt.Errorf("device %d: enrol: %w", i, err)
	}
	if err := p.prepare(resp.ProtocolVersion); err != nil {
		return nil, fmt.Errorf("device %d: %w", i, err)
	}
	cfg, err := transport.PinnedTLS(opt.Fingerprint, host)
	if err != nil {
		return nil, err
	}
	cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{certs[0].Raw}, PrivateKey: key, Leaf: certs[0]}}
	client, err := transport.New(transport.Options{BaseURL: opt.Collector, TLS: cfg, Mode: opt.Transport, Logger: opt.Logger})
	if err != nil {
		return nil, err
	}
	return &device{index: i, plan: p, client: client}, nil
}

// beat sends d's heartbeat with the hash of its last applied report; an
// answer other than ok (resync) is counted as an error.
func beat(ctx context.Context, d *device, t *tally) {
	hb := wire.Heartbeat{ProtocolVersion: d.plan.protocol, AgentVersion: d.plan.states[d.state].AgentVersion,
		LastSeq: d.seq, LastHash: d.plan.hashes[d.state]}
	t.sent++
	var ack wire.HeartbeatAck
	began := time.Now()
	_, err := d.client.PostSmallJSON(ctx, HeartbeatPath, hb, &ack)
	lat := time.Since(began)
	switch {
	case err != nil:
		t.errors[failureKind(err)]++
	case ack.Status != wire.HeartbeatOK:
		t.errors["heartbeat_"+ack.Status]++
	default:
		t.applied++
		t.latencies = append(t.latencies, lat)
	}
}

// send sends d's next report: the other state, as a delta when kind is
// delta and the collector holds the base, else in full.
func send(ctx context.Context, d *device, kind string, zw *gzip.Writer, t *tally) {
	k := 1 - d.state
	if d.needFull && d.seq == 0 {
		k = 0 // the first report sets up state 0
	}
	b := d.plan.delta[k]
	if kind == wire.ReportFull || d.needFull {
		b = d.plan.full[k]
	}
	d.seq++
	gz, err := b.encode(zw, d.seq)
	if err != nil {
		t.errors["encode"]++
		return
	}
	t.sent++
	t.reqBytes += int64(len(gz))
	t.rawBytes += int64(b.raw + len(fmt.Sprint(d.seq)))
	began := time.Now()
	resp, err := d.client.Do(ctx, transport.Request{
		Method: http.MethodPost, Path: ReportPath, Body: gz,
		Header: http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}, "Accept": {"application/json"}},
	})
	lat := time.Since(began)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			t.errors["canceled"]++
		} else {
			t.errors["network"]++
		}
		d.needFull = true
		return
	}
	t.rspByte += int64(len(resp.Body))
	if resp.StatusCode != http.StatusOK {
		var eb wire.ErrorBody
		_ = json.Unmarshal(resp.Body, &eb)
		t.errors[fmt.Sprintf("http_%d_%s", resp.StatusCode, eb.Error.Code)]++
		d.needFull = true
		return
	}
	var ack wire.Ack
	if err := json.Unmarshal(resp.Body, &ack); err != nil {
		t.errors["bad_ack"]++
		return
	}
	switch ack.Status {
	case wire.AckApplied:
		t.applied++
		t.latencies = append(t.latencies, lat)
		d.state, d.needFull = k, false
	default:
		// resync (the collector lost the base) or duplicate: both mean
		// the simulation and the collector disagree, so start over full.
		t.errors[ack.Status]++
		d.needFull = true
	}
}
