// Command roster-collector is Roster's server: it enrols agents, ingests
// their reports into the SQLite registry and serves the admin API. See
// run.go for the commands and docs/roster-collector.md for how to use them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
