package registry

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/rosterhq/roster/collector/compliance"
)

// The policy set in force is kept in memory (parsed CEL is too costly to
// rebuild per report), but the store says which set that is: the newest
// policy_sets row. An instance that replaced it through the API puts it in
// force at once; every other instance sharing the database notices within
// a watch interval (WatchPolicies), and a fleet evaluation checks before
// it starts, so it never judges the fleet by an older set than the one
// stored. The other settings the API changes (exceptions, principals,
// tokens, secrets, the register) are read from the store when used.

// DefaultPolicyWatchInterval is how often WatchPolicies looks for a newer
// stored policy set when the configuration does not say.
const DefaultPolicyWatchInterval = 5 * time.Second

// RefreshPolicies puts the newest stored policy set in force if it is not
// the one in force already, and returns its record (nil when nothing
// changed). A stored set this build cannot load (a newer collector's, in a
// rolling upgrade) is an error, and the set in force stays.
func (r *Registry) RefreshPolicies(ctx context.Context) (*PolicySetRecord, error) {
	return r.refreshPolicies(ctx, r.db)
}

func (r *Registry) refreshPolicies(ctx context.Context, q querier) (*PolicySetRecord, error) {
	cur := r.compState()
	var newest sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT max(id) FROM policy_sets`).Scan(&newest); err != nil {
		return nil, fmt.Errorf("refresh policies: read newest set: %w", err)
	}
	if !newest.Valid || newest.Int64 == cur.setID {
		return nil, nil
	}
	rec, err := latestPolicySet(ctx, q, "")
	if err != nil {
		return nil, fmt.Errorf("refresh policies: %w", err)
	}
	if rec == nil || rec.ID == cur.setID {
		return nil, nil
	}
	set, err := compliance.ParseWithLimits([]byte(rec.Document), fmt.Sprintf("stored policy set %d", rec.ID), cur.set.Limits())
	if err != nil {
		return nil, fmt.Errorf("refresh policies: load set %d: %w", rec.ID, err)
	}
	next := *cur
	next.set, next.setID = set, rec.ID
	// A ReplacePolicies or another refresh in this process may have put
	// a set in force meanwhile; the next refresh settles on the newest.
	if !r.comp.state.CompareAndSwap(cur, &next) {
		return nil, nil
	}
	r.logger.Info("policy set changed in the store; now in force", "id", rec.ID, "source", rec.Source,
		"by", rec.CreatedBy, "at", rec.CreatedAt, "policies", len(set.Policies()))
	return rec, nil
}

// policiesInForce is compState brought up to date inside a report's
// transaction, so a report is judged by the newest stored set even before
// the watcher has seen it. A set that does not load leaves the one in force
// (WatchPolicies says so); a failed query fails the transaction anyway.
func (r *Registry) policiesInForce(ctx context.Context, tx *Tx) *complianceState {
	_, _ = r.refreshPolicies(ctx, tx)
	return r.compState()
}

// WatchPolicies calls RefreshPolicies every interval (<= 0: the default)
// until ctx ends, so a policy change made through another instance is in
// force here within an interval. A set that does not load is logged once.
func (r *Registry) WatchPolicies(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultPolicyWatchInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := r.RefreshPolicies(ctx)
		switch {
		case err == nil:
			lastErr = ""
		case ctx.Err() != nil:
			return
		case err.Error() != lastErr:
			lastErr = err.Error()
			r.logger.Error("watch policies: the stored policy set is not in force", "err", err)
		}
	}
}
