// Package checkin is how the agent talks to its collector after
// enrolment: Sender turns a snapshot into a report (a delta against the
// newest spooled snapshot when that is smaller, else full), writes it to
// the spool before anything leaves, and drains the spool in sequence
// order, removing a report only once the collector acknowledged it; Loop
// is the service loop around it (first report at start, an inventory per
// report interval with jitter, heartbeats in between, the collector's
// schedule adopted, capped exponential backoff on errors, certificate
// renewal, and a clean stop when the collector revokes the device);
// Commands verifies and carries out the signed commands acks deliver
// (remote wipe) and sends their statuses.
// `report --once` and `run` share Sender, so both keep the same
// guarantees.
package checkin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/rosterhq/roster/agent/spool"
	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/agent/transport"
	"github.com/rosterhq/roster/shared/wire"
)

// API paths (docs/api.md).
const (
	ReportPath    = "/api/v1/agent/report"
	HeartbeatPath = "/api/v1/agent/heartbeat"
)

// ErrNeedFull says the agent holds no snapshot to resend in full (its
// spooled copy is gone or corrupt): collect a fresh one and Enqueue it
// with forceFull.
var ErrNeedFull = errors.New("no spooled snapshot to resend: a fresh full report is needed")

// Poster sends one JSON request; *transport.Client is one.
type Poster interface {
	PostJSON(ctx context.Context, path string, in any, gz bool, out any) (string, error)
	// PostSmallJSON sends a heartbeat-sized request (transport.Request's
	// Small).
	PostSmallJSON(ctx context.Context, path string, in, out any) (string, error)
}

// Sender builds, spools and sends reports.
type Sender struct {
	Dir    *state.Dir
	Spool  *spool.Spool
	Client Poster
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// FullEvery forces a full report this long after the last full one;
	// 0 never forces one.
	FullEvery time.Duration
	// NoDelta sends every report in full.
	NoDelta bool
	// OnSchedule, when set, gets every schedule an acknowledgement carries.
	OnSchedule func(wire.Schedule)
	// OnCommands, when set, gets the signed commands an acknowledgement
	// carries (Commands.Process carries them out).
	OnCommands func([]wire.SignedCommand)
}

// Queued is a report just spooled.
type Queued struct {
	Seq       uint64
	Kind      string
	Hash      string
	Coalesced bool
}

// Sent is a report the collector answered.
type Sent struct {
	Seq       uint64
	Kind      string
	Hash      string
	Ack       wire.Ack
	Transport string
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sender) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Enqueue spools snap as the next report: a delta against the newest
// spooled snapshot when allowed, reproducing snap exactly and smaller than
// snap, else in full. The sequence number is durable before the report is
// written, and the report is durable before it becomes the next delta's
// base.
func (s *Sender) Enqueue(snap *wire.Snapshot, forceFull bool) (Queued, error) {
	v := s.protocol()
	hash, err := wire.SnapshotHashAt(snap, v)
	if err != nil {
		return Queued{}, err
	}
	now := s.now().UTC()
	base := s.base()
	rep := wire.Report{ProtocolVersion: v, Kind: wire.ReportFull, Snapshot: snap, Hash: hash}
	lastFull := now
	if base != nil && !forceFull && !s.NoDelta && (s.FullEvery <= 0 || now.Sub(base.LastFullAt) < s.FullEvery) {
		if d := smallerDelta(base, snap, hash, s.logger()); d != nil {
			rep.Kind, rep.BaseHash, rep.Delta, rep.Snapshot = wire.ReportDelta, base.Hash, d, nil
			lastFull = base.LastFullAt
		}
	}
	seq, err := s.Dir.NextSeq()
	if err != nil {
		return Queued{}, err
	}
	rep.Seq = seq
	coalesced, err := s.Spool.Add(&rep, func() (*wire.Report, error) {
		// The report never reached the disk, so its number is free and
		// above every pending one.
		return &wire.Report{ProtocolVersion: v, Kind: wire.ReportFull, Seq: seq, Snapshot: snap, Hash: hash}, nil
	})
	if err != nil {
		return Queued{}, err
	}
	q := Queued{Seq: seq, Kind: rep.Kind, Hash: hash, Coalesced: coalesced}
	if coalesced {
		q.Kind, lastFull = wire.ReportFull, now
	}
	if err := s.Dir.SaveSpooled(state.Spooled{Seq: seq, Hash: hash, Snapshot: snap, LastFullAt: lastFull}); err != nil {
		return q, err
	}
	return q, nil
}

// protocol is the protocol version of the agent's next report or
// heartbeat: the highest both it and its collector speak, as the
// collector's last acknowledgement said (1 until one said more).
func (s *Sender) protocol() int {
	la, err := s.Dir.LoadLastAck()
	if err != nil {
		s.logger().Warn("read last acknowledgement", "err", err)
	}
	return wire.SpokenWith(la.Protocol)
}

// speaksOnly records that the collector is to get reports of protocol
// version v at most until an acknowledgement says more: one refused a
// report of a later version (an older collector behind the same name, or
// one failed over to).
func (s *Sender) speaksOnly(v int) error {
	la, err := s.Dir.LoadLastAck()
	if err != nil || la.Protocol <= v {
		return err
	}
	la.Protocol = v
	return s.Dir.SaveLastAck(la)
}

// base is the snapshot the newest spooled report describes. When a crash
// came between spooling a report and recording its snapshot, the newest
// report itself tells: a full one carries it, a delta on the recorded
// base yields it. Anything else gives nil, and the next report is full.
func (s *Sender) base() *state.Spooled {
	logger := s.logger()
	sp, err := s.Dir.LoadSpooled()
	if err != nil {
		logger.Warn("no delta base", "err", err)
		return nil
	}
	items, err := s.Spool.Pending()
	if err != nil {
		logger.Warn("no delta base", "err", err)
		return nil
	}
	if len(items) == 0 {
		return sp
	}
	last := items[len(items)-1]
	if sp != nil && sp.Seq >= last.Seq {
		return sp
	}
	r, err := s.Spool.Read(last.Seq)
	if err != nil {
		logger.Warn("no delta base", "err", err)
		return nil
	}
	var rebuilt *state.Spooled
	switch {
	case r.Kind == wire.ReportFull && r.Snapshot != nil:
		rebuilt = &state.Spooled{Seq: r.Seq, Hash: r.Hash, Snapshot: r.Snapshot, LastFullAt: r.Snapshot.CollectedAt}
	case r.Kind == wire.ReportDelta && r.Delta != nil && sp != nil && r.BaseHash == sp.Hash:
		snap, err := wire.Apply(sp.Snapshot, r.Delta)
		if err != nil {
			return nil
		}
		if h, err := wire.SnapshotHashLike(snap, r.Hash); err != nil || h != r.Hash {
			return nil
		}
		rebuilt = &state.Spooled{Seq: r.Seq, Hash: r.Hash, Snapshot: snap, LastFullAt: sp.LastFullAt}
	default:
		return nil
	}
	if err := s.Dir.SaveSpooled(*rebuilt); err != nil {
		logger.Warn("record rebuilt delta base", "err", err)
	}
	return rebuilt
}

// smallerDelta returns the delta from base to snap when it reproduces snap
// exactly and encodes smaller than snap itself; nil means send in full.
func smallerDelta(base *state.Spooled, snap *wire.Snapshot, hash string, logger *slog.Logger) *wire.Delta {
	d, err := wire.Diff(base.Snapshot, snap)
	if err != nil {
		logger.Warn("diff against spooled snapshot", "err", err)
		return nil
	}
	applied, err := wire.Apply(base.Snapshot, d)
	if err != nil {
		logger.Warn("delta does not apply to its base", "err", err)
		return nil
	}
	if h, err := wire.SnapshotHashLike(applied, hash); err != nil || h != hash {
		logger.Warn("delta does not reproduce the snapshot; sending it in full")
		return nil
	}
	db, err1 := json.Marshal(d)
	sb, err2 := json.Marshal(snap)
	if err1 != nil || err2 != nil || len(db) >= len(sb) {
		return nil
	}
	return d
}

// Drain sends the spooled reports in sequence order until none is left
// and returns the last one the collector answered (nil when none was
// sent). Applied and duplicate answers remove the report; a resync answer,
// or a corrupt spool file, replaces the pending reports with one full
// report of the newest spooled snapshot; a report the collector refuses
// for good (a 4xx other than 401/403) is moved aside and made up for the
// same way. An error leaves the rest spooled for the next attempt; a
// revoked or unknown certificate comes back as a *transport.HTTPError
// whose Revoked() is true.
func (s *Sender) Drain(ctx context.Context) (*Sent, error) {
	var last *Sent
	for {
		if err := ctx.Err(); err != nil {
			return last, err
		}
		items, err := s.Spool.Pending()
		if err != nil {
			return last, err
		}
		if len(items) == 0 {
			return last, nil
		}
		seq := items[0].Seq
		r, err := s.Spool.Read(seq)
		if errors.Is(err, spool.ErrCorrupt) {
			// Read moved it aside; what it carried reaches the collector
			// in a full report.
			if err := s.Resync(); err != nil {
				return last, err
			}
			continue
		}
		if err != nil {
			return last, err
		}
		var ack wire.Ack
		used, err := s.Client.PostJSON(ctx, ReportPath, r, true, &ack)
		if err != nil {
			if refused(err) {
				if r.ProtocolVersion > 1 {
					// Resent as version 1, below, in case that is why.
					if perr := s.speaksOnly(1); perr != nil {
						return last, perr
					}
				}
				if qerr := s.Spool.Quarantine(seq, err); qerr != nil {
					s.logger().Error("collector refused a report", "seq", seq, "err", qerr)
				}
				if r.Kind == wire.ReportFull {
					// Nothing smaller to fall back to: a fresh full
					// report at the next inventory.
					if ferr := s.Dir.ForgetSpooled(); ferr != nil {
						return last, ferr
					}
					return last, fmt.Errorf("send full report seq %d: %w", seq, err)
				}
				if err := s.Resync(); err != nil {
					return last, err
				}
				continue
			}
			return last, fmt.Errorf("send %s report seq %d: %w", r.Kind, seq, err)
		}
		last = &Sent{Seq: seq, Kind: r.Kind, Hash: r.Hash, Ack: ack, Transport: used}
		if ack.Schedule != nil && s.OnSchedule != nil {
			s.OnSchedule(*ack.Schedule)
		}
		if len(ack.Commands) > 0 && s.OnCommands != nil {
			s.OnCommands(ack.Commands)
		}
		if ack.Seq != seq {
			s.logger().Warn("acknowledgement names another sequence number", "sent", seq, "acked", ack.Seq)
		}
		switch ack.Status {
		case wire.AckApplied, wire.AckDuplicate:
			// The ack is recorded before the report leaves the spool: a
			// crash between re-sends it, which the collector calls a
			// duplicate.
			if err := s.Dir.SaveLastAck(state.LastAck{Seq: seq, Hash: r.Hash, Status: ack.Status, At: s.now().UTC(), Transport: used,
				Protocol: ack.ProtocolVersion}); err != nil {
				return last, err
			}
			if err := s.Spool.Remove(seq); err != nil {
				return last, err
			}
		case wire.AckResync:
			if r.Kind == wire.ReportFull {
				err := fmt.Errorf("collector answered resync to full report seq %d: %s", seq, ack.Message)
				if qerr := s.Spool.Quarantine(seq, err); qerr != nil {
					s.logger().Error("quarantine report", "seq", seq, "err", qerr)
				}
				if ferr := s.Dir.ForgetSpooled(); ferr != nil {
					return last, ferr
				}
				return last, err
			}
			s.logger().Info("collector asked for a full report", "seq", seq, "message", ack.Message)
			if err := s.Resync(); err != nil {
				return last, err
			}
		default:
			return last, fmt.Errorf("collector answered unknown status %q to report seq %d", ack.Status, seq)
		}
	}
}

// refused reports whether the collector turned a report down in a way no
// re-send can change: a 4xx other than the identity refusals (401/403,
// handled by the caller), timeouts and rate limits.
func refused(err error) bool {
	var he *transport.HTTPError
	if !errors.As(err, &he) || he.Revoked() {
		return false
	}
	return he.Status >= 400 && he.Status < 500 && he.Status != http.StatusRequestTimeout && he.Status != http.StatusTooManyRequests
}

// Resync drops the pending reports and spools one full report of the
// newest spooled snapshot under a new sequence number: the collector's
// copy is not what the pending deltas build on. ErrNeedFull when no
// snapshot is spooled.
func (s *Sender) Resync() error {
	sp := s.base()
	if sp == nil {
		// Nothing to resend: drop the deltas, which cannot apply anyway.
		items, err := s.Spool.Pending()
		if err != nil {
			return err
		}
		for _, it := range items {
			if err := s.Spool.Quarantine(it.Seq, errors.New("pending delta without a base after resync")); err != nil {
				s.logger().Warn("drop pending delta", "seq", it.Seq, "err", err)
			}
		}
		return ErrNeedFull
	}
	v := s.protocol()
	hash := sp.Hash
	if wire.HashVersion(hash) != v {
		var err error
		if hash, err = wire.SnapshotHashAt(sp.Snapshot, v); err != nil {
			return err
		}
	}
	seq, err := s.Dir.NextSeq()
	if err != nil {
		return err
	}
	full := &wire.Report{ProtocolVersion: v, Kind: wire.ReportFull, Seq: seq, Snapshot: sp.Snapshot, Hash: hash}
	if err := s.Spool.Replace(full); err != nil {
		return err
	}
	return s.Dir.SaveSpooled(state.Spooled{Seq: seq, Hash: hash, Snapshot: sp.Snapshot, LastFullAt: s.now().UTC()})
}

// SendSnapshot is one report as `report --once` sends it: snap is spooled,
// then everything spooled is sent. It returns the last report answered.
func (s *Sender) SendSnapshot(ctx context.Context, snap *wire.Snapshot, forceFull bool) (*Sent, error) {
	if _, err := s.Enqueue(snap, forceFull); err != nil {
		return nil, err
	}
	sent, err := s.Drain(ctx)
	if errors.Is(err, ErrNeedFull) {
		if _, err := s.Enqueue(snap, true); err != nil {
			return sent, err
		}
		sent, err = s.Drain(ctx)
	}
	return sent, err
}

// Heartbeat tells the collector the agent is alive, with its last
// acknowledged report and spool depth. A resync answer with nothing
// pending spools a full report (ErrNeedFull when there is no snapshot to
// resend); with reports pending they bring the collector forward anyway.
func (s *Sender) Heartbeat(ctx context.Context, agentVersion string) (wire.HeartbeatAck, string, error) {
	la, err := s.Dir.LoadLastAck()
	if err != nil {
		s.logger().Warn("read last acknowledgement", "err", err)
	}
	st, err := s.Spool.Stats()
	if err != nil {
		return wire.HeartbeatAck{}, "", err
	}
	hb := wire.Heartbeat{ProtocolVersion: wire.SpokenWith(la.Protocol), AgentVersion: agentVersion, LastSeq: la.Seq, LastHash: la.Hash, SpoolDepth: st.Depth}
	var ack wire.HeartbeatAck
	used, err := s.Client.PostSmallJSON(ctx, HeartbeatPath, hb, &ack)
	if err != nil {
		if refused(err) && hb.ProtocolVersion > 1 {
			// The next one goes as version 1, in case that is why.
			if perr := s.speaksOnly(1); perr != nil {
				s.logger().Warn("record the collector's protocol version", "err", perr)
			}
		}
		return ack, used, fmt.Errorf("send heartbeat: %w", err)
	}
	if ack.Schedule != nil && s.OnSchedule != nil {
		s.OnSchedule(*ack.Schedule)
	}
	if len(ack.Commands) > 0 && s.OnCommands != nil {
		s.OnCommands(ack.Commands)
	}
	if ack.Status == wire.HeartbeatResync && st.Depth == 0 {
		s.logger().Info("collector asked for a full report after a heartbeat", "last_seq", la.Seq)
		return ack, used, s.Resync()
	}
	return ack, used, nil
}
