package ctl

// rosterctl evidence: export fetches the auditor's evidence bundle for a
// period (GET /api/v1/evidence) to a zip, written whole or not at all, or
// into a directory; verify checks a bundle offline against the
// collector's published command key (collector/evidence/bundle).

import (
	"archive/zip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/evidence/bundle"
	"github.com/rosterhq/roster/shared/fieldtext"
)

func evidenceExport(c *call) func(context.Context) error {
	var from, to, out string
	c.fs.StringVar(&from, "from", "", "start of the period, inclusive: a date (2026-07-01, UTC), RFC 3339 or an age (90d) (required)")
	c.fs.StringVar(&to, "to", "", "end of the period, exclusive (default now)")
	c.fs.StringVar(&out, "out", "", "`DIR` to extract the bundle into, or FILE.zip to write it as is (required)")
	return func(ctx context.Context) error {
		if from == "" || out == "" {
			return usageErrorf("evidence export needs --from and --out")
		}
		q := url.Values{}
		if err := c.timeParam(q, "from", "from", from); err != nil {
			return err
		}
		if err := c.timeParam(q, "to", "to", to); err != nil {
			return err
		}
		asZip := strings.EqualFold(filepath.Ext(out), ".zip")
		if st, err := os.Stat(out); err == nil && !asZip {
			if !st.IsDir() {
				return usageErrorf("--out %s exists and is not a directory (name a FILE.zip to get the zip itself)", out)
			}
			if ents, err := os.ReadDir(out); err != nil || len(ents) > 0 {
				return usageErrorf("--out %s: the directory is not empty", out)
			}
		}
		// The download goes to a temporary file beside the target, so the
		// rename that publishes it stays on one file system.
		tmp, err := os.CreateTemp(filepath.Dir(filepath.Clean(out)), ".roster-evidence-*.zip.part")
		if err != nil {
			return fmt.Errorf("evidence export: %w", err)
		}
		defer os.Remove(tmp.Name())
		n, err := c.download(ctx, "/api/v1/evidence", q, tmp)
		if cerr := tmp.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("evidence export: write %s: %w", tmp.Name(), cerr)
		}
		if err != nil {
			return err
		}
		zr, err := zip.OpenReader(tmp.Name())
		if err != nil {
			return fmt.Errorf("evidence export: the bundle received (%d bytes) is not a whole zip; the collector may have failed part way (see its log): %w", n, err)
		}
		m, err := readManifest(&zr.Reader)
		if err == nil && !asZip {
			err = extractInto(&zr.Reader, out)
		}
		zr.Close()
		if err != nil {
			return fmt.Errorf("evidence export: %w", err)
		}
		if asZip {
			if err := os.Rename(tmp.Name(), out); err != nil {
				return fmt.Errorf("evidence export: %w", err)
			}
		}
		if *c.json {
			b, err := json.Marshal(struct {
				Out   string    `json:"out"`
				Bytes int64     `json:"bytes"`
				Files int       `json:"files"`
				From  time.Time `json:"from"`
				To    time.Time `json:"to"`
				KeyID string    `json:"key_id"`
			}{out, n, len(m.Files), m.From, m.To, m.KeyID})
			if err != nil {
				return fmt.Errorf("encode result: %w", err)
			}
			return c.printJSON(b)
		}
		fmt.Fprintf(c.env.Stdout, "evidence for %s to %s: %d files, %d bytes, signed by %s, in %s\n", m.From.Format(time.RFC3339), m.To.Format(time.RFC3339),
			len(m.Files), n, fieldtext.Escape(m.KeyID), out)
		fmt.Fprintf(c.env.Stdout, "check it: rosterctl evidence verify %s --public-key KEY (roster-collector ca command-key prints KEY)\n", out)
		return nil
	}
}

// download streams GET path into w, with a progress line on a terminal;
// it has no overall time limit (a bundle of a large fleet takes minutes),
// only ctx.
func (c *call) download(ctx context.Context, path string, q url.Values, w io.Writer) (int64, error) {
	req, err := c.client.request(ctx, http.MethodGet, path, q, "", nil)
	if err != nil {
		return 0, err
	}
	hc := *c.client.http
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return 0, apiError(resp.StatusCode, body)
	}
	var p *progress
	if c.env.StderrTerminal {
		p = &progress{out: c.env.Stderr, what: "receiving evidence bundle", start: time.Now()}
		w = io.MultiWriter(w, p)
		defer p.done()
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("GET %s: receiving after %d bytes: %w", path, n, err)
	}
	return n, nil
}

// progress draws bytes received on one terminal line, at most five times
// a second.
type progress struct {
	out   io.Writer
	what  string
	start time.Time
	last  time.Time
	n     int64
}

func (p *progress) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if now := time.Now(); now.Sub(p.last) >= 200*time.Millisecond {
		p.last = now
		p.draw()
	}
	return len(b), nil
}

func (p *progress) draw() {
	secs := time.Since(p.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(p.n) / secs / (1 << 20)
	}
	fmt.Fprintf(p.out, "\r%s: %.1f MiB (%.1f MiB/s) ", p.what, float64(p.n)/(1<<20), rate)
}

func (p *progress) done() {
	p.draw()
	fmt.Fprintln(p.out)
}

// readManifest reads what a bundle says of itself, unverified: what export
// reports.
func readManifest(zr *zip.Reader) (bundle.Manifest, error) {
	var m bundle.Manifest
	f, err := zr.Open(bundle.ManifestName)
	if err != nil {
		return m, fmt.Errorf("the bundle has no %s: %w", bundle.ManifestName, err)
	}
	defer f.Close()
	if err := json.NewDecoder(io.LimitReader(f, 32<<20)).Decode(&m); err != nil {
		return m, fmt.Errorf("read %s: %w", bundle.ManifestName, err)
	}
	return m, nil
}

// extractInto extracts the bundle into a new directory beside dir and
// renames it into place, so dir appears complete or not at all; an empty
// dir already there is replaced.
func extractInto(zr *zip.Reader, dir string) error {
	dir = filepath.Clean(dir)
	part, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".part-*")
	if err != nil {
		return err
	}
	if err := bundle.Extract(zr, part); err != nil {
		os.RemoveAll(part)
		return err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		os.RemoveAll(part)
		return fmt.Errorf("replace %s: %w", dir, err)
	}
	if err := os.Rename(part, dir); err != nil {
		os.RemoveAll(part)
		return err
	}
	return nil
}

func evidenceVerify(c *call) func(context.Context) error {
	var key string
	c.fs.StringVar(&key, "public-key", "", "the collector's command-signing public `key` (base64, as roster-collector ca command-key prints it) or a file holding it")
	return func(ctx context.Context) error {
		if key == "" {
			return usageErrorf("evidence verify needs --public-key")
		}
		pub, err := publicKeyArg(key)
		if err != nil {
			return err
		}
		res, err := bundle.VerifyPath(c.args[0], pub)
		if err != nil {
			return err
		}
		if *c.json {
			b, err := json.Marshal(res)
			if err != nil {
				return fmt.Errorf("encode result: %w", err)
			}
			if err := c.printJSON(b); err != nil {
				return err
			}
			if !res.OK {
				return &exitError{code: exitFailure}
			}
			return nil
		}
		if !res.OK {
			for _, p := range res.Problems {
				fmt.Fprintf(c.env.Stderr, "%s: %s\n", fieldtext.Escape(p.File), fieldtext.Escape(p.Message))
			}
			return &exitError{code: exitFailure, msg: fmt.Sprintf("bundle %s does not verify: %d problem(s) above", c.args[0], len(res.Problems))}
		}
		m := res.Manifest
		fmt.Fprintf(c.env.Stdout, "bundle OK: %d files match the manifest signed by %s; period %s to %s, exported %s by %s from %s\n",
			res.Checked, res.KeyID, m.From.Format(time.RFC3339), m.To.Format(time.RFC3339), m.ExportedAt.Format(time.RFC3339),
			fieldtext.Escape(m.Exporter), fieldtext.Escape(m.Collector))
		return nil
	}
}

// publicKeyArg reads --public-key: the base64 key itself, or a file
// holding it.
func publicKeyArg(v string) (ed25519.PublicKey, error) {
	if st, err := os.Stat(v); err == nil && st.Mode().IsRegular() {
		b, err := readLimited(v, 4096)
		if err != nil {
			return nil, fmt.Errorf("read key file: %w", err)
		}
		v = string(b)
	}
	pub, err := parsePublicKey(v)
	if err != nil {
		return nil, usageErrorf("--public-key: %v", err)
	}
	return pub, nil
}
