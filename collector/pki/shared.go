package pki

// Shared keys: every collector of one PostgreSQL store must sign agent
// certificates with the same CA and commands (wipes, certificates of
// sanitisation) with the same command-signing key, or an agent enrolled
// through one collector could not report to another. The collector that
// starts first on a store publishes its CA and command-signing key into
// the store, sealed with age to the identity in a key file that only the
// collectors' hosts hold (store.key_file); the others unseal them into
// their own pki/. Each collector keeps its own server key and certificate,
// issued by the shared CA for its own hostnames.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// KeyBundle is what collectors share: the CA certificate and key and the
// command-signing key, each as the PEM file pki/ holds.
type KeyBundle struct {
	CACert     []byte `json:"ca_crt"`
	CAKey      []byte `json:"ca_key"`
	CommandKey []byte `json:"command_key"`
}

// files maps the bundle's parts to their files in pki/ and modes.
func (b *KeyBundle) files() []struct {
	name string
	data *[]byte
	mode os.FileMode
} {
	return []struct {
		name string
		data *[]byte
		mode os.FileMode
	}{
		{"ca.crt", &b.CACert, 0o644},
		{"ca.key", &b.CAKey, 0o600},
		{commandKeyFile, &b.CommandKey, 0o600},
	}
}

// ExportBundle reads the shared keys from a pki directory.
func ExportBundle(dir string) (KeyBundle, error) {
	var b KeyBundle
	for _, f := range b.files() {
		data, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			return KeyBundle{}, fmt.Errorf("export shared keys: %w", err)
		}
		*f.data = data
	}
	if _, err := b.check(); err != nil {
		return KeyBundle{}, fmt.Errorf("export shared keys: %w", err)
	}
	return b, nil
}

// check parses every part and returns the CA's fingerprint.
func (b KeyBundle) check() (string, error) {
	cert, err := ParseCertificatePEM(b.CACert)
	if err != nil {
		return "", fmt.Errorf("CA certificate: %w", err)
	}
	key, err := parseKeyPEM(b.CAKey)
	if err != nil {
		return "", fmt.Errorf("CA key: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return "", errors.New("the CA key does not belong to the CA certificate")
	}
	if _, err := ParseCommandKeyPEM(b.CommandKey); err != nil {
		return "", err
	}
	return Fingerprint(cert.Raw), nil
}

// Fingerprint is the fingerprint of the bundle's CA certificate.
func (b KeyBundle) Fingerprint() (string, error) { return b.check() }

// InstallBundle writes the bundle's keys into dir, which must hold no CA
// yet; a server certificate made by another CA is removed so that
// LoadOrCreate issues a new one from the shared CA.
func InstallBundle(dir string, b KeyBundle) error {
	if _, err := b.check(); err != nil {
		return fmt.Errorf("install shared keys: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("install shared keys: create pki directory: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ca.key")); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("install shared keys: %s already holds a CA", dir)
	}
	for _, name := range []string{"server.crt", "server.key", commandKeyFile} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("install shared keys: remove %s: %w", name, err)
		}
	}
	// ca.key last: its presence is what says the directory holds a CA.
	parts := b.files()
	for _, i := range []int{0, 2, 1} {
		f := parts[i]
		if err := writeFile(filepath.Join(dir, f.name), *f.data, f.mode); err != nil {
			return fmt.Errorf("install shared keys: %w", err)
		}
	}
	return nil
}

// RemoveCA deletes the CA, command-signing and server keys from dir: what
// a collector does with the CA it made a moment ago when another
// collector published its own to the store first.
func RemoveCA(dir string) error {
	for _, name := range []string{"ca.key", "ca.crt", commandKeyFile, "server.crt", "server.key"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", name, err)
		}
	}
	return nil
}

// Seal encrypts the bundle to the key file's identity, ASCII-armoured.
func (b KeyBundle) Seal(id *age.X25519Identity) (string, error) {
	plain, err := json.Marshal(b)
	if err != nil {
		return "", fmt.Errorf("seal shared keys: %w", err)
	}
	var out bytes.Buffer
	aw := armor.NewWriter(&out)
	w, err := age.Encrypt(aw, id.Recipient())
	if err != nil {
		return "", fmt.Errorf("seal shared keys: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return "", fmt.Errorf("seal shared keys: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("seal shared keys: %w", err)
	}
	if err := aw.Close(); err != nil {
		return "", fmt.Errorf("seal shared keys: %w", err)
	}
	return out.String(), nil
}

// OpenBundle decrypts a sealed bundle with the key file's identity.
func OpenBundle(sealed string, id *age.X25519Identity) (KeyBundle, error) {
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(sealed)), id)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return KeyBundle{}, errors.New("unseal shared keys: the store's keys were sealed with another key file (store.key_file must be the same file on every collector)")
		}
		return KeyBundle{}, fmt.Errorf("unseal shared keys: %w", err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return KeyBundle{}, fmt.Errorf("unseal shared keys: %w", err)
	}
	var b KeyBundle
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return KeyBundle{}, fmt.Errorf("unseal shared keys: decode: %w", err)
	}
	if _, err := b.check(); err != nil {
		return KeyBundle{}, fmt.Errorf("unseal shared keys: %w", err)
	}
	return b, nil
}

// CreateKeyFile writes a new age X25519 identity to path (0600), refusing
// to replace an existing file: losing the key file that sealed a store's
// keys means no new collector can join that store.
func CreateKeyFile(path string) (*age.X25519Identity, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	text := "# Roster collector key file: seals the CA and command-signing keys in the store.\n" +
		"# Every collector of the store needs this same file; keep it secret.\n" +
		"# public key: " + id.Recipient().String() + "\n" + id.String() + "\n"
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return nil, fmt.Errorf("create key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("create key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	return id, nil
}

// LoadKeyFile reads the identity from a key file made by CreateKeyFile (or
// age-keygen). A file that others than its owner may read is refused.
func LoadKeyFile(path string) (*age.X25519Identity, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("read key file %s: mode %04o lets others read it; chmod 600 it", path, info.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	if len(ids) != 1 {
		return nil, fmt.Errorf("read key file %s: want one identity, found %d", path, len(ids))
	}
	id, ok := ids[0].(*age.X25519Identity)
	if !ok {
		return nil, fmt.Errorf("read key file %s: not an X25519 identity", path)
	}
	return id, nil
}
