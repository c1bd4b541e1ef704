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

	"github.com/rosterhq/roster/shared/fieldtext"
)

func whoami(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		raw, err := c.client.do(ctx, http.MethodGet, "/api/v1/whoami", nil, nil)
		if err != nil {
			return err
		}
		if *c.json {
			return c.printJSON(raw)
		}
		var w struct {
			Principal   map[string]any `json:"principal"`
			Token       map[string]any `json:"token"`
			Permissions []string       `json:"permissions"`
		}
		if err := json.Unmarshal(raw, &w); err != nil {
			return fmt.Errorf("decode collector answer: %w", err)
		}
		c.printObject(map[string]any{
			"principal": w.Principal["name"], "kind": w.Principal["kind"], "role": w.Principal["role"],
			"token": w.Token["id"], "expires_at": w.Token["expires_at"], "permissions": strings.Join(w.Permissions, " "),
		}, []string{"principal", "kind", "role", "token", "expires_at", "permissions"})
		return nil
	}
}

func tokenKeys() []string {
	return []string{"id", "principal", "kind", "email", "role", "description", "created_at", "created_by", "expires_at",
		"last_used_at", "last_used_from", "status", "revoked_at", "revoked_by", "rotated_from"}
}

// printCreatedToken prints a token answer: the token once, on stdout, the
// record beside it.
func (c *call) printCreatedToken(raw []byte) error {
	if *c.json {
		return c.printJSON(raw)
	}
	var out struct {
		Token  string         `json:"token"`
		Record map[string]any `json:"record"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return fmt.Errorf("decode collector answer: %w", err)
	}
	out.Record["token"] = out.Token
	c.printObject(out.Record, append([]string{"token"}, tokenKeys()[:9]...))
	fmt.Fprintf(c.env.Stderr, "The token is shown only this once: store it now. It expires at %s.\n", fieldtext.Escape(str(out.Record["expires_at"])))
	return nil
}

func tokensCreate(c *call) func(context.Context) error {
	var body struct {
		Principal   string `json:"principal"`
		Role        string `json:"role,omitempty"`
		Kind        string `json:"kind,omitempty"`
		Email       string `json:"email,omitempty"`
		Description string `json:"description,omitempty"`
		ExpiresIn   string `json:"expires_in,omitempty"`
	}
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
		return c.listCommand(ctx, "/api/v1/tokens", q, &paging{}, "tokens",
			[]string{"ID", "PRINCIPAL", "ROLE", "STATUS", "EXPIRES", "LAST USED", "FROM", "CREATED BY"},
			func(m map[string]any) []string {
				return []string{str(m["id"]), str(m["principal"]), str(m["role"]), str(m["status"]), str(m["expires_at"]),
					str(m["last_used_at"]), str(m["last_used_from"]), str(m["created_by"])}
			})
	}
}

func tokensRevoke(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return c.objectCommand(ctx, http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(c.args[0]), nil, tokenKeys())
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
		body := map[string]string{}
		if expires != "" {
			body["expires_in"] = expires
		}
		raw, err := c.client.do(ctx, http.MethodPost, path, nil, body)
		if err != nil {
			return err
		}
		return c.printCreatedToken(raw)
	}
}

func principalsList(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return c.listCommand(ctx, "/api/v1/principals", url.Values{}, &paging{}, "principals",
			[]string{"NAME", "KIND", "ROLE", "EMAIL", "CREATED", "CREATED BY", "LAST USED", "ACTIVE TOKENS", "DISABLED"},
			func(m map[string]any) []string {
				return []string{str(m["name"]), str(m["kind"]), str(m["role"]), str(m["email"]), str(m["created_at"]),
					str(m["created_by"]), str(m["last_used_at"]), strconv.Itoa(activeTokens(m)), str(m["disabled_at"])}
			})
	}
}

func activeTokens(m map[string]any) int {
	n := 0
	toks, _ := m["tokens"].([]any)
	for _, t := range toks {
		if tm, ok := t.(map[string]any); ok && tm["status"] == "active" {
			n++
		}
	}
	return n
}

func principalsSetRole(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return c.objectCommand(ctx, http.MethodPut, "/api/v1/principals/"+url.PathEscape(c.args[0])+"/role",
			map[string]string{"role": c.args[1]}, []string{"principal", "role"})
	}
}

func principalsDisable(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return c.objectCommand(ctx, http.MethodPost, "/api/v1/principals/"+url.PathEscape(c.args[0])+"/disable", nil, []string{"principal", "status"})
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
			raw, err := c.client.do(ctx, http.MethodPost, "/api/v1/access/review/sign-off", nil,
				map[string]string{"statement": signOff, "since": q.Get("since"), "until": q.Get("until")})
			if err != nil {
				return err
			}
			if *c.json {
				return c.printJSON(raw)
			}
			m, err := decodeObject(raw)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.env.Stdout, "access review signed off: audit entry %s, %s principals, review sha256 %s\n",
				fieldtext.Escape(str(m["seq"])), fieldtext.Escape(str(m["principals"])), fieldtext.Escape(str(m["review_sha256"])))
			return nil
		}
		raw, err := c.client.do(ctx, http.MethodGet, "/api/v1/access/review", q, nil)
		if err != nil {
			return err
		}
		if *c.json {
			return c.printJSON(raw)
		}
		var rev struct {
			Principals []map[string]any `json:"principals"`
			Changes    []map[string]any `json:"changes"`
		}
		if err := json.Unmarshal(raw, &rev); err != nil {
			return fmt.Errorf("decode collector answer: %w", err)
		}
		header := []string{"principal", "kind", "email", "role", "created_at", "created_by", "last_used_at", "active_tokens", "next_expiry", "disabled_at", "changes_in_period"}
		changes := map[string]int{}
		for _, ch := range rev.Changes {
			changes[strings.TrimPrefix(str(ch["target"]), "principal:")]++
		}
		var rows [][]string
		for _, p := range rev.Principals {
			next := ""
			toks, _ := p["tokens"].([]any)
			for _, t := range toks {
				if tm, ok := t.(map[string]any); ok && tm["status"] == "active" && (next == "" || str(tm["expires_at"]) < next) {
					next = str(tm["expires_at"])
				}
			}
			name := str(p["name"])
			rows = append(rows, []string{name, str(p["kind"]), str(p["email"]), str(p["role"]), str(p["created_at"]), str(p["created_by"]),
				str(p["last_used_at"]), strconv.Itoa(activeTokens(p)), next, str(p["disabled_at"]), strconv.Itoa(changes[name])})
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
				crow = append(crow, []string{str(ch["seq"]), str(ch["at"]), str(ch["principal_name"]), str(ch["action"]), str(ch["target"]), str(ch["detail"])})
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
		return c.listCommand(ctx, "/api/v1/audit", q, p, "audit entries",
			[]string{"SEQ", "AT", "PRINCIPAL", "ROLE", "SOURCE", "ACTION", "TARGET", "OUTCOME", "DETAIL"},
			func(m map[string]any) []string {
				return []string{str(m["seq"]), str(m["at"]), str(m["principal_name"]), str(m["role"]), str(m["source"]),
					str(m["action"]), str(m["target"]), str(m["outcome"]), str(m["detail"])}
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
// imports no collector internals, and docs/api.md fixes the format.
func (cp checkpoint) signedBytes() []byte {
	return []byte("roster-audit-checkpoint-v1\n" + strconv.FormatInt(cp.Seq, 10) + "\n" + cp.Hash + "\n" + cp.At + "\n")
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
		var res struct {
			OK          bool   `json:"ok"`
			Entries     int64  `json:"entries"`
			HeadSeq     int64  `json:"head_seq"`
			HeadHash    string `json:"head_hash"`
			Checkpoints int64  `json:"checkpoints"`
			Covered     int64  `json:"covered"`
			Problem     *struct {
				Seq     int64  `json:"seq"`
				Message string `json:"message"`
			} `json:"problem"`
			PublicKey string          `json:"public_key"`
			Latest    json.RawMessage `json:"latest_checkpoint"`
		}
		if err := json.Unmarshal(raw, &res); err != nil {
			return fmt.Errorf("decode collector answer: %w", err)
		}
		var problems []string
		if !res.OK && res.Problem != nil {
			problems = append(problems, fmt.Sprintf("collector: %s (first bad entry %d)", res.Problem.Message, res.Problem.Seq))
		}
		path := c.witnessPath(witnessFile)
		if path != "none" && path != "" {
			p, err := c.checkWitness(ctx, path, res.PublicKey, res.HeadSeq, res.Latest, res.OK)
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
func (c *call) checkWitness(ctx context.Context, path, pubB64 string, head int64, latest json.RawMessage, ok bool) ([]string, error) {
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
		default:
			q := url.Values{"cursor": {strconv.FormatInt(cp.Seq-1, 10)}, "limit": {"1"}}
			raw, err := c.client.do(ctx, http.MethodGet, "/api/v1/audit", q, nil)
			if err != nil {
				return nil, err
			}
			var pg struct {
				Items []struct {
					Seq  int64  `json:"seq"`
					Hash string `json:"hash"`
				} `json:"items"`
			}
			if err := json.Unmarshal(raw, &pg); err != nil {
				return nil, fmt.Errorf("decode collector answer: %w", err)
			}
			if len(pg.Items) == 0 || pg.Items[0].Seq != cp.Seq || pg.Items[0].Hash != cp.Hash {
				problems = append(problems, fmt.Sprintf("entry %d differs from the checkpoint this machine verified before (chain rewritten)", cp.Seq))
			}
		}
	}
	if len(problems) == 0 && ok && len(latest) > 0 && string(latest) != "null" {
		w.Checkpoint = latest
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
