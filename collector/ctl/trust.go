package ctl

// Who may do what: whoami, tokens, principals, the access review and the
// audit log (docs/api.md, "Roles and permissions", "Audit log").

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/apitypes"
	"github.com/rosterhq/roster/shared/fieldtext"
)

func whoami(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return objectCommand(ctx, c, http.MethodGet, "/api/v1/whoami", nil, func(w apitypes.Whoami) []field {
			token, expires := "", ""
			if w.Token != nil {
				token, expires = w.Token.ID, at(w.Token.ExpiresAt)
			}
			return []field{{"principal", w.Principal.Name}, {"kind", w.Principal.Kind}, {"role", w.Principal.Role},
				{"token", token}, {"expires_at", expires}, {"permissions", strings.Join(w.Permissions, " ")}}
		})
	}
}

func tokenFields(t apitypes.TokenRecord) []field {
	return []field{{"id", t.ID}, {"principal", t.Principal}, {"kind", t.Kind}, {"email", t.Email}, {"role", t.Role},
		{"description", t.Description}, {"created_at", at(t.CreatedAt)}, {"created_by", t.CreatedBy}, {"expires_at", at(t.ExpiresAt)},
		{"last_used_at", atp(t.LastUsedAt)}, {"last_used_from", t.LastUsedFrom}, {"status", t.Status},
		{"revoked_at", atp(t.RevokedAt)}, {"revoked_by", t.RevokedBy}, {"rotated_from", t.RotatedFrom}}
}

// printCreatedToken prints a token answer: the token once, on stdout, the
// record beside it.
func (c *call) printCreatedToken(raw []byte) error {
	if *c.json {
		return c.printJSON(raw)
	}
	out, err := decodeAnswer[apitypes.TokenCreated](raw)
	if err != nil {
		return err
	}
	c.printFields(append([]field{{"token", out.Token}}, tokenFields(out.Record)[:9]...))
	fmt.Fprintf(c.env.Stderr, "The token is shown only this once: store it now. It expires at %s.\n", fieldtext.Escape(at(out.Record.ExpiresAt)))
	return nil
}

func tokensCreate(c *call) func(context.Context) error {
	var body apitypes.TokenRequest
	c.fs.StringVar(&body.Principal, "principal", "", "the `name` of the person or automation the token belongs to")
	c.fs.StringVar(&body.Role, "role", "", "admin, helpdesk, auditor or automation (required for a new principal)")
	c.fs.StringVar(&body.Kind, "kind", "", "person or automation (a new principal; default person)")
	c.fs.StringVar(&body.Email, "email", "", "the principal's email or owning team (a new principal)")
	c.fs.StringVar(&body.Description, "description", "", "what the token is for")
	c.fs.StringVar(&body.ExpiresIn, "expires", "", "lifetime such as 30d or 12h (default 90d, at most 366d)")
	return func(ctx context.Context) error {
		if strings.TrimSpace(body.Principal) == "" {
			return usageErrorf("--principal NAME is required")
		}
		raw, err := c.client.do(ctx, http.MethodPost, "/api/v1/tokens", nil, body)
		if err != nil {
			return err
		}
		return c.printCreatedToken(raw)
	}
}

func tokensList(c *call) func(context.Context) error {
	var principal string
	var all bool
	c.fs.StringVar(&principal, "principal", "", "only this principal's tokens")
	c.fs.BoolVar(&all, "all", false, "revoked and expired tokens too")
	return func(ctx context.Context) error {
		q := url.Values{}
		if principal != "" {
			q.Set("principal", principal)
		}
		if all {
			q.Set("all", "true")
		}
		return listCommand(ctx, c, "/api/v1/tokens", q, &paging{}, "tokens",
			[]string{"ID", "PRINCIPAL", "ROLE", "STATUS", "EXPIRES", "LAST USED", "FROM", "CREATED BY"},
			func(t apitypes.TokenRecord) []string {
				return []string{t.ID, t.Principal, t.Role, t.Status, at(t.ExpiresAt), atp(t.LastUsedAt), t.LastUsedFrom, t.CreatedBy}
			})
	}
}

func tokensRevoke(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return objectCommand(ctx, c, http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(c.args[0]), nil, tokenFields)
	}
}

func tokensRotate(c *call) func(context.Context) error {
	var expires string
	c.fs.StringVar(&expires, "expires", "", "the new token's lifetime (default: the old one's)")
	return func(ctx context.Context) error {
		path := "/api/v1/tokens/" + url.PathEscape(c.args[0]) + "/rotate"
		if c.args[0] == "self" {
			path = "/api/v1/tokens/self/rotate"
		}
		raw, err := c.client.do(ctx, http.MethodPost, path, nil, apitypes.RotateRequest{ExpiresIn: expires})
		if err != nil {
			return err
		}
		return c.printCreatedToken(raw)
	}
}

func principalsList(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return listCommand(ctx, c, "/api/v1/principals", url.Values{}, &paging{}, "principals",
			[]string{"NAME", "KIND", "ROLE", "EMAIL", "CREATED", "CREATED BY", "LAST USED", "ACTIVE TOKENS", "DISABLED"},
			func(p apitypes.PrincipalRecord) []string {
				return []string{p.Name, p.Kind, p.Role, p.Email, at(p.CreatedAt), p.CreatedBy, atp(p.LastUsedAt),
					strconv.Itoa(len(activeTokens(p))), atp(p.DisabledAt)}
			})
	}
}

// activeTokens are a principal's tokens in use.
func activeTokens(p apitypes.PrincipalRecord) []apitypes.TokenRecord {
	var out []apitypes.TokenRecord
	for _, t := range p.Tokens {
		if t.Status == "active" {
			out = append(out, t)
		}
	}
	return out
}

func principalsSetRole(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return objectCommand(ctx, c, http.MethodPut, "/api/v1/principals/"+url.PathEscape(c.args[0])+"/role",
			apitypes.RoleRequest{Role: c.args[1]}, func(r apitypes.RoleChanged) []field {
				return []field{{"principal", r.Principal}, {"role", r.Role}}
			})
	}
}

func principalsDisable(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return objectCommand(ctx, c, http.MethodPost, "/api/v1/principals/"+url.PathEscape(c.args[0])+"/disable", nil, func(d apitypes.PrincipalDisabled) []field {
			return []field{{"principal", d.Principal}, {"status", d.Status}}
		})
	}
}

// accessReview prints the access review as a table (one line per
// principal), CSV or the API's JSON, and with --sign-off records that it
// was reviewed.
func accessReview(c *call) func(context.Context) error {
	var since, until, signOff string
	var asCSV bool
	c.fs.StringVar(&since, "since", "", "start of the reviewed period (changes from then on)")
	c.fs.StringVar(&until, "until", "", "end of the reviewed period")
	c.fs.BoolVar(&asCSV, "csv", false, "print CSV (one row per principal)")
	c.fs.StringVar(&signOff, "sign-off", "", "record in the audit log that this review was done, with this `statement`")
	return func(ctx context.Context) error {
		q := url.Values{}
		if err := c.timeRange(q, since, until); err != nil {
			return err
		}
		if signOff != "" {
			so, done, err := fetch[apitypes.SignOffResponse](ctx, c, http.MethodPost, "/api/v1/access/review/sign-off", nil,
				apitypes.SignOffRequest{Statement: signOff, Since: q.Get("since"), Until: q.Get("until")})
			if done || err != nil {
				return err
			}
			fmt.Fprintf(c.env.Stdout, "access review signed off: audit entry %d, %d principals, review sha256 %s\n",
				so.Seq, so.Principals, fieldtext.Escape(so.ReviewSHA256))
			return nil
		}
		rev, done, err := fetch[apitypes.AccessReview](ctx, c, http.MethodGet, "/api/v1/access/review", q, nil)
		if done || err != nil {
			return err
		}
		header := []string{"principal", "kind", "email", "role", "created_at", "created_by", "last_used_at", "active_tokens", "next_expiry", "disabled_at", "changes_in_period"}
		changes := map[string]int{}
		for _, ch := range rev.Changes {
			changes[strings.TrimPrefix(ch.Target, "principal:")]++
		}
		var rows [][]string
		for _, p := range rev.Principals {
			active := activeTokens(p)
			var next *time.Time
			for _, t := range active {
				if next == nil || t.ExpiresAt.Before(*next) {
					next = &t.ExpiresAt
				}
			}
			rows = append(rows, []string{p.Name, p.Kind, p.Email, p.Role, at(p.CreatedAt), p.CreatedBy,
				atp(p.LastUsedAt), strconv.Itoa(len(active)), atp(next), atp(p.DisabledAt), strconv.Itoa(changes[p.Name])})
		}
		if asCSV {
			w := csv.NewWriter(c.env.Stdout)
			w.Write(header)
			for _, r := range rows {
				for i := range r {
					r[i] = fieldtext.Escape(r[i])
				}
				w.Write(r)
			}
			w.Flush()
			return w.Error()
		}
		if err := c.printTable(upper(header), rows); err != nil {
			return err
		}
		if len(rev.Changes) > 0 {
			fmt.Fprintln(c.env.Stdout)
			fmt.Fprintln(c.env.Stdout, "Changes in the period:")
			var crow [][]string
			for _, ch := range rev.Changes {
				crow = append(crow, []string{strconv.FormatInt(ch.Seq, 10), at(ch.At), ch.PrincipalName, ch.Action, ch.Target, ch.Detail})
			}
			return c.printTable([]string{"SEQ", "AT", "BY", "ACTION", "TARGET", "DETAIL"}, crow)
		}
		return nil
	}
}

func auditLog(c *call) func(context.Context) error {
	var since, until, principal, action, target string
	c.fs.StringVar(&since, "since", "", "entries from this time")
	c.fs.StringVar(&until, "until", "", "entries before this time")
	c.fs.StringVar(&principal, "principal", "", "entries by this principal (name or id)")
	c.fs.StringVar(&action, "action", "", "this action, or a prefix ending in * (wipe.*)")
	c.fs.StringVar(&target, "target", "", "entries about this target (device:ID, asset:TAG, wipe:ID, principal:NAME)")
	p := c.paging()
	return func(ctx context.Context) error {
		q := url.Values{}
		if err := c.timeRange(q, since, until); err != nil {
			return err
		}
		for k, v := range map[string]string{"principal": principal, "action": action, "target": target} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if err := p.query(q); err != nil {
			return err
		}
		return listCommand(ctx, c, "/api/v1/audit", q, p, "audit entries",
			[]string{"SEQ", "AT", "PRINCIPAL", "ROLE", "SOURCE", "ACTION", "TARGET", "OUTCOME", "DETAIL"},
			func(e apitypes.AuditEntry) []string {
				return []string{strconv.FormatInt(e.Seq, 10), at(e.At), e.PrincipalName, e.Role, e.Source, e.Action, e.Target, e.Outcome, e.Detail}
			})
	}
}

// witness is what rosterctl keeps between verifications of one
// collector's audit log: the key it first saw and the newest checkpoint
// it verified, so a later rewrite of the chain that also deleted the
// collector's checkpoints is caught here.
type witness struct {
	PublicKey  string          `json:"public_key"`
	Checkpoint json.RawMessage `json:"checkpoint"`
}

type checkpoint struct {
	Seq       int64  `json:"seq"`
	Hash      string `json:"hash"`
	At        string `json:"at"`
	KeyID     string `json:"key_id"`
	Signature string `json:"signature"`
}

// signedBytes mirrors collector/audit's checkpoint statement; rosterctl
// imports no collector internals, and docs/api.md fixes the format. The
// statement's time has a fixed nine-digit fraction, while JSON's RFC 3339
// drops trailing zeros (one checkpoint in ten), so the time is laid out
// again.
func (cp checkpoint) signedBytes() []byte {
	at := cp.At
	if t, err := time.Parse(time.RFC3339Nano, cp.At); err == nil {
		at = t.UTC().Format("2006-01-02T15:04:05.000000000Z")
	}
	return []byte("roster-audit-checkpoint-v1\n" + strconv.FormatInt(cp.Seq, 10) + "\n" + cp.Hash + "\n" + at + "\n")
}

func (c *call) witnessPath(flagPath string) string {
	if flagPath != "" || c.env.HomeDir == "" {
		return flagPath
	}
	u := strings.NewReplacer("/", "_", ":", "_").Replace(c.client.base.Host)
	return filepath.Join(c.env.HomeDir, ".config", "roster", "audit-witness", u+".json")
}

func auditVerify(c *call) func(context.Context) error {
	var witnessFile string
	c.fs.StringVar(&witnessFile, "witness", "", "the `file` keeping the last verified checkpoint (default ~/.config/roster/audit-witness/<collector>.json; \"none\" keeps none)")
	return func(ctx context.Context) error {
		raw, err := c.client.do(ctx, http.MethodGet, "/api/v1/audit/verify", nil, nil)
		if err != nil {
			return err
		}
		res, err := decodeAnswer[apitypes.AuditVerify](raw)
		if err != nil {
			return err
		}
		var problems []string
		if !res.OK && res.Problem != nil {
			problems = append(problems, fmt.Sprintf("collector: %s (first bad entry %d)", res.Problem.Message, res.Problem.Seq))
		}
		path := c.witnessPath(witnessFile)
		if path != "none" && path != "" {
			p, err := c.checkWitness(ctx, path, res.PublicKey, res.FirstSeq, res.HeadSeq, res.Checkpoint, res.OK)
			if err != nil {
				return err
			}
			problems = append(problems, p...)
		}
		if *c.json {
			if err := c.printJSON(raw); err != nil {
				return err
			}
		} else if len(problems) == 0 {
			fmt.Fprintf(c.env.Stdout, "audit log verified: %d entries, head %d, %d signed checkpoints, covered through entry %d\n",
				res.Entries, res.HeadSeq, res.Checkpoints, res.Covered)
		}
		for _, p := range problems {
			fmt.Fprintf(c.env.Stderr, "AUDIT LOG DOES NOT VERIFY: %s\n", fieldtext.Escape(p))
		}
		if len(problems) > 0 {
			return &exitError{code: exitFailure}
		}
		return nil
	}
}

// checkWitness compares the kept checkpoint with the log as the collector
// serves it now, then keeps the newest verified checkpoint.
// first is the first entry the collector verified: later than 1 once
// retention purged the oldest entries up to a signed checkpoint.
func (c *call) checkWitness(ctx context.Context, path, pubB64 string, first, head int64, latest *apitypes.AuditCheckpoint, ok bool) ([]string, error) {
	var w witness
	var problems []string
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		w.PublicKey = pubB64
	case err != nil:
		return nil, fmt.Errorf("read audit witness: %w", err)
	default:
		if err := json.Unmarshal(b, &w); err != nil {
			return nil, fmt.Errorf("read audit witness %s: %w", path, err)
		}
	}
	if w.PublicKey != pubB64 {
		problems = append(problems, fmt.Sprintf("the collector's audit key changed since the witness in %s was kept", path))
	}
	if len(w.Checkpoint) > 0 {
		var cp checkpoint
		if err := json.Unmarshal(w.Checkpoint, &cp); err != nil {
			return nil, fmt.Errorf("read audit witness %s: %w", path, err)
		}
		pub, _ := base64.StdEncoding.DecodeString(w.PublicKey)
		sig, _ := base64.StdEncoding.DecodeString(cp.Signature)
		if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, cp.signedBytes(), sig) {
			problems = append(problems, "the kept witness checkpoint does not verify with the kept key")
		}
		switch {
		case head < cp.Seq:
			problems = append(problems, fmt.Sprintf("the log ends at entry %d but this machine verified entry %d before (truncated)", head, cp.Seq))
		case cp.Seq < first:
			// Retention purged the entry; the collector verified the chain
			// from a later signed checkpoint, which this one preceded.
		default:
			q := url.Values{"cursor": {strconv.FormatInt(cp.Seq-1, 10)}, "limit": {"1"}}
			raw, err := c.client.do(ctx, http.MethodGet, "/api/v1/audit", q, nil)
			if err != nil {
				return nil, err
			}
			pg, err := decodeAnswer[apitypes.List[apitypes.AuditEntry]](raw)
			if err != nil {
				return nil, err
			}
			if len(pg.Items) == 0 || pg.Items[0].Seq != cp.Seq || pg.Items[0].Hash != cp.Hash {
				problems = append(problems, fmt.Sprintf("entry %d differs from the checkpoint this machine verified before (chain rewritten)", cp.Seq))
			}
		}
	}
	if len(problems) == 0 && ok && latest != nil {
		// Encoded again as the collector encoded it: the time in RFC 3339
		// with its nanoseconds, the string the signature covers.
		cp, err := json.Marshal(latest)
		if err != nil {
			return nil, fmt.Errorf("keep audit witness: %w", err)
		}
		w.Checkpoint = cp
		nb, _ := json.MarshalIndent(w, "", "  ")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("keep audit witness: %w", err)
		}
		if err := os.WriteFile(path, append(nb, '\n'), 0o600); err != nil {
			return nil, fmt.Errorf("keep audit witness: %w", err)
		}
	}
	return problems, nil
}
