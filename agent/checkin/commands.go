package checkin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/agent/wipe"
	"github.com/rosterhq/roster/shared/wire"
)

// CommandStatusPath is where command statuses go (docs/api.md).
const CommandStatusPath = "/api/v1/agent/commands/status"

// Executor carries out a verified wipe; *wipe.Executor is one.
type Executor interface {
	Run(ctx context.Context, prev *wire.WipeEvidence, checkpoint func(wire.WipeEvidence) error) (wire.WipeEvidence, error)
}

// Commands carries out the signed commands acks deliver. Every command is
// recorded in the journal in the state directory before anything else
// happens to it, so a nonce is never accepted twice (across restarts too)
// and the same delivery repeated is acted on once. A verified, allowed
// wipe is reported delivered, then in_progress, and executed only once the
// collector accepted in_progress (a collector that cancelled it meanwhile
// answers 409 and nothing is erased); its result goes out with the
// evidence. Statuses wait in the journal's outbox until the collector
// answers, so an outage loses none.
type Commands struct {
	Dir      *state.Dir
	Client   Poster
	DeviceID string
	Policy   wipe.Policy
	// Executor performs wipes; nil fails them.
	Executor Executor
	Now      func() time.Time
	Logger   *slog.Logger
}

// Outcome is a status a Process call queued.
type Outcome struct {
	CommandID string `json:"command_id"`
	Status    string `json:"status"`
	Reason    string `json:"reason,omitempty"`
	// Executed is true for the result of a command carried out: the
	// caller sends a report with the state after it before Flush.
	Executed bool `json:"-"`
}

func (c *Commands) now() time.Time {
	if c.Now != nil {
		return c.Now().UTC()
	}
	return time.Now().UTC()
}

func (c *Commands) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Pending reports whether a status waits to be sent or a command is
// unfinished (an unreadable journal counts: Process will say why).
func (c *Commands) Pending() bool {
	j, err := c.Dir.LoadCommands()
	return err != nil || j.Pending()
}

// Process records and verifies the delivered commands, sends what it can
// of their statuses, and carries out the ones that may run, resuming any
// an earlier run left unfinished. The final statuses of executed commands
// stay queued: the caller sends a report of the state after them, then
// Flush. The error is about the journal; a collector that cannot be
// reached only leaves statuses queued.
func (c *Commands) Process(ctx context.Context, delivered []wire.SignedCommand) ([]Outcome, error) {
	j, err := c.Dir.LoadCommands()
	if err != nil {
		return nil, fmt.Errorf("commands: %w", err)
	}
	key, err := c.Dir.CommandKey()
	if err != nil && !errors.Is(err, state.ErrNoCommandKey) {
		// A key that cannot be read verifies nothing: Verify refuses.
		c.logger().Error("command key unreadable; refusing commands", "err", err)
	}
	var outs []Outcome
	for _, sc := range delivered {
		if o, ok := c.receive(j, sc, key); ok {
			outs = append(outs, o)
		}
		// Durable before any status leaves or anything is erased.
		if err := c.Dir.SaveCommands(j); err != nil {
			return outs, fmt.Errorf("commands: %w", err)
		}
	}
	more, err := c.advance(ctx, j)
	return append(outs, more...), err
}

// receive journals one delivery; ok is false for a delivery already seen.
func (c *Commands) receive(j *state.CommandJournal, sc wire.SignedCommand, key []byte) (Outcome, bool) {
	digest := wipe.Digest(sc)
	if j.Entry(digest) != nil {
		// The collector re-sends until it hears back; once is enough.
		c.logger().Debug("command delivered again; already handled", "digest", digest)
		return Outcome{}, false
	}
	now := c.now()
	var spent *state.CommandEntry
	v := wipe.Verifier{Key: key, DeviceID: c.DeviceID, Now: now, Seen: func(n string) (string, bool) {
		if e := j.Nonce(n); e != nil {
			spent = e
			return fmt.Sprintf("by command %s, received %s", e.ID, e.ReceivedAt.Format(time.RFC3339)), true
		}
		return "", false
	}}
	cmd, err := v.Verify(sc)
	if err != nil && spent != nil && spent.ID == cmd.ID {
		// Every other check passed (the nonce is the last): the collector
		// signed the same command again with a fresh expiry because its
		// earlier signing lapsed before it heard back. It is the command
		// already journaled, not a replay of another.
		c.logger().Debug("command signed again; already handled", "command_id", cmd.ID)
		return Outcome{}, false
	}
	if err == nil {
		err = c.Policy.Check(cmd)
	}
	e := state.CommandEntry{Digest: digest, ID: cmd.ID, Kind: cmd.Kind, ReceivedAt: now, UpdatedAt: now}
	if e.ID == "" {
		e.ID = unverifiedID(sc.Payload)
	}
	var r *wipe.Refusal
	if err != nil && !errors.As(err, &r) {
		// Verify and Check only return refusals; anything else still
		// must not run.
		r = &wipe.Refusal{Status: wire.CommandRefused, Reason: err.Error()}
	}
	if r != nil {
		if r.Authentic && j.Nonce(cmd.Nonce) == nil {
			// A genuine command not carried out still spends its nonce.
			e.Nonce, e.ExpiresAt = cmd.Nonce, cmd.ExpiresAt
		}
		c.logger().Warn("command refused", "command_id", e.ID, "status", r.Status, "reason", r.Reason)
		if e.ID == "" {
			// Nothing the collector could match a status to.
			e.Stage, e.Reason = r.Status, r.Reason
			j.Entries = append(j.Entries, e)
			return Outcome{Status: r.Status, Reason: r.Reason}, true
		}
		j.Entries = append(j.Entries, e)
		c.queue(j, &j.Entries[len(j.Entries)-1], r.Status, r.Reason, nil)
		return Outcome{CommandID: e.ID, Status: r.Status, Reason: r.Reason}, true
	}
	e.Nonce, e.ExpiresAt, e.Command = cmd.Nonce, cmd.ExpiresAt, &cmd
	j.Entries = append(j.Entries, e)
	c.queue(j, &j.Entries[len(j.Entries)-1], wire.CommandDelivered, "", nil)
	c.logger().Info("command verified", "command_id", cmd.ID, "kind", cmd.Kind, "ticket", ticket(cmd))
	return Outcome{CommandID: cmd.ID, Status: wire.CommandDelivered}, true
}

// unverifiedID reads the command id from a payload that did not verify,
// so the refusal can name it.
func unverifiedID(payload []byte) string {
	var p struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(payload, &p) != nil || len(p.ID) > 200 {
		return ""
	}
	return p.ID
}

func ticket(cmd wire.Command) string {
	if cmd.Wipe != nil {
		return cmd.Wipe.Ticket
	}
	return ""
}

func (c *Commands) queue(j *state.CommandJournal, e *state.CommandEntry, status, reason string, ev *wire.WipeEvidence) {
	now := c.now()
	e.Stage, e.Reason, e.UpdatedAt = status, reason, now
	j.Outbox = append(j.Outbox, state.Outgoing{Digest: e.Digest,
		Status: wire.CommandStatus{CommandID: e.ID, Status: status, At: now, Reason: reason, Evidence: ev}})
}

// advance moves every unfinished command on as far as the collector's
// answers allow.
func (c *Commands) advance(ctx context.Context, j *state.CommandJournal) ([]Outcome, error) {
	var outs []Outcome
	if err := c.flush(ctx, j); err != nil {
		c.logger().Debug("command statuses stay queued", "err", err)
	}
	for i := range j.Entries {
		e := &j.Entries[i]
		if e.Terminal() || j.Queued(e.Digest) {
			// Finished, or the collector has not yet heard the last step.
			continue
		}
		if e.Command == nil {
			e.Stage, e.Reason = wire.CommandFailed, "journal lost the command"
			continue
		}
		if e.Stage == wire.CommandDelivered {
			c.queue(j, e, wire.CommandInProgress, "", nil)
			if err := c.Dir.SaveCommands(j); err != nil {
				return outs, fmt.Errorf("commands: %w", err)
			}
			outs = append(outs, Outcome{CommandID: e.ID, Status: wire.CommandInProgress})
			if err := c.flush(ctx, j); err != nil || j.Queued(e.Digest) || e.Terminal() {
				// Nothing is erased before the collector knows, and not
				// at all once it said no (cancelled, expired).
				continue
			}
		}
		o, err := c.execute(ctx, j, e)
		outs = append(outs, o)
		if err != nil {
			return outs, err
		}
	}
	return outs, c.Dir.SaveCommands(j)
}

// execute runs a wipe to its end and queues its result. A stop signal
// does not cut it short: half a cryptographic erase helps nobody, and
// each cryptsetup run has its own timeout.
func (c *Commands) execute(ctx context.Context, j *state.CommandJournal, e *state.CommandEntry) (Outcome, error) {
	logger := c.logger().With("command_id", e.ID)
	if e.Evidence != nil {
		logger.Warn("resuming a wipe that was interrupted")
	}
	var (
		ev  wire.WipeEvidence
		err = errors.New("this agent has no wipe executor")
	)
	if c.Executor != nil {
		ev, err = c.Executor.Run(context.WithoutCancel(ctx), e.Evidence, func(cp wire.WipeEvidence) error {
			e.Evidence = &cp
			return c.Dir.SaveCommands(j)
		})
	}
	status, reason := wire.CommandCompleted, ""
	if err != nil {
		status, reason = wire.CommandFailed, err.Error()
		logger.Error("wipe failed", "reason", reason)
	} else {
		logger.Warn("wipe completed: every keyslot of the targets is destroyed", "volumes", len(ev.Volumes))
	}
	var evp *wire.WipeEvidence
	if c.Executor != nil {
		evp = &ev
	}
	c.queue(j, e, status, reason, evp)
	e.Command, e.Evidence = nil, nil
	if err := c.Dir.SaveCommands(j); err != nil {
		return Outcome{CommandID: e.ID, Status: status, Reason: reason, Executed: true}, fmt.Errorf("commands: %w", err)
	}
	return Outcome{CommandID: e.ID, Status: status, Reason: reason, Executed: true}, nil
}

// Flush sends the queued statuses in order. A status the collector turns
// down for good (a 4xx other than 401/403: unknown command, a transition
// it does not accept) is dropped, and a command not yet carried out is
// then abandoned. Any other failure leaves the rest queued and is
// returned (a revoked certificate as a *transport.HTTPError).
func (c *Commands) Flush(ctx context.Context) error {
	j, err := c.Dir.LoadCommands()
	if err != nil {
		return fmt.Errorf("commands: %w", err)
	}
	return c.flush(ctx, j)
}

func (c *Commands) flush(ctx context.Context, j *state.CommandJournal) error {
	for len(j.Outbox) > 0 {
		out := j.Outbox[0]
		var resp struct{}
		_, err := c.Client.PostJSON(ctx, CommandStatusPath, out.Status, false, &resp)
		if err != nil && !refused(err) {
			return fmt.Errorf("send command status %s %s: %w", out.Status.CommandID, out.Status.Status, err)
		}
		j.Outbox = j.Outbox[1:]
		if err != nil {
			c.logger().Warn("collector refused a command status; dropped", "command_id", out.Status.CommandID, "status", out.Status.Status, "err", err)
			if e := j.Entry(out.Digest); e != nil && !e.Terminal() && e.Evidence == nil {
				e.Stage, e.Reason, e.UpdatedAt = state.StageAbandoned, "collector refused status "+out.Status.Status+": "+err.Error(), c.now()
				e.Command = nil
				// Later statuses of an abandoned command mean nothing.
				kept := j.Outbox[:0]
				for _, o := range j.Outbox {
					if o.Digest != out.Digest {
						kept = append(kept, o)
					}
				}
				j.Outbox = kept
			}
		}
		if err := c.Dir.SaveCommands(j); err != nil {
			return fmt.Errorf("commands: %w", err)
		}
	}
	return nil
}
