package wipe

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/shared/wire"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func sign(key ed25519.PrivateKey, payload []byte) wire.SignedCommand {
	return wire.SignedCommand{Payload: payload, Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(key, payload)),
		KeyID: wire.KeyID(key.Public().(ed25519.PublicKey))}
}

func command() wire.Command {
	return wire.Command{ID: "wipe-1", Kind: wire.CommandWipe, DeviceID: "dev-1", Nonce: "n-1",
		IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour), Wipe: &wire.WipeCommand{Method: WipeMethod, Ticket: "HR-1"}}
}

func signCmd(t *testing.T, key ed25519.PrivateKey, c wire.Command) wire.SignedCommand {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return sign(key, b)
}

// journalSeen opens the state directory afresh, as a restarted agent
// would, and answers from its journal.
func journalSeen(t *testing.T, path string) func(string) (string, bool) {
	t.Helper()
	d, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	j, err := d.LoadCommands()
	if err != nil {
		t.Fatal(err)
	}
	return func(n string) (string, bool) {
		if e := j.Nonce(n); e != nil {
			return "by command " + e.ID, true
		}
		return "", false
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	key, other := newKey(t), newKey(t)
	pub := key.Public().(ed25519.PublicKey)

	// A nonce used before the state directory was closed and reopened.
	stateDir := filepath.Join(t.TempDir(), "state")
	d, err := state.Open(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SaveCommands(&state.CommandJournal{Entries: []state.CommandEntry{
		{Digest: "x", ID: "wipe-0", Nonce: "used", Stage: wire.CommandCompleted}}}); err != nil {
		t.Fatal(err)
	}

	with := func(f func(*wire.Command)) wire.SignedCommand {
		c := command()
		f(&c)
		return signCmd(t, key, c)
	}
	good := signCmd(t, key, command())
	tests := []struct {
		name    string
		sc      wire.SignedCommand
		key     ed25519.PublicKey
		wantErr string // "" means accepted
	}{
		{"valid", good, pub, ""},
		{"no key stored", good, nil, "holds no command-signing key"},
		{"signed by another key", signCmd(t, other, command()), pub, "trusts only the collector's key"},
		{"key id names ours, other key signed", func() wire.SignedCommand {
			sc := signCmd(t, other, command())
			sc.KeyID = wire.KeyID(pub)
			return sc
		}(), pub, "signature does not verify"},
		{"payload altered after signing", func() wire.SignedCommand {
			sc := good
			sc.Payload = []byte(strings.Replace(string(good.Payload), "dev-1", "dev-2", 1))
			return sc
		}(), pub, "signature does not verify"},
		{"signature not base64", func() wire.SignedCommand { sc := good; sc.Signature = "!!"; return sc }(), pub, "not 64 bytes of base64"},
		{"unknown field", sign(key, []byte(`{"id":"a","kind":"wipe","device_id":"dev-1","nonce":"n","issued_at":"2025-06-01T11:00:00Z","expires_at":"2025-06-01T13:00:00Z","wipe":{"method":"crypto_erase"},"shell":"rm -rf /"}`)), pub, "unknown field"},
		{"trailing data", sign(key, append(append([]byte{}, good.Payload...), []byte(` {}`)...)), pub, "trailing data"},
		{"missing nonce", with(func(c *wire.Command) { c.Nonce = "" }), pub, "missing [nonce]"},
		{"unknown kind", with(func(c *wire.Command) { c.Kind = "reboot" }), pub, `unknown command kind "reboot"`},
		{"wipe without parameters", with(func(c *wire.Command) { c.Wipe = nil }), pub, "without wipe parameters"},
		{"other wipe method", with(func(c *wire.Command) { c.Wipe.Method = "overwrite" }), pub, `wipe method "overwrite"`},
		{"other device", with(func(c *wire.Command) { c.DeviceID = "dev-2" }), pub, `for device "dev-2", this device is "dev-1"`},
		{"expired", with(func(c *wire.Command) { c.IssuedAt, c.ExpiresAt = now.Add(-2*time.Hour), now.Add(-time.Second) }), pub, "expired at 2025-06-01T11:59:59Z"},
		{"expires exactly now", with(func(c *wire.Command) { c.ExpiresAt = now }), pub, "expired"},
		{"issued in the future", with(func(c *wire.Command) { c.IssuedAt, c.ExpiresAt = now.Add(time.Hour), now.Add(2*time.Hour) }), pub, "ahead of the device clock"},
		{"issued slightly ahead (clock drift)", with(func(c *wire.Command) { c.IssuedAt = now.Add(5 * time.Minute) }), pub, ""},
		{"expires before issued", with(func(c *wire.Command) { c.IssuedAt, c.ExpiresAt = now.Add(time.Hour), now.Add(time.Minute) }), pub, "is not after issued_at"},
		{"replayed nonce across a reopened state dir", with(func(c *wire.Command) { c.ID, c.Nonce = "wipe-9", "used" }), pub, `nonce "used" was already used (by command wipe-0)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := Verifier{Key: tt.key, DeviceID: "dev-1", Now: now, Seen: journalSeen(t, stateDir)}
			cmd, err := v.Verify(tt.sc)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want accepted", err)
				}
				if cmd.Nonce == "" || cmd.Wipe == nil || cmd.Wipe.Ticket != "HR-1" {
					t.Errorf("decoded %+v", cmd)
				}
				return
			}
			r, ok := err.(*Refusal)
			if !ok || r.Status != wire.CommandRefused || !strings.Contains(r.Reason, tt.wantErr) {
				t.Errorf("got %v, want refused containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPolicy(t *testing.T) {
	t.Parallel()
	cmd := command()
	tests := []struct {
		goos       string
		allow      bool
		wantStatus string // "" means allowed
		wantReason string
	}{
		{"linux", true, "", ""},
		{"linux", false, wire.CommandRefused, "remote wipe is not enabled on this device (wipe.allow); use the manual path: rosterctl offboard record-wipe"},
		{"darwin", true, wire.CommandNotSupported, "cannot wipe a darwin device (no executor on this platform); use the manual path: rosterctl offboard record-wipe"},
		{"windows", false, wire.CommandNotSupported, "cannot wipe a windows device"},
	}
	for _, tt := range tests {
		t.Run(tt.goos, func(t *testing.T) {
			t.Parallel()
			err := Policy{GOOS: tt.goos, Allow: tt.allow}.Check(cmd)
			if tt.wantStatus == "" {
				if err != nil {
					t.Errorf("got %v, want allowed", err)
				}
				return
			}
			r, ok := err.(*Refusal)
			if !ok || r.Status != tt.wantStatus || !strings.Contains(r.Reason, tt.wantReason) {
				t.Errorf("got %v, want %s containing %q", err, tt.wantStatus, tt.wantReason)
			}
		})
	}
}

func TestAutoTargets(t *testing.T) {
	t.Parallel()
	vols := []wire.Volume{
		{MountPoint: "/", Device: "/dev/mapper/vg-root", Scheme: wire.SchemeLUKS2, LUKSUUID: "u-1",
			Chain: []string{"dm-1 (lvm vg-root)", "dm-0 (crypt luks2 cryptlvm)", "nvme0n1p3 (partition of nvme0n1)"}},
		{MountPoint: "/boot", Device: "/dev/nvme0n1p2", Chain: []string{"nvme0n1p2 (partition of nvme0n1)"}},
		{MountPoint: "/data", Device: "/dev/md0", Scheme: wire.SchemeLUKS1,
			Chain: []string{"btrfs (btrfs f, 2 devices)", "dm-2 (crypt luks1 a)", "sda1 (partition of sda)", "dm-3 (crypt luks1 b)", "sdb1 (partition of sdb)"}},
		{MountPoint: "/odd", Device: "/dev/mapper/x", Scheme: wire.SchemeLUKS2, Chain: []string{"dm-4 (crypt luks2 x; not in /sys/class/block)"}},
		{MountPoint: "/plain", Device: "/dev/mapper/p", Scheme: wire.SchemePlain, Chain: []string{"dm-5 (crypt plain p)", "sdc (disk)"}},
	}
	got, problems := AutoTargets(vols)
	want := []Target{
		{Device: "/dev/nvme0n1p3", MountPoint: "/", LUKSUUID: "u-1"},
		{Device: "/dev/sda1", MountPoint: "/data"},
		{Device: "/dev/sdb1", MountPoint: "/data"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	if len(problems) != 1 || problems[0].MountPoint != "/odd" || problems[0].Result != wire.WipeFailed {
		t.Errorf("problems %+v, want /odd failed", problems)
	}
}
