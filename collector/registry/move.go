package registry

// What `roster-collector migrate-store` needs from the registry to move it
// between engines: the schema version this binary writes, and the audit
// chain verified inside the move's uncommitted transaction, so that a copy
// that does not verify is rolled back rather than found later.

import (
	"context"
	"database/sql"
	"fmt"
)

// SchemaVersion is the newest migration this binary has for engine
// (EngineSQLite or EnginePostgres): the schema version OpenStore brings a
// store to.
func SchemaVersion(engine string) (int, error) {
	ms, err := migrations(engine)
	if err != nil {
		return 0, err
	}
	if len(ms) == 0 {
		return 0, fmt.Errorf("no migrations for engine %q", engine)
	}
	return ms[len(ms)-1].version, nil
}

// Querier is what VerifyAuditIn reads through: a *sql.DB or a *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}
