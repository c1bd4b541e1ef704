package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/rosterhq/roster/agent/checkin"
	"github.com/rosterhq/roster/agent/enroll"
	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/shared/wire"
)

const runHelp = `Runs the check-in loop in the foreground (what the service manager starts):
a report at start, the full inventory every report_interval (±10 % jitter),
a heartbeat every heartbeat_interval, deltas against the newest spooled
snapshot, every report spooled on disk before it is sent and removed only
once the collector acknowledged it. Errors back off exponentially (with
jitter, capped at backoff_max). A revoked or unknown certificate stops the
sending (see "roster-agent status"); SIGINT/SIGTERM stop the loop at once.
Signed commands in the collector's answers (remote wipe) are verified and
carried out (wipe only with wipe.allow in the config), then a report of the
state after them is sent, then their statuses.
The loop publishes its state in status.json in the state directory.`

func runRun(ctx context.Context, args []string, env Env) int {
	const name = "roster-agent run"
	fs := newFlagSet("run", env.Stderr, runHelp)
	common := addCommonFlags(fs, env)
	common.addCollectorFlag(fs, "send to this collector `URL` instead of the ones in the config or enrolled with")
	reportEvery := fs.Duration("report-interval", 0, "full inventory every `DURATION` (default report_interval from the config, 1h)")
	beatEvery := fs.Duration("heartbeat-interval", 0, "heartbeat every `DURATION` (default heartbeat_interval from the config, 5m)")
	onceBeat := fs.Bool("once-heartbeat", false, "send one heartbeat, print the collector's answer as JSON and exit")
	if code, ok := parseArgs(fs, args, name, env.Stderr); !ok {
		return code
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(env.Stderr, name+": "+format+"\n", a...)
		return 2
	}
	cfg, err := common.config(env.GOOS)
	if err != nil {
		return usageErr("%v", err)
	}
	if *reportEvery < 0 || *beatEvery < 0 {
		return usageErr("--report-interval and --heartbeat-interval must be positive")
	}
	if *reportEvery > 0 {
		cfg.ReportInterval = *reportEvery
	}
	if *beatEvery > 0 {
		cfg.HeartbeatInterval = *beatEvery
	}
	if err := checkSkip(common.goos, cfg.Skip); err != nil {
		return usageErr("%v", err)
	}
	h, err := common.host(env)
	if err != nil {
		return usageErr("%v", err)
	}
	// The loop inventories the same machine every hour: let expensive,
	// file-determined answers (apt's upgrade simulation) be reused.
	h.Cache = host.NewOutputCache()
	if cfg.MemoryLimit > 0 {
		// A soft limit: the collector of garbage works harder near it
		// rather than the process growing on a busy laptop.
		debug.SetMemoryLimit(cfg.MemoryLimit)
	}

	logger := common.logger(env, cfg).With("component", "checkin")
	fail := func(err error) int {
		fmt.Fprintf(env.Stderr, "%s: %v\n", name, explain(err))
		return 1
	}
	// A package installs the service before anything enrolled the device:
	// it enrols itself from the pre-seeded configuration, waiting (and
	// saying why) until it can rather than failing in a restart loop.
	if _, err := enrolledDevice(cfg.StateDir); errors.Is(err, state.ErrNotEnrolled) && !*onceBeat {
		if err := awaitEnrolment(ctx, common, h, env, logger.With("component", "enrol")); err != nil {
			if ctx.Err() != nil {
				return 0
			}
			return fail(err)
		}
		if cfg, err = common.config(env.GOOS); err != nil {
			return fail(err)
		}
		if *reportEvery > 0 {
			cfg.ReportInterval = *reportEvery
		}
		if *beatEvery > 0 {
			cfg.HeartbeatInterval = *beatEvery
		}
	}
	sess, err := openSession(cfg, logger)
	if err != nil {
		return fail(err)
	}
	defer sess.close()
	sender, err := sess.sender(cfg, logger)
	if err != nil {
		return fail(err)
	}
	sender.NoDelta = !cfg.Delta

	if *onceBeat {
		ack, used, err := sender.Heartbeat(ctx, env.Version)
		if err != nil && !errors.Is(err, checkin.ErrNeedFull) {
			return fail(err)
		}
		out := struct {
			wire.HeartbeatAck
			Transport string `json:"transport"`
		}{ack, used}
		if err := json.NewEncoder(env.Stdout).Encode(out); err != nil {
			return fail(err)
		}
		return 0
	}

	cmds := sess.commands(cfg, env.GOOS, logger)
	loop := &checkin.Loop{
		Sender: sender,
		Collect: func(ctx context.Context) (*wire.Snapshot, error) {
			return collect(ctx, h, cfg, nil, env, logger)
		},
		NeedsRenewal: func(now time.Time) bool { return enroll.NeedsRenewal(sess.creds.Cert, now) },
		Renew: func(ctx context.Context) error {
			if err := sess.renew(ctx, time.Now()); err != nil {
				return err
			}
			sender.Client, cmds.Client = sess.client, sess.client
			return nil
		},
		Commands:          cmds,
		ReportInterval:    cfg.ReportInterval,
		HeartbeatInterval: cfg.HeartbeatInterval,
		BackoffMin:        cfg.BackoffMin,
		BackoffMax:        cfg.BackoffMax,
		Logger:            logger,
		AgentVersion:      env.Version,
		DeviceID:          sess.creds.Device.DeviceID,
		Collector:         sess.client.Current(),
		Collectors:        sess.client.Collectors(),
		// sess.client changes with each renewal.
		CollectorInUse: func() string { return sess.client.Current() },
	}
	if err := loop.Run(ctx); err != nil {
		return fail(err)
	}
	return 0
}
