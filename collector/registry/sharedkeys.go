package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SharedKeys is the store's one row of sealed collector keys (the CA and
// command-signing key every collector of the store uses; collector/pki
// seals and opens them, the registry only keeps them).
type SharedKeys struct {
	CAFingerprint string
	Sealed        string
	CreatedAt     time.Time
	CreatedBy     string
}

// LoadSharedKeys returns the store's sealed keys; found is false when no
// collector has published any yet.
func (r *Registry) LoadSharedKeys(ctx context.Context) (k SharedKeys, found bool, err error) {
	var at string
	err = r.db.QueryRowContext(ctx, `SELECT ca_fingerprint, sealed, created_at, created_by FROM shared_keys WHERE id = 1`).
		Scan(&k.CAFingerprint, &k.Sealed, &at, &k.CreatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return SharedKeys{}, false, nil
	}
	if err != nil {
		return SharedKeys{}, false, fmt.Errorf("load shared keys: %w", err)
	}
	k.CreatedAt = parseTime(at)
	return k, true, nil
}

// PublishSharedKeys stores k as the store's keys unless another collector
// published first; it returns the keys the store holds afterwards and
// whether they are k. Publishing is audited.
func (r *Registry) PublishSharedKeys(ctx context.Context, k SharedKeys, now time.Time) (held SharedKeys, published bool, err error) {
	err = r.write(ctx, func(tx *sql.Tx) error {
		published = false
		var at string
		err := tx.QueryRowContext(ctx, `SELECT ca_fingerprint, sealed, created_at, created_by FROM shared_keys WHERE id = 1`).
			Scan(&held.CAFingerprint, &held.Sealed, &at, &held.CreatedBy)
		if err == nil {
			held.CreatedAt = parseTime(at)
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		held, published = k, true
		held.CreatedAt = now.UTC()
		if _, err := tx.ExecContext(ctx, `INSERT INTO shared_keys (id, ca_fingerprint, sealed, created_at, created_by) VALUES (1, $1, $2, $3, $4)`,
			k.CAFingerprint, k.Sealed, fmtTime(now), k.CreatedBy); err != nil {
			return err
		}
		return r.audit(ctx, tx, "collector.keys_published", k.CAFingerprint, map[string]string{"collector": k.CreatedBy})
	})
	if err != nil {
		return SharedKeys{}, false, fmt.Errorf("publish shared keys: %w", err)
	}
	return held, published, nil
}
