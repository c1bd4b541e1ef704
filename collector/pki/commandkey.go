package pki

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rosterhq/roster/shared/wire"
)

// commandKeyFile holds the command-signing key (PKCS#8 PEM, 0600) beside
// the CA. It is a separate key from the CA's: agents trust it only for
// commands (a wipe), and certificates of sanitisation are signed with it
// so that one published public key checks both offline.
const commandKeyFile = "command.key"

// CommandKey is the collector's Ed25519 command-signing key.
type CommandKey struct {
	Public ed25519.PublicKey
	priv   ed25519.PrivateKey
}

// Sign returns the base64 (standard, padded) Ed25519 signature of msg.
func (k *CommandKey) Sign(msg []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(k.priv, msg))
}

// KeyID names the key as wire.SignedCommand documents it.
func (k *CommandKey) KeyID() string { return wire.KeyID(k.Public) }

// PublicBase64 is the public key as EnrollResponse.CommandKey carries it.
func (k *CommandKey) PublicBase64() string { return base64.StdEncoding.EncodeToString(k.Public) }

// LoadCommandKey loads the command-signing key from a pki directory.
func LoadCommandKey(dir string) (*CommandKey, error) {
	b, err := os.ReadFile(filepath.Join(dir, commandKeyFile))
	if err != nil {
		return nil, fmt.Errorf("read command-signing key: %w", err)
	}
	return ParseCommandKeyPEM(b)
}

// ParseCommandKeyPEM parses a command-signing key as command.key holds it.
func ParseCommandKeyPEM(b []byte) (*CommandKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("read command-signing key: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse command-signing key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("parse command-signing key: not Ed25519")
	}
	return &CommandKey{Public: priv.Public().(ed25519.PublicKey), priv: priv}, nil
}

// loadOrCreateCommandKey loads the key, creating it when missing (also in
// a data directory made before commands existed).
func loadOrCreateCommandKey(dir string) (*CommandKey, error) {
	k, err := LoadCommandKey(dir)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate command-signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode command-signing key: %w", err)
	}
	if err := writeFile(filepath.Join(dir, commandKeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return &CommandKey{Public: pub, priv: priv}, nil
}

// DeriveKey derives a 32-byte secret for purpose from the command key's
// seed (HKDF-SHA256). Every collector sharing the CA through the store
// holds the same command key, so a value sealed with the derived key on
// one collector opens on another (the console's OIDC flow cookie), while
// different purposes get unrelated keys and the seed never leaves.
func (k *CommandKey) DeriveKey(purpose string) ([]byte, error) {
	key, err := hkdf.Key(sha256.New, k.priv.Seed(), nil, "roster "+purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("derive key for %s: %w", purpose, err)
	}
	return key, nil
}
