package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/enroll"
	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/agent/transport"
	"github.com/rosterhq/roster/shared/wire"
)

const enrollHelp = `Enrols this device with a collector: generates a key that never leaves the
device, sends a certificate request with the hardware identity and the
enrolment secret, and stores key, certificate, the collector's CA and the
device id in the state directory. The collector is authenticated by its CA's
fingerprint (printed by "roster-collector ca fingerprint") or the CA file.
Prints the device id.`

func runEnroll(ctx context.Context, args []string, env Env) int {
	const name = "roster-agent enroll"
	fs := newFlagSet("enroll", env.Stderr, enrollHelp)
	common := addCommonFlags(fs, env)
	fs.StringVar(&common.collector, "collector", "", "collector `URL`, https://HOST:8443 (or collector: in the config)")
	secret := fs.String("secret", "", "enrolment `SECRET` (from rosterctl secrets create)")
	secretFile := fs.String("secret-file", "", "read the enrolment secret from `FILE` instead (keeps it out of the process list)")
	pin := fs.String("ca-fingerprint", "", "trust the collector CA whose certificate hashes to `sha256:HEX`")
	caFile := fs.String("ca-file", "", "trust the collector CA in the PEM `FILE`")
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
	cfg, err := common.config(env.GOOS)
	if err != nil {
		return usageErr("%v", err)
	}
	if cfg.Collector == "" {
		return usageErr("--collector is required (https://HOST:8443)")
	}
	if err := config.CheckCollectorURL(cfg.Collector); err != nil {
		return usageErr("--collector: %v", err)
	}
	switch {
	case *secret != "" && *secretFile != "":
		return usageErr("give --secret or --secret-file, not both")
	case *secretFile != "":
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return usageErr("--secret-file: %v", err)
		}
		*secret = strings.TrimSpace(string(b))
	}
	if *secret == "" {
		return usageErr("--secret is required (create one with: rosterctl secrets create)")
	}
	var trust enroll.Trust
	switch {
	case *pin != "" && *caFile != "":
		return usageErr("give --ca-fingerprint or --ca-file, not both")
	case *pin != "":
		fp, err := transport.ParseFingerprint(*pin)
		if err != nil {
			return usageErr("--ca-fingerprint: %v", err)
		}
		trust.Fingerprint = fp
	case *caFile != "":
		b, err := os.ReadFile(*caFile)
		if err != nil {
			return usageErr("--ca-file: %v", err)
		}
		if _, err := transport.ParseCertificates(b); err != nil {
			return usageErr("--ca-file %s: %v", *caFile, err)
		}
		trust.CAPEM = b
	default:
		return usageErr("--ca-fingerprint or --ca-file is required to authenticate the collector")
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
		fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
		return 1
	}
	dir, err := state.Open(cfg.StateDir)
	if err != nil {
		return fail(err)
	}
	snap, err := collect(ctx, h, cfg, []string{wire.AreaHardware}, env, logger)
	if err != nil {
		return fail(fmt.Errorf("read hardware identity: %w", err))
	}
	opt := transportOptions(cfg, logger)
	opt.Memory = dir
	res, err := enroll.Enroll(ctx, dir, enroll.Request{
		Collector:    cfg.Collector,
		Secret:       *secret,
		Trust:        trust,
		Identity:     wire.IdentityOf(snap),
		AgentVersion: env.Version,
		Transport:    opt,
	})
	if err != nil {
		return fail(explain(err))
	}
	if common.jsonOut {
		enc := json.NewEncoder(env.Stdout)
		if err := enc.Encode(res); err != nil {
			return fail(err)
		}
		return 0
	}
	verb := "enrolled"
	if res.ReEnrolled {
		verb = "re-enrolled (continuing this device's record)"
	}
	fmt.Fprintf(env.Stdout, "%s\n", res.DeviceID)
	fmt.Fprintf(env.Stderr, "%s: %s as %s with %s over %s; certificate valid until %s\n",
		name, verb, res.DeviceID, res.Collector, res.Transport, res.NotAfter.UTC().Format("2006-01-02"))
	return 0
}

// explain adds what to do about the collector answers people hit most.
func explain(err error) error {
	var he *transport.HTTPError
	if !errors.As(err, &he) {
		var pe *transport.PinError
		if errors.As(err, &pe) {
			return fmt.Errorf("%w (check --ca-fingerprint / --ca-file against `roster-collector ca fingerprint`)", err)
		}
		return err
	}
	switch he.Code {
	case "secret_invalid":
		return fmt.Errorf("%w (the enrolment secret is unknown, revoked, expired or used up: ask for a new one)", err)
	case "certificate_revoked":
		return fmt.Errorf("%w (this device's certificate was revoked: enrol it again)", err)
	}
	if he.Revoked() {
		return fmt.Errorf("%w (the collector does not accept this agent's certificate: it is unknown, expired or revoked; enrol again)", err)
	}
	return err
}
