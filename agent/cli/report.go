package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/rosterhq/roster/agent/checkin"
	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/enroll"
	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/spool"
	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/agent/transport"
	"github.com/rosterhq/roster/agent/wipe"
	"github.com/rosterhq/roster/shared/wire"
)

const reportHelp = `Collects the inventory (as "roster-agent inventory" does) and sends it to the
collector this device enrolled with, over HTTP/3 or HTTPS, then prints the
collector's acknowledgement. The report is written to the spool first and
everything spooled is sent in order (reports an earlier run could not
deliver too). Sends a delta against the newest spooled snapshot when that is
smaller, and a full report when the collector asks.
Renews the client certificate first once two thirds of its validity passed.
A signed command in the collector's answer (remote wipe) is verified and
carried out before the command exits (wipe only with wipe.allow in the
config), a report of the state after it is sent, then its statuses; they
are listed under "commands" with --json.
Exit status: 0 applied or duplicate (and every command status sent), 1
anything else.`

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
	// Collector is the collector in use after the run: the one that took
	// the last report.
	Collector string `json:"collector,omitempty"`
	Message   string `json:"message,omitempty"`
	Renewed   bool   `json:"renewed,omitempty"`
	// Commands are the statuses of the commands this run handled.
	Commands []checkin.Outcome `json:"commands,omitempty"`
}

func runReport(ctx context.Context, args []string, env Env) int {
	const name = "roster-agent report"
	fs := newFlagSet("report", env.Stderr, reportHelp)
	common := addCommonFlags(fs, env)
	common.addCollectorFlag(fs, "send to this collector `URL` instead of the ones in the config or enrolled with")
	once := fs.Bool("once", false, "collect and send one report, then exit (required; the service loop is \"roster-agent run\")")
	full := fs.Bool("full", false, "send a full report even when a delta would be smaller")
	if code, ok := parseArgs(fs, args, name, env.Stderr); !ok {
		return code
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(env.Stderr, name+": "+format+"\n", a...)
		return 2
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
	sess, err := openSession(cfg, logger)
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
	var inbox []wire.SignedCommand
	sender.OnCommands = func(cs []wire.SignedCommand) { inbox = append(inbox, cs...) }
	collectNow := func() (*wire.Snapshot, error) {
		snap, err := collect(ctx, h, cfg, nil, env, logger)
		if err == nil {
			// Probes cut short by a stop signal return a partial snapshot.
			err = ctx.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("collect inventory: %w", err)
		}
		return snap, nil
	}
	snap, err := collectNow()
	if err != nil {
		return fail(err)
	}
	sent, err := sender.SendSnapshot(ctx, snap, *full)
	if err != nil {
		return fail(err)
	}
	if sent == nil {
		return fail(errors.New("no report was sent"))
	}
	cmds := sess.commands(cfg, env.GOOS, logger)
	outs, err := cmds.Process(ctx, inbox)
	if err != nil {
		return fail(err)
	}
	for _, o := range outs {
		if !o.Executed {
			continue
		}
		// The state after the command, reported before its result (a
		// collector may revoke the device once it hears "completed").
		if snap, err = collectNow(); err != nil {
			return fail(err)
		}
		if after, err := sender.SendSnapshot(ctx, snap, false); err != nil {
			logger.Warn("report after the command failed; it stays spooled", "err", err)
		} else if after != nil {
			sent = after
		}
		break
	}
	if err := cmds.Flush(ctx); err != nil {
		return fail(fmt.Errorf("%w (the statuses stay queued for the next check-in)", err))
	}
	res := reportResult{Status: sent.Ack.Status, Seq: sent.Seq, Kind: sent.Kind, Hash: sent.Hash,
		DeviceID: sent.Ack.DeviceID, Transport: sent.Transport, Collector: sess.client.Current(), Message: sent.Ack.Message}
	res.Renewed, res.Commands = renewed, outs
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
		for _, o := range outs {
			fmt.Fprintf(env.Stdout, "command %s: %s", o.CommandID, o.Status)
			if o.Reason != "" {
				fmt.Fprintf(env.Stdout, ": %s", o.Reason)
			}
			fmt.Fprintln(env.Stdout)
		}
	}
	return 0
}

// session is an enrolled agent's connection to its collectors.
type session struct {
	dir        *state.Dir
	creds      *enroll.Credentials
	client     *transport.Client
	collectors []string
	opt        transport.Options
	logger     *slog.Logger
}

// openSession loads the enrolment from the state directory and builds a
// client for the collectors the config (file or flags) names, or else
// those enrolment stored: a deployment that gains a collector reaches its
// agents through the config, without enrolling again.
func openSession(cfg config.Config, logger *slog.Logger) (*session, error) {
	dir, err := state.Open(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	creds, err := enroll.Load(dir)
	if err != nil {
		return nil, err
	}
	s := &session{dir: dir, creds: creds, collectors: creds.Device.URLs(), opt: transportOptions(cfg, logger), logger: logger}
	if urls := cfg.URLs(); len(urls) > 0 {
		s.collectors = urls
	}
	s.opt.Memory, s.opt.Collectors = dir, dir
	if s.client, err = s.newClient(creds); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *session) newClient(creds *enroll.Credentials) (*transport.Client, error) {
	o := s.opt
	o.BaseURLs, o.TLS = s.collectors, creds.TLS
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

// commands is the handler of signed commands: the wipe policy and
// executor come from the agent's own config, and the executor always acts
// on the live machine (--host-root only changes what is inventoried).
func (s *session) commands(cfg config.Config, goos string, logger *slog.Logger) *checkin.Commands {
	return &checkin.Commands{
		Dir:      s.dir,
		Client:   s.client,
		DeviceID: s.creds.Device.DeviceID,
		Policy:   wipe.Policy{GOOS: goos, Allow: cfg.Wipe.Allow},
		Executor: &wipe.Executor{Host: host.Live(goos), Targets: cfg.Wipe.Targets,
			HeaderBackups: cfg.Wipe.HeaderBackups, Logger: logger.With("component", "wipe")},
		Logger: logger.With("component", "commands"),
	}
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
