package main

// serve --downloads DIR: the agent's packages and install.sh
// (collector/downloads), off unless the flag names a directory.

import (
	"flag"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/rosterhq/roster/collector/config"
	"github.com/rosterhq/roster/collector/downloads"
	"github.com/rosterhq/roster/collector/pki"
)

type downloadsFlag struct{ dir string }

func registerDownloads(fs *flag.FlagSet) *downloadsFlag {
	d := &downloadsFlag{}
	fs.StringVar(&d.dir, "downloads", "", "serve the packages in `DIR` (make installers) at /downloads/ and the install script at /install.sh")
	return d
}

// mount adds the routes when --downloads was given.
func (d *downloadsFlag) mount(mux *http.ServeMux, cfg config.Config, ca *pki.CA, logger *slog.Logger) error {
	if d.dir == "" {
		return nil
	}
	if err := downloads.Mount(mux, downloads.Options{
		Dir: d.dir, CACert: ca.Cert.Raw, Listen: cfg.Listen, Hostnames: cfg.Hostnames, Logger: logger,
	}); err != nil {
		return fmt.Errorf("--downloads: %w", err)
	}
	logger.Info("serving downloads and install.sh", "dir", d.dir)
	return nil
}
