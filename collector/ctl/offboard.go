package ctl

// rosterctl offboard: the runbook's side of a wipe. start creates the
// request, wait blocks on it with exit codes a script can branch on,
// record-wipe is the manual path, certificate fetches the certificate of
// sanitisation and verify-certificate checks one offline with the
// collector's published key (roster-collector ca command-key).

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rosterhq/roster/collector/apitypes"
	"github.com/rosterhq/roster/shared/fieldtext"
	"github.com/rosterhq/roster/shared/wire"
)

// Exit codes of offboard wait.
const (
	exitWaitFailed    = 1
	exitWaitTimeout   = 2
	exitWaitCancelled = 3
)

// maxEvidenceFile matches the collector's limit on a stored evidence file.
const maxEvidenceFile = 1 << 20

// exitError ends rosterctl with a given code; msg, when set, goes to
// stderr.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// offline lists the commands that never talk to a collector.
func offline(name string) bool {
	return name == "offboard verify-certificate" || name == "evidence verify"
}

func wipeFields(w apitypes.Wipe) []field {
	return []field{{"id", w.ID}, {"state", w.State}, {"device_id", w.DeviceID}, {"asset_tag", w.AssetTag}, {"hostname", w.Hostname},
		{"ticket", w.Ticket}, {"reason", w.Reason}, {"method", w.Method}, {"reuse", strconv.FormatBool(w.Reuse)},
		{"deadline", at(w.Deadline)}, {"escalated", strconv.FormatBool(w.Escalated)}, {"created_by", w.CreatedBy},
		{"created_at", at(w.CreatedAt)}, {"completed_at", atp(w.CompletedAt)}, {"verified_at", atp(w.VerifiedAt)},
		{"failure_reason", w.FailureReason}, {"wipe_method", w.WipeMethod}, {"tool", w.Tool}, {"tool_version", w.ToolVersion},
		{"performed_by", w.PerformedBy}, {"verified_by", w.VerifiedBy}, {"evidence_sha256", w.EvidenceSHA256},
		{"single_person", w.SinglePerson}, {"verification", w.Verification}}
}

func wipePath(id string, rest ...string) string {
	return "/api/v1/wipes/" + url.PathEscape(id) + strings.Join(rest, "")
}

func offboardStart(c *call) func(context.Context) error {
	var ticket, reason, method, deadline string
	var reuse bool
	c.fs.StringVar(&ticket, "ticket", "", "the offboarding `ticket` (required)")
	c.fs.StringVar(&reason, "reason", "", "why, e.g. leaver (required)")
	c.fs.StringVar(&method, "method", "agent", "agent (the device erases itself) or manual (record-wipe later)")
	c.fs.BoolVar(&reuse, "reuse", false, "the asset goes back to in_stock instead of decommissioned")
	c.fs.StringVar(&deadline, "deadline", "", "how long the device has to take the wipe, e.g. 14d (default 14d)")
	return func(ctx context.Context) error {
		if ticket == "" || reason == "" {
			return usageErrorf("offboard start needs --ticket and --reason")
		}
		if method != "agent" && method != "manual" {
			return usageErrorf("--method %q: want agent or manual", method)
		}
		body := apitypes.WipeStartRequest{Device: c.args[0], Ticket: ticket, Reason: reason, Method: method, Reuse: reuse, Deadline: deadline}
		w, done, err := fetch[apitypes.Wipe](ctx, c, http.MethodPost, "/api/v1/wipes", nil, body)
		if done || err != nil {
			return err
		}
		fmt.Fprintln(c.env.Stdout, fieldtext.Escape(w.ID))
		return nil
	}
}

// printWipe prints a wipe as key: value lines and its transitions.
func (c *call) printWipe(raw []byte) error {
	if *c.json {
		return c.printJSON(raw)
	}
	w, err := decodeAnswer[apitypes.Wipe](raw)
	if err != nil {
		return err
	}
	c.printFields(wipeFields(w))
	if len(w.Transitions) == 0 {
		return nil
	}
	fmt.Fprintln(c.env.Stdout, "\ntransitions:")
	tw := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tFROM\tTO\tBY\tDETAIL")
	for _, t := range w.Transitions {
		by := t.Actor.Kind + ":" + t.Actor.Name
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", fieldtext.Escape(at(t.At)), fieldtext.Escape(t.From), fieldtext.Escape(t.To), fieldtext.Escape(by), fieldtext.Escape(t.Detail))
	}
	return tw.Flush()
}

func offboardStatus(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		raw, err := c.client.do(ctx, http.MethodGet, wipePath(c.args[0]), nil, nil)
		if err != nil {
			return err
		}
		return c.printWipe(raw)
	}
}

func offboardCancel(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		raw, err := c.client.do(ctx, http.MethodPost, wipePath(c.args[0], "/cancel"), nil, nil)
		if err != nil {
			return err
		}
		return c.printWipe(raw)
	}
}

// waitOutcome maps a wipe state to wait's exit code; done is false while
// the wipe is still under way.
func waitOutcome(state string) (code int, done bool) {
	switch state {
	case "completed", "verified":
		return exitOK, true
	case "failed":
		return exitWaitFailed, true
	case "cancelled", "expired":
		return exitWaitCancelled, true
	}
	return 0, false
}

func offboardWait(c *call) func(context.Context) error {
	var timeout, interval time.Duration
	c.fs.DurationVar(&timeout, "timeout", 72*time.Hour, "give up after this long (exit 2)")
	c.fs.DurationVar(&interval, "interval", 5*time.Second, "poll every `interval`")
	return func(ctx context.Context) error {
		if timeout <= 0 || interval <= 0 {
			return usageErrorf("--timeout and --interval must be positive")
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		last := ""
		for {
			raw, err := c.client.do(ctx, http.MethodGet, wipePath(c.args[0]), nil, nil)
			if ctx.Err() != nil {
				return &exitError{code: exitWaitTimeout, msg: fmt.Sprintf("wipe %s: no outcome within %s (last state %q)", c.args[0], timeout, last)}
			}
			if err != nil {
				return err
			}
			w, err := decodeAnswer[apitypes.Wipe](raw)
			if err != nil {
				return fmt.Errorf("decode wipe: %w", err)
			}
			if w.State != last {
				fmt.Fprintf(c.env.Stderr, "wipe %s: %s\n", c.args[0], fieldtext.Escape(w.State))
				last = w.State
			}
			if code, done := waitOutcome(w.State); done {
				if err := c.printWipe(raw); err != nil {
					return err
				}
				if code == exitOK {
					return nil
				}
				msg := fmt.Sprintf("wipe %s is %s", c.args[0], w.State)
				if w.FailureReason != "" {
					msg += ": " + fieldtext.Escape(w.FailureReason)
				}
				return &exitError{code: code, msg: msg}
			}
			t := time.NewTimer(interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return &exitError{code: exitWaitTimeout, msg: fmt.Sprintf("wipe %s: no outcome within %s (last state %q)", c.args[0], timeout, last)}
			case <-t.C:
			}
		}
	}
}

func offboardRecordWipe(c *call) func(context.Context) error {
	var method, tool, toolVersion, performedBy, verifiedBy, evidence string
	c.fs.StringVar(&method, "method", "", "how it was wiped, e.g. \"crypto erase\" (required)")
	c.fs.StringVar(&tool, "tool", "", "the `tool` used (required)")
	c.fs.StringVar(&toolVersion, "tool-version", "", "the tool's `version`")
	c.fs.StringVar(&performedBy, "performed-by", "", "who wiped it (required)")
	c.fs.StringVar(&verifiedBy, "verified-by", "", "who verified it (required)")
	c.fs.StringVar(&evidence, "evidence", "", "evidence `file` (a tool report, a vendor certificate; at most 1 MiB), stored with its SHA-256 (required)")
	return func(ctx context.Context) error {
		if method == "" || tool == "" || performedBy == "" || verifiedBy == "" || evidence == "" {
			return usageErrorf("offboard record-wipe needs --method, --tool, --performed-by, --verified-by (two different people) and --evidence FILE")
		}
		b, err := readLimited(evidence, maxEvidenceFile)
		if err != nil {
			return fmt.Errorf("read evidence: %w", err)
		}
		if len(b) == 0 {
			return usageErrorf("evidence file %s is empty", evidence)
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(c.env.Stderr, "evidence %s: sha256 %s\n", evidence, hex.EncodeToString(sum[:]))
		body := apitypes.WipeRecordRequest{Method: method, Tool: tool, ToolVersion: toolVersion, PerformedBy: performedBy, VerifiedBy: verifiedBy,
			Evidence: base64.StdEncoding.EncodeToString(b), EvidenceName: filepathBase(evidence)}
		raw, err := c.client.do(ctx, http.MethodPost, wipePath(c.args[0], "/record"), nil, body)
		if err != nil {
			return err
		}
		return c.printWipe(raw)
	}
}

func filepathBase(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// readLimited reads a file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is over %d bytes", path, limit)
	}
	return b, nil
}

func offboardCertificate(c *call) func(context.Context) error {
	var format, out string
	c.fs.StringVar(&format, "format", "json", "json (signed) or html (printable)")
	c.fs.StringVar(&out, "o", "", "write to `file` instead of stdout")
	return func(ctx context.Context) error {
		if format != "json" && format != "html" {
			return usageErrorf("--format %q: want json or html (PDF: print the html page)", format)
		}
		raw, err := c.client.do(ctx, http.MethodGet, wipePath(c.args[0], "/certificate"), url.Values{"format": {format}}, nil)
		if err != nil {
			return err
		}
		if out == "" {
			_, err = c.env.Stdout.Write(raw)
			return err
		}
		if err := os.WriteFile(out, raw, 0o644); err != nil {
			return fmt.Errorf("write certificate: %w", err)
		}
		return nil
	}
}

// verifyCertificate checks a signed certificate against pub: the key id
// must name pub and the signature must cover the certificate's compact
// encoding. It returns the certificate as it was signed.
func verifyCertificate(data []byte, pub ed25519.PublicKey) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var sc wire.SignedCertificate
	if err := dec.Decode(&sc); err != nil {
		return nil, fmt.Errorf("not a signed certificate: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not a signed certificate: trailing data")
	}
	if len(sc.Certificate) == 0 || sc.Signature == "" {
		return nil, errors.New("not a signed certificate: certificate or signature missing")
	}
	if want := wire.KeyID(pub); sc.KeyID != want {
		return nil, fmt.Errorf("signed with key %s, not with the given key %s", fieldtext.Escape(sc.KeyID), want)
	}
	sig, err := base64.StdEncoding.DecodeString(sc.Signature)
	if err != nil {
		return nil, fmt.Errorf("signature is not base64: %w", err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, sc.Certificate); err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	if !ed25519.Verify(pub, compact.Bytes(), sig) {
		return nil, errors.New("signature does not match: the certificate was changed or not signed by this collector")
	}
	return sc.Certificate, nil
}

// certificateSummary is what verify-certificate says of a certificate it
// verified: the fields of the collector's SanitisationCertificate that
// name the wipe, the asset and the outcome.
type certificateSummary struct {
	WipeRequestID  string `json:"wipe_request_id"`
	PropertyNumber string `json:"property_number"`
	SerialNumber   string `json:"serial_number"`
	State          string `json:"state"`
	Method         string `json:"method"`
}

func parsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key: want the base64 of a %d-byte Ed25519 key (roster-collector ca command-key)", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

func offboardVerifyCertificate(c *call) func(context.Context) error {
	var key, keyFile string
	c.fs.StringVar(&key, "public-key", "", "the collector's command-signing public `key`, base64")
	c.fs.StringVar(&keyFile, "collector-key-file", "", "`file` holding that key (the output of roster-collector ca command-key)")
	return func(ctx context.Context) error {
		if (key == "") == (keyFile == "") {
			return usageErrorf("offboard verify-certificate needs one of --public-key or --collector-key-file")
		}
		if keyFile != "" {
			b, err := readLimited(keyFile, 4096)
			if err != nil {
				return fmt.Errorf("read key file: %w", err)
			}
			key = string(b)
		}
		pub, err := parsePublicKey(key)
		if err != nil {
			return usageErrorf("%v", err)
		}
		data, err := readLimited(c.args[0], 16<<20)
		if err != nil {
			return fmt.Errorf("read certificate: %w", err)
		}
		cert, err := verifyCertificate(data, pub)
		if err != nil {
			return fmt.Errorf("certificate %s does not verify: %w", c.args[0], err)
		}
		if *c.json {
			b, err := json.Marshal(struct {
				Valid       bool            `json:"valid"`
				KeyID       string          `json:"key_id"`
				Certificate json.RawMessage `json:"certificate"`
			}{true, wire.KeyID(pub), cert})
			if err != nil {
				return fmt.Errorf("encode verification: %w", err)
			}
			return c.printJSON(b)
		}
		sum, err := decodeAnswer[certificateSummary](cert)
		if err != nil {
			return fmt.Errorf("certificate %s: %w", c.args[0], err)
		}
		fmt.Fprintf(c.env.Stdout, "certificate OK: signed by %s; wipe %s, asset %s, serial %s, %s (%s)\n", wire.KeyID(pub),
			fieldtext.Escape(sum.WipeRequestID), fieldtext.Escape(sum.PropertyNumber), fieldtext.Escape(sum.SerialNumber),
			fieldtext.Escape(sum.State), fieldtext.Escape(sum.Method))
		return nil
	}
}
