package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestWriteGroupedSharesOneTransaction: jobs queued behind a running one
// run together in one transaction; a failing job leaves none of its rows
// and does not disturb the others; a job whose caller gave up before it
// started writes nothing; AfterCommit runs for the jobs that committed
// only. On both engines (ROSTER_TEST_STORE=postgres).
func TestWriteGroupedSharesOneTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := groupTestRegistry(t)

	const waiting = 20
	hold, held := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	txs := map[*sql.Tx][]int{}
	ran := map[int]bool{}
	job := func(i int, fail bool) func(context.Context, *Tx) error {
		return func(ctx context.Context, tx *Tx) error {
			mu.Lock()
			txs[tx.Tx] = append(txs[tx.Tx], i)
			mu.Unlock()
			if _, err := tx.ExecContext(ctx, `INSERT INTO group_commit_test (k) VALUES ($1)`, fmt.Sprint(i)); err != nil {
				return err
			}
			tx.AfterCommit(func() { mu.Lock(); ran[i] = true; mu.Unlock() })
			if i == 0 {
				close(held)
				<-hold // the others queue behind this one meanwhile
			}
			if fail {
				return fmt.Errorf("job %d refused", i)
			}
			return nil
		}
	}

	errs := make([]error, waiting+2)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); errs[0] = r.WriteGrouped(ctx, job(0, false)) }()
	<-held
	gone, cancel := context.WithCancel(ctx)
	cancel()
	for i := 1; i <= waiting+1; i++ {
		c := ctx
		if i == waiting+1 {
			c = gone
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = r.WriteGrouped(c, job(i, i%3 == 0)) }()
	}
	waitQueued(r, waiting+1)
	close(hold)
	wg.Wait()

	var want []string
	for i := 0; i <= waiting+1; i++ {
		switch {
		case i == waiting+1:
			if !errors.Is(errs[i], context.Canceled) {
				t.Errorf("job %d, caller gone before it started: err %v, want context.Canceled", i, errs[i])
			}
		case i%3 == 0 && i > 0:
			if errs[i] == nil || errs[i].Error() != fmt.Sprintf("job %d refused", i) {
				t.Errorf("job %d: err %v, want its own refusal", i, errs[i])
			}
		default:
			if errs[i] != nil {
				t.Errorf("job %d: %v", i, errs[i])
			}
			want = append(want, fmt.Sprint(i))
		}
		if ran[i] != (errs[i] == nil) {
			t.Errorf("job %d: AfterCommit ran %v, err %v", i, ran[i], errs[i])
		}
	}
	got := groupTestKeys(t, r)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v (the refused jobs' rows rolled back, the others kept)", got, want)
	}
	// The first job ran alone; the 20 that queued behind it ran in one
	// transaction (the cancelled one never ran).
	if len(txs) != 2 {
		t.Errorf("%d transactions, want 2 (the first job, then the 20 queued behind it): %v", len(txs), txs)
	}
	r.group.mu.Lock()
	defer r.group.mu.Unlock()
	if r.group.busy || len(r.group.jobs) != 0 {
		t.Errorf("queue left busy=%v with %d jobs", r.group.busy, len(r.group.jobs))
	}
}

// TestWriteGroupedAloneRollsBackWhole: a job running alone that fails
// leaves nothing (no savepoint is used then: the transaction rolls back).
func TestWriteGroupedAloneRollsBackWhole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := groupTestRegistry(t)
	refused := errors.New("refused")
	err := r.WriteGrouped(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO group_commit_test (k) VALUES ('a')`); err != nil {
			return err
		}
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("err %v, want the job's own", err)
	}
	var n int
	if err := r.db.QueryRowContext(ctx, `SELECT count(*) FROM group_commit_test`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d rows left by a refused job", n)
	}
	if err := r.WriteGrouped(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO group_commit_test (k) VALUES ('b')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := r.db.QueryRowContext(ctx, `SELECT count(*) FROM group_commit_test`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d rows after one committed job, want 1", n)
	}
}

// TestWriteGroupedStatementFailsAlone: one-statement jobs
// (WriteGroupedStatement, which on SQLite run without a savepoint) share a
// transaction with others, and one whose statement fails part-way (its
// first row written, its second refused) leaves none of its rows and
// disturbs no other job. On both engines (ROSTER_TEST_STORE=postgres).
func TestWriteGroupedStatementFailsAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := groupTestRegistry(t)
	var mu sync.Mutex
	txs := map[*sql.Tx]bool{}
	// insert is a job of one statement writing two rows: k+"a", then
	// second, which fails the statement when it is "taken".
	insert := func(k, second string) func(context.Context, *Tx) error {
		return func(ctx context.Context, tx *Tx) error {
			mu.Lock()
			txs[tx.Tx] = true
			mu.Unlock()
			_, err := tx.ExecContext(ctx, `INSERT INTO group_commit_test (k) VALUES ($1), ($2)`, k+"a", second)
			return err
		}
	}
	hold, held := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var firstErr error
	go func() {
		defer wg.Done()
		firstErr = r.WriteGrouped(ctx, func(ctx context.Context, tx *Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO group_commit_test (k) VALUES ('taken')`); err != nil {
				return err
			}
			close(held)
			<-hold
			return nil
		})
	}()
	<-held
	const jobs = 9
	errs := make([]error, jobs)
	for i := range jobs {
		second := fmt.Sprint(i, "b")
		if i%3 == 1 {
			second = "taken"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				errs[i] = r.WriteGroupedStatement(ctx, insert(fmt.Sprint(i), second))
			} else {
				errs[i] = r.WriteGrouped(ctx, insert(fmt.Sprint(i), second))
			}
		}()
	}
	waitQueued(r, jobs)
	close(hold)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	want := []string{"taken"}
	for i, err := range errs {
		if i%3 == 1 {
			if err == nil {
				t.Errorf("job %d: no error for a row whose key is taken", i)
			}
			continue
		}
		if err != nil {
			t.Errorf("job %d: %v", i, err)
		}
		want = append(want, fmt.Sprint(i, "a"), fmt.Sprint(i, "b"))
	}
	got := groupTestKeys(t, r)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v (a failed statement's first row undone, the other jobs' rows kept)", got, want)
	}
	if len(txs) != 1 {
		t.Errorf("the %d queued jobs ran in %d transactions, want 1", jobs, len(txs))
	}
}

// waitQueued waits until n jobs wait in r's group queue.
func waitQueued(r *Registry, n int) {
	for {
		r.group.mu.Lock()
		queued := len(r.group.jobs)
		r.group.mu.Unlock()
		if queued == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// groupTestKeys is the committed keys of group_commit_test, sorted.
func groupTestKeys(t *testing.T, r *Registry) []string {
	t.Helper()
	rows, err := r.db.QueryContext(context.Background(), `SELECT k FROM group_commit_test`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		got = append(got, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	return got
}

// groupTestRegistry is a registry on the engine under test with an empty
// table group_commit_test (k TEXT PRIMARY KEY), closed with the test.
func groupTestRegistry(t *testing.T) *Registry {
	t.Helper()
	ctx := context.Background()
	r, err := OpenAndMigrate(ctx, NewTestStore(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if _, err := r.db.ExecContext(ctx, `CREATE TABLE group_commit_test (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestWriteGroupedStatementOtherErrorFailsGroup: on SQLite a one-statement
// job runs without a savepoint, so an error that may have ended the
// transaction (anything but no row or a broken constraint) fails its whole
// group and nothing of the group is committed; on PostgreSQL the job has
// its savepoint and fails alone. Either way no row of the failed job is
// left.
func TestWriteGroupedStatementOtherErrorFailsGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := groupTestRegistry(t)
	hold, held := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = r.WriteGrouped(ctx, func(ctx context.Context, tx *Tx) error {
			close(held)
			<-hold
			return nil
		})
	}()
	<-held
	gone := errors.New("disk gone")
	insert := func(k string, fail bool) func(context.Context, *Tx) error {
		return func(ctx context.Context, tx *Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO group_commit_test (k) VALUES ($1)`, k); err != nil {
				return err
			}
			if fail {
				return gone
			}
			return nil
		}
	}
	errs := make([]error, 3)
	for i, k := range []string{"a", "b", "c"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.WriteGroupedStatement(ctx, insert(k, k == "b"))
		}()
		waitQueued(r, i+1) // in this order
	}
	close(hold)
	wg.Wait()
	if !errors.Is(errs[1], gone) {
		t.Errorf("failed job: err %v, want its own", errs[1])
	}
	want := []string{"a", "c"}
	if !r.dia.postgres() {
		want = nil
		for i := range errs {
			if !errors.Is(errs[i], gone) {
				t.Errorf("job %d: err %v, want the group's failure", i, errs[i])
			}
		}
	} else if errs[0] != nil || errs[2] != nil {
		t.Errorf("the others failed with it: %v, %v", errs[0], errs[2])
	}
	if got := groupTestKeys(t, r); !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
}
