package pki

import (
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

func TestCommandKeyCreatedWithTheCAAndKept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, _, err := LoadOrCreate(dir, []string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "command.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("command.key: %v, want mode 0600", err)
	}
	if !regexp.MustCompile(`^ed25519:[0-9a-f]{16}$`).MatchString(ca.Command.KeyID()) {
		t.Errorf("key id %q, want ed25519:<16 hex>", ca.Command.KeyID())
	}
	again, _, err := LoadOrCreate(dir, []string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadCommandKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Command.Public.Equal(ca.Command.Public) || !loaded.Public.Equal(ca.Command.Public) {
		t.Error("the command key changed across loads")
	}
	msg := []byte(`{"id":"w-1"}`)
	sig, _ := base64.StdEncoding.DecodeString(loaded.Sign(msg))
	pub, _ := base64.StdEncoding.DecodeString(ca.Command.PublicBase64())
	if !ed25519.Verify(pub, msg, sig) || ed25519.Verify(pub, []byte(`{"id":"w-2"}`), sig) {
		t.Error("signature does not verify with the published key, or verifies another message")
	}
}
