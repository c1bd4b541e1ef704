// Package installsh renders install.sh, the POSIX shell script a
// collector serves at GET /install.sh: it installs the roster-agent
// package matching the machine from the collector's downloads and enrols
// it. The collector's URL, its CA certificate and the CA's fingerprint are
// baked into the script, so that every later download trusts only that CA;
// values are inserted single-quoted, never interpreted by the shell.
package installsh

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/template"
)

//go:embed install.sh.tmpl
var scriptTemplate string

// Params are the values baked into the script.
type Params struct {
	// URL is the collector's base URL, https://HOST[:PORT], no path.
	URL string
	// CACert is the collector CA's certificate, DER.
	CACert []byte
}

// Render writes the script for p.
func Render(w io.Writer, p Params) error {
	u, err := url.Parse(p.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("render install.sh: collector URL %q is not https://HOST[:PORT]", p.URL)
	}
	if len(p.CACert) == 0 {
		return errors.New("render install.sh: no CA certificate")
	}
	sum := sha256.Sum256(p.CACert)
	t, err := template.New("install.sh").Funcs(template.FuncMap{"sh": Quote}).Parse(scriptTemplate)
	if err != nil {
		return fmt.Errorf("render install.sh: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, struct{ URL, Fingerprint, CAPEM string }{
		URL:         "https://" + u.Host,
		Fingerprint: "sha256:" + hex.EncodeToString(sum[:]),
		CAPEM:       strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.CACert}))),
	}); err != nil {
		return fmt.Errorf("render install.sh: %w", err)
	}
	_, err = w.Write(b.Bytes())
	return err
}

// Quote makes s one shell word, single-quoted; each quote inside s becomes
// quote, backslash, quote, quote (close, escaped quote, reopen).
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
