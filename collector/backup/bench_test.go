package backup_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/rosterhq/roster/collector/backup"
)

// BenchmarkBackup measures a backup, its verification and a restore of a
// registry of BACKUP_BENCH_DEVICES devices (default 10,000), each enrolled
// with a real captured snapshot and its first report applied through the
// registry as an agent's would be, the captured hosts in turn
// (scripts/bench-backup.sh). Building the
// registry is not timed.
func BenchmarkBackup(b *testing.B) {
	n := 10000
	if s := os.Getenv("BACKUP_BENCH_DEVICES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatalf("BACKUP_BENCH_DEVICES: %v", err)
		}
	}
	ctx := context.Background()
	t := time.Now()
	d := newDataDirOf(b, capturedFleet(b), n)
	b.Logf("built a registry of %d devices in %s", n, time.Since(t).Round(time.Second))
	st, err := os.Stat(filepath.Join(d.dir, "roster.db"))
	if err != nil {
		b.Fatal(err)
	}
	id, keyFile := identity(b)
	keys, err := backup.LoadIdentities(keyFile)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		out := filepath.Join(b.TempDir(), "b.age")
		t := time.Now()
		res, err := backup.Create(ctx, backup.Options{DataDir: d.dir, Out: out, Recipients: []age.Recipient{id.Recipient()}, CollectorVersion: "bench", Now: time.Now()})
		if err != nil {
			b.Fatal(err)
		}
		backupTook := time.Since(t)

		t = time.Now()
		x, rep := backup.Verify(ctx, out, keys, backup.CheckOptions{Parent: b.TempDir()})
		if !rep.OK {
			b.Fatalf("verify: %s", rep.Problem)
		}
		x.Remove()
		verifyTook := time.Since(t)

		target := b.TempDir()
		t = time.Now()
		x, rep = backup.Verify(ctx, out, keys, backup.CheckOptions{Parent: target})
		if !rep.OK {
			b.Fatalf("restore: %s", rep.Problem)
		}
		if _, err := backup.Install(x, target, false, time.Now()); err != nil {
			b.Fatal(err)
		}
		x.Remove()
		restoreTook := time.Since(t)

		b.ReportMetric(float64(n), "devices")
		b.ReportMetric(float64(st.Size())/1e6, "db-MB")
		b.ReportMetric(float64(res.Size)/1e6, "backup-MB")
		b.ReportMetric(backupTook.Seconds(), "backup-s")
		b.ReportMetric(verifyTook.Seconds(), "verify-s")
		b.ReportMetric(restoreTook.Seconds(), "restore-s")
	}
}
