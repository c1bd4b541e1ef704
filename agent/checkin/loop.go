package checkin

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/agent/transport"
	"github.com/rosterhq/roster/shared/wire"
)

// Clock is the loop's time source; tests drive a fake one.
type Clock interface {
	Now() time.Time
	// After delivers once d has passed.
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// After is time.After.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Loop is the agent's service loop. Fill the fields, then Run.
type Loop struct {
	Sender *Sender
	// Collect takes an inventory; it must honour ctx (the loop drops what
	// a cancelled collection returns).
	Collect func(ctx context.Context) (*wire.Snapshot, error)
	// NeedsRenewal says the client certificate is due for renewal; Renew
	// renews it and points Sender at a client presenting the new one.
	// Either nil: no renewal.
	NeedsRenewal func(now time.Time) bool
	Renew        func(ctx context.Context) error

	ReportInterval    time.Duration
	HeartbeatInterval time.Duration
	// BackoffMin and BackoffMax bound the wait after a failure; it doubles
	// per failure in a row, with jitter.
	BackoffMin, BackoffMax time.Duration

	Clock  Clock
	Rand   *rand.Rand
	Logger *slog.Logger

	// Commands, when set, carries out the signed commands acks deliver;
	// nil ignores them.
	Commands *Commands

	// What the status file names.
	AgentVersion, DeviceID, Collector string
	// Collectors are the configured collectors in order of preference.
	Collectors []string
	// CollectorInUse, when set, names the collector in use at each
	// publication (it changes on failover); nil keeps Collector.
	CollectorInUse func() string
	// OnStatus, when set, sees every status published (tests watch it).
	OnStatus func(state.Status)

	// Run's state.
	status       state.Status
	nextReport   time.Time
	lastCollect  time.Time
	nextBeat     time.Time
	retryAt      time.Time
	renewAt      time.Time
	failures     int
	forceFull    bool
	beatMissing  bool
	reportsEvery time.Duration
	beatsEvery   time.Duration
	inbox        []wire.SignedCommand
	cmdPending   bool
	cmdRetryAt   time.Time
}

// Run reports at once, then every report interval (with ±10 % jitter),
// sends heartbeats in between and drains the spool, backing off after
// failures. It returns nil when ctx ends. When the collector refuses the
// device's certificate (revoked or unknown) it stops sending, says so in
// the status file and the log, and waits for ctx without retrying.
func (l *Loop) Run(ctx context.Context) error {
	if l.Clock == nil {
		l.Clock = RealClock{}
	}
	if l.Rand == nil {
		l.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if l.Logger == nil {
		l.Logger = slog.New(slog.DiscardHandler)
	}
	if l.BackoffMin <= 0 {
		l.BackoffMin = time.Second
	}
	if l.BackoffMax < l.BackoffMin {
		l.BackoffMax = max(15*time.Minute, l.BackoffMin)
	}
	l.reportsEvery, l.beatsEvery = l.ReportInterval, l.HeartbeatInterval
	if l.reportsEvery <= 0 {
		l.reportsEvery = time.Hour
	}
	if l.beatsEvery <= 0 {
		l.beatsEvery = 5 * time.Minute
	}
	l.Sender.OnSchedule = l.adopt
	l.Sender.OnCommands = func(cs []wire.SignedCommand) { l.inbox = append(l.inbox, cs...) }
	if l.Commands != nil {
		// An interrupted wipe or unsent statuses from before a restart.
		l.cmdPending = l.Commands.Pending()
	}
	now := l.Clock.Now()
	l.status = state.Status{DeviceID: l.DeviceID, Collector: l.Collector, Collectors: l.Collectors}
	if la, err := l.Sender.Dir.LoadLastAck(); err == nil && la.Seq > 0 {
		at := la.At
		l.status.LastReportAt, l.status.LastReportStatus, l.status.Transport = &at, la.Status, la.Transport
	}
	l.nextReport, l.nextBeat = now, now.Add(l.beatsEvery)
	l.Logger.Info("check-in loop started", "report_interval", l.reportsEvery, "heartbeat_interval", l.beatsEvery)

	for {
		if ctx.Err() != nil {
			l.publish()
			return nil
		}
		if l.status.Stopped != "" {
			l.publish()
			<-ctx.Done()
			return nil
		}
		l.step(ctx)
		if ctx.Err() != nil {
			l.publish()
			return nil
		}
		l.publish()
		if l.status.Stopped != "" {
			continue
		}
		wait := l.nextWake().Sub(l.Clock.Now())
		if wait < 0 {
			wait = 0
		}
		select {
		case <-ctx.Done():
		case <-l.Clock.After(wait):
		}
	}
}

// step does whatever is due.
func (l *Loop) step(ctx context.Context) {
	now := l.Clock.Now()
	if l.NeedsRenewal != nil && l.Renew != nil && !now.Before(l.renewAt) && l.NeedsRenewal(now) {
		if err := l.Renew(ctx); err != nil {
			if l.fail(ctx, "renew certificate", err) {
				return
			}
			// The current certificate still works until it expires.
			l.renewAt = now.Add(l.BackoffMax)
		} else {
			l.Logger.Info("client certificate renewed")
		}
	}
	if !now.Before(l.nextReport) {
		l.report(ctx, now)
		if ctx.Err() != nil || l.status.Stopped != "" {
			return
		}
	}
	if depth := l.spoolDepth(); depth > 0 && !l.Clock.Now().Before(l.retryAt) {
		l.drain(ctx)
		if ctx.Err() != nil || l.status.Stopped != "" {
			return
		}
	}
	if now = l.Clock.Now(); !now.Before(l.nextBeat) {
		l.heartbeat(ctx, now)
		if ctx.Err() != nil || l.status.Stopped != "" {
			return
		}
	}
	if l.Commands != nil && (len(l.inbox) > 0 || l.cmdPending && !l.Clock.Now().Before(l.cmdRetryAt)) {
		l.commands(ctx)
	}
}

// commands carries out what the acks delivered. After a command ran, a
// report with the state after it goes out before the command's result:
// a collector that revokes the device on "completed" would refuse any
// report after that.
func (l *Loop) commands(ctx context.Context) {
	inbox := l.inbox
	l.inbox = nil
	outs, err := l.Commands.Process(ctx, inbox)
	executed := false
	for _, o := range outs {
		l.Logger.Info("command status queued", "command_id", o.CommandID, "status", o.Status, "reason", o.Reason)
		executed = executed || o.Executed
	}
	if executed && ctx.Err() == nil {
		l.report(ctx, l.Clock.Now())
		l.drain(ctx)
	}
	if err == nil {
		err = l.Commands.Flush(ctx)
	}
	l.cmdPending = l.Commands.Pending()
	if err != nil && !l.fail(ctx, "command statuses", err) {
		l.cmdRetryAt = l.Clock.Now().Add(l.backoff())
	}
}

func (l *Loop) report(ctx context.Context, now time.Time) {
	snap, err := l.Collect(ctx)
	// An inventory allocates a few MB once an hour; hand them back to the
	// OS now rather than keep them resident until the next one.
	defer debug.FreeOSMemory()
	if ctx.Err() != nil {
		// A cancelled collection is partial: never report it.
		return
	}
	if err != nil {
		l.fail(ctx, "collect inventory", err)
		l.nextReport = now.Add(l.backoff())
		return
	}
	q, err := l.Sender.Enqueue(snap, l.forceFull)
	if err != nil {
		l.fail(ctx, "spool report", err)
		l.nextReport = now.Add(l.backoff())
		return
	}
	l.forceFull = false
	l.lastCollect = now
	l.nextReport = now.Add(l.jitter(l.reportsEvery))
	l.Logger.Info("report spooled", "seq", q.Seq, "kind", q.Kind, "coalesced", q.Coalesced)
}

func (l *Loop) drain(ctx context.Context) {
	sent, err := l.Sender.Drain(ctx)
	if sent != nil {
		at := l.Clock.Now().UTC()
		l.status.LastReportAt, l.status.LastReportStatus, l.status.Transport = &at, sent.Ack.Status, sent.Transport
		// A report keeps "last seen" true as well as a heartbeat does.
		l.nextBeat = l.Clock.Now().Add(l.beatsEvery)
	}
	if ctx.Err() != nil {
		return
	}
	if errors.Is(err, ErrNeedFull) {
		l.forceFull, l.nextReport = true, l.Clock.Now()
		return
	}
	if err != nil {
		if !l.fail(ctx, "send reports", err) {
			l.retryAt = l.Clock.Now().Add(l.backoff())
		}
		return
	}
	l.failures = 0
	l.status.LastError, l.status.LastErrorAt = "", nil
}

func (l *Loop) heartbeat(ctx context.Context, now time.Time) {
	l.nextBeat = now.Add(l.beatsEvery)
	ack, used, err := l.Sender.Heartbeat(ctx, l.AgentVersion)
	if ctx.Err() != nil {
		return
	}
	var he *transport.HTTPError
	switch {
	case errors.As(err, &he) && he.Status == http.StatusNotFound:
		// A collector older than heartbeats: reports keep "last seen".
		if !l.beatMissing {
			l.Logger.Info("collector has no heartbeat endpoint; relying on reports")
			l.beatMissing = true
		}
	case errors.Is(err, ErrNeedFull):
		l.forceFull, l.nextReport = true, now
	case err != nil:
		// Heartbeats are periodic anyway: no backoff of their own.
		l.fail(ctx, "heartbeat", err)
	default:
		at := now.UTC()
		l.status.LastHeartbeatAt, l.status.Transport = &at, used
		l.beatMissing = false
		if ack.Status == wire.HeartbeatResync {
			l.retryAt = now
		}
	}
}

// fail records err; it returns true when the collector refused the
// device's identity, which stops the loop's sending for good.
func (l *Loop) fail(ctx context.Context, what string, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	now := l.Clock.Now().UTC()
	l.status.LastError, l.status.LastErrorAt = what+": "+err.Error(), &now
	var he *transport.HTTPError
	if errors.As(err, &he) && he.Revoked() {
		l.status.Stopped = "the collector refused this device's certificate (" + he.Error() + "): enrol again, then restart the agent"
		l.status.NextReportAt, l.status.NextHeartbeatAt = nil, nil
		l.Logger.Error("stopped sending: the collector refused this device's certificate; enrol again, then restart the agent",
			"during", what, "status", he.Status, "code", he.Code, "message", he.Message)
		return true
	}
	l.failures++
	l.Logger.Warn(what+" failed", "err", err, "failures_in_a_row", l.failures)
	return false
}

// backoff is BackoffMin doubled per failure in a row, capped at
// BackoffMax, drawn from its upper half so agents that failed together do
// not retry together.
func (l *Loop) backoff() time.Duration {
	d := l.BackoffMin
	for i := 1; i < l.failures && d < l.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, l.BackoffMax)
	return d/2 + time.Duration(l.Rand.Int64N(int64(d/2)+1))
}

// jitter spreads d by ±10 %.
func (l *Loop) jitter(d time.Duration) time.Duration {
	return d + time.Duration((l.Rand.Float64()*0.2-0.1)*float64(d))
}

// adopt takes the collector's schedule at once: the next inventory is
// one new interval after the last, the next heartbeat one new interval
// from now.
func (l *Loop) adopt(s wire.Schedule) {
	now := l.Clock.Now()
	if d := time.Duration(s.ReportIntervalS) * time.Second; d > 0 && d != l.reportsEvery {
		l.reportsEvery = d
		from := l.lastCollect
		if from.IsZero() {
			from = now
		}
		l.nextReport = from.Add(l.jitter(d))
		l.Logger.Info("collector set the report interval", "interval", d)
	}
	if d := time.Duration(s.HeartbeatIntervalS) * time.Second; d > 0 && d != l.beatsEvery {
		l.beatsEvery = d
		l.nextBeat = now.Add(d)
		l.Logger.Info("collector set the heartbeat interval", "interval", d)
	}
	if d := time.Duration(s.FullEveryS) * time.Second; d > 0 {
		l.Sender.FullEvery = d
	}
}

func (l *Loop) nextWake() time.Time {
	next := l.nextReport
	if l.nextBeat.Before(next) {
		next = l.nextBeat
	}
	if l.spoolDepth() > 0 && l.retryAt.Before(next) {
		next = l.retryAt
	}
	if (l.cmdPending || len(l.inbox) > 0) && l.cmdRetryAt.Before(next) {
		next = l.cmdRetryAt
	}
	if l.NeedsRenewal != nil && l.Renew != nil && l.renewAt.After(l.Clock.Now()) && l.renewAt.Before(next) {
		next = l.renewAt
	}
	return next
}

func (l *Loop) spoolDepth() int {
	st, err := l.Sender.Spool.Stats()
	if err != nil {
		l.Logger.Warn("spool stats", "err", err)
		return 0
	}
	l.status.SpoolDepth, l.status.SpoolBytes = st.Depth, st.Bytes
	return st.Depth
}

// publish writes the status file for `roster-agent status`.
func (l *Loop) publish() {
	l.spoolDepth()
	if l.CollectorInUse != nil {
		l.status.Collector = l.CollectorInUse()
	}
	if l.status.Stopped == "" {
		nr, nb := l.nextReport.UTC(), l.nextBeat.UTC()
		l.status.NextReportAt, l.status.NextHeartbeatAt = &nr, &nb
	}
	l.status.UpdatedAt = l.Clock.Now().UTC()
	if err := l.Sender.Dir.SaveStatus(l.status); err != nil {
		l.Logger.Warn("publish status", "err", err)
	}
	if l.OnStatus != nil {
		l.OnStatus(l.status)
	}
}
