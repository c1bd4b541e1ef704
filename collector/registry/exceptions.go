package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/collector/compliance"
)

// Exception statuses as the API shows them.
const (
	ExceptionActive  = "active"
	ExceptionExpired = "expired"
	ExceptionRevoked = "revoked"
)

// ExceptionRecord is a stored exception (API keys).
type ExceptionRecord struct {
	ID                  string     `json:"id"`
	PolicyID            string     `json:"policy_id"`
	DeviceID            string     `json:"device_id"`
	AssetTag            string     `json:"asset_tag"`
	Reason              string     `json:"reason"`
	CompensatingControl string     `json:"compensating_control"`
	Approver            string     `json:"approver"`
	CreatedBy           string     `json:"created_by"`
	CreatedAt           time.Time  `json:"created_at"`
	ExpiresAt           time.Time  `json:"expires_at"`
	RevokedAt           *time.Time `json:"revoked_at"`
	RevokedBy           string     `json:"revoked_by"`
	// Status is active, expired or revoked at the time of the answer.
	Status string `json:"status"`
}

// ExceptionInput creates an exception. Device is a device reference (id,
// serial or hostname) and AssetTag an asset tag in any case; give one.
type ExceptionInput struct {
	PolicyID            string
	Device              string
	AssetTag            string
	Reason              string
	CompensatingControl string
	Approver            string
	CreatedBy           string
	ExpiresAt           time.Time
}

const exceptionSelect = `SELECT id, policy_id, device_id, asset_tag, reason, compensating_control, approver, created_by, created_at, expires_at, revoked_at, revoked_by FROM exceptions`

func scanException(row interface{ Scan(...any) error }, now time.Time) (ExceptionRecord, error) {
	var e ExceptionRecord
	var created, expires string
	var revoked sql.NullString
	if err := row.Scan(&e.ID, &e.PolicyID, &e.DeviceID, &e.AssetTag, &e.Reason, &e.CompensatingControl, &e.Approver, &e.CreatedBy,
		&created, &expires, &revoked, &e.RevokedBy); err != nil {
		return ExceptionRecord{}, err
	}
	e.CreatedAt, e.ExpiresAt, e.RevokedAt = parseTime(created), parseTime(expires), timePtr(revoked)
	switch {
	case e.RevokedAt != nil:
		e.Status = ExceptionRevoked
	case !now.Before(e.ExpiresAt):
		e.Status = ExceptionExpired
	default:
		e.Status = ExceptionActive
	}
	return e, nil
}

// CreateException validates and stores an exception, then re-evaluates the
// fleet so it applies at once. The expiry must be after now and at most the
// configured maximum away; the policy must be in force and the device or
// asset must exist. Bad input wraps ErrInvalid, an unknown device or asset
// ErrNotFound.
func (r *Registry) CreateException(ctx context.Context, in ExceptionInput, now time.Time) (ExceptionRecord, error) {
	st := r.compState()
	in.Reason, in.Approver = strings.TrimSpace(in.Reason), strings.TrimSpace(in.Approver)
	in.CompensatingControl = strings.TrimSpace(in.CompensatingControl)
	bad := func(format string, a ...any) (ExceptionRecord, error) {
		return ExceptionRecord{}, fmt.Errorf("create exception: %w: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	for _, f := range [][2]string{{"reason", in.Reason}, {"compensating_control", in.CompensatingControl}} {
		if err := checkText(f[0], f[1], false); err != nil {
			return ExceptionRecord{}, fmt.Errorf("create exception: %w", err)
		}
	}
	if _, ok := st.set.Policy(in.PolicyID); !ok {
		return bad("no policy %q in force", in.PolicyID)
	}
	if in.CompensatingControl == "" {
		return bad("compensating control is required")
	}
	ex := compliance.Exception{ID: uuid.NewString(), PolicyID: in.PolicyID, ExpiresAt: in.ExpiresAt.UTC(), Reason: in.Reason,
		CompensatingControl: in.CompensatingControl, Approver: in.Approver, CreatedBy: in.CreatedBy}
	if in.Device != "" && in.AssetTag != "" {
		return bad("give either a device or an asset tag, not both")
	}
	if in.Device != "" {
		id, err := r.resolve(ctx, r.db, in.Device)
		if err != nil {
			return ExceptionRecord{}, fmt.Errorf("create exception: device %q: %w", in.Device, err)
		}
		ex.DeviceID = id
	}
	if in.AssetTag != "" {
		err := r.db.QueryRowContext(ctx, `SELECT asset_tag FROM assets WHERE tag_key = $1`, strings.ToUpper(strings.TrimSpace(in.AssetTag))).Scan(&ex.AssetTag)
		if errors.Is(err, sql.ErrNoRows) {
			return ExceptionRecord{}, fmt.Errorf("create exception: %w: no asset with tag %q", ErrNotFound, in.AssetTag)
		}
		if err != nil {
			return ExceptionRecord{}, fmt.Errorf("create exception: read asset: %w", err)
		}
	}
	if err := ex.Validate(now, st.maxValidity); err != nil {
		return bad("%s", strings.TrimPrefix(err.Error(), "exception: "))
	}
	err := r.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO exceptions (id, policy_id, device_id, asset_tag, reason, compensating_control, approver, created_by, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			ex.ID, ex.PolicyID, ex.DeviceID, ex.AssetTag, ex.Reason, ex.CompensatingControl, ex.Approver, ex.CreatedBy, fmtTime(now), fmtTime(ex.ExpiresAt))
		return err
	})
	if err != nil {
		return ExceptionRecord{}, fmt.Errorf("create exception: %w", err)
	}
	if _, err := r.EvaluateAll(ctx, now); err != nil {
		return ExceptionRecord{}, fmt.Errorf("create exception: %w", err)
	}
	return r.Exception(ctx, ex.ID, now)
}

// Exception returns one exception by id.
func (r *Registry) Exception(ctx context.Context, id string, now time.Time) (ExceptionRecord, error) {
	e, err := scanException(r.db.QueryRowContext(ctx, exceptionSelect+` WHERE id = $1`, id), now)
	if errors.Is(err, sql.ErrNoRows) {
		return ExceptionRecord{}, fmt.Errorf("%w: no exception %q", ErrNotFound, id)
	}
	if err != nil {
		return ExceptionRecord{}, fmt.Errorf("read exception %s: %w", id, err)
	}
	return e, nil
}

// RevokeException ends an exception now (by actor) and re-evaluates the
// fleet. Revoking a revoked exception is ErrInvalid.
func (r *Registry) RevokeException(ctx context.Context, id, actor string, now time.Time) (ExceptionRecord, error) {
	err := r.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE exceptions SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL`, fmtTime(now), actor, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := r.Exception(ctx, id, now); err != nil {
				return err
			}
			return fmt.Errorf("%w: exception %s is already revoked", ErrInvalid, id)
		}
		return nil
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
	// Active keeps only exceptions neither revoked nor expired at now.
	Active bool
	// Device is a device reference: its own exceptions and its asset's.
	Device   string
	PolicyID string
}

// ListExceptions returns exceptions, newest first.
func (r *Registry) ListExceptions(ctx context.Context, f ExceptionFilter, now time.Time) ([]ExceptionRecord, error) {
	var q query
	if f.Active {
		q.add("revoked_at IS NULL AND expires_at > ?", fmtTime(now))
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

const validExceptionCols = `SELECT id, policy_id, device_id, asset_tag, expires_at, reason, approver FROM exceptions WHERE revoked_at IS NULL AND expires_at > $1`

func scanValid(rows *sql.Rows) (compliance.Exception, error) {
	var e compliance.Exception
	var exp string
	err := rows.Scan(&e.ID, &e.PolicyID, &e.DeviceID, &e.AssetTag, &exp, &e.Reason, &e.Approver)
	e.ExpiresAt = parseTime(exp)
	return e, err
}

// validExceptions indexes the exceptions valid at now by device id and by
// "asset:" + asset tag.
func (r *Registry) validExceptions(ctx context.Context, now time.Time) (map[string][]compliance.Exception, error) {
	rows, err := r.db.QueryContext(ctx, validExceptionCols, fmtTime(now))
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
