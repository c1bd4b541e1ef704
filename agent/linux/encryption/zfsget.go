package encryption

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// ZFSCrypt is what `zfs get encryption,keystatus` says about one dataset.
type ZFSCrypt struct {
	// Encryption is "off" or the cipher ("aes-256-gcm", ...).
	Encryption string
	// KeyStatus is "available", "unavailable", or "-"/"none" when the
	// dataset is not encrypted.
	KeyStatus string
}

// ParseZFSGet parses `zfs get -H -p -o name,property,value
// encryption,keystatus`: one tab-separated "name property value" line per
// dataset and property (snapshots and volumes included).
func ParseZFSGet(b []byte) (map[string]ZFSCrypt, error) {
	out := map[string]ZFSCrypt{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 || f[0] == "" {
			return nil, fmt.Errorf("zfs get line %d: want 3 tab-separated fields, got %q", n, line)
		}
		c := out[f[0]]
		switch f[1] {
		case "encryption":
			c.Encryption = f[2]
		case "keystatus":
			c.KeyStatus = f[2]
		default:
			return nil, fmt.Errorf("zfs get line %d: unexpected property %q", n, f[1])
		}
		out[f[0]] = c
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read zfs get: %w", err)
	}
	return out, nil
}
