// Command roster-loadgen measures a running roster-collector's report
// ingest: it enrols many simulated devices, each with its own key and a
// hardware identity derived from one real snapshot, sends their reports
// (full or small deltas, over HTTPS or HTTP/3) for a while and prints
// throughput, latency percentiles, errors and bytes on the wire. It only
// talks to loopback collectors. scripts/bench-ingest.sh drives it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
