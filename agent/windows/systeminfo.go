package windows

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/width"
)

// Systeminfo is what the agent reads from `systeminfo` output.
type Systeminfo struct {
	// English is true when the labels were en-US; otherwise fields were
	// identified by their fixed position, which every language keeps.
	English      bool
	HostName     string
	OSName       string
	OSVersion    string // "10.0.19042"
	OSBuild      string // "19042"
	InstallDate  *time.Time
	Manufacturer string
	Model        string
	SystemType   string // "x64-based PC"
	Processors   []string
	// BIOSVendor is set when BIOS Version starts with the system
	// manufacturer, which systeminfo prints before the SMBIOS version.
	BIOSVendor  string
	BIOSVersion string
	BIOSDate    string // YYYY-MM-DD
	MemoryBytes uint64
	WindowsDir  string // "C:\Windows"
	TimeZone    string
	Hotfixes    []string
	NICs        []string
	// Problems lists fields that were present but could not be read, by
	// wire field name, with the reason.
	Problems map[string]string
}

// systeminfo field positions. Every localisation prints the same fields in
// the same order (see the en-US, fr-FR and zh-CN captures), so a field's
// index identifies it when its label is translated.
const (
	siHostName     = 0
	siOSName       = 1
	siOSVersion    = 2
	siInstallDate  = 9
	siBootTime     = 10
	siManufacturer = 11
	siModel        = 12
	siSystemType   = 13
	siProcessors   = 14
	siBIOSVersion  = 15
	siWindowsDir   = 16
	siTimeZone     = 21
	siTotalMemory  = 22
	siHotfixes     = 30
	siNICs         = 31
	siMinFields    = 32
)

// englishLabels are the en-US labels at the positions above.
var englishLabels = map[int]string{
	siHostName:     "Host Name",
	siOSName:       "OS Name",
	siOSVersion:    "OS Version",
	siInstallDate:  "Original Install Date",
	siBootTime:     "System Boot Time",
	siManufacturer: "System Manufacturer",
	siModel:        "System Model",
	siSystemType:   "System Type",
	siProcessors:   "Processor(s)",
	siBIOSVersion:  "BIOS Version",
	siWindowsDir:   "Windows Directory",
	siTimeZone:     "Time Zone",
	siTotalMemory:  "Total Physical Memory",
	siHotfixes:     "Hotfix(s)",
	siNICs:         "Network Card(s)",
}

type siField struct {
	label string
	value string
	more  []string // indented continuation lines, trimmed
}

var (
	osVersionRe = regexp.MustCompile(`^(\d+\.\d+\.(\d+))`)
	listItemRe  = regexp.MustCompile(`^\[\d+\][\s\x{00a0}]*:[\s\x{00a0}]*(.*)$`)
	utcOffsetRe = regexp.MustCompile(`^\(UTC(?:([+-])(\d{2}):(\d{2}))?\)`)
	dateTimeRe  = regexp.MustCompile(`^(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,4}),?\s+(\d{1,2}):(\d{2}):(\d{2})\s*(AM|PM|am|pm)?`)
	dateOnlyRe  = regexp.MustCompile(`(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,4})\s*$`)
)

// ParseSysteminfo parses `systeminfo` output (already decoded to UTF-8).
// Labels and values are separated by column: the value column is where the
// first line's value starts, measured in console cells (CJK characters take
// two), because labels and values may both contain colons.
func ParseSysteminfo(text string) (*Systeminfo, error) {
	lines := splitLines(strings.TrimPrefix(text, "\ufeff"))
	var fields []siField
	col := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			if len(fields) > 0 {
				last := &fields[len(fields)-1]
				last.more = append(last.more, strings.TrimSpace(l))
			}
			continue
		}
		if col < 0 {
			c, ok := valueColumn(l)
			if !ok {
				return nil, errors.New("systeminfo: first line has no label")
			}
			col = c
		}
		label, value := splitAtCell(l, col)
		fields = append(fields, siField{
			label: strings.TrimSuffix(strings.TrimSpace(label), ":"),
			value: strings.TrimSpace(value),
		})
	}
	if len(fields) < siMinFields {
		return nil, fmt.Errorf("systeminfo: %d fields, want at least %d", len(fields), siMinFields)
	}
	si := &Systeminfo{Problems: map[string]string{}}
	si.English = true
	for i, want := range englishLabels {
		if fields[i].label != want {
			si.English = false
			break
		}
	}
	// With translated labels, check the layout is the one we know before
	// trusting positions: the OS version and memory fields have a fixed shape.
	if !si.English {
		if !osVersionRe.MatchString(fields[siOSVersion].value) || parseMemory(fields[siTotalMemory].value) == 0 {
			return nil, errors.New("systeminfo: unrecognised field layout")
		}
	}
	f := func(i int) string { return fields[i].value }
	si.HostName = f(siHostName)
	si.OSName = f(siOSName)
	if m := osVersionRe.FindStringSubmatch(f(siOSVersion)); m != nil {
		si.OSVersion, si.OSBuild = m[1], m[2]
	}
	si.Manufacturer = f(siManufacturer)
	si.Model = f(siModel)
	si.SystemType = f(siSystemType)
	si.Processors = listItems(fields[siProcessors].more)
	si.WindowsDir = f(siWindowsDir)
	si.TimeZone = f(siTimeZone)
	si.MemoryBytes = parseMemory(f(siTotalMemory))
	si.Hotfixes = listItems(fields[siHotfixes].more)
	si.NICs = nicNames(fields[siNICs].more)

	order := dateOrder(f(siInstallDate), f(siBootTime), f(siBIOSVersion))
	offset, offErr := parseUTCOffset(si.TimeZone)
	switch t, err := parseLocalDateTime(f(siInstallDate), order); {
	case err != nil:
		si.Problems["install_date"] = fmt.Sprintf("systeminfo install date %q: %v", f(siInstallDate), err)
	case offErr != nil:
		si.Problems["install_date"] = fmt.Sprintf("systeminfo time zone %q: %v", si.TimeZone, offErr)
	default:
		u := localToUTC(t, si.TimeZone, offset)
		si.InstallDate = &u
	}
	bios := f(siBIOSVersion)
	if i := strings.LastIndex(bios, ","); i > 0 {
		if d, err := parseDate(strings.TrimSpace(bios[i+1:]), order); err == nil {
			si.BIOSVersion = strings.TrimSpace(bios[:i])
			si.BIOSDate = d.Format("2006-01-02")
		} else {
			si.BIOSVersion = bios
			si.Problems["bios_date"] = fmt.Sprintf("systeminfo BIOS date %q: %v", strings.TrimSpace(bios[i+1:]), err)
		}
	} else {
		si.BIOSVersion = bios
	}
	// "VMware, Inc. VMW71.00V..." is vendor then version; a vendor other
	// than the system manufacturer ("Phoenix Technologies LTD 6.00") cannot
	// be told from the version and stays in it.
	if m := strings.TrimSpace(si.Manufacturer); m != "" && strings.HasPrefix(si.BIOSVersion, m+" ") {
		si.BIOSVendor = m
		si.BIOSVersion = strings.TrimSpace(strings.TrimPrefix(si.BIOSVersion, m))
	}
	return si, nil
}

// cells is the console width of s: East Asian wide characters take two.
func cells(s string) int {
	n := 0
	for _, r := range s {
		switch width.LookupRune(r).Kind() {
		case width.EastAsianWide, width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}

// valueColumn finds where the first line's value starts: after the first
// colon and the spaces that follow it.
func valueColumn(l string) (int, bool) {
	i := strings.IndexAny(l, ":")
	if i < 0 {
		return 0, false
	}
	j := i + 1
	for j < len(l) && l[j] == ' ' {
		j++
	}
	return cells(l[:j]), true
}

// splitAtCell splits l at console column col. A label longer than the
// column (win11's "Virtualization-based security:") ends at its first
// colon-and-space instead.
func splitAtCell(l string, col int) (string, string) {
	n := 0
	for i, r := range l {
		if n >= col {
			label := l[:i]
			if strings.HasSuffix(strings.TrimRight(label, " "), ":") || strings.HasSuffix(label, " ") {
				return label, l[i:]
			}
			break
		}
		n += cells(string(r))
	}
	if i := strings.Index(l, ": "); i >= 0 {
		return l[:i+1], l[i+1:]
	}
	return l, ""
}

func listItems(lines []string) []string {
	var out []string
	for _, l := range lines {
		if m := listItemRe.FindStringSubmatch(l); m != nil {
			out = append(out, strings.TrimSpace(m[1]))
		}
	}
	return out
}

// nicNames keeps the adapter names: every [NN] item that is not one of
// the IP addresses listed under an adapter.
func nicNames(lines []string) []string {
	var out []string
	for _, l := range lines {
		if m := listItemRe.FindStringSubmatch(l); m != nil && !looksLikeIP(m[1]) {
			out = append(out, strings.TrimSpace(m[1]))
		}
	}
	return out
}

func looksLikeIP(s string) bool {
	s = strings.TrimSpace(s)
	return strings.Count(s, ".") == 3 || strings.Contains(s, "::") || strings.Count(s, ":") >= 2
}

// parseMemory reads "2,047 MB", "2 047 Mo" (NBSP separator) or "2,047 MB"
// as mebibytes, which is what systeminfo means.
func parseMemory(s string) uint64 {
	var digits strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r == ',' || r == '.' || r == ' ' || r == '\u00a0' || r == '\u202f':
		default:
			// The unit starts.
			goto done
		}
	}
done:
	n, err := strconv.ParseUint(digits.String(), 10, 64)
	if err != nil {
		return 0
	}
	return n << 20
}

// Date orders.
const (
	orderUnknown = iota
	orderMDY
	orderDMY
	orderYMD
)

// dateOrder works out how this systeminfo writes dates from every date it
// printed: a four-digit first part is year-first; a 12-hour clock or a
// middle part over 12 is month-first (en-US); a first part over 12 is
// day-first.
func dateOrder(samples ...string) int {
	for _, s := range samples {
		m := dateTimeRe.FindStringSubmatch(s)
		var a, b string
		if m != nil {
			if m[7] != "" {
				return orderMDY
			}
			a, b = m[1], m[2]
		} else if d := dateOnlyRe.FindStringSubmatch(s); d != nil {
			a, b = d[1], d[2]
		} else {
			continue
		}
		if len(a) == 4 {
			return orderYMD
		}
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		if x > 12 {
			return orderDMY
		}
		if y > 12 {
			return orderMDY
		}
	}
	return orderUnknown
}

func ymd(a, b, c string, order int) (int, int, int, error) {
	x, _ := strconv.Atoi(a)
	y, _ := strconv.Atoi(b)
	z, _ := strconv.Atoi(c)
	switch order {
	case orderYMD:
		return x, y, z, nil
	case orderMDY:
		return z, x, y, nil
	case orderDMY:
		return z, y, x, nil
	}
	return 0, 0, 0, errors.New("ambiguous day/month order")
}

func parseLocalDateTime(s string, order int) (time.Time, error) {
	m := dateTimeRe.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, errors.New("not a date and time")
	}
	yy, mm, dd, err := ymd(m[1], m[2], m[3], order)
	if err != nil {
		return time.Time{}, err
	}
	h, _ := strconv.Atoi(m[4])
	mi, _ := strconv.Atoi(m[5])
	se, _ := strconv.Atoi(m[6])
	switch strings.ToUpper(m[7]) {
	case "PM":
		if h < 12 {
			h += 12
		}
	case "AM":
		if h == 12 {
			h = 0
		}
	}
	t := time.Date(yy, time.Month(mm), dd, h, mi, se, 0, time.UTC)
	if t.Year() != yy || int(t.Month()) != mm || t.Day() != dd || h > 23 {
		return time.Time{}, errors.New("date out of range")
	}
	return t, nil
}

func parseDate(s string, order int) (time.Time, error) {
	m := dateOnlyRe.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, errors.New("not a date")
	}
	yy, mm, dd, err := ymd(m[1], m[2], m[3], order)
	if err != nil {
		return time.Time{}, err
	}
	t := time.Date(yy, time.Month(mm), dd, 0, 0, 0, 0, time.UTC)
	if t.Year() != yy || int(t.Month()) != mm || t.Day() != dd {
		return time.Time{}, errors.New("date out of range")
	}
	return t, nil
}

// windowsZones maps the en-US display names of common Windows time zones
// (after the "(UTC..)" prefix) to IANA zones, so daylight saving time can
// be applied to systeminfo's local times.
var windowsZones = map[string]string{
	"Pacific Time (US & Canada)":                        "America/Los_Angeles",
	"Mountain Time (US & Canada)":                       "America/Denver",
	"Central Time (US & Canada)":                        "America/Chicago",
	"Eastern Time (US & Canada)":                        "America/New_York",
	"Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna":  "Europe/Berlin",
	"Brussels, Copenhagen, Madrid, Paris":               "Europe/Paris",
	"Dublin, Edinburgh, Lisbon, London":                 "Europe/London",
	"Belgrade, Bratislava, Budapest, Ljubljana, Prague": "Europe/Budapest",
	"Sarajevo, Skopje, Warsaw, Zagreb":                  "Europe/Warsaw",
	"Coordinated Universal Time":                        "UTC",
}

// localToUTC converts a systeminfo local time to UTC. With a known zone
// (and the host's time zone database) daylight saving time is applied;
// otherwise the zone's standard offset from its name is used, which is an
// hour off in summer.
func localToUTC(t time.Time, tz string, std time.Duration) time.Time {
	name := strings.TrimSpace(utcOffsetRe.ReplaceAllString(tz, ""))
	if iana, ok := windowsZones[name]; ok {
		if loc, err := time.LoadLocation(iana); err == nil {
			return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, loc).UTC()
		}
	}
	return t.Add(-std).UTC()
}

// parseUTCOffset reads the "(UTC-08:00)" prefix of a time zone name.
func parseUTCOffset(tz string) (time.Duration, error) {
	m := utcOffsetRe.FindStringSubmatch(tz)
	if m == nil {
		return 0, errors.New("no UTC offset")
	}
	if m[1] == "" {
		return 0, nil
	}
	h, _ := strconv.Atoi(m[2])
	mi, _ := strconv.Atoi(m[3])
	d := time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute
	if m[1] == "-" {
		d = -d
	}
	return d, nil
}
