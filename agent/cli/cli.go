// Package cli is roster-agent's command line: it parses arguments, builds
// the logger and the host, and runs the subcommand. cmd/roster-agent/main.go
// only wires it to the process.
package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/rosterhq/roster/agent/service"
)

// Env is what a run of the agent gets from its process.
type Env struct {
	Stdout, Stderr io.Writer
	Version        string
	// GOOS is the running platform (runtime.GOOS outside tests).
	GOOS string
	// Getenv reads the environment (os.Getenv when nil): the enrolment
	// secret may come from ROSTER_ENROLL_SECRET.
	Getenv func(string) string
}

func (e Env) getenv(key string) string {
	if e.Getenv == nil {
		return os.Getenv(key)
	}
	return e.Getenv(key)
}

const usage = `roster-agent reports this device to a Roster collector.

Usage:
  roster-agent inventory [flags]   collect once and print the snapshot as JSON
  roster-agent enroll [flags]      enrol this device with a collector
  roster-agent report --once       collect and send one report to the collector
  roster-agent run [flags]         the check-in loop (what the service runs)
  roster-agent install [flags]     enrol if needed, register and start the system service
  roster-agent uninstall|start|stop|restart
                                   control the system service
  roster-agent status [--json]     whether the service runs and how its reports go
                                   (exit 0 running, 3 not running, 1 error)
  roster-agent version             print the agent version

Run "roster-agent <command> -h" for a command's flags.
`

// Run runs the agent with args (without the program name) and returns the
// process exit code: 0 ok, 1 failure, 2 bad usage.
func Run(ctx context.Context, args []string, env Env) int {
	if env.GOOS == "" {
		env.GOOS = runtime.GOOS
	}
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "inventory":
		return runInventory(ctx, args[1:], env)
	case "enroll":
		return runEnroll(ctx, args[1:], env)
	case "report":
		return runReport(ctx, args[1:], env)
	case "run":
		return runRun(ctx, args[1:], env)
	case "install", "uninstall", "start", "stop", "restart", "status":
		return runService(ctx, args, env, service.Open)
	case "version", "--version", "-version":
		fmt.Fprintf(env.Stdout, "roster-agent %s %s/%s\n", env.Version, runtime.GOOS, runtime.GOARCH)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, usage)
		return 0
	}
	fmt.Fprintf(env.Stderr, "roster-agent: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// newLogger logs text to a terminal and JSON otherwise (under a service
// manager), always to stderr so stdout stays the command's output.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// newFlagSet returns a flag set that reports errors to stderr and never
// exits the process.
func newFlagSet(name string, stderr io.Writer, help string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: roster-agent %s [flags]\n\n%s\nFlags:\n", name, help)
		fs.PrintDefaults()
	}
	return fs
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
