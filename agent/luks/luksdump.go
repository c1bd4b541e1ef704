package luks

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ParseDump parses the text `cryptsetup luksDump <device>` prints, for
// LUKS1 and LUKS2, into the same Header ParseHeader gives. It is the
// fallback where the header cannot be read directly; cryptsetup reads it
// with the same rights, so it mostly helps with detached headers and
// captured hosts.
func ParseDump(b []byte) (Header, error) {
	var (
		h        Header
		section  string
		cipher   [2]string // LUKS1 "Cipher name", "Cipher mode"
		luks1    = 0       // LUKS1 "Key Slot" lines seen
		segs     []segment
		seen     = map[int]bool{}
		lastSlot = -1
	)
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		indented := line[0] == ' ' || line[0] == '\t'
		// LUKS2 sections: "Keyslots:", "Data segments:", "Tokens:", ...
		if !indented && strings.HasSuffix(line, ":") {
			section = strings.TrimSuffix(line, ":")
			continue
		}
		if !indented {
			section = ""
		}
		if rest, ok := strings.CutPrefix(line, "Key Slot "); ok {
			n, state, ok := strings.Cut(rest, ": ")
			idx, err := strconv.Atoi(n)
			if !ok || err != nil || idx < 0 || idx >= luks1Slots || seen[idx] {
				return Header{}, fmt.Errorf("luksdump: bad keyslot line %q", line)
			}
			seen[idx] = true
			luks1++
			switch state {
			case "ENABLED":
				h.Keyslots = append(h.Keyslots, Keyslot{Index: idx, Type: "luks1"})
			case "DISABLED":
			default:
				return Header{}, fmt.Errorf("luksdump: keyslot %d: unknown state %q", idx, state)
			}
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch {
		case !indented:
			switch key {
			case "Version":
				v, err := strconv.Atoi(val)
				if err != nil || (v != 1 && v != 2) {
					return Header{}, fmt.Errorf("luksdump: unsupported version %q", val)
				}
				h.Version = v
			case "UUID":
				h.UUID = val
			case "Label":
				if val != "(no label)" {
					h.Label = val
				}
			case "Cipher name":
				cipher[0] = val
			case "Cipher mode":
				cipher[1] = val
			case "Requirements":
				if !strings.HasPrefix(val, "(") {
					h.Requirements = strings.Fields(val)
				}
			}
		case isEntry(line):
			// "  0: luks2", "  1: reencrypt (unbound)", "  0: crypt"
			idx, _ := strconv.Atoi(key)
			typ, _, _ := strings.Cut(val, " ")
			switch section {
			case "Keyslots":
				if seen[idx] {
					return Header{}, fmt.Errorf("luksdump: keyslot %d listed twice", idx)
				}
				seen[idx] = true
				h.Keyslots = append(h.Keyslots, Keyslot{Index: idx, Type: typ})
				lastSlot = len(h.Keyslots) - 1
			case "Data segments":
				segs = append(segs, segment{index: idx, typ: typ})
			}
		default:
			// a property of the last entry: "\tcipher: aes-xts-plain64"
			switch {
			case section == "Data segments" && len(segs) > 0 && key == "cipher":
				segs[len(segs)-1].cipher = val
			case section == "Data segments" && len(segs) > 0 && key == "flags":
				segs[len(segs)-1].flags = strings.Fields(val)
			case section == "Keyslots" && lastSlot >= 0 && key == "Mode" &&
				h.Keyslots[lastSlot].Type == typeReencrypt:
				h.Reencrypt = val
			}
		}
	}
	if err := sc.Err(); err != nil {
		return Header{}, fmt.Errorf("luksdump: %w", err)
	}
	switch h.Version {
	case 0:
		return Header{}, fmt.Errorf("luksdump: no Version line: %w", ErrNotLUKS)
	case 1:
		if luks1 != luks1Slots {
			return Header{}, fmt.Errorf("luksdump: %d LUKS1 keyslot lines, want %d", luks1, luks1Slots)
		}
		h.Cipher = cipherOf(cipher[0], cipher[1])
	case 2:
		if luks1 != 0 {
			return Header{}, fmt.Errorf("luksdump: LUKS1 keyslot lines in a LUKS2 dump")
		}
		h.Cipher = dataCipher(segs)
	}
	sort.Slice(h.Keyslots, func(i, j int) bool { return h.Keyslots[i].Index < h.Keyslots[j].Index })
	return h, nil
}

// isEntry matches a LUKS2 section entry: two spaces, a number, a colon.
func isEntry(line string) bool {
	rest, ok := strings.CutPrefix(line, "  ")
	if !ok {
		return false
	}
	n, _, ok := strings.Cut(rest, ":")
	if !ok || n == "" {
		return false
	}
	for _, c := range n {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
