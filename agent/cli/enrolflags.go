package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/enroll"
	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/agent/transport"
	"github.com/rosterhq/roster/shared/wire"
)

// enrolFlags are the flags that enrol a device, shared by enroll and
// install (which enrols before it registers the service).
type enrolFlags struct {
	secret, secretFile string
	pin, caFile        string
}

// addEnrolFlags also registers --collector into common.
func addEnrolFlags(fs *flag.FlagSet, common *commonFlags) *enrolFlags {
	e := &enrolFlags{}
	common.addCollectorFlag(fs, "collector `URL`, https://HOST:8443 (or collector:/collectors: in the config)")
	fs.StringVar(&e.secret, "secret", "", "enrolment `SECRET` (from rosterctl secrets create)")
	fs.StringVar(&e.secretFile, "secret-file", "", "read the enrolment secret from `FILE` instead (keeps it out of the process list)")
	fs.StringVar(&e.pin, "ca-fingerprint", "", "trust the collector CA whose certificate hashes to `sha256:HEX`")
	fs.StringVar(&e.caFile, "ca-file", "", "trust the collector CA in the PEM `FILE`")
	return e
}

// given reports whether any enrolment flag was set.
func (e *enrolFlags) given() bool {
	return e.secret != "" || e.secretFile != "" || e.pin != "" || e.caFile != ""
}

// checkCollector requires the collector URL(s) enrolment needs.
func checkCollector(cfg config.Config) error {
	urls := cfg.URLs()
	if len(urls) == 0 {
		return errors.New("--collector is required (https://HOST:8443)")
	}
	if errs := config.CheckCollectorURLs("--collector", urls); len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

// parse reads the secret and the trust anchor the flags name; its errors
// are usage errors.
func (e *enrolFlags) parse() (string, enroll.Trust, error) {
	var trust enroll.Trust
	secret := e.secret
	switch {
	case e.secret != "" && e.secretFile != "":
		return "", trust, errors.New("give --secret or --secret-file, not both")
	case e.secretFile != "":
		b, err := os.ReadFile(e.secretFile)
		if err != nil {
			return "", trust, fmt.Errorf("--secret-file: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	if secret == "" {
		return "", trust, errors.New("--secret is required (create one with: rosterctl secrets create)")
	}
	switch {
	case e.pin != "" && e.caFile != "":
		return "", trust, errors.New("give --ca-fingerprint or --ca-file, not both")
	case e.pin != "":
		fp, err := transport.ParseFingerprint(e.pin)
		if err != nil {
			return "", trust, fmt.Errorf("--ca-fingerprint: %w", err)
		}
		trust.Fingerprint = fp
	case e.caFile != "":
		b, err := os.ReadFile(e.caFile)
		if err != nil {
			return "", trust, fmt.Errorf("--ca-file: %w", err)
		}
		if _, err := transport.ParseCertificates(b); err != nil {
			return "", trust, fmt.Errorf("--ca-file %s: %w", e.caFile, err)
		}
		trust.CAPEM = b
	default:
		return "", trust, errors.New("--ca-fingerprint or --ca-file is required to authenticate the collector")
	}
	return secret, trust, nil
}

// enrolDevice reads the hardware identity and enrols dir with the first of
// the configured collectors that answers.
func enrolDevice(ctx context.Context, dir *state.Dir, h *host.Host, cfg config.Config, secret string, trust enroll.Trust, env Env, logger *slog.Logger) (enroll.Result, error) {
	snap, err := collect(ctx, h, cfg, []string{wire.AreaHardware}, env, logger)
	if err != nil {
		return enroll.Result{}, fmt.Errorf("read hardware identity: %w", err)
	}
	opt := transportOptions(cfg, logger)
	opt.Memory = dir
	res, err := enroll.Enroll(ctx, dir, enroll.Request{
		Collectors:   cfg.URLs(),
		Secret:       secret,
		Trust:        trust,
		Identity:     wire.IdentityOf(snap),
		AgentVersion: env.Version,
		Transport:    opt,
	})
	if err != nil {
		return enroll.Result{}, explain(err)
	}
	return res, nil
}
