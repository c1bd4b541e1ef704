package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/inventory"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/agent/transport"
	"github.com/rosterhq/roster/shared/wire"
)

// Bounds on one run: the tool loads a machine, so it refuses to run away.
const (
	maxDevices     = 10000
	maxConcurrency = 512
	maxDuration    = 10 * time.Minute
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "fleet" {
		return runFleet(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("roster-loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opt Options
	var snapFile string
	var asJSON bool
	fs.StringVar(&opt.Collector, "collector", "", "collector `URL` on loopback, https://127.0.0.1:PORT")
	fs.StringVar(&opt.Fingerprint, "ca-fingerprint", "", "collector CA `fingerprint` (sha256:…)")
	fs.StringVar(&opt.Secret, "secret", "", "enrolment `secret` (needs at least --devices uses)")
	fs.IntVar(&opt.Devices, "devices", 50, "simulated `devices`")
	fs.DurationVar(&opt.Duration, "duration", 10*time.Second, "timed phase `length`")
	fs.StringVar(&opt.Kind, "kind", wire.ReportDelta, "what the timed phase sends (`kind`): full or delta reports, or heartbeat")
	fs.StringVar(&opt.Transport, "transport", transport.ModeHTTPS, "`transport`: https or http3")
	fs.IntVar(&opt.Concurrency, "concurrency", 8, "reports in flight at once")
	fs.StringVar(&snapFile, "snapshot", "", "snapshot JSON `file` the devices derive from (default: this machine's live inventory)")
	fs.BoolVar(&asJSON, "json", false, "print the figures as JSON")
	fs.IntVar(&opt.CollectorPID, "collector-pid", 0, "collector process `id` on this machine whose CPU time per request to report")
	fs.StringVar(&opt.Fleet, "fleet", "", "`name` of this run's simulated machines (letters, digits, '-'); default a random one, so every run enrols machines of its own")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "roster-loadgen: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := validate(opt); err != nil {
		fmt.Fprintf(stderr, "roster-loadgen: %v\n", err)
		return 2
	}
	opt.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	snap, err := loadSnapshot(ctx, snapFile, opt.Logger)
	if err != nil {
		fmt.Fprintf(stderr, "roster-loadgen: %v\n", err)
		return 1
	}
	opt.Snapshot = snap
	if opt.Fleet == "" {
		opt.Fleet = uuid.NewString()[:8]
	}
	res, err := Run(ctx, opt)
	if err != nil {
		fmt.Fprintf(stderr, "roster-loadgen: %v\n", err)
		return 1
	}
	if asJSON {
		err = writeJSON(stdout, res)
	} else {
		err = writeText(stdout, res)
	}
	if err != nil {
		fmt.Fprintf(stderr, "roster-loadgen: %v\n", err)
		return 1
	}
	return 0
}

func validate(opt Options) error {
	u, err := url.Parse(opt.Collector)
	switch {
	case opt.Collector == "":
		return errors.New("--collector is required")
	case err != nil || u.Scheme != "https" || u.Hostname() == "":
		return fmt.Errorf("--collector %q: want https://HOST:PORT", opt.Collector)
	case !loopback(u.Hostname()):
		return fmt.Errorf("--collector %q: only loopback collectors (127.0.0.1, ::1, localhost) are load-tested", opt.Collector)
	case opt.Fingerprint == "":
		return errors.New("--ca-fingerprint is required")
	case opt.Secret == "":
		return errors.New("--secret is required")
	case opt.Devices < 1 || opt.Devices > maxDevices:
		return fmt.Errorf("--devices %d: want 1 to %d", opt.Devices, maxDevices)
	case opt.Concurrency < 1 || opt.Concurrency > maxConcurrency:
		return fmt.Errorf("--concurrency %d: want 1 to %d", opt.Concurrency, maxConcurrency)
	case opt.Duration <= 0 || opt.Duration > maxDuration:
		return fmt.Errorf("--duration %v: want more than 0 and at most %v", opt.Duration, maxDuration)
	case opt.Kind != wire.ReportFull && opt.Kind != wire.ReportDelta && opt.Kind != KindHeartbeat:
		return fmt.Errorf("--kind %q: want full, delta or heartbeat", opt.Kind)
	case opt.Transport != transport.ModeHTTPS && opt.Transport != transport.ModeHTTP3:
		return fmt.Errorf("--transport %q: want https or http3", opt.Transport)
	case len(opt.Fleet) > 32 || strings.ContainsFunc(opt.Fleet, func(c rune) bool {
		return !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z')
	}):
		return fmt.Errorf("--fleet %q: want at most 32 letters, digits and '-'", opt.Fleet)
	}
	if _, err := transport.ParseFingerprint(opt.Fingerprint); err != nil {
		return fmt.Errorf("--ca-fingerprint: %w", err)
	}
	return nil
}

func loopback(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// loadSnapshot reads the snapshot file strictly, or runs this machine's
// inventory once.
func loadSnapshot(ctx context.Context, file string, logger *slog.Logger) (*wire.Snapshot, error) {
	if file == "" {
		s, err := inventory.Collect(ctx, host.Live(runtime.GOOS), probe.Options{Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("inventory this machine: %w", err)
		}
		return s, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	var s wire.Snapshot
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("decode snapshot %s: %w", file, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode snapshot %s: data after the snapshot", file)
	}
	return &s, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func writeJSON(w io.Writer, r Result) error {
	type latency struct {
		P50 float64 `json:"p50"`
		P90 float64 `json:"p90"`
		P99 float64 `json:"p99"`
		Max float64 `json:"max"`
	}
	out := struct {
		Result
		LatencyMS latency `json:"latency_ms"`
	}{r, latency{ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.Max)}}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func writeText(w io.Writer, r Result) error {
	var errs []string
	for k, v := range r.Errors {
		errs = append(errs, fmt.Sprintf("%s=%d", k, v))
	}
	slices.Sort(errs)
	if len(errs) == 0 {
		errs = []string{"none"}
	}
	_, err := fmt.Fprintf(w, `%s reports over %s: %d devices, %d in flight, %.1fs (set-up %.1fs)
reports sent      %d (applied %d)
errors            %s
throughput        %.0f reports/s
latency           p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms
bytes per report  request %.0f (gzip; %.0f raw), response %.0f
`, r.Kind, r.Transport, r.Devices, r.Concurrency, r.Seconds, r.SetupSeconds,
		r.Sent, r.Applied, strings.Join(errs, " "), r.PerSecond,
		ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.Max),
		r.RequestBytes, r.RawBytes, r.ResponseBytes)
	if err == nil && r.CollectorCores > 0 {
		_, err = fmt.Fprintf(w, "collector CPU     %.2f cores, %.3f ms per %s\n", r.CollectorCores, r.CollectorCPUPerOp, r.Kind)
	}
	return err
}
