// Package password is how the collector keeps local sign-in secrets:
// argon2id password hashes in the PHC string format, the password rule,
// and TOTP second factors (RFC 6238). It is pure: no storage, no clock of
// its own (callers pass now), randomness from crypto/rand unless a test
// hands in another reader, so the registry decides and stores and this
// package only computes.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters and sizes.
type Params struct {
	// Memory in KiB.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the degree of parallelism (the p of the PHC string).
	Threads uint8
	// SaltLen and KeyLen are in bytes.
	SaltLen, KeyLen uint32
}

// Default is the cost new hashes get: OWASP's Password Storage Cheat
// Sheet's first argon2id configuration, m=19456 KiB (19 MiB), t=2, p=1,
// with a 16-byte salt and a 32-byte key. It costs about 20-40 ms and
// 19 MiB per check on one core of a small VM: dear enough for an offline
// guesser with a stolen database, cheap enough that a collector on a
// 2-core machine serves a burst of sign-ins, and the memory is bounded so a
// flood of attempts (which the registry throttles anyway) cannot exhaust
// the host. p=1 because the collector's cores serve requests in parallel
// already; more lanes would only make one sign-in faster, not any guess
// slower.
func Default() Params {
	return Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Bounds on what a stored hash may ask for, so a tampered or corrupt row
// cannot make one check take gigabytes or minutes.
const (
	maxMemory  = 1 << 20 // KiB: 1 GiB
	maxTime    = 64
	maxKeyLen  = 128
	maxSaltLen = 64
)

// Password length rule.
const (
	MinLength = 12
	// MaxLength bounds the bytes hashed; it is far above any passphrase
	// a person types and keeps a request from handing argon2 megabytes.
	MaxLength = 1024
)

// ErrMalformed is a stored hash that is not an argon2id PHC string this
// package can check.
var ErrMalformed = errors.New("malformed argon2id hash")

// Hash returns pw hashed with the Default parameters and a fresh salt.
func Hash(pw string) (string, error) {
	return HashWith(Default(), pw, rand.Reader)
}

// HashWith hashes pw with p and a salt read from random.
func HashWith(p Params, pw string, random io.Reader) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := io.ReadFull(random, salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return encode(p, salt, key), nil
}

func encode(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Parse reads a PHC string "$argon2id$v=19$m=M,t=T,p=P$salt$hash" (salt
// and hash in unpadded standard base64) back into its parameters, salt and
// key.
func Parse(phc string) (Params, []byte, []byte, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, fmt.Errorf("%w: want $argon2id$v=..$m=..,t=..,p=..$salt$hash", ErrMalformed)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return Params{}, nil, nil, fmt.Errorf("%w: version %q, want v=%d", ErrMalformed, parts[2], argon2.Version)
	}
	var p Params
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return Params{}, nil, nil, fmt.Errorf("%w: parameters %q", ErrMalformed, parts[3])
	}
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(kv[i], name+"=")
		if !ok {
			return Params{}, nil, nil, fmt.Errorf("%w: parameter %d is %q, want %s=", ErrMalformed, i+1, kv[i], name)
		}
		bits := 32
		if name == "p" {
			bits = 8
		}
		n, err := strconv.ParseUint(v, 10, bits)
		if err != nil || n == 0 || v != strconv.FormatUint(n, 10) {
			return Params{}, nil, nil, fmt.Errorf("%w: %s=%q", ErrMalformed, name, v)
		}
		switch name {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			p.Threads = uint8(n)
		}
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > maxSaltLen {
		return Params{}, nil, nil, fmt.Errorf("%w: salt", ErrMalformed)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > maxKeyLen {
		return Params{}, nil, nil, fmt.Errorf("%w: hash", ErrMalformed)
	}
	if p.Memory > maxMemory || p.Time > maxTime || p.Memory < 8*uint32(p.Threads) {
		return Params{}, nil, nil, fmt.Errorf("%w: cost m=%d,t=%d,p=%d out of bounds", ErrMalformed, p.Memory, p.Time, p.Threads)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// Verify reports whether pw matches the stored hash phc, comparing in
// constant time. A malformed hash is an error, never a match.
func Verify(phc, pw string) (bool, error) {
	p, salt, key, err := Parse(phc)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// NeedsRehash reports whether phc was made with other parameters than
// Default (or cannot be read), so a successful sign-in should store a new
// hash of the password it just checked.
func NeedsRehash(phc string) bool {
	p, _, _, err := Parse(phc)
	return err != nil || p != Default()
}

// Dummy is a valid Default hash of a random password nobody knows. Checking
// a password against it costs what checking a real one does, so a sign-in
// for an unknown name takes as long as one for a known name.
// TestDummy holds it to Default.
const Dummy = "$argon2id$v=19$m=19456,t=2,p=1$mXUbCJR7AXxFO0ZXJA3vpA$R96DURKpkW8b25RXCJoZBLAHGtr/+9oCCQhtYjOpkQU"

// Check applies the password rule: at least MinLength characters, at most
// MaxLength bytes, valid UTF-8, and not the user's own name (in any case).
// The error says which part failed, never the password.
func Check(user, pw string) error {
	switch {
	case !utf8.ValidString(pw):
		return errors.New("the password is not valid UTF-8")
	case utf8.RuneCountInString(pw) < MinLength:
		return fmt.Errorf("the password is too short: at least %d characters", MinLength)
	case len(pw) > MaxLength:
		return fmt.Errorf("the password is too long: at most %d bytes", MaxLength)
	case strings.EqualFold(strings.TrimSpace(pw), strings.TrimSpace(user)):
		return errors.New("the password must not be the user name")
	}
	return nil
}

// Generate returns a random password for an administrator to hand over:
// 20 characters of base64url (120 bits).
func Generate() (string, error) {
	b := make([]byte, 15)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
