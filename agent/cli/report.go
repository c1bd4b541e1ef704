package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/rosterhq/roster/agent/enroll"
	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/agent/transport"
	"github.com/rosterhq/roster/shared/wire"
)

const reportHelp = `Collects the inventory (as "roster-agent inventory" does) and sends it to the
collector this device enrolled with, over HTTP/3 or HTTPS, then prints the
collector's acknowledgement. Sends a delta against the last acknowledged
snapshot when that is smaller, and a full report when the collector asks.
Renews the client certificate first once two thirds of its validity passed.
Exit status: 0 applied or duplicate, 1 anything else.`

// ReportPath is the ingest endpoint (docs/api.md).
const ReportPath = "/api/v1/agent/report"

// reportResult is what report prints with --json; the keys are stable.
type reportResult struct {
	Status    string `json:"status"`
	Seq       uint64 `json:"seq"`
	Kind      string `json:"kind"`
	Hash      string `json:"hash"`
	DeviceID  string `json:"device_id"`
	Transport string `json:"transport"`
	Message   string `json:"message,omitempty"`
	Renewed   bool   `json:"renewed,omitempty"`
}

func runReport(ctx context.Context, args []string, env Env) int {
	const name = "roster-agent report"
	fs := newFlagSet("report", env.Stderr, reportHelp)
	common := addCommonFlags(fs, env)
	fs.StringVar(&common.collector, "collector", "", "send to this collector `URL` instead of the one enrolled with")
	once := fs.Bool("once", false, "collect and send one report, then exit (required until the service loop exists)")
	full := fs.Bool("full", false, "send a full report even when a delta would be smaller")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(env.Stderr, name+": "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if !*once {
		return usageErr("--once is required: this version sends one report and exits")
	}
	cfg, err := common.config(env.GOOS)
	if err != nil {
		return usageErr("%v", err)
	}
	if err := checkSkip(common.goos, cfg.Skip); err != nil {
		return usageErr("%v", err)
	}
	h, err := common.host(env)
	if err != nil {
		return usageErr("%v", err)
	}

	logger := common.logger(env, cfg)
	fail := func(err error) int {
		fmt.Fprintf(env.Stderr, "%s: %v\n", name, explain(err))
		return 1
	}
	dir, err := state.Open(cfg.StateDir)
	if err != nil {
		return fail(err)
	}
	creds, err := enroll.Load(dir)
	if err != nil {
		return fail(err)
	}
	collector := creds.Device.Collector
	if common.collector != "" {
		collector = cfg.Collector
	}
	opt := transportOptions(cfg, logger)
	opt.Memory = dir
	newClient := func(c *enroll.Credentials) (*transport.Client, error) {
		o := opt
		o.BaseURL, o.TLS = collector, c.TLS
		return transport.New(o)
	}
	client, err := newClient(creds)
	if err != nil {
		return fail(err)
	}
	defer func() { client.Close() }()

	renewed := false
	now := time.Now()
	if enroll.NeedsRenewal(creds.Cert, now) {
		if _, err := enroll.Renew(ctx, dir, client, creds, now); err != nil {
			if now.After(creds.Cert.NotAfter) {
				return fail(fmt.Errorf("%w (the certificate expired on %s: enrol again)", err, creds.Cert.NotAfter.UTC().Format(time.DateOnly)))
			}
			// The old certificate still works; the next run tries again.
			logger.Warn("certificate renewal failed; reporting with the current one", "err", err, "not_after", creds.Cert.NotAfter)
		} else {
			renewed = true
			client.Close()
			if creds, err = enroll.Load(dir); err != nil {
				return fail(err)
			}
			if client, err = newClient(creds); err != nil {
				return fail(err)
			}
		}
	}

	snap, err := collect(ctx, h, cfg, nil, env, logger)
	if err != nil {
		return fail(fmt.Errorf("collect inventory: %w", err))
	}
	res, err := sendReport(ctx, dir, client, snap, cfg.Delta && !*full, logger)
	if err != nil {
		return fail(err)
	}
	res.Renewed = renewed
	if res.DeviceID == "" {
		res.DeviceID = creds.Device.DeviceID
	}
	if common.jsonOut {
		if err := json.NewEncoder(env.Stdout).Encode(res); err != nil {
			return fail(err)
		}
	} else {
		fmt.Fprintf(env.Stdout, "%s: %s report seq %d for device %s over %s (%s)\n", res.Status, res.Kind, res.Seq, res.DeviceID, res.Transport, res.Hash)
		if res.Message != "" {
			fmt.Fprintf(env.Stdout, "collector: %s\n", res.Message)
		}
	}
	return 0
}

// sendReport sends snap as a delta against the last acknowledged snapshot
// when allowed and smaller, else in full; a resync answer to a delta is
// followed by one full report. Each attempt takes a new sequence number,
// made durable before it is sent. The acknowledged snapshot becomes the
// next delta's base.
func sendReport(ctx context.Context, dir *state.Dir, client *transport.Client, snap *wire.Snapshot, allowDelta bool, logger *slog.Logger) (reportResult, error) {
	hash, err := wire.SnapshotHash(snap)
	if err != nil {
		return reportResult{}, err
	}
	var base *state.Acked
	if allowDelta {
		if base, err = dir.LoadAcked(); err != nil {
			logger.Warn("no delta base", "err", err)
			base = nil
		}
	}
	for {
		rep := wire.Report{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportFull, Snapshot: snap, Hash: hash}
		if base != nil {
			if d := smallerDelta(base, snap, hash, logger); d != nil {
				rep.Kind, rep.BaseHash, rep.Delta, rep.Snapshot = wire.ReportDelta, base.Hash, d, nil
			}
		}
		seq, err := dir.NextSeq()
		if err != nil {
			return reportResult{}, err
		}
		rep.Seq = seq
		var ack wire.Ack
		used, err := client.PostJSON(ctx, ReportPath, rep, true, &ack)
		if err != nil {
			return reportResult{}, fmt.Errorf("send %s report seq %d: %w", rep.Kind, seq, err)
		}
		res := reportResult{Status: ack.Status, Seq: seq, Kind: rep.Kind, Hash: hash, DeviceID: ack.DeviceID, Transport: used, Message: ack.Message}
		if ack.Seq != seq {
			logger.Warn("acknowledgement names another sequence number", "sent", seq, "acked", ack.Seq)
		}
		switch ack.Status {
		case wire.AckApplied, wire.AckDuplicate:
			if ack.Hash != "" && ack.Hash != hash {
				// The collector holds something else (a duplicate of an
				// older report): no valid base until a full report lands.
				return res, dir.ForgetAcked()
			}
			return res, dir.SaveAcked(state.Acked{Seq: seq, Hash: hash, Snapshot: snap})
		case wire.AckResync:
			if err := dir.ForgetAcked(); err != nil {
				return res, err
			}
			if rep.Kind == wire.ReportDelta {
				logger.Info("collector asked for a full report", "message", ack.Message)
				base = nil
				continue
			}
			return res, fmt.Errorf("collector answered resync to full report seq %d: %s", seq, ack.Message)
		default:
			return res, fmt.Errorf("collector answered unknown status %q to report seq %d", ack.Status, seq)
		}
	}
}

// smallerDelta returns the delta from base to snap when it reproduces snap
// exactly and encodes smaller than snap itself; nil means send in full.
func smallerDelta(base *state.Acked, snap *wire.Snapshot, hash string, logger *slog.Logger) *wire.Delta {
	d, err := wire.Diff(base.Snapshot, snap)
	if err != nil {
		logger.Warn("diff against acknowledged snapshot", "err", err)
		return nil
	}
	applied, err := wire.Apply(base.Snapshot, d)
	if err != nil {
		logger.Warn("delta does not apply to its base", "err", err)
		return nil
	}
	if h, err := wire.SnapshotHash(applied); err != nil || h != hash {
		logger.Warn("delta does not reproduce the snapshot; sending it in full")
		return nil
	}
	db, err1 := json.Marshal(d)
	sb, err2 := json.Marshal(snap)
	if err1 != nil || err2 != nil || len(db) >= len(sb) {
		return nil
	}
	return d
}
