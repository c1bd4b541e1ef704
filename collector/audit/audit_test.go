package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// chain builds n sealed entries and signs checkpoints at the given seqs.
func chain(t *testing.T, n int, cpAt ...int64) ([]Entry, []Checkpoint, ed25519.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(b []byte) string { return base64.StdEncoding.EncodeToString(ed25519.Sign(priv, b)) }
	t0 := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	var es []Entry
	var cps []Checkpoint
	for i := range n {
		e := Entry{At: t0.Add(time.Duration(i) * time.Hour), PrincipalID: "p", Action: "device.revoked", Target: "d", Outcome: OK}
		var prev *Entry
		if i > 0 {
			prev = &es[i-1]
		}
		e.Seal(prev)
		es = append(es, e)
	}
	for _, s := range cpAt {
		e := es[s-1]
		cps = append(cps, Sign(e.Seq, e.Hash, e.At, "k", sign))
	}
	return es, cps, pub
}

func verify(pub ed25519.PublicKey, cps []Checkpoint, es []Entry, opt Options) Result {
	v := NewVerifier(pub, cps, opt)
	for _, e := range es {
		if !v.Add(e) {
			break
		}
	}
	return v.Finish()
}

func TestVerifierPurgedChainAnchoredOnCheckpoint(t *testing.T) {
	es, cps, pub := chain(t, 10, 4, 8)
	if r := verify(pub, cps, es, Options{}); !r.OK || r.FirstSeq != 1 || r.Anchor != 0 || r.Covered != 8 {
		t.Fatalf("whole chain: %+v", r)
	}
	// Retention deleted entries 1-4; checkpoint 4 anchors entry 5.
	r := verify(pub, cps, es[4:], Options{})
	if !r.OK || r.FirstSeq != 5 || r.Anchor != 4 || r.Entries != 6 || r.HeadSeq != 10 {
		t.Fatalf("purged to checkpoint 4: %+v", r)
	}
	// Deleting up to an entry no checkpoint covers is tampering.
	r = verify(pub, cps, es[2:], Options{})
	if r.OK || r.Problem.Seq != 1 || !strings.Contains(r.Problem.Message, "entries 1 to 2 are missing") {
		t.Fatalf("prefix deleted without an anchor: %+v", r)
	}
	// An entry after the anchor rewritten with a forged previous hash.
	forged := append([]Entry(nil), es[4:]...)
	forged[0].PrevHash = strings.Repeat("1", 64)
	forged[0].Hash = forged[0].ComputeHash()
	r = verify(pub, cps, forged, Options{})
	if r.OK || r.Problem.Seq != 5 || !strings.Contains(r.Problem.Message, "does not follow signed checkpoint 4") {
		t.Fatalf("forged first entry: %+v", r)
	}
}

func TestVerifierSlice(t *testing.T) {
	es, cps, pub := chain(t, 10, 4, 8)
	r := verify(pub, cps, es[2:6], Options{Slice: true})
	if !r.OK || r.FirstSeq != 3 || r.HeadSeq != 6 || r.Covered != 4 {
		t.Fatalf("slice 3-6: %+v", r)
	}
	bad := append([]Entry(nil), es[2:6]...)
	bad[2].Detail = "edited"
	r = verify(pub, cps, bad, Options{Slice: true})
	if r.OK || r.Problem.Seq != 5 {
		t.Fatalf("edited entry in a slice: %+v", r)
	}
	// Without Slice, the same slice is a deleted prefix.
	if r := verify(pub, cps, es[2:6], Options{}); r.OK {
		t.Fatalf("slice verified as a whole chain: %+v", r)
	}
}
