// Command roster-agent is Roster's endpoint agent. See agent/cli for the
// commands and README.md for how to use them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rosterhq/roster/agent/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Version: version})
	stop()
	os.Exit(code)
}
