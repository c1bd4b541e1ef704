// Package audit is the tamper-evident audit log's pure part: the entry, its
// hash chain, the signed checkpoints and the verification that names the
// first bad entry. The registry stores entries in the same transaction as
// the change they record; this package decides nothing about storage.
//
// Each entry's hash is SHA-256 over the previous entry's hash and the
// entry's fields, each length-prefixed, so an edit, deletion, insertion or
// reordering breaks the chain at the first entry touched. A checkpoint is
// the collector's Ed25519 signature over (sequence, hash, time) of the head
// at that moment: rewriting the whole chain, or truncating it below a
// checkpoint, needs the collector's private key to hide.
package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Outcomes.
const (
	OK     = "ok"
	Denied = "denied"
	Failed = "failed"
)

// GenesisHash is the "previous hash" of the first entry.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Entry is one audit log record (API keys).
type Entry struct {
	Seq           int64     `json:"seq"`
	At            time.Time `json:"at"`
	PrincipalID   string    `json:"principal_id"`
	PrincipalName string    `json:"principal_name"`
	PrincipalKind string    `json:"principal_kind"`
	Role          string    `json:"role"`
	Source        string    `json:"source"`
	RequestID     string    `json:"request_id"`
	Action        string    `json:"action"`
	Target        string    `json:"target"`
	Outcome       string    `json:"outcome"`
	// Detail is a short JSON object or text with what changed.
	Detail   string `json:"detail"`
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// timeLayout fixes the fraction so the hashed text of a time is canonical.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// ComputeHash returns the entry's hash from its fields and PrevHash.
func (e *Entry) ComputeHash() string {
	h := sha256.New()
	var n [8]byte
	field := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field("roster-audit-v1")
	field(e.PrevHash)
	field(strconv.FormatInt(e.Seq, 10))
	field(e.At.UTC().Format(timeLayout))
	for _, s := range []string{e.PrincipalID, e.PrincipalName, e.PrincipalKind, e.Role, e.Source, e.RequestID, e.Action, e.Target, e.Outcome, e.Detail} {
		field(s)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Seal sets e's Seq, PrevHash and Hash to follow prev (nil: e is first).
func (e *Entry) Seal(prev *Entry) {
	e.Seq, e.PrevHash = 1, GenesisHash
	if prev != nil {
		e.Seq, e.PrevHash = prev.Seq+1, prev.Hash
	}
	e.Hash = e.ComputeHash()
}

// Checkpoint is a signed statement of the chain's head.
type Checkpoint struct {
	Seq   int64     `json:"seq"`
	Hash  string    `json:"hash"`
	At    time.Time `json:"at"`
	KeyID string    `json:"key_id"`
	// Signature is base64 Ed25519 over SignedBytes.
	Signature string `json:"signature"`
}

// SignedBytes is what a checkpoint's signature covers.
func (c *Checkpoint) SignedBytes() []byte {
	return []byte("roster-audit-checkpoint-v1\n" + strconv.FormatInt(c.Seq, 10) + "\n" + c.Hash + "\n" + c.At.UTC().Format(timeLayout) + "\n")
}

// Verify checks the checkpoint's signature with pub.
func (c *Checkpoint) Verify(pub ed25519.PublicKey) error {
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil {
		return fmt.Errorf("checkpoint %d: signature is not base64", c.Seq)
	}
	if !ed25519.Verify(pub, c.SignedBytes(), sig) {
		return fmt.Errorf("checkpoint %d: bad signature", c.Seq)
	}
	return nil
}

// Sign makes a checkpoint of head (seq and hash) at with sign, which
// returns the base64 signature of its argument.
func Sign(seq int64, hash string, at time.Time, keyID string, sign func([]byte) string) Checkpoint {
	c := Checkpoint{Seq: seq, Hash: hash, At: at.UTC(), KeyID: keyID}
	c.Signature = sign(c.SignedBytes())
	return c
}

// Problem is the first thing found wrong.
type Problem struct {
	// Seq is the first bad entry's sequence (0 when the problem is not one
	// entry's, such as a bad checkpoint signature).
	Seq     int64  `json:"seq"`
	Message string `json:"message"`
}

// Result is what a verification found.
type Result struct {
	OK      bool  `json:"ok"`
	Entries int64 `json:"entries"`
	// Head is the last entry's sequence and hash.
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	// Checkpoints is how many signed checkpoints were checked; Covered is
	// the highest sequence a valid checkpoint vouches for.
	Checkpoints int64 `json:"checkpoints"`
	Covered     int64 `json:"covered"`
	// FirstSeq is the first entry verified: 1 for a whole chain, later
	// when retention purged the oldest entries (then Anchor is the signed
	// checkpoint the first entry follows) or for an exported slice.
	FirstSeq int64 `json:"first_seq"`
	// Anchor is the sequence of the signed checkpoint the first retained
	// entry follows, when the chain does not start at 1.
	Anchor  int64    `json:"anchor,omitempty"`
	Problem *Problem `json:"problem,omitempty"`
}

// ErrTampered is wrapped by Verifier.Err when the log does not verify.
var ErrTampered = errors.New("audit log does not verify")

// Verifier checks a log streamed in sequence order against its signed
// checkpoints, holding only the checkpoints and the previous entry, so a
// log of millions of entries verifies in constant memory.
type Verifier struct {
	pub   ed25519.PublicKey
	opt   Options
	cps   map[int64]Checkpoint
	maxCP int64
	prev  *Entry
	res   Result
	// firstUncovered is the first entry after the newest checkpoint seen.
	firstUncovered *Entry
}

// Options tune a verification.
type Options struct {
	// Now and MaxUncovered: entries older than MaxUncovered at Now that no
	// checkpoint covers are a problem, because the collector signs the head
	// at least that often; a log whose checkpoints were deleted and whose
	// chain was rewritten is caught here. Zero MaxUncovered skips the check.
	Now          time.Time
	MaxUncovered time.Duration
	// Slice verifies a slice of the chain (an evidence bundle's period):
	// its first entry may follow any entry, the slice's own links, hashes
	// and the checkpoints inside it are checked. Without Slice, a chain
	// that does not start at 1 must start right after a signed checkpoint
	// whose hash is the first entry's previous hash: what the retention
	// purge leaves; anything else is entries deleted.
	Slice bool
}

// NewVerifier checks every checkpoint's signature and returns a verifier
// for the entries. A checkpoint with a bad signature is a problem at once.
func NewVerifier(pub ed25519.PublicKey, cps []Checkpoint, opt Options) *Verifier {
	v := &Verifier{pub: pub, opt: opt, cps: map[int64]Checkpoint{}, res: Result{OK: true}}
	for _, c := range cps {
		if err := c.Verify(pub); err != nil {
			v.fail(0, err.Error())
			return v
		}
		if old, dup := v.cps[c.Seq]; dup && old.Hash != c.Hash {
			v.fail(c.Seq, fmt.Sprintf("two signed checkpoints at %d disagree", c.Seq))
			return v
		}
		v.cps[c.Seq] = c
		v.res.Checkpoints++
		v.maxCP = max(v.maxCP, c.Seq)
	}
	return v
}

func (v *Verifier) fail(seq int64, msg string) {
	if v.res.Problem == nil {
		v.res.OK = false
		v.res.Problem = &Problem{Seq: seq, Message: msg}
	}
}

// Add checks the next entry. It returns false once a problem is found.
func (v *Verifier) Add(e Entry) bool {
	if v.res.Problem != nil {
		return false
	}
	want := int64(1)
	prevHash := GenesisHash
	if v.prev != nil {
		want, prevHash = v.prev.Seq+1, v.prev.Hash
	} else if e.Seq > 1 {
		if !v.start(e) {
			return false
		}
		want, prevHash = e.Seq, e.PrevHash
	}
	switch {
	case e.Seq < want:
		v.fail(e.Seq, fmt.Sprintf("entry %d is out of order or repeated (expected %d)", e.Seq, want))
	case e.Seq > want:
		v.fail(want, fmt.Sprintf("entries %d to %d are missing (deleted)", want, e.Seq-1))
	case e.PrevHash != prevHash:
		v.fail(e.Seq, fmt.Sprintf("entry %d does not follow entry %d (previous hash differs: inserted, deleted or reordered)", e.Seq, e.Seq-1))
	case e.ComputeHash() != e.Hash:
		v.fail(e.Seq, fmt.Sprintf("entry %d was altered (its content does not match its hash)", e.Seq))
	}
	if v.res.Problem != nil {
		return false
	}
	if c, ok := v.cps[e.Seq]; ok {
		if c.Hash != e.Hash {
			v.fail(e.Seq, fmt.Sprintf("entry %d differs from what signed checkpoint %d vouches for (chain rewritten)", e.Seq, c.Seq))
			return false
		}
		v.res.Covered = e.Seq
		v.firstUncovered = nil
	}
	cp := e
	v.prev = &cp
	if v.res.Covered != e.Seq && v.firstUncovered == nil {
		v.firstUncovered = &cp
	}
	v.res.Entries++
	if v.res.FirstSeq == 0 {
		v.res.FirstSeq = e.Seq
	}
	v.res.HeadSeq, v.res.HeadHash = e.Seq, e.Hash
	return true
}

// start accepts e as the first entry of a chain that does not begin at 1:
// a slice, or a purged chain anchored on a signed checkpoint.
func (v *Verifier) start(e Entry) bool {
	v.res.FirstSeq = e.Seq
	if v.opt.Slice {
		return true
	}
	c, ok := v.cps[e.Seq-1]
	switch {
	case !ok:
		v.fail(1, fmt.Sprintf("entries 1 to %d are missing and no signed checkpoint at %d anchors entry %d (deleted, not purged by retention)", e.Seq-1, e.Seq-1, e.Seq))
		return false
	case c.Hash != e.PrevHash:
		v.fail(e.Seq, fmt.Sprintf("entry %d does not follow signed checkpoint %d (previous hash differs)", e.Seq, c.Seq))
		return false
	}
	v.res.Anchor = c.Seq
	v.res.Covered = c.Seq
	return true
}

// Finish ends the stream and returns the result: entries a checkpoint
// vouched for that are no longer there mean the tail was truncated.
func (v *Verifier) Finish() Result {
	if v.res.Problem == nil && v.maxCP > v.res.HeadSeq && !v.opt.Slice {
		v.fail(v.res.HeadSeq+1, fmt.Sprintf("the log ends at entry %d but a signed checkpoint vouches for %d entries (truncated)", v.res.HeadSeq, v.maxCP))
	}
	if u := v.firstUncovered; v.res.Problem == nil && u != nil && v.opt.MaxUncovered > 0 && v.opt.Now.Sub(u.At) > v.opt.MaxUncovered {
		v.fail(u.Seq, fmt.Sprintf("entries from %d on (since %s) are covered by no signed checkpoint though checkpoints are made every %s (checkpoints deleted or chain rewritten)",
			u.Seq, u.At.UTC().Format(time.RFC3339), v.opt.MaxUncovered))
	}
	return v.res
}

// Err is nil for a log that verified, else ErrTampered with the problem.
func (r Result) Err() error {
	if r.OK {
		return nil
	}
	if r.Problem.Seq > 0 {
		return fmt.Errorf("%w: first bad entry %d: %s", ErrTampered, r.Problem.Seq, r.Problem.Message)
	}
	return fmt.Errorf("%w: %s", ErrTampered, r.Problem.Message)
}
