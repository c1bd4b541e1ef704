package pki

import (
	"bytes"
	"crypto/ed25519"
	"testing"
)

func TestDeriveKey(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	a := &CommandKey{priv: ed25519.NewKeyFromSeed(seed)}
	b := &CommandKey{priv: ed25519.NewKeyFromSeed(seed)}
	other := &CommandKey{priv: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, ed25519.SeedSize))}
	ka, err := a.DeriveKey("console oidc cookie")
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := b.DeriveKey("console oidc cookie")
	kc, _ := a.DeriveKey("another purpose")
	ko, _ := other.DeriveKey("console oidc cookie")
	if len(ka) != 32 || !bytes.Equal(ka, kb) {
		t.Errorf("the same key and purpose derive %x and %x", ka, kb)
	}
	if bytes.Equal(ka, kc) || bytes.Equal(ka, ko) || bytes.Contains(ka, seed[:8]) {
		t.Error("derived keys do not depend on both the key and the purpose")
	}
}
