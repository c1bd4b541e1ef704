package hardware

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// dmiRecord is one structure in `dmidecode` text output.
type dmiRecord struct {
	// Handle is "0x0001"; empty when the output has no Handle lines
	// (some distributions' dmidecode and hand-saved outputs drop them).
	Handle string
	// Type is the SMBIOS structure type, -1 when there is no Handle line.
	Type int
	// Title is the structure's name line, "System Information".
	Title string
	// Props holds the "Key: Value" lines of the first indentation level.
	Props map[string]string
	// Lists holds the deeper-indented lines under a key that has no value
	// on its own line ("Characteristics:", "Flags:").
	Lists map[string][]string
}

// parseDmidecode parses the text `dmidecode` prints, in the 3.x layout
// and the 2.x one ("Handle", "DMI type" and the title on separate,
// indented lines). It accepts tab or
// space indentation and output without "Handle" lines; lines before the
// first structure (version banner, "SMBIOS 2.7 present.") are skipped.
func parseDmidecode(r io.Reader) ([]dmiRecord, error) {
	var (
		recs      []dmiRecord
		cur       *dmiRecord
		pending   = dmiRecord{Type: -1} // Handle line seen, title not yet
		hasHandle bool
		prevBlank = true
		baseInd   = -1 // indentation of the current record's key lines
		lastKey   string
	)
	// startRecord opens the structure titled title under the pending
	// Handle line (if any).
	startRecord := func(title string) {
		recs = append(recs, dmiRecord{
			Handle: pending.Handle,
			Type:   pending.Type,
			Title:  title,
			Props:  map[string]string{},
			Lists:  map[string][]string{},
		})
		cur = &recs[len(recs)-1]
		pending = dmiRecord{Type: -1}
		baseInd = -1
		lastKey = ""
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \r")
		if strings.TrimSpace(line) == "" {
			prevBlank = true
			continue
		}
		ind := indentWidth(line)
		text := strings.TrimSpace(line)
		if pending.Handle != "" && ind > 0 {
			// dmidecode 2.x (up to 2.9 or so) prints the type and the
			// title indented on lines of their own under a bare
			// "Handle 0x0000": "\tDMI type 0, 20 bytes." then
			// "\tBIOS Information".
			prevBlank = false
			if t, ok := parseTypeLine(text); ok {
				pending.Type = t
				continue
			}
			startRecord(text)
			continue
		}
		if ind == 0 {
			wasBlank := prevBlank
			prevBlank = false
			if h, t, ok := parseHandleLine(text); ok {
				pending = dmiRecord{Handle: h, Type: t}
				hasHandle = true
				cur = nil
				continue
			}
			// A title follows a Handle line, or (in output without
			// Handle lines) a blank line. Any other column-0 line is
			// banner text or a comment.
			afterHandle := pending.Handle != ""
			if strings.HasPrefix(text, "#") || !afterHandle && (hasHandle || !wasBlank) {
				cur = nil
				continue
			}
			startRecord(text)
			continue
		}
		prevBlank = false
		if cur == nil {
			continue
		}
		if baseInd < 0 {
			baseInd = ind
		}
		if ind > baseInd {
			if lastKey != "" {
				cur.Lists[lastKey] = append(cur.Lists[lastKey], text)
			}
			continue
		}
		key, val, ok := strings.Cut(text, ":")
		if !ok {
			// A value line without a key ("Inactive" structures print a
			// bare word); keep it under its own text.
			lastKey = ""
			continue
		}
		key = strings.TrimSpace(key)
		val = strings.TrimSpace(val)
		if _, dup := cur.Props[key]; !dup {
			cur.Props[key] = val
		}
		lastKey = key
	}
	// Banner lines taken for titles ("Getting SMBIOS data from sysfs.")
	// have neither a Handle nor properties.
	kept := recs[:0]
	for _, r := range recs {
		if r.Handle != "" || len(r.Props) > 0 || len(r.Lists) > 0 {
			kept = append(kept, r)
		}
	}
	if err := sc.Err(); err != nil {
		return kept, fmt.Errorf("read dmidecode output: %w", err)
	}
	return kept, nil
}

// indentWidth counts leading indentation, a tab counting as 8 columns so
// tab- and space-indented outputs compare the same way.
func indentWidth(line string) int {
	n := 0
	for _, c := range line {
		switch c {
		case ' ':
			n++
		case '\t':
			n += 8
		default:
			return n
		}
	}
	return n
}

// parseHandleLine reads "Handle 0x0001, DMI type 1, 27 bytes".
func parseHandleLine(s string) (handle string, typ int, ok bool) {
	rest, found := strings.CutPrefix(s, "Handle ")
	if !found {
		return "", 0, false
	}
	handle, rest, _ = strings.Cut(rest, ",")
	typ = -1
	if _, after, found := strings.Cut(rest, "DMI type "); found {
		num, _, _ := strings.Cut(after, ",")
		if n, err := strconv.Atoi(strings.TrimSpace(num)); err == nil {
			typ = n
		}
	}
	return strings.TrimSpace(handle), typ, true
}

// parseTypeLine reads dmidecode 2.x's "DMI type 1, 25 bytes." line.
func parseTypeLine(s string) (typ int, ok bool) {
	rest, found := strings.CutPrefix(s, "DMI type ")
	if !found {
		return 0, false
	}
	num, _, _ := strings.Cut(rest, ",")
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil {
		return 0, false
	}
	return n, true
}

// dmidecodeFields picks the identity facts out of parsed dmidecode
// records, keyed by wire.Hardware JSON field name, raw (not normalised).
// A field whose structure or key is missing is absent from the map.
func dmidecodeFields(recs []dmiRecord) map[string]string {
	out := map[string]string{}
	take := func(title, key, field string) {
		for _, r := range recs {
			if r.Title != title {
				continue
			}
			if v, ok := r.Props[key]; ok {
				if _, set := out[field]; !set {
					out[field] = v
				}
			}
			// Only the first structure of a kind describes the system
			// (later Base Board records are add-in cards).
			return
		}
	}
	take("System Information", "Manufacturer", fieldVendor)
	take("System Information", "Product Name", fieldModel)
	take("System Information", "Serial Number", fieldSystemSerial)
	take("System Information", "UUID", fieldSystemUUID)
	take("Base Board Information", "Serial Number", fieldBoardSerial)
	take("Chassis Information", "Type", fieldChassisType)
	take("Chassis Information", "Asset Tag", fieldAssetTag)
	take("BIOS Information", "Vendor", fieldBIOSVendor)
	take("BIOS Information", "Version", fieldBIOSVersion)
	take("BIOS Information", "Release Date", fieldBIOSDate)
	take("System Information", "Version", fieldSystemVersion)
	take("Chassis Information", "Serial Number", fieldChassisSerial)
	return out
}
