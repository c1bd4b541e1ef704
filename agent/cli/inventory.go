package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/inventory"
	"github.com/rosterhq/roster/agent/probe"
)

const inventoryHelp = `Collects hardware identity, disk encryption, OS patch level and installed
software once and prints the snapshot as JSON. Needs no collector. With
--host-root it reads a captured host tree instead of the live machine.`

func runInventory(ctx context.Context, args []string, env Env) int {
	fs := newFlagSet("inventory", env.Stderr, inventoryHelp)
	goos := fs.String("os", env.GOOS, "platform whose probes run: linux, darwin or windows")
	root := fs.String("host-root", "", "collect from a captured host tree in `DIR` instead of the live machine")
	listCommands := fs.Bool("list-commands", false, "print every command line the platform's probes may run, then exit")
	only := fs.String("only", "", "comma-separated `areas` to collect: hardware,encryption,os,software (default all)")
	skip := fs.String("skip", "", "comma-separated probe `names` not to run (e.g. os/updates); they are listed as skipped")
	pretty := fs.Bool("pretty", false, "indent the JSON for people")
	timeout := fs.Duration("timeout", probe.DefaultTimeout, "time limit for each probe")
	verbose := fs.Bool("v", false, "log probe progress to stderr")
	capture := fs.String("capture", "", "also write everything the probes read (files, command outputs) to `DIR` as a captured host tree; it holds serials and the software list")
	if code, ok := parseArgs(fs, args, "roster-agent inventory", env.Stderr); !ok {
		return code
	}
	probes, err := inventory.Probes(*goos)
	if err != nil {
		fmt.Fprintf(env.Stderr, "roster-agent inventory: --os: %v\n", err)
		return 2
	}
	if *listCommands {
		for _, c := range probe.Commands(probes) {
			fmt.Fprintln(env.Stdout, c)
		}
		return 0
	}
	var h *host.Host
	if *root != "" {
		h, err = host.Captured(*goos, *root)
		if err != nil {
			fmt.Fprintf(env.Stderr, "roster-agent inventory: %v\n", err)
			return 1
		}
	} else {
		if *goos != env.GOOS {
			fmt.Fprintf(env.Stderr, "roster-agent inventory: --os %s needs --host-root on a %s machine: a live host can only run its own platform's probes\n", *goos, env.GOOS)
			return 2
		}
		h = host.Live(*goos)
	}
	if *capture != "" {
		if h, err = host.Record(h, *capture); err != nil {
			fmt.Fprintf(env.Stderr, "roster-agent inventory: %v\n", err)
			return 1
		}
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	areas := splitList(*only)
	for _, a := range areas {
		if !slices.Contains([]string{"hardware", "encryption", "os", "software"}, a) {
			fmt.Fprintf(env.Stderr, "roster-agent inventory: --only: unknown area %q (want hardware, encryption, os, software)\n", a)
			return 2
		}
	}
	skipped := splitList(*skip)
	for _, name := range skipped {
		if !slices.ContainsFunc(probes, func(p probe.Probe) bool { return p.Name() == name }) {
			fmt.Fprintf(env.Stderr, "roster-agent inventory: --skip: no %s probe is called %q\n", *goos, name)
			return 2
		}
	}
	snap, err := inventory.Collect(ctx, h, probe.Options{
		Timeout:      *timeout,
		Only:         areas,
		Skip:         skipped,
		AgentVersion: env.Version,
		Logger:       newLogger(env.Stderr, level),
		Now:          time.Now,
	})
	if err != nil {
		fmt.Fprintf(env.Stderr, "roster-agent inventory: %v\n", err)
		return 1
	}
	if err := host.RecordErr(h); err != nil {
		fmt.Fprintf(env.Stderr, "roster-agent inventory: capture incomplete: %v\n", err)
		return 1
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetEscapeHTML(false)
	if *pretty {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(snap); err != nil {
		fmt.Fprintf(env.Stderr, "roster-agent inventory: write snapshot: %v\n", err)
		return 1
	}
	return 0
}
