package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
	"github.com/rosterhq/roster/shared/wire"
)

// TestFleetAgainstRealCollector runs the fleet mode small against the real
// collector — 20 devices, an hour of the schedule per real second for 4
// seconds, a third of them going offline, a tenth of inventories in full
// — and checks what it prints against the registry: every device enrolled
// once, every report it counts as applied is in reports_applied, each
// device's last sequence is its reports' count, and the sampler saw the
// collector and the database.
func TestFleetAgainstRealCollector(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the real collector")
	}
	bin, err := collectortest.Build(t.Context(), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	c := collectortest.Start(t, bin, collectortest.Options{})
	secret := createSecret(t, c)
	db := filepath.Join(c.DataDir, "roster.db")
	var stdout, stderr bytes.Buffer
	const devices = 20
	code := run(t.Context(), []string{"fleet", "--collector", c.URL, "--ca-fingerprint", c.Fingerprint, "--secret", secret,
		"--devices", strconv.Itoa(devices), "--duration", "4s", "--compress", "3600", "--enrol-concurrency", "4", "--concurrency", "8",
		"--http3-share", "0.5", "--offline-share", "0.3", "--full-share", "0.1", "--seed", "7", "--fleet", "fleettest",
		"--snapshot", filepath.Join("..", "..", "testdata", "hosts", "linux", "debian12-firecracker-vm", "want.json"),
		"--snapshot", filepath.Join("..", "..", "testdata", "hosts", "darwin", "macbookpro10-1-xml", "want.json"),
		"--collector-pid", strconv.Itoa(c.PID()), "--db", db, "--sample-every", "500ms", "--json"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	var res FleetResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("decode %s: %v", stdout.String(), err)
	}
	if n := errCount(res.Storm.All.Errors) + errCount(res.Schedule.All.Errors); n != 0 {
		t.Errorf("got errors %v and %v, want none", res.Storm.All.Errors, res.Schedule.All.Errors)
	}
	if got := res.Storm.Kinds["enrol"].OK; got != devices {
		t.Errorf("got %d enrolments, want %d", got, devices)
	}
	ok := 0
	for _, k := range []string{"full", "delta", "spooled"} {
		ok += res.Storm.Kinds[k].OK + res.Schedule.Kinds[k].OK
	}
	if ok != res.Applied || res.Schedule.Kinds["heartbeat"].OK == 0 || res.Schedule.Kinds["delta"].OK == 0 {
		t.Errorf("got %d reports by kind, %d applied, %d heartbeats, %d deltas: want the kinds to add up and heartbeats and deltas sent",
			ok, res.Applied, res.Schedule.Kinds["heartbeat"].OK, res.Schedule.Kinds["delta"].OK)
	}
	if res.Offline == 0 || res.Returned != res.Offline || res.Spooled == 0 || res.HTTP3Devices == 0 || res.HTTP3Devices == devices {
		t.Errorf("got %d offline, %d returned, %d spooled, %d on HTTP/3: want some offline, all back with spooled reports, transports mixed",
			res.Offline, res.Returned, res.Spooled, res.HTTP3Devices)
	}
	if len(res.Procs) != 1 || res.Procs[0].RSSMax == 0 || res.DBBytes == 0 || len(res.Usage) == 0 {
		t.Errorf("got usage %+v, database %d bytes: want the collector and database sampled", res.Procs, res.DBBytes)
	}

	reg, err := sql.Open("sqlite3", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	var n, seqs, applied int
	if err := reg.QueryRowContext(t.Context(), `SELECT COUNT(*), COALESCE(SUM(last_seq), 0) FROM devices WHERE system_serial LIKE 'LOADGEN-FLEETTEST-%'`).Scan(&n, &seqs); err != nil {
		t.Fatal(err)
	}
	if err := reg.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM reports_applied r JOIN devices d ON d.id = r.device_id WHERE d.system_serial LIKE 'LOADGEN-FLEETTEST-%'`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if n != devices || applied != res.Applied || seqs != res.Applied {
		t.Errorf("registry: %d devices, %d reports applied, last sequences summing to %d; loadgen: %d devices, %d applied", n, applied, seqs, devices, res.Applied)
	}
}

// TestPopPendingLetsGoOfSentReports pins that a sent report is not kept
// alive by the spool's backing array: every enrolled device would
// otherwise hold its first full inventory for the whole run.
func TestPopPendingLetsGoOfSentReports(t *testing.T) {
	t.Parallel()
	first, second := &wire.Report{Seq: 1}, &wire.Report{Seq: 2}
	spool := []*wire.Report{first, second}
	d := &fleetDevice{pending: spool}
	d.popPending()
	if spool[0] != nil {
		t.Error("the sent report is still referenced from the spool's array")
	}
	if len(d.pending) != 1 || d.pending[0] != second {
		t.Fatalf("got spool %v, want the second report alone", d.pending)
	}
	d.popPending()
	if spool[1] != nil || d.pending != nil {
		t.Errorf("got spool %v and array %v, want both let go of", d.pending, spool)
	}
}

func TestResyncCause(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 100)
	for _, tc := range []struct{ msg, want string }{
		{"", "resync"},
		{"delta base unknown: send a full report", "resync: delta base unknown: send a full report"},
		{long, "resync: " + long[:80] + "…"},
	} {
		if got := resyncCause(tc.msg); got != tc.want {
			t.Errorf("resyncCause(%q): got %q, want %q", tc.msg, got, tc.want)
		}
	}
}
