package wipe

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// LUKS2 keeps a second copy of its header (binary header and JSON area)
// right after the first; cryptsetup falls back to it when the primary is
// damaged, so an erase that left keyslots there would not be an erase.
// agent/luks parses the primary; this checks the secondary against it.

var magic2 = []byte("SKUL\xba\xbe")

// Offsets in a LUKS2 binary header (LUKS2 on-disk format, section 2).
const (
	offVersion  = 6
	offHdrSize  = 8
	offSeqID    = 16
	offCsumAlg  = 72
	offUUID     = 168
	offHdrOff   = 256
	offCsum     = 448
	binHdrSize  = 4096
	reencryptKS = "reencrypt"
)

// checkSecondary checks that b (primary and secondary header, 2*size
// bytes) holds a secondary header that agrees with the primary (same
// size, sequence id and UUID, valid checksum, at offset size) and whose
// JSON area lists no keyslot holding key material.
func checkSecondary(b []byte, size int) error {
	if size <= 0 || len(b) < 2*size {
		return fmt.Errorf("read %d bytes, need %d", len(b), 2*size)
	}
	p, s := b[:size], b[size:2*size]
	if !bytes.Equal(s[:6], magic2) {
		return fmt.Errorf("no secondary header at offset %d", size)
	}
	if v := binary.BigEndian.Uint16(s[offVersion:]); v != 2 {
		return fmt.Errorf("version %d", v)
	}
	if n := binary.BigEndian.Uint64(s[offHdrSize:]); n != uint64(size) {
		return fmt.Errorf("header size %d, primary says %d", n, size)
	}
	if off := binary.BigEndian.Uint64(s[offHdrOff:]); off != uint64(size) {
		return fmt.Errorf("records offset %d, found at %d", off, size)
	}
	if ps, ss := binary.BigEndian.Uint64(p[offSeqID:]), binary.BigEndian.Uint64(s[offSeqID:]); ps != ss {
		return fmt.Errorf("sequence id %d, primary has %d (the headers disagree)", ss, ps)
	}
	if !bytes.Equal(cstr(p[offUUID:offUUID+40]), cstr(s[offUUID:offUUID+40])) {
		return fmt.Errorf("UUID %q, primary has %q", cstr(s[offUUID:offUUID+40]), cstr(p[offUUID:offUUID+40]))
	}
	if alg := string(cstr(s[offCsumAlg : offCsumAlg+32])); alg == "sha256" {
		sum := sha256.New()
		sum.Write(s[:offCsum])
		sum.Write(make([]byte, 64))
		sum.Write(s[offCsum+64:])
		if subtle.ConstantTimeCompare(sum.Sum(nil), s[offCsum:offCsum+sha256.Size]) != 1 {
			return fmt.Errorf("checksum mismatch")
		}
	}
	area := cstr(s[binHdrSize:])
	var meta struct {
		Keyslots map[string]struct {
			Type string `json:"type"`
		} `json:"keyslots"`
	}
	if err := json.Unmarshal(area, &meta); err != nil {
		return fmt.Errorf("json area: %w", err)
	}
	var left []string
	for id, k := range meta.Keyslots {
		if k.Type != reencryptKS {
			left = append(left, id)
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("keyslots %v still listed", left)
	}
	return nil
}

func cstr(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}
