// Command rosterctl is Roster's admin command line. See collector/ctl for
// the commands and docs/rosterctl.md for how to use them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rosterhq/roster/collector/ctl"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	home, _ := os.UserHomeDir()
	code := ctl.Run(ctx, os.Args[1:], ctl.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, HomeDir: home, Version: version,
		Stdin: os.Stdin, ReadPassword: passwordReader(os.Stdin, os.Stderr), StderrTerminal: isTerminal(os.Stderr)})
	stop()
	os.Exit(code)
}
