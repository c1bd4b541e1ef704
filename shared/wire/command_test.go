package wire

import (
	"crypto/ed25519"
	"testing"
)

func TestKeyID(t *testing.T) {
	t.Parallel()
	// The documented form, worked by hand for the all-zero key:
	// sha256(32 zero bytes) = 66687aadf862bd77...
	if got, want := KeyID(make(ed25519.PublicKey, 32)), "ed25519:66687aadf862bd77"; got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}
