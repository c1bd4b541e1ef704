package windows

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Hotfix is one row of `wmic qfe`.
type Hotfix struct {
	ID          string // KB number, "KB4462930"
	Description string // "Update", "Security Update", "Hotfix"
	InstalledBy string
	// InstalledOn is the install date (midnight UTC) or nil when the row
	// has none or an unreadable one.
	InstalledOn *time.Time
	// InstalledOnRaw is the text as printed, for error messages.
	InstalledOnRaw string
}

// ParseWmicQFE parses the table `wmic qfe` prints (decoded to UTF-8). The
// columns are fixed-width, with their starts given by the header line.
// Lines before the header (a stray "cat q" in one capture) are
// skipped.
func ParseWmicQFE(text string) ([]Hotfix, error) {
	lines := splitLines(strings.TrimPrefix(text, "\ufeff"))
	h := -1
	for i, l := range lines {
		if strings.Contains(l, "HotFixID") && strings.Contains(l, "InstalledOn") {
			h = i
			break
		}
	}
	if h < 0 {
		return nil, errors.New("wmic qfe: no header line")
	}
	header := []rune(lines[h])
	type column struct {
		name  string
		start int
	}
	var cols []column
	for i := 0; i < len(header); {
		if header[i] == ' ' {
			i++
			continue
		}
		j := i
		for j < len(header) && header[j] != ' ' {
			j++
		}
		cols = append(cols, column{name: string(header[i:j]), start: i})
		i = j
	}
	var out []Hotfix
	for _, l := range lines[h+1:] {
		if strings.TrimSpace(l) == "" {
			continue
		}
		row := map[string]string{}
		// A value normally starts exactly at its column. wmic sizes columns
		// in bytes of some code page, so after a non-ASCII value (the
		// Cyrillic InstalledBy) later values start early; such a value
		// belongs to the next column and shifts the rest of the row.
		drift := 0
		for _, tok := range cells2(l) {
			pos := tok.start + drift
			ci := -1
			for i, c := range cols {
				if c.start == pos {
					ci = i
					break
				}
				if c.start > pos {
					ci = i
					drift += c.start - pos
					break
				}
			}
			if ci < 0 {
				ci = len(cols) - 1
			}
			row[cols[ci].name] = tok.text
		}
		get := func(name string) string { return row[name] }
		hf := Hotfix{
			ID:             get("HotFixID"),
			Description:    get("Description"),
			InstalledBy:    get("InstalledBy"),
			InstalledOnRaw: get("InstalledOn"),
		}
		if hf.ID == "" {
			continue
		}
		if hf.InstalledOnRaw != "" {
			if t, err := parseInstalledOn(hf.InstalledOnRaw); err == nil {
				hf.InstalledOn = &t
			}
		}
		out = append(out, hf)
	}
	return out, nil
}

type token struct {
	start int // in runes
	text  string
}

// cells2 splits a table row at runs of two or more spaces; single spaces
// belong to values ("Security Update", "NT AUTHORITY\SYSTEM").
func cells2(l string) []token {
	r := []rune(l)
	var out []token
	i := 0
	for i < len(r) {
		if r[i] == ' ' {
			i++
			continue
		}
		j := i
		for j < len(r) && !(r[j] == ' ' && (j+1 >= len(r) || r[j+1] == ' ')) {
			j++
		}
		out = append(out, token{start: i, text: string(r[i:j])})
		i = j
	}
	return out
}

// parseInstalledOn reads Win32_QuickFixEngineering.InstalledOn. WMI writes
// it M/D/YYYY whatever the display language (the ru-RU capture has
// 3/18/2014); some old hotfixes carry a 64-bit FILETIME in hex instead.
func parseInstalledOn(s string) (time.Time, error) {
	if len(s) == 16 {
		if ft, err := strconv.ParseUint(s, 16, 64); err == nil {
			// FILETIME: 100 ns ticks since 1601-01-01 UTC.
			const epochDiff = 116444736000000000
			if ft > epochDiff {
				t := time.Unix(0, int64(ft-epochDiff)*100).UTC()
				return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
			}
		}
	}
	t, err := parseDate(s, orderMDY)
	if err != nil {
		return time.Time{}, fmt.Errorf("hotfix date %q: %w", s, err)
	}
	return t, nil
}

// LatestHotfix returns the newest install date among the hotfixes, or nil.
func LatestHotfix(hs []Hotfix) *time.Time {
	var latest *time.Time
	for _, h := range hs {
		if h.InstalledOn != nil && (latest == nil || h.InstalledOn.After(*latest)) {
			t := *h.InstalledOn
			latest = &t
		}
	}
	return latest
}
