package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"syscall"
	"time"

	"github.com/rosterhq/roster/agent/enroll"
	"github.com/rosterhq/roster/agent/transport"
	"github.com/rosterhq/roster/shared/wire"
)

// HeartbeatPath is the agent heartbeat endpoint (docs/api.md).
const HeartbeatPath = "/api/v1/agent/heartbeat"

// failureKind names why a send failed, for the summary.
func failureKind(err error) string {
	var he *transport.HTTPError
	var ne net.Error
	switch {
	case errors.As(err, &he):
		return fmt.Sprintf("http %d %s", he.Status, he.Code)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection reset"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other"
}

// fleetTemplate is one captured host the fleet's devices are made from:
// its snapshot (read only) and the pool of real packages of the same
// sources that other captured hosts have and it lacks, from which devices
// add a few so that no two package sets are the same.
type fleetTemplate struct {
	name string
	snap *wire.Snapshot
	pool []wire.Package
}

// newTemplates builds the templates and their pools from captured
// snapshots; each needs hardware (to derive identities from) and software.
func newTemplates(names []string, snaps []*wire.Snapshot) ([]*fleetTemplate, error) {
	type nameKey struct{ source, name string }
	ts := make([]*fleetTemplate, len(snaps))
	for i, s := range snaps {
		if s.Hardware == nil || s.Software == nil || len(s.Software.Packages) == 0 {
			return nil, fmt.Errorf("snapshot %s: want hardware and software sections with packages", names[i])
		}
		ts[i] = &fleetTemplate{name: names[i], snap: s}
	}
	for i, t := range ts {
		have := map[nameKey]bool{}
		sources := map[string]bool{}
		for _, p := range t.snap.Software.Packages {
			have[nameKey{p.Source, p.Name}] = true
			sources[p.Source] = true
		}
		for j, o := range ts {
			if j == i {
				continue
			}
			for _, p := range o.snap.Software.Packages {
				k := nameKey{p.Source, p.Name}
				if sources[p.Source] && !have[k] {
					have[k] = true
					t.pool = append(t.pool, p)
				}
			}
		}
	}
	return ts, nil
}

// fleetDevice is one simulated agent of the fleet mode: its identity,
// key and certificate, its package set (a template's, mixed, plus its own
// churn), its spool and its place in the schedule.
type fleetDevice struct {
	index     int
	tmpl      *fleetTemplate
	seed      uint64
	hw        *wire.Hardware
	collector string
	mode      string // transport.ModeHTTPS or transport.ModeHTTP3
	tls       *tls.Config
	rng       *rand.Rand

	// bumps counts the upgrades of each package of the mixed base set
	// (by index); installed are pool packages the churn added.
	bumps     map[int]int
	installed []int

	seq      uint64
	lastAck  uint64
	lastHash string
	pending  []*wire.Report
	applied  int
	// protocol is the version of its reports and heartbeats: what the
	// collector said it speaks at enrolment and in acks, as an agent
	// follows it.
	protocol int
}

// mixedPackages is the device's package set before churn: its template's
// packages less about 3 % and plus up to 10 from the template's pool,
// chosen by the device's seed.
func (d *fleetDevice) basePackages() []wire.Package {
	src := d.tmpl.snap.Software.Packages
	out := make([]wire.Package, 0, len(src)+10+len(d.installed))
	for i, p := range src {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d/%d", d.seed, i)
		if h.Sum64()%100 < 3 {
			continue
		}
		out = append(out, p)
	}
	for _, k := range d.mixedPool() {
		out = append(out, d.tmpl.pool[k])
	}
	return out
}

// mixedPool is the indices in the template's pool of the up to 10
// packages basePackages adds, chosen by the device's seed.
func (d *fleetDevice) mixedPool() []int {
	n := len(d.tmpl.pool)
	if n == 0 {
		return nil
	}
	r := rand.New(rand.NewPCG(d.seed, 0xf1ee7))
	var out []int
	for range r.IntN(11) {
		if k := r.IntN(n); !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// snapshot is the device's current state collected at at.
func (d *fleetDevice) snapshot(at time.Time) (*wire.Snapshot, string, error) {
	base := d.basePackages()
	pkgs := make([]wire.Package, 0, len(base)+len(d.installed))
	for i, p := range base {
		if n := d.bumps[i]; n > 0 {
			p.Version = fmt.Sprintf("%s+fleet%d", p.Version, n)
		}
		pkgs = append(pkgs, p)
	}
	for _, k := range d.installed {
		pkgs = append(pkgs, d.tmpl.pool[k])
	}
	s := *d.tmpl.snap
	s.Hardware = d.hw
	s.CollectedAt = at.UTC().Truncate(time.Millisecond)
	s.Software = &wire.Software{Packages: pkgs}
	h, err := wire.SnapshotHashAt(&s, d.protocol)
	return &s, h, err
}

// churn is one day's package changes: upgrades of 0 to 12 packages (one
// day in ten a point release of 40), now and then a package installed from
// the pool or one of those removed again. It returns how many changed.
func (d *fleetDevice) churn() int {
	n := d.rng.IntN(13)
	if d.rng.IntN(10) == 0 {
		n = 40
	}
	base := len(d.basePackages())
	if base == 0 {
		n = 0
	}
	if d.bumps == nil {
		d.bumps = map[int]int{}
	}
	for range n {
		d.bumps[d.rng.IntN(base)]++
	}
	changed := n
	if pool := len(d.tmpl.pool); pool > 0 && d.rng.IntN(4) == 0 {
		// A package the device has (installed by churn or in its base
		// mix) is not installed again: a real agent reports one package
		// per key (probe.Finish drops repeats), and a delta cannot carry
		// two that share a key.
		if k := d.rng.IntN(pool); !slices.Contains(d.installed, k) && !slices.Contains(d.mixedPool(), k) {
			d.installed = append(d.installed, k)
			changed++
		}
	}
	if len(d.installed) > 0 && d.rng.IntN(8) == 0 {
		d.installed = d.installed[1:]
		changed++
	}
	return changed
}

// queueInventory takes an inventory at at and queues its report: in full
// when full, else a delta against the newest queued or acknowledged state
// (the agent's spool works the same way).
func (d *fleetDevice) queueInventory(at time.Time, full, churn bool) (int, error) {
	prevHash := d.lastHash
	if n := len(d.pending); n > 0 {
		prevHash = d.pending[n-1].Hash
	}
	var before *wire.Snapshot
	changed := 0
	if churn && prevHash != "" && !full {
		var err error
		if before, _, err = d.snapshot(at); err != nil {
			return 0, err
		}
	}
	if churn {
		changed = d.churn()
	}
	snap, h, err := d.snapshot(at)
	if err != nil {
		return 0, err
	}
	d.seq++
	rep := &wire.Report{ProtocolVersion: d.protocol, Kind: wire.ReportFull, Seq: d.seq, Snapshot: snap, Hash: h}
	if !full && prevHash != "" {
		var delta *wire.Delta
		if before != nil {
			if delta, err = wire.Diff(before, snap); err != nil {
				return 0, fmt.Errorf("diff inventories: %w", err)
			}
		} else {
			// Nothing but the time changed since the last inventory.
			delta = &wire.Delta{CollectedAt: snap.CollectedAt, AgentVersion: snap.AgentVersion, Platform: snap.Platform, Agent: snap.Agent, Probes: snap.Probes}
		}
		rep.Kind, rep.Snapshot, rep.BaseHash, rep.Delta = wire.ReportDelta, nil, prevHash, delta
	}
	d.pending = append(d.pending, rep)
	return changed, nil
}

// client is a transport for one check-in: a new connection each time, as
// the agent between check-ins, resuming the device's TLS session.
func (d *fleetDevice) client() (*transport.Client, error) {
	return transport.New(transport.Options{BaseURL: d.collector, TLS: d.tls, Mode: d.mode, RequestTimeout: 60 * time.Second})
}

// sample is one request's outcome.
type sample struct {
	kind    string
	latency time.Duration
	err     string
}

// drain sends the spool in order until it is empty or a send fails; a
// resync answer replaces the spool with one full report.
func (d *fleetDevice) drain(ctx context.Context, c *transport.Client, zw *gzip.Writer, spooled bool, record func(sample)) {
	for len(d.pending) > 0 {
		rep := d.pending[0]
		kind := rep.Kind
		if spooled && kind == wire.ReportDelta {
			kind = "spooled"
		}
		b, err := json.Marshal(rep)
		if err != nil {
			record(sample{kind: kind, err: "encode"})
			return
		}
		var buf bytes.Buffer
		zw.Reset(&buf)
		_, err = zw.Write(b)
		if err == nil {
			err = zw.Close()
		}
		if err != nil {
			record(sample{kind: kind, err: "encode"})
			return
		}
		began := time.Now()
		resp, err := c.Do(ctx, transport.Request{Method: http.MethodPost, Path: ReportPath, Body: buf.Bytes(),
			Header: http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}, "Accept": {"application/json"}}})
		lat := time.Since(began)
		if err != nil {
			record(sample{kind: kind, latency: lat, err: failureKind(err)})
			return
		}
		var ack wire.Ack
		if resp.StatusCode != http.StatusOK {
			var eb wire.ErrorBody
			_ = json.Unmarshal(resp.Body, &eb)
			record(sample{kind: kind, latency: lat, err: fmt.Sprintf("http %d %s", resp.StatusCode, eb.Error.Code)})
			return
		}
		if err := json.Unmarshal(resp.Body, &ack); err != nil {
			record(sample{kind: kind, latency: lat, err: "bad ack"})
			return
		}
		switch ack.Status {
		case wire.AckApplied, wire.AckDuplicate:
			d.applied++
			d.lastAck, d.lastHash = rep.Seq, rep.Hash
			d.protocol = wire.SpokenWith(ack.ProtocolVersion)
			d.popPending()
			if ack.Status == wire.AckDuplicate {
				record(sample{kind: kind, latency: lat, err: "duplicate"})
				continue
			}
			record(sample{kind: kind, latency: lat})
		default:
			record(sample{kind: kind, latency: lat, err: resyncCause(ack.Message)})
			d.pending = nil
			if _, err := d.queueInventory(time.Now(), true, false); err != nil {
				record(sample{kind: wire.ReportFull, err: "encode"})
				return
			}
		}
	}
}

// popPending drops the spool's first report. The slot is cleared and an
// empty spool let go of: re-slicing alone keeps the backing array, and
// with it a sent full report's snapshot (~65 KB), alive for as long as
// the device lives, which made every enrolled device hold its first
// inventory (6.5 GB at 100,000 devices).
func (d *fleetDevice) popPending() {
	d.pending[0] = nil
	d.pending = d.pending[1:]
	if len(d.pending) == 0 {
		d.pending = nil
	}
}

// resyncCause names a resync answer in the summary with the collector's
// reason (why the delta did not apply), cut short: a resync during a run
// means the collector could not rebuild the state the device holds.
func resyncCause(msg string) string {
	const most = 80
	if len(msg) > most {
		msg = msg[:most] + "…"
	}
	if msg == "" {
		return "resync"
	}
	return "resync: " + msg
}

// heartbeat sends one heartbeat.
func (d *fleetDevice) heartbeat(ctx context.Context, c *transport.Client, record func(sample)) {
	hb := wire.Heartbeat{ProtocolVersion: d.protocol, AgentVersion: d.tmpl.snap.AgentVersion, LastSeq: d.lastAck, LastHash: d.lastHash, SpoolDepth: len(d.pending)}
	var ack wire.HeartbeatAck
	began := time.Now()
	_, err := c.PostSmallJSON(ctx, HeartbeatPath, hb, &ack)
	lat := time.Since(began)
	switch {
	case err != nil:
		record(sample{kind: "heartbeat", latency: lat, err: failureKind(err)})
	case ack.Status == wire.HeartbeatResync:
		record(sample{kind: "heartbeat", latency: lat, err: "resync"})
		d.pending = nil
		if _, err := d.queueInventory(time.Now(), true, false); err != nil {
			record(sample{kind: wire.ReportFull, err: "encode"})
		}
	default:
		record(sample{kind: "heartbeat", latency: lat})
	}
}

// enrolFleetDevice enrols device i with a key of its own and returns it
// with its first full report queued.
func enrolFleetDevice(ctx context.Context, opt FleetOptions, tmpl *fleetTemplate, i int, record func(sample)) (*fleetDevice, error) {
	s, err := deviceSnapshot(&wire.Snapshot{Hardware: tmpl.snap.Hardware}, opt.Fleet, i)
	if err != nil {
		return nil, fmt.Errorf("device %d: %w", i, err)
	}
	seed := opt.Seed<<20 ^ uint64(i)
	rng := rand.New(rand.NewPCG(seed, 0xd1ce))
	d := &fleetDevice{index: i, tmpl: tmpl, seed: seed, hw: s.Hardware, collector: opt.Collectors[i%len(opt.Collectors)], rng: rng, mode: transport.ModeHTTPS}
	if rng.Float64() < opt.HTTP3Share {
		d.mode = transport.ModeHTTP3
	}
	host, _, err := net.SplitHostPort(d.collector[len("https://"):])
	if err != nil {
		return nil, fmt.Errorf("collector %s: %w", d.collector, err)
	}
	var key *ecdsa.PrivateKey
	key, csr, err := enroll.NewKeyAndCSR(s.Hardware.Hostname)
	if err != nil {
		return nil, fmt.Errorf("device %d: %w", i, err)
	}
	if d.tls, err = transport.PinnedTLS(opt.Fingerprint, host); err != nil {
		return nil, err
	}
	enroller, err := transport.New(transport.Options{BaseURL: d.collector, TLS: d.tls, Mode: d.mode, RequestTimeout: 60 * time.Second})
	if err != nil {
		return nil, err
	}
	defer enroller.Close()
	id := *tmpl.snap
	id.Hardware = s.Hardware
	var resp wire.EnrollResponse
	began := time.Now()
	_, err = enroller.PostJSON(ctx, enroll.EnrollPath, wire.EnrollRequest{
		Secret: opt.Secret, CSR: string(csr), Identity: wire.IdentityOf(&id), AgentVersion: tmpl.snap.AgentVersion,
	}, false, &resp)
	if err != nil {
		record(sample{kind: "enrol", latency: time.Since(began), err: failureKind(err)})
		return nil, fmt.Errorf("device %d: enrol: %w", i, err)
	}
	record(sample{kind: "enrol", latency: time.Since(began)})
	certs, err := transport.ParseCertificates([]byte(resp.Certificate))
	if err != nil {
		return nil, fmt.Errorf("device %d: enrol: %w", i, err)
	}
	d.tls.Certificates = []tls.Certificate{{Certificate: [][]byte{certs[0].Raw}, PrivateKey: key}}
	d.protocol = wire.SpokenWith(resp.ProtocolVersion)
	// One session cache per device, kept between its check-ins.
	d.tls.ClientSessionCache = tls.NewLRUClientSessionCache(1)
	if _, err := d.queueInventory(time.Now(), true, false); err != nil {
		return nil, err
	}
	return d, nil
}
