package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/rosterhq/roster/agent/checkin"
	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/enroll"
	"github.com/rosterhq/roster/agent/spool"
	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/agent/transport"
)

const reportHelp = `Collects the inventory (as "roster-agent inventory" does) and sends it to the
collector this device enrolled with, over HTTP/3 or HTTPS, then prints the
collector's acknowledgement. The report is written to the spool first and
everything spooled is sent in order (reports an earlier run could not
deliver too). Sends a delta against the newest spooled snapshot when that is
smaller, and a full report when the collector asks.
Renews the client certificate first once two thirds of its validity passed.
Exit status: 0 applied or duplicate, 1 anything else.`

// ReportPath is the ingest endpoint (docs/api.md).
const ReportPath = checkin.ReportPath

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
	once := fs.Bool("once", false, "collect and send one report, then exit (required; the service loop is \"roster-agent run\")")
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
		return usageErr("--once is required (the service loop is: roster-agent run)")
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
	sess, err := openSession(cfg, common.collector != "", logger)
	if err != nil {
		return fail(err)
	}
	defer sess.close()
	renewed, err := sess.renewIfDue(ctx, time.Now())
	if err != nil {
		return fail(err)
	}
	sender, err := sess.sender(cfg, logger)
	if err != nil {
		return fail(err)
	}
	sender.NoDelta = !cfg.Delta || *full
	snap, err := collect(ctx, h, cfg, nil, env, logger)
	if err == nil {
		// Probes cut short by a stop signal return a partial snapshot.
		err = ctx.Err()
	}
	if err != nil {
		return fail(fmt.Errorf("collect inventory: %w", err))
	}
	sent, err := sender.SendSnapshot(ctx, snap, *full)
	if err != nil {
		return fail(err)
	}
	if sent == nil {
		return fail(errors.New("no report was sent"))
	}
	res := reportResult{Status: sent.Ack.Status, Seq: sent.Seq, Kind: sent.Kind, Hash: sent.Hash,
		DeviceID: sent.Ack.DeviceID, Transport: sent.Transport, Message: sent.Ack.Message}
	res.Renewed = renewed
	if res.DeviceID == "" {
		res.DeviceID = sess.creds.Device.DeviceID
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

// session is an enrolled agent's connection to its collector.
type session struct {
	dir       *state.Dir
	creds     *enroll.Credentials
	client    *transport.Client
	collector string
	opt       transport.Options
	logger    *slog.Logger
}

// openSession loads the enrolment from the state directory and builds a
// client for the enrolled collector (or cfg.Collector when override).
func openSession(cfg config.Config, override bool, logger *slog.Logger) (*session, error) {
	dir, err := state.Open(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	creds, err := enroll.Load(dir)
	if err != nil {
		return nil, err
	}
	s := &session{dir: dir, creds: creds, collector: creds.Device.Collector, opt: transportOptions(cfg, logger), logger: logger}
	if override {
		s.collector = cfg.Collector
	}
	s.opt.Memory = dir
	if s.client, err = s.newClient(creds); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *session) newClient(creds *enroll.Credentials) (*transport.Client, error) {
	o := s.opt
	o.BaseURL, o.TLS = s.collector, creds.TLS
	return transport.New(o)
}

func (s *session) close() { s.client.Close() }

// renewIfDue renews the client certificate once two thirds of its
// validity passed and switches to a client presenting the new one. A
// failed renewal with a still valid certificate is logged, not fatal.
func (s *session) renewIfDue(ctx context.Context, now time.Time) (bool, error) {
	if !enroll.NeedsRenewal(s.creds.Cert, now) {
		return false, nil
	}
	if err := s.renew(ctx, now); err != nil {
		if now.After(s.creds.Cert.NotAfter) {
			return false, fmt.Errorf("%w (the certificate expired on %s: enrol again)", err, s.creds.Cert.NotAfter.UTC().Format(time.DateOnly))
		}
		// The old certificate still works; the next run tries again.
		s.logger.Warn("certificate renewal failed; reporting with the current one", "err", err, "not_after", s.creds.Cert.NotAfter)
		return false, nil
	}
	return true, nil
}

func (s *session) renew(ctx context.Context, now time.Time) error {
	if _, err := enroll.Renew(ctx, s.dir, s.client, s.creds, now); err != nil {
		return err
	}
	creds, err := enroll.Load(s.dir)
	if err != nil {
		return err
	}
	client, err := s.newClient(creds)
	if err != nil {
		return err
	}
	s.client.Close()
	s.creds, s.client = creds, client
	return nil
}

// sender opens the spool and returns a Sender over the session's client.
func (s *session) sender(cfg config.Config, logger *slog.Logger) (*checkin.Sender, error) {
	sp, err := spool.Open(filepath.Join(s.dir.Path(), state.SpoolDir), spool.Options{
		MaxBytes: cfg.Spool.MaxBytes, MaxReports: cfg.Spool.MaxReports, Logger: logger})
	if err != nil {
		return nil, err
	}
	return &checkin.Sender{Dir: s.dir, Spool: sp, Client: s.client, Logger: logger, FullEvery: cfg.FullEvery}, nil
}
