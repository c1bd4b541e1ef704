// Package backup makes and checks the collector's encrypted backups
// (docs/backup.md). A backup is one file: a gzip'd tar of a consistent
// copy of the SQLite registry (VACUUM INTO, so a serving collector keeps
// serving), the keys of pki/ and a manifest.json (format, times, schema,
// row counts per table, the audit log's head and newest signed checkpoint,
// the SHA-256 of every member), encrypted with age to recipients whose
// identities live away from the collector. Create writes one; Open
// decrypts and extracts one into a private temporary directory; Check
// runs the restore checks on what Open extracted (hashes, integrity,
// foreign keys, migrations, counts, the audit chain, the keys) and returns
// the report that is a restore test's evidence; Install moves a checked
// backup into a data directory. Rotate keeps the newest scheduled backups.
// VerifyPGDump does the checks for a PostgreSQL store's pg_dump.
package backup

import (
	"time"

	"github.com/rosterhq/roster/collector/audit"
)

// FormatVersion is the archive layout Create writes and Open reads.
// History: 1 — tar.gz of roster.db, pki/*, manifest.json (last).
const FormatVersion = 1

// Member names inside the archive.
const (
	ManifestName = "manifest.json"
	DBName       = "roster.db"
	PKIDir       = "pki"
)

// Manifest describes a backup; it is the archive's last member.
type Manifest struct {
	Format           int       `json:"format"`
	CreatedAt        time.Time `json:"created_at"`
	CollectorVersion string    `json:"collector_version"`
	Engine           string    `json:"engine"`
	// SchemaVersion is the newest migration applied; Migrations lists
	// every one applied, in order.
	SchemaVersion int   `json:"schema_version"`
	Migrations    []int `json:"migrations"`
	// Tables is the number of rows of each table in the backed-up copy.
	Tables map[string]int64 `json:"tables"`
	Audit  AuditHead        `json:"audit"`
	// Members are every other member of the archive with its digest.
	Members []Member `json:"members"`
}

// AuditHead is the audit log's state in the backup.
type AuditHead struct {
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	// Checkpoint is the newest signed checkpoint, if any.
	Checkpoint *audit.Checkpoint `json:"checkpoint,omitempty"`
}

// Member is one file of the archive.
type Member struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}
