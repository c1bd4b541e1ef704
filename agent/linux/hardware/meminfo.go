package hardware

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// parseMeminfo parses /proc/meminfo into bytes by key ("MemTotal"); values
// in kB are multiplied out, unit-less ones (HugePages_Total) are counts.
func parseMeminfo(r io.Reader) (map[string]uint64, error) {
	out := map[string]uint64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			continue
		}
		if len(fields) > 1 {
			if !strings.EqualFold(fields[1], "kB") {
				continue
			}
			if n > (1<<64-1)/1024 {
				continue
			}
			n *= 1024
		}
		out[strings.TrimSpace(key)] = n
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read meminfo: %w", err)
	}
	return out, nil
}
