package registry

// Exceptions under separation of duties: a helpdesk or admin principal
// requests one (pending, exempting nothing), a different principal holding
// the approve permission approves or denies it, and only approved,
// unexpired exceptions reach compliance evaluation. Every change is in the
// audit log, in the transaction that makes it; refused decisions are
// audited as denied.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/compliance"
)

// Exception statuses as the API shows them: the stored state, with an
// approved exception shown active until it expires, and a pending or
// approved one expired from then on.
const (
	ExceptionPending = "pending"
	ExceptionActive  = "active"
	ExceptionDenied  = "denied"
	ExceptionExpired = "expired"
	ExceptionRevoked = "revoked"
)

// ExceptionStatuses lists the statuses a filter accepts.
func ExceptionStatuses() []string {
	return []string{ExceptionPending, ExceptionActive, ExceptionDenied, ExceptionExpired, ExceptionRevoked}
}

// ExceptionRecord is a stored exception (API keys).
type ExceptionRecord struct {
	ID                  string `json:"id"`
	PolicyID            string `json:"policy_id"`
	DeviceID            string `json:"device_id"`
	AssetTag            string `json:"asset_tag"`
	Reason              string `json:"reason"`
	CompensatingControl string `json:"compensating_control"`
	// RequestedBy is the principal who asked for the exception.
	RequestedBy   string    `json:"requested_by"`
	RequestedByID string    `json:"requested_by_id"`
	CreatedAt     time.Time `json:"created_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	// Approver is the principal who approved it. Exceptions from before
	// separation of duties carry the approver as it was typed, and no
	// ApproverID.
	Approver   string `json:"approver"`
	ApproverID string `json:"approver_id"`
	DeniedBy   string `json:"denied_by"`
	DeniedByID string `json:"denied_by_id"`
	// DecidedAt is when it was approved or denied; DecisionNote is what
	// the decider said.
	DecidedAt    *time.Time `json:"decided_at"`
	DecisionNote string     `json:"decision_note"`
	RevokedAt    *time.Time `json:"revoked_at"`
	RevokedBy    string     `json:"revoked_by"`
	// Status is pending, active, denied, expired or revoked at the time of
	// the answer.
	Status string `json:"status"`
}

// ExceptionInput requests an exception. Device is a device reference (id,
// serial or hostname) and AssetTag an asset tag in any case; give one. The
// requester is the principal the context carries.
type ExceptionInput struct {
	PolicyID            string
	Device              string
	AssetTag            string
	Reason              string
	CompensatingControl string
	ExpiresAt           time.Time
}

const exceptionSelect = `SELECT id, policy_id, device_id, asset_tag, reason, compensating_control, created_by, requested_by_id, created_at, expires_at,
	approver, approver_id, denied_by, denied_by_id, decided_at, decision_note, revoked_at, revoked_by, state FROM exceptions`

func scanException(row interface{ Scan(...any) error }, now time.Time) (ExceptionRecord, error) {
	var e ExceptionRecord
	var created, expires, state string
	var decided, revoked sql.NullString
	if err := row.Scan(&e.ID, &e.PolicyID, &e.DeviceID, &e.AssetTag, &e.Reason, &e.CompensatingControl, &e.RequestedBy, &e.RequestedByID,
		&created, &expires, &e.Approver, &e.ApproverID, &e.DeniedBy, &e.DeniedByID, &decided, &e.DecisionNote, &revoked, &e.RevokedBy, &state); err != nil {
		return ExceptionRecord{}, err
	}
	e.CreatedAt, e.ExpiresAt, e.DecidedAt, e.RevokedAt = parseTime(created), parseTime(expires), timePtr(decided), timePtr(revoked)
	e.Status = exceptionStatus(state, e.ExpiresAt, now)
	return e, nil
}

// exceptionStatus is the API's status of a stored state at now.
func exceptionStatus(state string, expires, now time.Time) string {
	switch {
	case state == exceptionRevoked:
		return ExceptionRevoked
	case state == exceptionDenied:
		return ExceptionDenied
	case !now.Before(expires):
		return ExceptionExpired
	case state == exceptionApproved:
		return ExceptionActive
	}
	return ExceptionPending
}

// RequestException validates and stores a pending exception requested by
// the principal ctx carries. It exempts nothing until a different principal
// approves it. The expiry must be after now and at most the configured
// maximum away; the policy must be in force and the device or asset must
// exist. Bad input wraps ErrInvalid, an unknown device or asset ErrNotFound.
func (r *Registry) RequestException(ctx context.Context, in ExceptionInput, now time.Time) (ExceptionRecord, error) {
	st := r.compState()
	by := access.ActorFrom(ctx)
	in.Reason, in.CompensatingControl = strings.TrimSpace(in.Reason), strings.TrimSpace(in.CompensatingControl)
	bad := func(format string, a ...any) (ExceptionRecord, error) {
		return ExceptionRecord{}, fmt.Errorf("request exception: %w", ErrInvalid.Errorf(format, a...))
	}
	for _, f := range [][2]string{{"reason", in.Reason}, {"compensating_control", in.CompensatingControl}} {
		if err := checkText(f[0], f[1], false); err != nil {
			return ExceptionRecord{}, fmt.Errorf("request exception: %w", err)
		}
	}
	for _, f := range [][2]string{{"reason", in.Reason}, {"compensating_control", in.CompensatingControl}} {
		if err := checkText(f[0], f[1], false); err != nil {
			return ExceptionRecord{}, fmt.Errorf("request exception: %w", err)
		}
	}
	if _, ok := st.set.Policy(in.PolicyID); !ok {
		return bad("no policy %q in force", in.PolicyID)
	}
	if in.CompensatingControl == "" {
		return bad("compensating control is required")
	}
	ex := compliance.Exception{ID: uuid.NewString(), PolicyID: in.PolicyID, ExpiresAt: in.ExpiresAt.UTC(), Reason: in.Reason,
		CompensatingControl: in.CompensatingControl, CreatedBy: by.Name}
	if in.Device != "" && in.AssetTag != "" {
		return bad("give either a device or an asset tag, not both")
	}
	if in.Device != "" {
		id, err := r.resolve(ctx, r.db, in.Device)
		if err != nil {
			return ExceptionRecord{}, fmt.Errorf("request exception: device %q: %w", in.Device, err)
		}
		ex.DeviceID = id
	}
	if in.AssetTag != "" {
		err := r.db.QueryRowContext(ctx, `SELECT asset_tag FROM assets WHERE tag_key = $1`, strings.ToUpper(strings.TrimSpace(in.AssetTag))).Scan(&ex.AssetTag)
		if errors.Is(err, sql.ErrNoRows) {
			return ExceptionRecord{}, fmt.Errorf("request exception: %w", ErrNotFound.Errorf("no asset with tag %q", in.AssetTag))
		}
		if err != nil {
			return ExceptionRecord{}, fmt.Errorf("request exception: read asset: %w", err)
		}
	}
	if err := ex.Validate(now, st.maxValidity); err != nil {
		return bad("%s", strings.TrimPrefix(err.Error(), "exception: "))
	}
	err := r.Write(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO exceptions (id, policy_id, device_id, asset_tag, reason, compensating_control, approver, created_by, requested_by_id, created_at, expires_at, state)
			VALUES ($1, $2, $3, $4, $5, $6, '', $7, $8, $9, $10, $11)`,
			ex.ID, ex.PolicyID, ex.DeviceID, ex.AssetTag, ex.Reason, ex.CompensatingControl, by.Name, by.ID, fmtTime(now), fmtTime(ex.ExpiresAt), exceptionPending)
		if err != nil {
			return err
		}
		return r.audit(ctx, tx, "exception.requested", "exception:"+ex.ID, map[string]any{"policy_id": ex.PolicyID, "device_id": ex.DeviceID,
			"asset_tag": ex.AssetTag, "reason": ex.Reason, "compensating_control": ex.CompensatingControl, "expires_at": fmtTime(ex.ExpiresAt)})
	})
	if err != nil {
		return ExceptionRecord{}, fmt.Errorf("request exception: %w", err)
	}
	return r.Exception(ctx, ex.ID, now)
}

// ApproveException approves a pending exception as the principal ctx
// carries, who must hold the approve permission and not be its requester,
// then re-evaluates the fleet so it applies at once. The expiry is checked
// again against now and the configured maximum. A refusal changes nothing
// and is audited as denied.
func (r *Registry) ApproveException(ctx context.Context, id, note string, now time.Time) (ExceptionRecord, error) {
	return r.decideException(ctx, id, exceptionApprove, note, now)
}

// DenyException denies a pending exception, under the same rules as
// ApproveException; a denied exception exempts nothing and is final.
func (r *Registry) DenyException(ctx context.Context, id, note string, now time.Time) (ExceptionRecord, error) {
	return r.decideException(ctx, id, exceptionDeny, note, now)
}

func (r *Registry) decideException(ctx context.Context, id, event, note string, now time.Time) (ExceptionRecord, error) {
	action, verb := "exception.approved", "approved"
	if event == exceptionDeny {
		action, verb = "exception.denied", "denied"
	}
	what := event + " exception"
	note = strings.TrimSpace(note)
	if err := checkText("note", note, false); err != nil {
		return ExceptionRecord{}, fmt.Errorf("%s: %w", what, err)
	}
	a := access.ActorFrom(ctx)
	err := r.Write(ctx, func(tx *Tx) error {
		var state, requesterID, requester, expires string
		err := tx.QueryRowContext(ctx, `SELECT state, requested_by_id, created_by, expires_at FROM exceptions WHERE id = $1`, id).Scan(&state, &requesterID, &requester, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound.Errorf("no exception %q", id)
		}
		if err != nil {
			return err
		}
		to, ok := nextExceptionState(state, event)
		if !ok {
			return ErrInvalid.Errorf("exception %s is %s; only a pending exception can be %s", id, exceptionStatus(state, parseTime(expires), now), verb)
		}
		if err := checkDecider(a, requesterID, requester, verb); err != nil {
			return err
		}
		if event == exceptionApprove {
			if err := compliance.ValidateExpiry(parseTime(expires), now, r.compState().maxValidity); err != nil {
				return ErrInvalid.Errorf("%s: ask for a new exception", strings.TrimPrefix(err.Error(), "exception: "))
			}
		}
		stmt := `UPDATE exceptions SET state = $1, approver = $2, approver_id = $3, decided_at = $4, decision_note = $5 WHERE id = $6 AND state = $7`
		if event == exceptionDeny {
			stmt = `UPDATE exceptions SET state = $1, denied_by = $2, denied_by_id = $3, decided_at = $4, decision_note = $5 WHERE id = $6 AND state = $7`
		}
		if _, err := tx.ExecContext(ctx, stmt, to, a.Name, a.ID, fmtTime(now), note, id, state); err != nil {
			return err
		}
		return r.audit(ctx, tx, action, "exception:"+id, map[string]any{"requested_by": requester, "requested_by_id": requesterID, "note": note})
	})
	if err != nil {
		if errors.Is(err, ErrSeparation) || errors.Is(err, ErrInvalid) {
			if aerr := r.AuditOutside(ctx, action, "exception:"+id, audit.Denied, map[string]any{"reason": err.Error()}); aerr != nil {
				r.logger.Error("audit refused exception decision", "exception", id, "err", aerr)
			}
		}
		return ExceptionRecord{}, fmt.Errorf("%s: %w", what, err)
	}
	if event == exceptionApprove {
		if _, err := r.EvaluateAll(ctx, now); err != nil {
			return ExceptionRecord{}, fmt.Errorf("%s: %w", what, err)
		}
	}
	return r.Exception(ctx, id, now)
}

// Exception returns one exception by id.
func (r *Registry) Exception(ctx context.Context, id string, now time.Time) (ExceptionRecord, error) {
	e, err := scanException(r.db.QueryRowContext(ctx, exceptionSelect+` WHERE id = $1`, id), now)
	if errors.Is(err, sql.ErrNoRows) {
		return ExceptionRecord{}, ErrNotFound.Errorf("no exception %q", id)
	}
	if err != nil {
		return ExceptionRecord{}, fmt.Errorf("read exception %s: %w", id, err)
	}
	return e, nil
}

// RevokeException ends a pending or approved exception now, as the
// principal ctx carries, and re-evaluates the fleet. Revoking a denied or
// revoked exception is ErrInvalid.
func (r *Registry) RevokeException(ctx context.Context, id string, now time.Time) (ExceptionRecord, error) {
	by := access.ActorFrom(ctx).Name
	err := r.Write(ctx, func(tx *Tx) error {
		var state, expires string
		err := tx.QueryRowContext(ctx, `SELECT state, expires_at FROM exceptions WHERE id = $1`, id).Scan(&state, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound.Errorf("no exception %q", id)
		}
		if err != nil {
			return err
		}
		to, ok := nextExceptionState(state, exceptionRevoke)
		if !ok {
			return ErrInvalid.Errorf("exception %s is already %s", id, state)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE exceptions SET state = $1, revoked_at = $2, revoked_by = $3 WHERE id = $4 AND state = $5`,
			to, fmtTime(now), by, id, state); err != nil {
			return err
		}
		return r.audit(ctx, tx, "exception.revoked", "exception:"+id, map[string]any{"was": exceptionStatus(state, parseTime(expires), now)})
	})
	if err != nil {
		return ExceptionRecord{}, fmt.Errorf("revoke exception: %w", err)
	}
	if _, err := r.EvaluateAll(ctx, now); err != nil {
		return ExceptionRecord{}, fmt.Errorf("revoke exception: %w", err)
	}
	return r.Exception(ctx, id, now)
}

// ExceptionFilter selects exceptions; zero fields do not filter.
type ExceptionFilter struct {
	// Active keeps only approved exceptions not expired at now (the same
	// as Status active).
	Active bool
	// Status is one of ExceptionStatuses at now.
	Status string
	// Device is a device reference: its own exceptions and its asset's.
	Device   string
	PolicyID string
}

// ListExceptions returns exceptions, newest first.
func (r *Registry) ListExceptions(ctx context.Context, f ExceptionFilter, now time.Time) ([]ExceptionRecord, error) {
	var q query
	if f.Active {
		f.Status = ExceptionActive
	}
	ts := fmtTime(now)
	switch f.Status {
	case "":
	case ExceptionPending:
		q.add("state = ? AND expires_at > ?", exceptionPending, ts)
	case ExceptionActive:
		q.add("state = ? AND expires_at > ?", exceptionApproved, ts)
	case ExceptionExpired:
		q.add("state IN (?, ?) AND expires_at <= ?", exceptionPending, exceptionApproved, ts)
	case ExceptionDenied:
		q.add("state = ?", exceptionDenied)
	case ExceptionRevoked:
		q.add("state = ?", exceptionRevoked)
	default:
		return nil, fmt.Errorf("list exceptions: %w", ErrInvalid.Errorf("status %q: want one of %s", f.Status, strings.Join(ExceptionStatuses(), ", ")))
	}
	if f.PolicyID != "" {
		q.add("policy_id = ?", f.PolicyID)
	}
	if f.Device != "" {
		id, err := r.resolve(ctx, r.db, f.Device)
		if err != nil {
			return nil, err
		}
		var tag sql.NullString
		err = r.db.QueryRowContext(ctx, `SELECT a.asset_tag FROM asset_links l JOIN assets a ON a.id = l.asset_id WHERE l.device_id = $1`, id).Scan(&tag)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("list exceptions: %w", err)
		}
		q.add("(device_id = ? OR (asset_tag <> '' AND asset_tag = ?))", id, tag.String)
	}
	rows, err := r.db.QueryContext(ctx, exceptionSelect+q.sql()+` ORDER BY created_at DESC, id`, q.args...)
	if err != nil {
		return nil, fmt.Errorf("list exceptions: %w", err)
	}
	defer rows.Close()
	out := []ExceptionRecord{}
	for rows.Next() {
		e, err := scanException(rows, now)
		if err != nil {
			return nil, fmt.Errorf("list exceptions: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// validExceptionCols reads what compliance evaluation gets: approved
// exceptions not expired at $1. Pending, denied and revoked ones exempt
// nothing, so they never reach it.
const validExceptionCols = `SELECT id, policy_id, device_id, asset_tag, expires_at, reason, approver FROM exceptions WHERE state = 'approved' AND expires_at > $1`

func scanValid(rows *sql.Rows) (compliance.Exception, error) {
	var e compliance.Exception
	var exp string
	err := rows.Scan(&e.ID, &e.PolicyID, &e.DeviceID, &e.AssetTag, &exp, &e.Reason, &e.Approver)
	e.ExpiresAt = parseTime(exp)
	return e, err
}

// validExceptions indexes the exceptions valid at now by device id and by
// "asset:" + asset tag.
func (r *Registry) validExceptions(ctx context.Context, q querier, now time.Time) (map[string][]compliance.Exception, error) {
	rows, err := q.QueryContext(ctx, validExceptionCols, fmtTime(now))
	if err != nil {
		return nil, fmt.Errorf("read exceptions: %w", err)
	}
	defer rows.Close()
	out := map[string][]compliance.Exception{}
	for rows.Next() {
		e, err := scanValid(rows)
		if err != nil {
			return nil, fmt.Errorf("read exceptions: %w", err)
		}
		if e.DeviceID != "" {
			out[e.DeviceID] = append(out[e.DeviceID], e)
		} else {
			out["asset:"+e.AssetTag] = append(out["asset:"+e.AssetTag], e)
		}
	}
	return out, rows.Err()
}

// exceptionsFor reads the exceptions valid at now for one device.
func exceptionsFor(ctx context.Context, q querier, device string, asset *compliance.AssetFacts, now time.Time) ([]compliance.Exception, error) {
	tag := ""
	if asset != nil {
		tag = asset.Tag
	}
	rows, err := q.QueryContext(ctx, validExceptionCols+` AND (device_id = $2 OR (asset_tag <> '' AND asset_tag = $3))`, fmtTime(now), device, tag)
	if err != nil {
		return nil, fmt.Errorf("read exceptions: %w", err)
	}
	defer rows.Close()
	var out []compliance.Exception
	for rows.Next() {
		e, err := scanValid(rows)
		if err != nil {
			return nil, fmt.Errorf("read exceptions: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
