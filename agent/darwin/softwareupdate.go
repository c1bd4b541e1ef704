package darwin

import (
	"bufio"
	"bytes"
	"strings"
)

// swUpdate is one update `softwareupdate --list` offers.
type swUpdate struct {
	Label       string
	Title       string
	Version     string
	Recommended bool
	// Restart is set for "Action: restart": installing it restarts the Mac.
	Restart bool
	// Security is set when Apple's title names it a security update or
	// response ("Security Update 2021-005", "Rapid Security Response").
	// softwareupdate has no security flag, and macOS point releases carry
	// security fixes without saying so, so false means "not labelled".
	Security bool
}

// swUpdateList is the parsed output.
type swUpdateList struct {
	Updates []swUpdate
	// Answered is true when the output says how it ended: "No new software
	// available." or "Software Update found the following ...". Without it
	// an empty list is not a known zero (the check may have failed, or its
	// closing line went to stderr).
	Answered bool
}

// swKeys are the fields of a modern (10.15+) entry's detail line:
// "Title: Safari, Version: 27.0, Size: 249465KiB, Recommended: YES, Action: restart,".
var swKeys = map[string]bool{"Title": true, "Version": true, "Size": true, "Recommended": true, "Action": true}

// parseSoftwareUpdateList parses `softwareupdate --list`. Entries start with
// "* Label: <label>" (10.15 and later) or "* <label>" (older releases), and
// the next indented line describes them.
func parseSoftwareUpdateList(b []byte) swUpdateList {
	var out swUpdateList
	var cur *swUpdate
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		switch {
		case strings.Contains(line, "No new software available"),
			strings.HasPrefix(line, "Software Update found the following"):
			out.Answered = true
		case strings.HasPrefix(line, "* "):
			label := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(line, "* "), "Label:"))
			out.Updates = append(out.Updates, swUpdate{Label: label})
			cur = &out.Updates[len(out.Updates)-1]
		case cur != nil && line != "" && (strings.HasPrefix(raw, "\t") || strings.HasPrefix(raw, " ")):
			if strings.HasPrefix(line, "Title: ") {
				fillModernUpdate(cur, line)
			} else {
				fillLegacyUpdate(cur, line)
			}
			cur.Security = strings.Contains(cur.Title, "Security") || strings.Contains(cur.Label, "Security")
			cur = nil
		}
	}
	return out
}

// fillModernUpdate reads "Title: X, Version: Y, Size: Z, Recommended: YES,
// Action: restart,". A value may itself contain ", ", so a fragment that
// does not start with a known key continues the previous value.
func fillModernUpdate(u *swUpdate, line string) {
	fields := map[string]string{}
	key := ""
	for _, part := range strings.Split(strings.TrimSuffix(line, ","), ", ") {
		if k, v, ok := strings.Cut(part, ": "); ok && swKeys[k] {
			key, fields[k] = k, strings.TrimSpace(v)
			continue
		}
		if key != "" {
			fields[key] += ", " + part
		}
	}
	u.Title = strings.TrimSuffix(fields["Title"], ",")
	u.Version = strings.TrimSuffix(fields["Version"], ",")
	u.Recommended = strings.EqualFold(strings.TrimSuffix(fields["Recommended"], ","), "YES")
	u.Restart = strings.Contains(strings.ToLower(fields["Action"]), "restart")
}

// fillLegacyUpdate reads the pre-10.15 form:
// "Security Update 2019-001 (10.12.6), 1017749K [recommended] [restart]".
func fillLegacyUpdate(u *swUpdate, line string) {
	desc, _, _ := strings.Cut(line, "), ")
	if open := strings.LastIndex(desc, " ("); open > 0 {
		u.Title, u.Version = desc[:open], strings.TrimSuffix(desc[open+2:], ")")
	} else {
		u.Title = desc
	}
	u.Recommended = strings.Contains(line, "[recommended]")
	u.Restart = strings.Contains(line, "[restart]")
}
