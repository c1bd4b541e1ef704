package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/collector/webhook"
)

// Delivery states in webhook_deliveries.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryGivenUp   = "given_up"
)

// DefaultClaimLease is how long a delivery handed out by Due stays with
// the process that got it. It is far longer than one attempt (the
// webhook Worker's timeout is 10 s), so a claim lapses only when that
// process died mid-attempt; then another process sends it again, which
// at-least-once delivery allows.
const DefaultClaimLease = 5 * time.Minute

// Outbox is the webhook.Store of a registry: the deliveries that emit
// queued with their events. Endpoints are the ones configured with
// ConfigureCompliance; a delivery whose endpoint is no longer configured
// stays pending, untouched, until it is configured again.
//
// Each Outbox has its own claim id. Due claims what it returns, and hands
// out only pending deliveries that are unclaimed, claimed by this Outbox,
// or whose claim has lapsed, so collectors sharing one database never
// send one delivery at the same time, and one that another collector has
// recorded as delivered or given up is never sent again. An outcome is
// recorded only while this Outbox still holds the delivery's claim (see
// outcome). Use one Outbox per process, behind one webhook.Worker.
type Outbox struct {
	r     *Registry
	owner string
	lease time.Duration
}

// Outbox returns a new Outbox with its own claim id; lease <= 0 means
// DefaultClaimLease.
func (r *Registry) Outbox(lease time.Duration) *Outbox {
	if lease <= 0 {
		lease = DefaultClaimLease
	}
	return &Outbox{r: r, owner: uuid.NewString(), lease: lease}
}

// Due implements webhook.Store.
func (o *Outbox) Due(ctx context.Context, now time.Time, limit int) ([]webhook.Pending, error) {
	eps := map[string]webhook.Endpoint{}
	for _, ep := range o.r.compState().endpoints {
		if ep.Enabled {
			eps[ep.ID] = ep
		}
	}
	if len(eps) == 0 || limit <= 0 {
		return nil, nil
	}
	ts, until := fmtTime(now), fmtTime(now.Add(o.lease))
	var q query
	q.add("d.state = ?", DeliveryPending)
	q.add("d.next_attempt_at <= ?", ts)
	q.add("(d.claimed_by = ? OR d.claimed_until = '' OR d.claimed_until <= ?)", o.owner, ts)
	in := "d.endpoint_id IN ("
	var args []any
	for id := range eps {
		if len(args) > 0 {
			in += ", "
		}
		in += "?"
		args = append(args, id)
	}
	q.add(in+")", args...)
	// Built once: write may run the function again, which must not add
	// another limit argument.
	sel := `SELECT d.id, d.endpoint_id, d.attempt, d.next_attempt_at, d.last_error,
			e.id, e.kind, e.at, e.device_id, e.asset_tag, e.subject, e.data, e.packed
			FROM webhook_deliveries d JOIN events e ON e.n = d.event_n` + q.sql() + ` ORDER BY d.next_attempt_at, d.id` + q.limitArg(limit) +
		o.r.dia.skipLocked("d")
	var out []webhook.Pending
	err := o.r.Write(ctx, func(tx *Tx) error {
		out = nil
		rows, err := tx.QueryContext(ctx, sel, q.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var due []webhook.Pending
		for rows.Next() {
			var p webhook.Pending
			var next, at, data string
			var packed []byte
			if err := rows.Scan(&p.Delivery.ID, &p.Delivery.EndpointID, &p.Delivery.Attempt, &next, &p.Delivery.LastError,
				&p.Event.ID, &p.Event.Kind, &at, &p.Event.DeviceID, &p.Event.AssetTag, &p.Event.Subject, &data, &packed); err != nil {
				return err
			}
			p.Delivery.EventID, p.Delivery.NextAttemptAt = p.Event.ID, parseTime(next)
			if p.Event.Data, err = eventData(o.r.snaps.codec, data, packed); err != nil {
				return fmt.Errorf("event %s: %w", p.Event.ID, err)
			}
			p.Event.At = parseTime(at)
			p.Endpoint = eps[p.Delivery.EndpointID]
			due = append(due, p)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		// The claim repeats the selection's conditions, so a row another
		// collector claimed or finished since it was read is not taken:
		// only the rows this UPDATE changed are handed out.
		claim, err := tx.PrepareContext(ctx, `UPDATE webhook_deliveries SET claimed_by = $1, claimed_until = $2
			WHERE id = $3 AND state = $4 AND next_attempt_at <= $5 AND (claimed_by = $1 OR claimed_until = '' OR claimed_until <= $5)`)
		if err != nil {
			return err
		}
		defer claim.Close()
		for _, p := range due {
			res, err := claim.ExecContext(ctx, o.owner, until, p.Delivery.ID, DeliveryPending, ts)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				out = append(out, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list due webhook deliveries: %w", err)
	}
	return out, nil
}

// skipLocked is the locking clause that ends a SELECT of rows to claim
// from table alias: on PostgreSQL the rows are locked and rows another
// transaction holds are skipped, so collectors polling together claim
// different rows instead of conflicting over the same ones; SQLite's
// write transaction already excludes every other writer.
func (d dialect) skipLocked(alias string) string {
	if d.postgres() {
		return " FOR UPDATE OF " + alias + " SKIP LOCKED"
	}
	return ""
}

// outcome records an attempt's outcome on a pending delivery, but only
// while this Outbox still holds its claim: the UPDATE compares claimed_by
// with the Outbox's claim id. A process that stalled past its lease may
// find that another one has claimed the delivery since (and may be sending
// it, or has recorded its own outcome and cleared the claim); recording the
// stale outcome then would overwrite the new holder's attempt count and
// clear its claim, letting a third process send the delivery again at
// once. Such an outcome is dropped and logged, and outcome returns nil: the
// delivery is the new holder's to record.
func (o *Outbox) outcome(ctx context.Context, what, id, set string, args ...any) error {
	args = append(args, id, DeliveryPending, o.owner)
	n := len(args)
	var lost bool     // the claim is no longer this Outbox's
	var holder string // who holds it now ("" when nobody does)
	err := o.r.Write(ctx, func(tx *Tx) error {
		lost, holder = false, ""
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET `+set+`, claimed_by = '', claimed_until = ''
			WHERE id = $`+fmt.Sprint(n-2)+` AND state = $`+fmt.Sprint(n-1)+` AND claimed_by = $`+fmt.Sprint(n), args...)
		if err != nil {
			return err
		}
		if k, err := res.RowsAffected(); err != nil {
			return err
		} else if k == 1 {
			return nil
		}
		var state string
		if err := tx.QueryRowContext(ctx, `SELECT state, claimed_by FROM webhook_deliveries WHERE id = $1`, id).Scan(&state, &holder); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound.Errorf("no webhook delivery %s", id)
			}
			return err
		}
		if state != DeliveryPending {
			return fmt.Errorf("delivery %s: already %s", id, state)
		}
		lost = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("record webhook %s: %w", what, err)
	}
	if lost {
		o.r.logger.Warn("webhook outcome dropped: the claim on the delivery lapsed and passed to another process",
			"delivery", id, "outcome", what, "claim", o.owner, "now_claimed_by", holder)
	}
	return nil
}

// Delivered implements webhook.Store.
func (o *Outbox) Delivered(ctx context.Context, id string, at time.Time) error {
	return o.outcome(ctx, "delivered", id, `state = $1, attempt = attempt + 1, delivered_at = $2, last_error = ''`, DeliveryDelivered, fmtTime(at))
}

// Failed implements webhook.Store.
func (o *Outbox) Failed(ctx context.Context, id string, attempt int, next time.Time, errMsg string) error {
	return o.outcome(ctx, "failure", id, `attempt = $1, next_attempt_at = $2, last_error = $3`, attempt, fmtTime(next), errMsg)
}

// GiveUp implements webhook.Store.
func (o *Outbox) GiveUp(ctx context.Context, id string, errMsg string) error {
	return o.outcome(ctx, "given up", id, `state = $1, attempt = attempt + 1, last_error = $2`, DeliveryGivenUp, errMsg)
}

// RecordEvents stores events and queues their webhook deliveries in one
// transaction, as reports and evaluations do, and returns the number of
// deliveries queued. Events without an id get a new UUID.
func (r *Registry) RecordEvents(ctx context.Context, evs []webhook.Event) (int, error) {
	st := r.compState()
	var n int
	err := r.Write(ctx, func(tx *Tx) error {
		var err error
		n, err = r.emit(ctx, tx, st, evs)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("record events: %w", err)
	}
	return n, nil
}
