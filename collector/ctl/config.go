package ctl

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// Settings say which collector to talk to and how to trust it.
type Settings struct {
	URL   string `yaml:"url"`
	Token string `yaml:"token"`
	// CA is the path of the collector's CA certificate (PEM).
	CA string `yaml:"ca"`
	// CAFingerprint pins the collector CA by "sha256:<hex>" instead.
	CAFingerprint string `yaml:"ca_fingerprint"`
}

// overlay applies the fields of o that are set. The CA file and the
// fingerprint are one choice: a layer naming either replaces both, so a
// ROSTER_CA for a rebuilt collector is not also checked against an old pin
// left in the file.
func (s *Settings) overlay(o Settings) {
	if o.URL != "" {
		s.URL = o.URL
	}
	if o.Token != "" {
		s.Token = o.Token
	}
	if o.CA != "" || o.CAFingerprint != "" {
		s.CA, s.CAFingerprint = o.CA, o.CAFingerprint
	}
}

// configPath is where the settings file is looked for: the explicit path,
// else ROSTER_CONFIG, else $XDG_CONFIG_HOME/roster/ctl.yaml, else
// ~/.config/roster/ctl.yaml. explicit reports whether a missing file is an
// error.
func configPath(flagPath string, env Env) (path string, explicit bool) {
	switch {
	case flagPath != "":
		return flagPath, true
	case env.getenv("ROSTER_CONFIG") != "":
		return env.getenv("ROSTER_CONFIG"), true
	case env.getenv("XDG_CONFIG_HOME") != "":
		return filepath.Join(env.getenv("XDG_CONFIG_HOME"), "roster", "ctl.yaml"), false
	case env.HomeDir != "":
		return filepath.Join(env.HomeDir, ".config", "roster", "ctl.yaml"), false
	}
	return "", false
}

// resolve builds the settings: config file, then environment (ROSTER_URL,
// ROSTER_TOKEN, ROSTER_CA, ROSTER_CA_FINGERPRINT), then flags.
func resolve(flags Settings, configFlag string, env Env) (Settings, error) {
	var s Settings
	if path, explicit := configPath(configFlag, env); path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			if err := decodeSettings(data, &s); err != nil {
				return Settings{}, fmt.Errorf("config %s: %w", path, err)
			}
		case explicit || !errors.Is(err, fs.ErrNotExist):
			return Settings{}, fmt.Errorf("read config: %w", err)
		}
	}
	s.overlay(Settings{
		URL:           env.getenv("ROSTER_URL"),
		Token:         env.getenv("ROSTER_TOKEN"),
		CA:            env.getenv("ROSTER_CA"),
		CAFingerprint: env.getenv("ROSTER_CA_FINGERPRINT"),
	})
	s.overlay(flags)
	if s.URL == "" {
		return Settings{}, usageErrorf("no collector URL: use --url, ROSTER_URL or url: in %s", displayPath(configFlag, env))
	}
	if !strings.HasPrefix(s.URL, "https://") {
		return Settings{}, usageErrorf("collector URL %q must start with https://", s.URL)
	}
	if s.Token == "" {
		return Settings{}, usageErrorf("no API token: use --token, ROSTER_TOKEN or token: in %s", displayPath(configFlag, env))
	}
	return s, nil
}

func displayPath(configFlag string, env Env) string {
	if p, _ := configPath(configFlag, env); p != "" {
		return p
	}
	return "~/.config/roster/ctl.yaml"
}

func decodeSettings(data []byte, s *Settings) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(s); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
