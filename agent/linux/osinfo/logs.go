package osinfo

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"
)

// PackageEvent is one package installed or upgraded, as a log records it.
type PackageEvent struct {
	At      time.Time
	Action  string // install, upgrade
	Package string
}

// newLineScanner allows long lines: apt history's Install: line lists
// every package of a transaction on one line.
func newLineScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	return sc
}

// ParseDpkgLog returns the newest install or upgrade event in a dpkg.log
// ("2025-06-24 14:36:25 upgrade libsystemd0:amd64 252.36-1 252.38-1").
// dpkg writes local time without a zone, so the host's zone is passed in.
// ok is false when the log holds no install or upgrade.
func ParseDpkgLog(r io.Reader, loc *time.Location) (ev PackageEvent, ok bool, err error) {
	sc := newLineScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || (f[2] != "install" && f[2] != "upgrade") {
			continue
		}
		t, perr := time.ParseInLocation(time.DateTime, f[0]+" "+f[1], loc)
		if perr != nil {
			continue
		}
		// Later lines are normally newer, but a clock step or a
		// concatenated log must not make an older event win.
		if !ok || !t.Before(ev.At) {
			ev, ok = PackageEvent{At: t, Action: f[2], Package: f[3]}, true
		}
	}
	if err := sc.Err(); err != nil {
		return ev, ok, fmt.Errorf("read dpkg log: %w", err)
	}
	return ev, ok, nil
}

// ParseAptHistory returns the end of the newest apt transaction in
// /var/log/apt/history.log that installed or upgraded something. Each
// transaction is a stanza of "Key: value" lines: Start-Date, Commandline,
// Install/Upgrade/Remove/Purge/..., End-Date. Times are local.
func ParseAptHistory(r io.Reader, loc *time.Location) (ev PackageEvent, ok bool, err error) {
	var start, end string
	var action string
	flush := func() {
		defer func() { start, end, action = "", "", "" }()
		if action == "" {
			return
		}
		when := end
		if when == "" {
			when = start // a transaction cut short by a crash has no End-Date
		}
		t, perr := time.ParseInLocation(time.DateTime, strings.Join(strings.Fields(when), " "), loc)
		if perr != nil {
			return
		}
		if !ok || !t.Before(ev.At) {
			ev, ok = PackageEvent{At: t, Action: action}, true
		}
	}
	sc := newLineScanner(r)
	for sc.Scan() {
		line := sc.Text()
		key, val, found := strings.Cut(line, ": ")
		if !found {
			if strings.TrimSpace(line) == "" {
				flush()
			}
			continue
		}
		switch key {
		case "Start-Date":
			// Some logs lack the blank line between transactions.
			flush()
			start = val
		case "End-Date":
			end = val
		case "Install", "Upgrade":
			if action != "upgrade" {
				action = strings.ToLower(key)
			}
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return ev, ok, fmt.Errorf("read apt history: %w", err)
	}
	return ev, ok, nil
}

// ParseZyppHistory returns the newest package install in libzypp's
// /var/log/zypp/history: pipe-separated lines "time|install|name|
// version|arch|requested by|repo|checksum", "#" comment lines. libzypp
// logs upgrades as installs of the new version. Times are local.
func ParseZyppHistory(r io.Reader, loc *time.Location) (ev PackageEvent, ok bool, err error) {
	sc := newLineScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) < 3 || strings.TrimSpace(f[1]) != "install" {
			continue
		}
		t, perr := time.ParseInLocation(time.DateTime, strings.TrimSpace(f[0]), loc)
		if perr != nil {
			continue
		}
		if !ok || !t.Before(ev.At) {
			ev, ok = PackageEvent{At: t, Action: "install", Package: strings.TrimSpace(f[2])}, true
		}
	}
	if err := sc.Err(); err != nil {
		return ev, ok, fmt.Errorf("read zypp history: %w", err)
	}
	return ev, ok, nil
}
