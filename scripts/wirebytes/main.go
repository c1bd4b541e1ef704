// Command wirebytes measures what an unchanged device's heartbeats cost on
// the wire: the collector's real API, registry (SQLite), CA and TLS
// configuration (collector/pki ServerTLS, collector/server) in this process,
// the agent's real enrolment and transport client, and between them a
// counting TCP/UDP relay on 127.0.0.1 that closes a TCP connection once it
// has been idle for a moment, as the collector's and the agent's idle
// timeouts do between heartbeats five minutes apart (HTTP/3 connections
// idle out by themselves: the client's QUIC idle timeout is set short).
// Bytes are TCP or UDP payload both ways (TLS records, QUIC packets),
// without IP/TCP/UDP headers. scripts/bench-wire.sh runs it on the
// previous build and on this one.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wirebytes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("transport", "https", "https, http3 or auto")
	n := fs.Int("heartbeats", 8, "heartbeats to send, each on a new connection")
	label := fs.String("label", "", "row label")
	gap := fs.Duration("gap", 2*time.Second, "pause between heartbeats, longer than the idle timeouts")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *n < 2 {
		fmt.Fprintln(stderr, "wirebytes: -heartbeats must be at least 2")
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "wirebytes-")
	if err != nil {
		fmt.Fprintln(stderr, "wirebytes:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	res, err := measure(ctx, dir, *mode, *n, *gap)
	if err != nil {
		fmt.Fprintln(stderr, "wirebytes:", err)
		return 1
	}
	later := slices.Clone(res.beats[1:])
	slices.Sort(later)
	med := later[len(later)/2]
	// 288 heartbeats a day at the default 5 minutes, of which the 24
	// hourly reports replace one each (a report resets the heartbeat
	// timer); an unchanged report is a delta whose body is a little larger
	// than a heartbeat's, counted here as one heartbeat plus its body.
	perDay := 288*med + 24*reportExtra
	fmt.Fprintf(stdout, "%-34s %-6s first %6d B  later %6d B (median of %d, %d resumed)  per day %7.0f KB\n",
		*label, *mode, res.beats[0], med, len(later), res.resumed, float64(perDay)/1000)
	return 0
}
