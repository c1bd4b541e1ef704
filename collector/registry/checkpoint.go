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
// writers, beside the next write, paced by the log's growth (about every
// checkpointPages written; checkpointWait). Only a
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
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
)

// checkpointEvery and checkpointMaxWait bound the time between two
// checkpoints, which aims at checkpointPages written in between
// (checkpointWait).
const (
	checkpointEvery   = 50 * time.Millisecond
	checkpointMaxWait = time.Second
	checkpointPages   = 1000
	// checkpointCommits commits end a longer wait early.
	checkpointCommits = 64
)

// walSizeLimit is the size the log file is cut back to when the log
// starts over.
const walSizeLimit = 64 << 20

// walRestartPages is the log's size, in pages, from which the checkpointer
// makes sure the log starts over, holding this process's writers off
// while it copies what is left (16 MB: four times SQLite's own threshold,
// so that at a report's pace writers are held off about once a second).
const walRestartPages = 4000

// sqliteConnector opens the registry's SQLite connections with the
// automatic checkpoint off (the checkpointer does it) and temporary files
// in memory (connectPragmas).
type sqliteConnector struct {
	dsn string
	drv *sqlite3.SQLiteDriver
}

func newSQLiteConnector(dsn string) sqliteConnector {
	return sqliteConnector{dsn: dsn, drv: &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec(connectPragmas, nil)
		return err
	}}}
}

// connectPragmas set up each connection:
//   - wal_autocheckpoint off: the checkpointer copies the log;
//   - journal_size_limit: the log file keeps the largest size it reached;
//     when the log starts over after a peak (a policy change rewriting the
//     fleet while a long read held an old snapshot), it is cut back to
//     walSizeLimit;
//   - temp_store in memory: a statement that writes many rows (the fleet
//     evaluation's 200-device UPDATEs and 200-row INSERTs, a report's
//     package rows) keeps a statement journal, the pages it changed as they
//     were, so that a failure halfway can undo it alone. SQLite keeps the
//     first 64 KB of one in memory and the rest in a temporary file, one
//     write per page: re-evaluating 100,000 devices made 1.1 million such
//     writes of 2.2 million (BenchmarkReevaluateFleet under perf stat).
//     Temporary tables and sorts beyond the page cache stay in memory too;
//     the registry's large reads are paged or streamed in index order.
var connectPragmas = fmt.Sprintf("PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = %d; PRAGMA temp_store = MEMORY", walSizeLimit)

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
	// commits counts committed() calls.
	commits atomic.Int64
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
// within checkpointMaxWait (checkpointWait). It never blocks; nil
// (PostgreSQL) does nothing.
func (c *checkpointer) committed() {
	if c == nil {
		return
	}
	c.commits.Add(1)
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
	last := 0 // the log's pages at the previous checkpoint
	var lastAt time.Time
	var done int64 = -1 // commits counted at the previous checkpoint
	for {
		// Wait for a commit since the last checkpoint.
		for c.commits.Load() == done {
			select {
			case <-c.quit:
				return
			case <-c.poke:
			}
		}
		done = c.commits.Load()
		at := time.Now()
		logPages, err := c.checkpointAll(ctx)
		if err != nil && ctx.Err() == nil {
			c.logger.Warn("checkpoint of the registry's write-ahead log failed; the next commit retries it", "err", err)
		}
		grown := logPages - last
		if logPages < last {
			grown = logPages // the log started over meanwhile
		}
		// Wait, unless a burst of commits (more than the last pace
		// foretold) comes first.
		timer := time.NewTimer(checkpointWait(grown, at.Sub(lastAt)))
		last, lastAt = logPages, at
	wait:
		for {
			select {
			case <-c.quit:
				timer.Stop()
				return
			case <-timer.C:
				break wait
			case <-c.poke:
				if c.commits.Load()-done >= checkpointCommits {
					timer.Stop()
					break wait
				}
			}
		}
	}
}

// checkpointWait is the time to the next checkpoint after one that found
// the log grown by grown pages in elapsed since the one before: the time
// the same pace takes to write checkpointPages, within checkpointEvery
// and checkpointMaxWait. Each checkpoint syncs both files and copies the
// pages written since the last, the busiest ones again each time, so
// checkpoints every 50 ms at a report's pace (tens of pages a commit)
// cost more than SQLite's own every 1,000 pages; a fleet evaluation's
// 2,000-device commits (~2,500 pages each) keep the shortest wait.
func checkpointWait(grown int, elapsed time.Duration) time.Duration {
	if grown <= 0 {
		return checkpointMaxWait
	}
	return min(checkpointMaxWait, max(checkpointEvery, elapsed*time.Duration(checkpointPages)/time.Duration(grown)))
}

// checkpointAll copies the log into the database beside the writes, and
// once the log holds walRestartPages, copies the rest with the writers
// held off. It returns the log's pages before.
func (c *checkpointer) checkpointAll(ctx context.Context) (int, error) {
	logPages, err := c.checkpoint(ctx)
	if err != nil || logPages < walRestartPages {
		return logPages, err
	}
	c.writers.Lock()
	defer c.writers.Unlock()
	_, err = c.checkpoint(ctx)
	return logPages, err
}

// checkpoint copies what the log holds into the database as far as
// readers allow, and returns the log's pages.
func (c *checkpointer) checkpoint(ctx context.Context) (int, error) {
	var busy, logPages, copied int
	err := c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logPages, &copied)
	return logPages, err
}
