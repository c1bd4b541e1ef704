package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/agent/transport"
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
	ef := addEnrolFlags(fs, common)
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
	if err := checkCollector(cfg); err != nil {
		return usageErr("%v", err)
	}
	secret, trust, err := ef.parse()
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
		fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
		return 1
	}
	dir, err := state.Open(cfg.StateDir)
	if err != nil {
		return fail(err)
	}
	res, err := enrolDevice(ctx, dir, h, cfg, secret, trust, env, logger)
	if err != nil {
		return fail(err)
	}
	if common.jsonOut {
		enc := json.NewEncoder(env.Stdout)
		if err := enc.Encode(res); err != nil {
			return fail(err)
		}
		return 0
	}
	verb := "enrolled"
	switch {
	case res.ReEnrolled:
		verb = "re-enrolled (continuing this device's record"
		if res.Rule != "" {
			verb += ": " + res.Rule
		}
		verb += ")"
	case res.Rule == "conflict":
		verb = "enrolled as a new device in identity conflict with a live device of the same hardware (an admin merges or revokes)"
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
