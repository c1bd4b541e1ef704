// Package luks reads LUKS1 and LUKS2 headers: the on-disk binary header (and,
// for LUKS2, its JSON metadata area) and the text that `cryptsetup luksDump`
// prints. Both give the same Header, so a caller can use whichever it can
// get. It is pure: bytes in, Header out. Keyslot counting is exact because
// the agent uses it to verify a cryptographic erase (no keyslot may remain),
// so a header it cannot fully account for is an error, never "0 keyslots".
package luks

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Header is what the agent needs to know about a LUKS volume.
type Header struct {
	// Version is 1 or 2.
	Version int
	// UUID is the LUKS UUID as cryptsetup prints it (lower-case, dashed).
	UUID string
	// Label is the LUKS2 label; LUKS1 has none.
	Label string
	// Cipher is the data cipher, e.g. "aes-xts-plain64".
	Cipher string
	// Keyslots lists the keyslots in use, by index. LUKS1 slots have type
	// "luks1"; LUKS2 slots carry their JSON type ("luks2", "reencrypt").
	Keyslots []Keyslot
	// Requirements are LUKS2 mandatory requirements, e.g.
	// "online-reencrypt-v2" while a re-encryption is unfinished.
	Requirements []string
	// Reencrypt is the mode of an unfinished LUKS2 re-encryption:
	// "encrypt", "decrypt" or "reencrypt"; empty when none is recorded.
	Reencrypt string
}

// Keyslot is one keyslot in use.
type Keyslot struct {
	Index int
	Type  string
}

// Keyslot types that hold no key: LUKS2 keeps re-encryption progress in a
// keyslot of type "reencrypt".
const typeReencrypt = "reencrypt"

// ActiveKeyslots counts the keyslots that hold key material (every slot in
// use except LUKS2's re-encryption bookkeeping slot). After a successful
// cryptographic erase it is 0.
func (h Header) ActiveKeyslots() int {
	n := 0
	for _, k := range h.Keyslots {
		if k.Type != typeReencrypt {
			n++
		}
	}
	return n
}

// Reencrypting reports whether a LUKS2 re-encryption (of any mode) is
// unfinished: cryptsetup marks it with an online-reencrypt requirement.
func (h Header) Reencrypting() bool {
	if h.Reencrypt != "" {
		return true
	}
	for _, r := range h.Requirements {
		if strings.HasPrefix(r, "online-reencrypt") {
			return true
		}
	}
	return false
}

// ErrNotLUKS means the bytes do not start with a LUKS header.
var ErrNotLUKS = errors.New("not a LUKS header")

var (
	magic1 = []byte("LUKS\xba\xbe")
	// LUKS1 keyslot states; anything else is a corrupt header.
	slotActive   = uint32(0x00AC71F3)
	slotDisabled = uint32(0x0000DEAD)
)

// On-disk sizes.
const (
	luks1HeaderSize = 592
	luks1Slots      = 8
	luks2BinarySize = 4096
	// MaxHeaderSize is the largest LUKS2 header (binary + JSON) the
	// specification allows; HeaderSize never asks for more.
	MaxHeaderSize = 4 << 20
)

// HeaderSize tells how many bytes from the start of the device ParseHeader
// needs, given at least the first 4096 of them.
func HeaderSize(b []byte) (int, error) {
	v, err := version(b)
	if err != nil {
		return 0, err
	}
	if v == 1 {
		return luks1HeaderSize, nil
	}
	if len(b) < 16 {
		return 0, fmt.Errorf("luks2 header: %d bytes, need 16", len(b))
	}
	size := binary.BigEndian.Uint64(b[8:16])
	if !validLUKS2Size(size) {
		return 0, fmt.Errorf("luks2 header: invalid header size %d", size)
	}
	return int(size), nil
}

func version(b []byte) (int, error) {
	if len(b) < 8 || !bytes.Equal(b[:6], magic1) {
		return 0, ErrNotLUKS
	}
	v := binary.BigEndian.Uint16(b[6:8])
	if v != 1 && v != 2 {
		return 0, fmt.Errorf("luks header: unsupported version %d", v)
	}
	return int(v), nil
}

// validLUKS2Size accepts the header sizes the LUKS2 specification lists:
// 16 KiB to 4 MiB, powers of two.
func validLUKS2Size(n uint64) bool {
	return n >= 16<<10 && n <= MaxHeaderSize && n&(n-1) == 0
}

// ParseHeader parses a LUKS header from the first bytes of a device (or a
// detached header file). LUKS2 needs the whole primary header: HeaderSize
// says how much that is.
func ParseHeader(b []byte) (Header, error) {
	v, err := version(b)
	if err != nil {
		return Header{}, err
	}
	if v == 1 {
		return parseLUKS1(b)
	}
	return parseLUKS2(b)
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func parseLUKS1(b []byte) (Header, error) {
	if len(b) < luks1HeaderSize {
		return Header{}, fmt.Errorf("luks1 header: %d bytes, need %d", len(b), luks1HeaderSize)
	}
	h := Header{
		Version: 1,
		UUID:    cstring(b[168:208]),
		Cipher:  cipherOf(cstring(b[8:40]), cstring(b[40:72])),
	}
	for i := range luks1Slots {
		off := 208 + 48*i
		switch st := binary.BigEndian.Uint32(b[off : off+4]); st {
		case slotActive:
			h.Keyslots = append(h.Keyslots, Keyslot{Index: i, Type: "luks1"})
		case slotDisabled:
		default:
			return Header{}, fmt.Errorf("luks1 header: keyslot %d: invalid state %#08x", i, st)
		}
	}
	return h, nil
}

// cipherOf joins LUKS1's cipher name and mode the way cryptsetup prints a
// LUKS2 cipher ("aes" + "xts-plain64" -> "aes-xts-plain64").
func cipherOf(name, mode string) string {
	if mode == "" {
		return name
	}
	return name + "-" + mode
}

// luks2JSON is the part of the LUKS2 metadata the agent reads.
type luks2JSON struct {
	Keyslots map[string]struct {
		Type string `json:"type"`
		Mode string `json:"mode"`
	} `json:"keyslots"`
	Segments map[string]struct {
		Type       string   `json:"type"`
		Encryption string   `json:"encryption"`
		Flags      []string `json:"flags"`
	} `json:"segments"`
	Config struct {
		Requirements struct {
			Mandatory []string `json:"mandatory"`
		} `json:"requirements"`
	} `json:"config"`
}

func parseLUKS2(b []byte) (Header, error) {
	size, err := HeaderSize(b)
	if err != nil {
		return Header{}, err
	}
	if len(b) < size {
		return Header{}, fmt.Errorf("luks2 header: %d bytes, need %d", len(b), size)
	}
	b = b[:size]
	if alg := cstring(b[72:104]); alg == "sha256" {
		// The checksum covers the binary header (checksum field zeroed)
		// and the JSON area; a mismatch means a torn or corrupt header,
		// whose keyslot list cannot be trusted.
		sum := sha256.New()
		sum.Write(b[:448])
		sum.Write(make([]byte, 64))
		sum.Write(b[512:])
		if subtle.ConstantTimeCompare(sum.Sum(nil), b[448:448+sha256.Size]) != 1 {
			return Header{}, errors.New("luks2 header: checksum mismatch")
		}
	}
	h := Header{
		Version: 2,
		UUID:    cstring(b[168:208]),
		Label:   cstring(b[24:72]),
	}
	area := b[luks2BinarySize:]
	if i := bytes.IndexByte(area, 0); i >= 0 {
		area = area[:i]
	}
	var meta luks2JSON
	if err := json.Unmarshal(area, &meta); err != nil {
		return Header{}, fmt.Errorf("luks2 header: json area: %w", err)
	}
	for id, k := range meta.Keyslots {
		n, err := strconv.Atoi(id)
		if err != nil || n < 0 || strconv.Itoa(n) != id {
			return Header{}, fmt.Errorf("luks2 header: keyslot id %q", id)
		}
		if k.Type == "" {
			return Header{}, fmt.Errorf("luks2 header: keyslot %d has no type", n)
		}
		h.Keyslots = append(h.Keyslots, Keyslot{Index: n, Type: k.Type})
		if k.Type == typeReencrypt {
			h.Reencrypt = k.Mode
		}
	}
	sort.Slice(h.Keyslots, func(i, j int) bool { return h.Keyslots[i].Index < h.Keyslots[j].Index })
	segs := make([]segment, 0, len(meta.Segments))
	for id, s := range meta.Segments {
		n, err := strconv.Atoi(id)
		if err != nil {
			return Header{}, fmt.Errorf("luks2 header: segment id %q", id)
		}
		segs = append(segs, segment{index: n, typ: s.Type, cipher: s.Encryption, flags: s.Flags})
	}
	h.Cipher = dataCipher(segs)
	h.Requirements = meta.Config.Requirements.Mandatory
	return h, nil
}

type segment struct {
	index  int
	typ    string
	cipher string
	flags  []string
}

// dataCipher picks the cipher of the data: the first crypt segment that is
// not a re-encryption backup, else (while encrypting, when only backups are
// crypt) the first crypt segment at all.
func dataCipher(segs []segment) string {
	sort.Slice(segs, func(i, j int) bool { return segs[i].index < segs[j].index })
	fallback := ""
	for _, s := range segs {
		if s.typ != "crypt" {
			continue
		}
		backup := false
		for _, f := range s.flags {
			if strings.HasPrefix(f, "backup-") {
				backup = true
			}
		}
		if !backup {
			return s.cipher
		}
		if fallback == "" {
			fallback = s.cipher
		}
	}
	return fallback
}
