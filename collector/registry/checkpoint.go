package registry

// SQLite's write-ahead log is copied back into the database file by
// checkpoints. By default the connection whose commit takes the log past
// 1,000 pages (wal_autocheckpoint) runs one itself, before its commit
// returns: it copies every page committed since the last one and syncs
// the log and the database, while the caller still holds the registry's
// write lock, so every writer queued behind it waits too. A policy change
// that rewrote 100,000 devices' results spent about a third of its commit
// time there, and a report whose commit drew the checkpoint took its
// latency.
//
// So the registry's SQLite connections open with wal_autocheckpoint off,
// and one goroutine per Registry checkpoints after commits instead, as
// Litestream does: PASSIVE, which neither waits for nor blocks readers or
// writers, at most every checkpointEvery, beside the next write. Only a
// checkpoint that leaves every page copied lets the next writer start the
// log over, and under a steady stream of writes one beside them never
// does: the log grew by everything written (3 GB in a 10,000-device
// storm). So once the log holds walRestartPages, the checkpointer copies
// what the pass beside the writes left with this process's writers held
// off (the registry's write lock): a few pages, so they wait a moment,
// and the next one starts the log over. Readers holding an older snapshot
// delay that, as they did SQLite's own. Other processes opening the file
// (roster-collector migrate, backup, sqlite3) keep SQLite's default, and
// the last connection to close checkpoints what is left.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"
)

// checkpointEvery is the least time between two checkpoints: at the
// fleet evaluation's pace (a commit of ~10 MB every ~60 ms) every commit
// or two; at a report's, a few a second, each syncing the files once.
const checkpointEvery = 50 * time.Millisecond

// walSizeLimit is the size the log file is cut back to when the log
// starts over.
const walSizeLimit = 64 << 20

// walRestartPages is the log's size, in pages, from which the checkpointer
// makes sure the log starts over: SQLite's own default threshold.
const walRestartPages = 1000

// sqliteConnector opens the registry's SQLite connections with the
// automatic checkpoint off (the checkpointer does it).
type sqliteConnector struct {
	dsn string
	drv *sqlite3.SQLiteDriver
}

func newSQLiteConnector(dsn string) sqliteConnector {
	return sqliteConnector{dsn: dsn, drv: &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		// The log file keeps the largest size it reached; when the log
		// starts over after a peak (a policy change rewriting the fleet
		// while a long read held an old snapshot), it is cut back to
		// walSizeLimit.
		_, err := c.Exec(fmt.Sprintf("PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = %d", walSizeLimit), nil)
		return err
	}}}
}

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c sqliteConnector) Driver() driver.Driver                        { return c.drv }

// checkpointer runs PASSIVE checkpoints after commits (committed), one at
// a time, until stop.
type checkpointer struct {
	db     *sql.DB
	logger *slog.Logger
	// writers is held by every write transaction of this process.
	writers sync.Locker
	poke    chan struct{}
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func startCheckpointer(db *sql.DB, logger *slog.Logger, writers sync.Locker) *checkpointer {
	c := &checkpointer{db: db, logger: logger, writers: writers, poke: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// committed says a write transaction committed: a checkpoint follows
// within checkpointEvery. It never blocks; nil (PostgreSQL) does nothing.
func (c *checkpointer) committed() {
	if c == nil {
		return
	}
	select {
	case c.poke <- struct{}{}:
	default:
	}
}

// stop ends the goroutine; the database's last connection to close
// checkpoints the rest.
func (c *checkpointer) stop() {
	if c == nil {
		return
	}
	c.once.Do(func() { close(c.quit) })
	<-c.done
}

func (c *checkpointer) run() {
	defer close(c.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-c.quit
		cancel()
	}()
	for {
		select {
		case <-c.quit:
			return
		case <-c.poke:
		}
		if err := c.checkpointAll(ctx); err != nil && ctx.Err() == nil {
			c.logger.Warn("checkpoint of the registry's write-ahead log failed; the next commit retries it", "err", err)
		}
		select {
		case <-c.quit:
			return
		case <-time.After(checkpointEvery):
		}
	}
}

// checkpointAll copies the log into the database beside the writes, and
// once the log holds walRestartPages, copies the rest with the writers
// held off.
func (c *checkpointer) checkpointAll(ctx context.Context) error {
	logPages, _, err := c.checkpoint(ctx)
	if err != nil || logPages < walRestartPages {
		return err
	}
	c.writers.Lock()
	defer c.writers.Unlock()
	_, _, err = c.checkpoint(ctx)
	return err
}

// checkpoint copies what the log holds into the database as far as
// readers allow, and returns the log's pages and how many of them are
// now in the database.
func (c *checkpointer) checkpoint(ctx context.Context) (logPages, copied int, err error) {
	var busy int
	err = c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logPages, &copied)
	return logPages, copied, err
}
