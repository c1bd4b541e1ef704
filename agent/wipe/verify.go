// Package wipe is the agent's side of a remote wipe: it verifies a signed
// command from the collector (Ed25519 signature with the key received at
// enrolment, this device's id, expiry, a nonce never seen before) and
// decides whether this agent may carry it out (wipe.allow, platform), then
// performs a cryptographic erase of the device's LUKS volumes (every
// keyslot destroyed, header backups overwritten) and verifies it by
// reading each header back, recording evidence an auditor can check.
// Verification is pure; the executor acts on the live host through
// agent/host. Nothing here talks to the collector: agent/checkin does.
package wipe

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rosterhq/roster/shared/wire"
)

// Method is the sanitisation method the evidence names.
const Method = "NIST SP 800-88 purge: cryptographic erase"

// WipeMethod is the only wire.WipeCommand.Method the agent carries out.
const WipeMethod = "crypto_erase"

// ManualHint tells an operator what to do where the agent cannot wipe.
const ManualHint = "use the manual path: rosterctl offboard record-wipe"

// MaxPayload bounds a signed command's payload; a real one is a few
// hundred bytes.
const MaxPayload = 16 << 10

// DefaultMaxSkew is how far a command's issued_at may lie ahead of this
// device's clock: clocks drift, but a command "issued" hours from now was
// not made by a collector with a sane clock.
const DefaultMaxSkew = 10 * time.Minute

// Refusal is why a command is not carried out: Status is
// wire.CommandRefused or wire.CommandNotSupported, Reason says why in
// words an operator can act on.
type Refusal struct {
	Status string
	Reason string
	// Authentic is true when the collector's signature verified: the
	// command (and its nonce) is genuine, only not to be carried out.
	Authentic bool
}

func (r *Refusal) Error() string { return r.Status + ": " + r.Reason }

func refuse(format string, a ...any) *Refusal {
	return &Refusal{Status: wire.CommandRefused, Reason: fmt.Sprintf(format, a...)}
}

// genuine is a refusal of a command whose signature verified.
func genuine(format string, a ...any) *Refusal {
	r := refuse(format, a...)
	r.Authentic = true
	return r
}

// Digest identifies one signed delivery (payload and signature): the same
// bytes again are a re-delivery, not a new command.
func Digest(sc wire.SignedCommand) string {
	h := sha256.New()
	h.Write(sc.Payload)
	h.Write([]byte{0})
	h.Write([]byte(sc.Signature))
	return hex.EncodeToString(h.Sum(nil))
}

// Verifier checks signed commands for one device.
type Verifier struct {
	// Key is the collector's command-signing key; nil refuses everything.
	Key      ed25519.PublicKey
	DeviceID string
	Now      time.Time
	// MaxSkew bounds issued_at in the future (DefaultMaxSkew when 0).
	MaxSkew time.Duration
	// Seen says whether a nonce was used before, and by what (for the
	// reason); the journal in the state directory answers it.
	Seen func(nonce string) (by string, seen bool)
}

// Verify checks sc in the order that trusts nothing unverified: the key
// and signature first, then the payload's strict decoding, kind, device,
// times and nonce. The error is a *Refusal.
func (v Verifier) Verify(sc wire.SignedCommand) (wire.Command, error) {
	var cmd wire.Command
	if len(v.Key) != ed25519.PublicKeySize {
		return cmd, refuse("this agent holds no command-signing key (the collector gave none at enrolment); enrol again to receive one")
	}
	if want := wire.KeyID(v.Key); sc.KeyID != want {
		return cmd, refuse("signed with key %q, but this agent trusts only the collector's key %q", sc.KeyID, want)
	}
	if len(sc.Payload) == 0 || len(sc.Payload) > MaxPayload {
		return cmd, refuse("payload of %d bytes (want 1..%d)", len(sc.Payload), MaxPayload)
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(sc.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return cmd, refuse("signature is not %d bytes of base64", ed25519.SignatureSize)
	}
	if !ed25519.Verify(v.Key, sc.Payload, sig) {
		return cmd, refuse("signature does not verify with the collector's command key %s", sc.KeyID)
	}
	cmd, err = decodeCommand(sc.Payload)
	if err != nil {
		return cmd, genuine("payload: %v", err)
	}
	switch cmd.Kind {
	case wire.CommandWipe:
		if cmd.Wipe == nil {
			return cmd, genuine("wipe command without wipe parameters")
		}
		if cmd.Wipe.Method != WipeMethod {
			return cmd, genuine("wipe method %q is not %q, the only one this agent performs", cmd.Wipe.Method, WipeMethod)
		}
	default:
		return cmd, genuine("unknown command kind %q", cmd.Kind)
	}
	if cmd.DeviceID != v.DeviceID {
		return cmd, genuine("command is for device %q, this device is %q", cmd.DeviceID, v.DeviceID)
	}
	if !v.Now.Before(cmd.ExpiresAt) {
		return cmd, genuine("command expired at %s (device clock %s)", cmd.ExpiresAt.UTC().Format(time.RFC3339), v.Now.UTC().Format(time.RFC3339))
	}
	skew := v.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	if cmd.IssuedAt.After(v.Now.Add(skew)) {
		return cmd, genuine("command issued at %s, more than %v ahead of the device clock %s", cmd.IssuedAt.UTC().Format(time.RFC3339), skew, v.Now.UTC().Format(time.RFC3339))
	}
	if v.Seen == nil {
		return cmd, genuine("no nonce journal to check nonce %q against", cmd.Nonce)
	}
	if by, seen := v.Seen(cmd.Nonce); seen {
		return cmd, genuine("nonce %q was already used (%s): a replayed command is never carried out", cmd.Nonce, by)
	}
	return cmd, nil
}

// decodeCommand decodes the payload strictly: no unknown keys, no
// trailing data, every field the agent relies on present.
func decodeCommand(b []byte) (wire.Command, error) {
	var cmd wire.Command
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cmd); err != nil {
		return cmd, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return cmd, errors.New("trailing data after the command")
	}
	var missing []string
	for _, f := range []struct {
		name string
		ok   bool
	}{
		{"id", cmd.ID != ""},
		{"kind", cmd.Kind != ""},
		{"device_id", cmd.DeviceID != ""},
		{"nonce", cmd.Nonce != ""},
		{"issued_at", !cmd.IssuedAt.IsZero()},
		{"expires_at", !cmd.ExpiresAt.IsZero()},
	} {
		if !f.ok {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return cmd, fmt.Errorf("missing %v", missing)
	}
	if !cmd.ExpiresAt.After(cmd.IssuedAt) {
		return cmd, fmt.Errorf("expires_at %s is not after issued_at %s", cmd.ExpiresAt.Format(time.RFC3339), cmd.IssuedAt.Format(time.RFC3339))
	}
	return cmd, nil
}

// Policy is what this agent allows, from its own configuration.
type Policy struct {
	// GOOS is the platform the agent runs on.
	GOOS string
	// Allow is wipe.allow.
	Allow bool
}

// Check says whether the agent carries out a verified command: only Linux
// has an executor, and only with wipe.allow. The error is a *Refusal.
func (p Policy) Check(cmd wire.Command) error {
	if cmd.Kind != wire.CommandWipe {
		return genuine("unknown command kind %q", cmd.Kind)
	}
	if p.GOOS != "linux" {
		return &Refusal{Status: wire.CommandNotSupported, Authentic: true,
			Reason: fmt.Sprintf("the agent cannot wipe a %s device (no executor on this platform); %s", p.GOOS, ManualHint)}
	}
	if !p.Allow {
		return genuine("remote wipe is not enabled on this device (wipe.allow); %s", ManualHint)
	}
	return nil
}
