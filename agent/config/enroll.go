package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/rosterhq/roster/agent/transport"
)

// SecretEnv is the environment variable that may carry the enrolment
// secret instead of enroll.secret_file.
const SecretEnv = "ROSTER_ENROLL_SECRET"

// Enroll is the pre-seeded enrolment: what `roster-agent run` (the
// service) needs to enrol itself when the state directory holds no
// enrolment. The secret is never in this file: it comes from SecretFile,
// the SecretEnv variable or, on Windows, the registry.
type Enroll struct {
	// Collector or Collectors name the collector(s) to enrol with; when
	// both are empty the top-level collector/collectors are used.
	Collector  string   `yaml:"collector"`
	Collectors []string `yaml:"collectors"`
	// CAFingerprint pins the collector's CA: sha256:HEX.
	CAFingerprint string `yaml:"ca_fingerprint"`
	// SecretFile holds the enrolment secret; the agent removes it after a
	// successful enrolment (and only then).
	SecretFile string `yaml:"secret_file"`
	// Tags are reported in every snapshot (site, team); optional.
	Tags []string `yaml:"tags"`
}

// URLs are the enrolment collectors (Collectors, or Collector alone).
func (e *Enroll) URLs() []string {
	if len(e.Collectors) > 0 {
		return e.Collectors
	}
	if e.Collector != "" {
		return []string{e.Collector}
	}
	return nil
}

func (e *Enroll) validate() []error {
	var errs []error
	if e.Collector != "" {
		if err := CheckCollectorURL(e.Collector); err != nil {
			errs = append(errs, fmt.Errorf("enroll.collector: %w", err))
		}
	}
	if e.Collector != "" && len(e.Collectors) > 0 {
		errs = append(errs, errors.New("enroll.collectors: give collector or collectors, not both"))
	}
	errs = append(errs, CheckCollectorURLs("enroll.collectors", e.Collectors)...)
	if e.CAFingerprint != "" {
		if _, err := transport.ParseFingerprint(e.CAFingerprint); err != nil {
			errs = append(errs, fmt.Errorf("enroll.ca_fingerprint: %w", err))
		}
	}
	if e.SecretFile != "" && !absPath(e.SecretFile) {
		errs = append(errs, fmt.Errorf("enroll.secret_file: %q is not an absolute path", e.SecretFile))
	}
	for i, t := range e.Tags {
		if strings.TrimSpace(t) == "" || strings.ContainsAny(t, ",\n\r") || len(t) > 64 {
			errs = append(errs, fmt.Errorf("enroll.tags[%d]: %q must be 1 to 64 characters without commas or line breaks", i, t))
		}
	}
	return errs
}

func joinErrs(errs []error) error { return errors.Join(errs...) }

// absPath accepts an absolute path of any platform the agent runs on, so
// a Windows registry value parses the same on Linux CI.
func absPath(p string) bool {
	if filepath.IsAbs(p) || strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\\`) {
		return true
	}
	return len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') &&
		('a' <= p[0]|0x20 && p[0]|0x20 <= 'z')
}
