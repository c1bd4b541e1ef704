package state

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rosterhq/roster/shared/wire"
)

// Files of signed commands (issue 6).
const (
	// CommandKeyFile holds the collector's Ed25519 command-signing public
	// key, base64, as enrolment received it.
	CommandKeyFile = "command_key.pub"
	// CommandsFile is the command journal: every command received (so a
	// nonce is never accepted twice, across restarts too), the progress of
	// one being carried out, and the statuses waiting to be sent.
	CommandsFile = "commands.json"
)

// ErrNoCommandKey means enrolment left no command-signing key: the
// collector enrolled with gave none.
var ErrNoCommandKey = errors.New("no command-signing key stored: the collector gave none at enrolment (enrol again once it does)")

// DecodeCommandKey decodes a base64 (standard, padded) Ed25519 public key
// as EnrollResponse.CommandKey carries it.
func DecodeCommandKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("command key: not base64: %w", err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("command key: %d bytes, want %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// CommandKey returns the stored command-signing key; ErrNoCommandKey when
// there is none. A stored key that does not decode is an error, never
// "no key".
func (d *Dir) CommandKey() (ed25519.PublicKey, error) {
	b, err := d.ReadFile(CommandKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoCommandKey
	}
	if err != nil {
		return nil, fmt.Errorf("read command key: %w", err)
	}
	k, err := DecodeCommandKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", CommandKeyFile, err)
	}
	return k, nil
}

// saveCommandKey stores key (base64), or removes a stored one when key is
// empty: a key belongs to the enrolment that delivered it.
func (d *Dir) saveCommandKey(key string) error {
	if key == "" {
		if err := os.Remove(filepath.Join(d.path, CommandKeyFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove command key: %w", err)
		}
		return nil
	}
	if _, err := DecodeCommandKey(key); err != nil {
		return err
	}
	return d.WriteFile(CommandKeyFile, []byte(strings.TrimSpace(key)+"\n"))
}

// Local command stages beyond the wire statuses.
const (
	// StageAbandoned: the collector refused a status of a command not yet
	// carried out (cancelled or expired there), so it never will be.
	StageAbandoned = "abandoned"
)

// CommandEntry is one command the agent received.
type CommandEntry struct {
	// Digest is the SHA-256 (hex) of the signed payload and signature:
	// the same delivery again (a collector re-sending until it hears back)
	// is recognised and not acted on twice.
	Digest string `json:"digest"`
	ID     string `json:"id"`
	Kind   string `json:"kind,omitempty"`
	// Nonce is set only once the signature verified: an unverified
	// command's nonce is whatever its sender chose, and must not block a
	// genuine one.
	Nonce      string    `json:"nonce,omitempty"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	ReceivedAt time.Time `json:"received_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// Stage is the last status queued (a wire.Command* status) or
	// StageAbandoned.
	Stage  string `json:"stage"`
	Reason string `json:"reason,omitempty"`
	// Command is the verified command, kept while it is unfinished so an
	// interrupted one can resume.
	Command *wire.Command `json:"command,omitempty"`
	// Evidence is the wipe's checkpoint: each target's state before the
	// erase, written before anything is erased, so a resumed wipe still
	// reports the keyslots the volume had.
	Evidence *wire.WipeEvidence `json:"evidence,omitempty"`
}

// Terminal reports whether the entry needs no more work.
func (e CommandEntry) Terminal() bool {
	switch e.Stage {
	case wire.CommandCompleted, wire.CommandFailed, wire.CommandRefused, wire.CommandNotSupported, StageAbandoned:
		return true
	}
	return false
}

// CommandJournal is the content of CommandsFile.
type CommandJournal struct {
	Entries []CommandEntry `json:"entries"`
	// Outbox holds statuses not yet accepted by the collector, oldest
	// first; they are sent in order and removed once answered.
	Outbox []Outgoing `json:"outbox"`
}

// Outgoing is a status waiting to be sent, with the digest of the
// delivery it is about (several deliveries may carry one command id).
type Outgoing struct {
	Digest string             `json:"digest"`
	Status wire.CommandStatus `json:"status"`
}

// Entry returns the entry received with digest.
func (j *CommandJournal) Entry(digest string) *CommandEntry {
	for i := range j.Entries {
		if j.Entries[i].Digest == digest {
			return &j.Entries[i]
		}
	}
	return nil
}

// Nonce returns the entry that used nonce, if any.
func (j *CommandJournal) Nonce(nonce string) *CommandEntry {
	if nonce == "" {
		return nil
	}
	for i := range j.Entries {
		if j.Entries[i].Nonce == nonce {
			return &j.Entries[i]
		}
	}
	return nil
}

// Queued reports whether a status about the delivery with digest waits
// in the outbox.
func (j *CommandJournal) Queued(digest string) bool {
	for _, s := range j.Outbox {
		if s.Digest == digest {
			return true
		}
	}
	return false
}

// Pending reports whether anything is left to do: a status to send or a
// command not finished.
func (j *CommandJournal) Pending() bool {
	if len(j.Outbox) > 0 {
		return true
	}
	for _, e := range j.Entries {
		if !e.Terminal() {
			return true
		}
	}
	return false
}

// maxUnverified bounds the entries kept for commands whose signature did
// not verify (they only spare the collector repeated refusals); entries
// with a verified nonce are never dropped, as forgetting one would let
// the command be replayed.
const maxUnverified = 200

func (j *CommandJournal) prune() {
	n := 0
	for _, e := range j.Entries {
		if e.Nonce == "" {
			n++
		}
	}
	if n <= maxUnverified {
		return
	}
	kept := j.Entries[:0]
	for _, e := range j.Entries {
		if e.Nonce == "" && n > maxUnverified {
			n--
			continue
		}
		kept = append(kept, e)
	}
	j.Entries = kept
}

// LoadCommands reads the command journal (empty when there is none). A
// journal that cannot be read or decoded is an error: forgetting it would
// forget the nonces already used, so commands are refused until it is
// repaired.
func (d *Dir) LoadCommands() (*CommandJournal, error) {
	j := &CommandJournal{}
	b, err := d.ReadFile(CommandsFile)
	if errors.Is(err, fs.ErrNotExist) {
		return j, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read command journal: %w", err)
	}
	if err := json.Unmarshal(b, j); err != nil {
		return nil, fmt.Errorf("read command journal %s: corrupt (move it aside only if no command may be replayed): %w", CommandsFile, err)
	}
	// Pruned here, not on save, so entries a caller holds pointers to
	// never move.
	j.prune()
	return j, nil
}

// SaveCommands writes the journal atomically and durably (fsync of the
// file and the directory) before the caller acts on what it records.
func (d *Dir) SaveCommands(j *CommandJournal) error {
	return d.saveJSON(CommandsFile, "command journal", j)
}
