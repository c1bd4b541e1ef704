// Package notice writes the repository's NOTICE file: every module the
// shipped binaries (roster-agent on each platform, roster-collector,
// rosterctl) compile in, with its version and licence, the licence read
// from the module's own files in the module cache. Its test fails when a
// new module appears that NOTICE does not list, or a licence that is not
// recognised.
package notice

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Module is one module compiled into a binary.
type Module struct {
	Path, Version, Dir string
	// License is an SPDX identifier, or "" when not recognised.
	License string
	// File is the licence file's name inside the module.
	File string
	// Notice is the module's own NOTICE file, which Apache-2.0 (section
	// 4(d)) asks redistributors to pass on.
	Notice string
}

// binaries are the main packages shipped for goos.
func binaries(goos string) []string {
	if goos == "linux" {
		return []string{"./cmd/roster-agent", "./cmd/roster-collector", "./cmd/rosterctl"}
	}
	return []string{"./cmd/roster-agent", "./cmd/rosterctl"}
}

// Modules lists, with `go list -deps`, the modules the binaries link on
// every platform they ship for (the same set `go version -m` reports of
// the built binaries, without needing them built), with their licences.
func Modules(ctx context.Context, repo string) ([]Module, error) {
	seen := map[string]Module{}
	for _, goos := range []string{"linux", "darwin", "windows"} {
		args := append([]string{"list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}}\t{{.Version}}\t{{with .Replace}}{{.Dir}}{{else}}{{.Dir}}{{end}}{{end}}{{end}}"}, binaries(goos)...)
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("go list -deps (GOOS=%s): %w: %s", goos, err, stderr.String())
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			f := strings.Split(sc.Text(), "\t")
			if len(f) != 3 || f[0] == "" {
				continue
			}
			seen[f[0]] = Module{Path: f[0], Version: f[1], Dir: f[2]}
		}
	}
	var mods []Module
	for _, m := range seen {
		m.License, m.File = license(m.Dir)
		if b, err := os.ReadFile(filepath.Join(m.Dir, "NOTICE")); err == nil {
			m.Notice = strings.TrimSpace(string(b))
		}
		mods = append(mods, m)
	}
	slices.SortFunc(mods, func(a, b Module) int { return strings.Compare(a.Path, b.Path) })
	return mods, nil
}

var licenseFile = regexp.MustCompile(`(?i)^(licen[cs]e|copying)(\.(md|txt|rst))?$`)

// license finds the module's licence file and names its licence.
func license(dir string) (id, file string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", ""
	}
	for _, e := range entries {
		if e.IsDir() || !licenseFile.MatchString(e.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		return Classify(string(b)), e.Name()
	}
	return "", ""
}

// Classify names the licence of a licence file by its telling phrases;
// "" when none matches.
func Classify(text string) string {
	t := strings.Join(strings.Fields(text), " ")
	has := func(s string) bool { return strings.Contains(t, s) }
	switch {
	case has("Apache License") && has("Version 2.0") && has("Permission is hereby granted, free of charge"):
		return "Apache-2.0 AND MIT" // go-yaml: parts under each
	case has("Apache License") && has("Version 2.0"):
		return "Apache-2.0"
	case has("Mozilla Public License Version 2.0") || has("Mozilla Public License, version 2.0"):
		return "MPL-2.0"
	case has("Permission is hereby granted, free of charge"):
		return "MIT"
	case has("Permission to use, copy, modify, and/or distribute this software for any purpose") ||
		has("Permission to use, copy, modify, and distribute this software for any purpose with or without fee"):
		return "ISC"
	case has("Redistribution and use in source and binary forms") && (has("Neither the name") || has("neither the name") || has("names of its contributors")):
		return "BSD-3-Clause"
	case has("Redistribution and use in source and binary forms"):
		return "BSD-2-Clause"
	case has("This software is provided 'as-is', without any express or implied warranty") && has("Altered source versions must be plainly marked"):
		return "Zlib"
	case has("This is free and unencumbered software released into the public domain"):
		return "Unlicense"
	}
	return ""
}

// Render is the NOTICE text.
func Render(mods []Module) string {
	var b strings.Builder
	b.WriteString(`Roster
Copyright 2026 The Roster authors

Licensed under the Apache License, Version 2.0 (see LICENSE).

The binaries (roster-agent, roster-collector, rosterctl) include the Go
standard library (BSD-3-Clause, https://go.dev/LICENSE) and the following
modules, each under the licence named, whose full text is in the module's
file named after it (` + "`go mod download -json MODULE@VERSION`" + ` gives its
directory). roster-collector also includes SQLite (public domain) through
github.com/mattn/go-sqlite3, and Zstandard (BSD-3-Clause, the module's
ZSTD_LICENSE) through github.com/DataDog/zstd. The MPL-2.0 modules are used unmodified;
their source is at the module path and version given.

This file is generated: UPDATE_GOLDEN=1 go test ./installers/notice

`)
	for _, m := range mods {
		fmt.Fprintf(&b, "%s %s\n    %s (%s)\n", m.Path, m.Version, m.License, m.File)
	}
	b.WriteString("\nThe NOTICE files of these modules follow, as they ship them.\n")
	for _, m := range mods {
		if m.Notice == "" {
			continue
		}
		fmt.Fprintf(&b, "\n--- %s %s NOTICE ---\n%s\n", m.Path, m.Version, m.Notice)
	}
	return b.String()
}
