package wipe

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/luks"
	"github.com/rosterhq/roster/agent/wipe/wipetest"
	"github.com/rosterhq/roster/shared/wire"
)

// TestEraseLoopDevices erases real LUKS1 and LUKS2 volumes: keyslots
// before are counted, none is left after (header, LUKS2 secondary header
// and luksDump agree), the passphrase no longer opens the volume, the
// header backup is destroyed, and the checkpoint saw the volume before
// anything was erased. Running again on the erased volume (a resumed
// wipe) keeps the first run's "before" and succeeds.
func TestEraseLoopDevices(t *testing.T) {
	wipetest.Need(t)
	for _, tt := range []struct {
		typ      string
		keyslots int
	}{{"luks1", 1}, {"luks2", 2}} {
		t.Run(tt.typ, func(t *testing.T) {
			vol := wipetest.NewVolume(t, tt.typ, tt.keyslots)
			if !vol.Opens() || vol.Keyslots(t) != tt.keyslots {
				t.Fatalf("fresh volume: opens %v, keyslots %d; want true, %d", vol.Opens(), vol.Keyslots(t), tt.keyslots)
			}
			backup := filepath.Join(t.TempDir(), "header.bak")
			wipetest.Run(t, "cryptsetup", "luksHeaderBackup", vol.Dev, "--header-backup-file", backup)
			missing := filepath.Join(t.TempDir(), "never-made.bak")

			e := &Executor{Host: host.Live("linux"), Targets: []string{vol.Dev}, HeaderBackups: []string{backup, missing}}
			var checkpointed *wire.WipeEvidence
			ev, err := e.Run(context.Background(), nil, func(ev wire.WipeEvidence) error {
				if n := vol.Keyslots(t); n != tt.keyslots {
					t.Errorf("at the checkpoint the volume has %d keyslots, want %d: the checkpoint must come before the erase", n, tt.keyslots)
				}
				checkpointed = &ev
				return nil
			})
			if err != nil {
				t.Fatalf("Run: %v (evidence %+v)", err, ev)
			}
			if checkpointed == nil || len(checkpointed.Volumes) != 1 || checkpointed.Volumes[0].KeyslotsBefore != tt.keyslots {
				t.Fatalf("checkpoint %+v, want one volume with %d keyslots before", checkpointed, tt.keyslots)
			}
			wantVersion := map[string]int{"luks1": 1, "luks2": 2}[tt.typ]
			if ev.Method != Method || ev.Tool != "cryptsetup" || ev.ToolVersion == "" || ev.StartedAt.IsZero() || ev.FinishedAt.Before(ev.StartedAt) {
				t.Errorf("evidence %+v", ev)
			}
			if len(ev.Volumes) != 1 {
				t.Fatalf("volumes %+v, want 1", ev.Volumes)
			}
			v := ev.Volumes[0]
			if v.Device != vol.Dev || v.LUKSVersion != wantVersion || v.LUKSUUID != vol.UUID || v.KeyslotsBefore != tt.keyslots ||
				v.KeyslotsAfter != 0 || v.Result != wire.WipeErased || v.Reason != "" || len(v.HeaderBackups) != 1 || v.HeaderBackups[0] != backup {
				t.Errorf("volume %+v, want %s LUKS%d %s %d→0 erased with backup %s", v, vol.Dev, wantVersion, vol.UUID, tt.keyslots, backup)
			}
			if n := vol.Keyslots(t); n != 0 {
				t.Errorf("luksDump after: %d keyslots, want 0", n)
			}
			if vol.Opens() {
				t.Error("the passphrase still opens the volume")
			}
			if _, err := os.Stat(backup); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("header backup still there: %v", err)
			}

			again, err := e.Run(context.Background(), &ev, nil)
			if err != nil {
				t.Fatalf("resumed Run: %v", err)
			}
			if v := again.Volumes[0]; v.KeyslotsBefore != tt.keyslots || v.KeyslotsAfter != 0 || v.Result != wire.WipeErased || !again.StartedAt.Equal(ev.StartedAt) {
				t.Errorf("resumed volume %+v (started %v), want the first run's before %d and erased", v, again.StartedAt, tt.keyslots)
			}
		})
	}
}

// TestNoTarget: with nothing to erase the wipe fails with the manual-path
// hint (and runs no command: the host has no runner).
func TestNoTarget(t *testing.T) {
	t.Parallel()
	ev, err := (&Executor{Host: &host.Host{OS: "linux"}}).Run(context.Background(), nil, nil)
	if !errors.Is(err, ErrNoTarget) || err.Error() != "no LUKS volume to erase; use the manual path: rosterctl offboard record-wipe" {
		t.Errorf("got %v, want ErrNoTarget", err)
	}
	if ev.Method != Method || ev.FinishedAt.IsZero() || len(ev.Volumes) != 0 {
		t.Errorf("evidence %+v", ev)
	}
}

// TestEraseFailures: a failing checkpoint erases nothing, and a target
// that is not LUKS fails the wipe while the others are still erased.
func TestEraseFailures(t *testing.T) {
	wipetest.Need(t)
	vol := wipetest.NewVolume(t, "luks2", 1)
	e := &Executor{Host: host.Live("linux"), Targets: []string{vol.Dev}}
	_, err := e.Run(context.Background(), nil, func(wire.WipeEvidence) error { return errors.New("disk full") })
	if err == nil || !strings.Contains(err.Error(), "nothing was erased: disk full") {
		t.Errorf("got %v, want the checkpoint's failure", err)
	}
	if n := vol.Keyslots(t); n != 1 || !vol.Opens() {
		t.Errorf("after a failed checkpoint: %d keyslots, opens %v; want 1, true", n, vol.Opens())
	}

	plain := wipetest.NewVolume(t, "", 0)
	ev, err := (&Executor{Host: host.Live("linux"), Targets: []string{plain.Dev, vol.Dev}}).Run(context.Background(), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "1 of 2 volumes not verified erased") || !strings.Contains(err.Error(), "does not start with a LUKS header") {
		t.Errorf("got %v, want the non-LUKS target to fail the wipe", err)
	}
	if len(ev.Volumes) != 2 || ev.Volumes[0].Result != wire.WipeFailed || ev.Volumes[1].Result != wire.WipeErased {
		t.Errorf("volumes %+v, want the plain one failed and the LUKS one erased", ev.Volumes)
	}
}

// TestSecondaryHeader: the LUKS2 secondary header check passes on an
// erased volume and fails on a header whose copies disagree or that still
// lists keyslots.
func TestSecondaryHeader(t *testing.T) {
	wipetest.Need(t)
	vol := wipetest.NewVolume(t, "luks2", 1)
	read := func() ([]byte, int) {
		f, err := os.Open(vol.Dev)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, 2*luks.MaxHeaderSize))
		if err != nil {
			t.Fatal(err)
		}
		n, err := luks.HeaderSize(b)
		if err != nil {
			t.Fatal(err)
		}
		return b[:2*n], n
	}
	before, n := read()
	if err := checkSecondary(before, n); err == nil || !strings.Contains(err.Error(), "keyslots [0] still listed") {
		t.Errorf("before the erase: got %v, want the keyslot found", err)
	}
	wipetest.Run(t, "cryptsetup", "erase", "--batch-mode", vol.Dev)
	after, n := read()
	if err := checkSecondary(after, n); err != nil {
		t.Errorf("after the erase: %v", err)
	}
	torn := append([]byte(nil), after...)
	torn[n+offSeqID+7]++
	if err := checkSecondary(torn, n); err == nil || !strings.Contains(err.Error(), "headers disagree") {
		t.Errorf("sequence ids differ: got %v, want disagreement", err)
	}
	flipped := append([]byte(nil), after...)
	flipped[n+binHdrSize+10] ^= 1
	if err := checkSecondary(flipped, n); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("a flipped bit in the JSON area: got %v, want a checksum mismatch", err)
	}
}
