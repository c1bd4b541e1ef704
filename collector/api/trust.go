package api

// Principals, tokens, the access review and the audit log over HTTP.

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/shared/fieldtext"
)

func (s *server) trustRoutes() []route {
	return []route{
		{"/api/v1/whoami", map[string]endpoint{"GET": ep(access.TokensSelf, s.whoami)}},
		{"/api/v1/tokens", map[string]endpoint{"GET": ep(access.TokensManage, s.listTokens), "POST": ep(access.TokensManage, s.createToken)}},
		{"/api/v1/tokens/self/rotate", map[string]endpoint{"POST": ep(access.TokensSelf, s.rotateOwnToken)}},
		{"/api/v1/tokens/{id}", map[string]endpoint{"GET": ep(access.TokensManage, s.getToken), "DELETE": ep(access.TokensManage, s.revokeToken)}},
		{"/api/v1/tokens/{id}/rotate", map[string]endpoint{"POST": ep(access.TokensManage, s.rotateToken)}},
		{"/api/v1/principals", map[string]endpoint{"GET": ep(access.AccessReview, s.listPrincipals)}},
		{"/api/v1/principals/{name}/role", map[string]endpoint{"PUT": ep(access.TokensManage, s.setPrincipalRole)}},
		{"/api/v1/principals/{name}/disable", map[string]endpoint{"POST": ep(access.TokensManage, s.disablePrincipal)}},
		{"/api/v1/access/review", map[string]endpoint{"GET": ep(access.AccessReview, s.accessReview)}},
		{"/api/v1/access/review/sign-off", map[string]endpoint{"POST": ep(access.AccessSignOff, s.signOffReview)}},
		{"/api/v1/audit", map[string]endpoint{"GET": ep(access.AuditRead, s.auditLog)}},
		{"/api/v1/audit/verify", map[string]endpoint{"GET": ep(access.AuditRead, s.auditVerify)}},
		{"/api/v1/audit/checkpoints", map[string]endpoint{"GET": ep(access.AuditRead, s.auditCheckpoints)}},
	}
}

// whoamiResponse says who the caller is and which token it used.
type whoamiResponse struct {
	Principal   access.Principal      `json:"principal"`
	Token       *registry.TokenRecord `json:"token"`
	Permissions []access.Permission   `json:"permissions"`
}

func (s *server) whoami(w http.ResponseWriter, r *http.Request) {
	a := access.ActorFrom(r.Context())
	out := whoamiResponse{Principal: a.Principal, Permissions: []access.Permission{}}
	for _, p := range access.Permissions() {
		if a.Role.Can(p) {
			out.Permissions = append(out.Permissions, p)
		}
	}
	if a.TokenID != "" {
		t, err := s.reg.Token(r.Context(), a.TokenID, s.now())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out.Token = &t
	}
	writeJSON(w, http.StatusOK, out)
}

// tokenRequest is POST /api/v1/tokens.
type tokenRequest struct {
	Principal   string `json:"principal"`
	Kind        string `json:"kind"`
	Email       string `json:"email"`
	Role        string `json:"role"`
	Description string `json:"description"`
	// ExpiresIn is "90d", "12h"; "" is the default (90 days).
	ExpiresIn string `json:"expires_in"`
}

// tokenCreated is the one response that carries a token.
type tokenCreated struct {
	Token  string               `json:"token"`
	Record registry.TokenRecord `json:"record"`
}

func (s *server) createToken(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	if ae := decodeJSON(w, r, maxJSONBody, &req); ae != nil {
		s.fail(w, r, ae)
		return
	}
	exp, err := parseExpiry(req.ExpiresIn)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rec, plain, err := s.reg.CreateToken(r.Context(), registry.TokenInput{
		Principal: req.Principal, Kind: req.Kind, Email: req.Email, Role: req.Role, Description: req.Description, ExpiresIn: exp,
	}, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger.Info("token created", "token_id", rec.ID, "principal", rec.Principal, "role", rec.Role)
	writeJSON(w, http.StatusCreated, tokenCreated{Token: plain, Record: rec})
}

func (s *server) listTokens(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	items, err := s.reg.ListTokens(r.Context(), registry.TokenFilter{Principal: q.Get("principal"), All: q.Get("all") == "true"}, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list[registry.TokenRecord]{Items: items})
}

func (s *server) getToken(w http.ResponseWriter, r *http.Request) {
	t, err := s.reg.Token(r.Context(), r.PathValue("id"), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *server) revokeToken(w http.ResponseWriter, r *http.Request) {
	t, err := s.reg.RevokeToken(r.Context(), r.PathValue("id"), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger.Info("token revoked", "token_id", t.ID, "principal", t.Principal)
	writeJSON(w, http.StatusOK, t)
}

// rotateRequest is POST /api/v1/tokens/{id}/rotate and /tokens/self/rotate.
type rotateRequest struct {
	ExpiresIn string `json:"expires_in"`
}

func (s *server) rotate(w http.ResponseWriter, r *http.Request, id string) {
	var req rotateRequest
	if r.ContentLength != 0 {
		if ae := decodeJSON(w, r, maxJSONBody, &req); ae != nil {
			s.fail(w, r, ae)
			return
		}
	}
	exp, err := parseExpiry(req.ExpiresIn)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rec, plain, err := s.reg.RotateToken(r.Context(), id, exp, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger.Info("token rotated", "old_token_id", id, "token_id", rec.ID, "principal", rec.Principal)
	writeJSON(w, http.StatusCreated, tokenCreated{Token: plain, Record: rec})
}

func (s *server) rotateToken(w http.ResponseWriter, r *http.Request) {
	s.rotate(w, r, r.PathValue("id"))
}

// rotateOwnToken lets any principal replace the token it is calling with,
// so automation can rotate its credential without an admin.
func (s *server) rotateOwnToken(w http.ResponseWriter, r *http.Request) {
	s.rotate(w, r, access.ActorFrom(r.Context()).TokenID)
}

func (s *server) listPrincipals(w http.ResponseWriter, r *http.Request) {
	items, err := s.reg.ListPrincipals(r.Context(), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list[registry.PrincipalRecord]{Items: items})
}

// roleRequest is PUT /api/v1/principals/{name}/role.
type roleRequest struct {
	Role string `json:"role"`
}

func (s *server) setPrincipalRole(w http.ResponseWriter, r *http.Request) {
	var req roleRequest
	if ae := decodeJSON(w, r, maxJSONBody, &req); ae != nil {
		s.fail(w, r, ae)
		return
	}
	if err := s.reg.SetPrincipalRole(r.Context(), r.PathValue("name"), req.Role); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"principal": r.PathValue("name"), "role": req.Role})
}

func (s *server) disablePrincipal(w http.ResponseWriter, r *http.Request) {
	if err := s.reg.DisablePrincipal(r.Context(), r.PathValue("name"), s.now()); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"principal": r.PathValue("name"), "status": "disabled"})
}

// AccessReview is what a periodic access review reads (SOC 2 CC6.2/CC6.3,
// ISO 27001 A.5.18): every principal with its role and tokens, and every
// change to principals and tokens during the period.
type AccessReview struct {
	GeneratedAt time.Time                  `json:"generated_at"`
	Since       *time.Time                 `json:"since"`
	Until       *time.Time                 `json:"until"`
	Principals  []registry.PrincipalRecord `json:"principals"`
	Changes     []audit.Entry              `json:"changes"`
}

func (s *server) buildReview(r *http.Request) (AccessReview, *apiError, error) {
	q := r.URL.Query()
	since, until, ae := timeRange(q)
	if ae != nil {
		return AccessReview{}, ae, nil
	}
	now := s.now()
	ps, err := s.reg.ListPrincipals(r.Context(), now)
	if err != nil {
		return AccessReview{}, nil, err
	}
	rev := AccessReview{GeneratedAt: now.UTC(), Since: since, Until: until, Principals: ps, Changes: []audit.Entry{}}
	f := registry.AuditFilter{}
	if since != nil {
		f.Since = *since
	}
	if until != nil {
		f.Until = *until
	}
	for _, prefix := range []string{"principal.*", "token.*"} {
		f.Action, f.AfterSeq = prefix, 0
		for {
			es, next, err := s.reg.ListAudit(r.Context(), f)
			if err != nil {
				return AccessReview{}, nil, err
			}
			rev.Changes = append(rev.Changes, es...)
			if next == 0 {
				break
			}
			f.AfterSeq = next
		}
	}
	slices.SortFunc(rev.Changes, func(a, b audit.Entry) int { return cmp.Compare(a.Seq, b.Seq) })
	return rev, nil, nil
}

func (s *server) accessReview(w http.ResponseWriter, r *http.Request) {
	rev, ae, err := s.buildReview(r)
	if ae != nil {
		s.fail(w, r, ae)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.sensitiveRead(w, r, "access.review.read", "access-review", map[string]any{"principals": len(rev.Principals), "changes": len(rev.Changes)}) {
		return
	}
	writeJSON(w, http.StatusOK, rev)
}

// signOffRequest is POST /api/v1/access/review/sign-off.
type signOffRequest struct {
	Statement string `json:"statement"`
	// Since and Until name the period reviewed (RFC 3339 or a date).
	Since string `json:"since"`
	Until string `json:"until"`
}

// signOffResponse is the audit entry recording the sign-off.
type signOffResponse struct {
	Seq          int64  `json:"seq"`
	ReviewSHA256 string `json:"review_sha256"`
	Principals   int    `json:"principals"`
}

func (s *server) signOffReview(w http.ResponseWriter, r *http.Request) {
	var req signOffRequest
	if ae := decodeJSON(w, r, maxJSONBody, &req); ae != nil {
		s.fail(w, r, ae)
		return
	}
	req.Statement = strings.TrimSpace(req.Statement)
	if req.Statement == "" || len(req.Statement) > 2000 {
		s.fail(w, r, errf(http.StatusBadRequest, "bad_request", "statement is required: one line of at most 2,000 bytes saying what was reviewed and the outcome"))
		return
	}
	if err := fieldtext.Check("statement", req.Statement); err != nil {
		s.fail(w, r, errf(http.StatusBadRequest, "bad_request", "%v", err))
		return
	}
	// The sign-off binds to what was reviewed: the review of the period as
	// it stands now, hashed, goes into the entry.
	rq := r.Clone(r.Context())
	qv := rq.URL.Query()
	qv.Del("since")
	qv.Del("until")
	if req.Since != "" {
		qv.Set("since", req.Since)
	}
	if req.Until != "" {
		qv.Set("until", req.Until)
	}
	rq.URL.RawQuery = qv.Encode()
	rev, ae, err := s.buildReview(rq)
	if ae != nil {
		s.fail(w, r, ae)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rev.GeneratedAt = time.Time{}
	b, _ := json.Marshal(rev)
	sum := sha256.Sum256(b)
	digest := hex.EncodeToString(sum[:])
	e, err := s.reg.Record(r.Context(), "access.review.signed_off", "access-review", audit.OK, map[string]any{
		"statement": req.Statement, "since": req.Since, "until": req.Until, "review_sha256": digest, "principals": len(rev.Principals),
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, signOffResponse{Seq: e.Seq, ReviewSHA256: digest, Principals: len(rev.Principals)})
}

func (s *server) auditLog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, until, ae := timeRange(q)
	if ae != nil {
		s.fail(w, r, ae)
		return
	}
	f := registry.AuditFilter{Principal: q.Get("principal"), Action: q.Get("action"), Target: q.Get("target")}
	if since != nil {
		f.Since = *since
	}
	if until != nil {
		f.Until = *until
	}
	for name, dst := range map[string]*int64{"cursor": &f.AfterSeq} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				s.fail(w, r, errf(http.StatusBadRequest, "bad_parameter", "%s must be an entry sequence number", name))
				return
			}
			*dst = n
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.fail(w, r, errf(http.StatusBadRequest, "bad_parameter", "limit must be 1 to 1000"))
			return
		}
		f.Limit = n
	}
	items, next, err := s.reg.ListAudit(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := list[audit.Entry]{Items: items}
	if next > 0 {
		out.NextCursor = strconv.FormatInt(next, 10)
	}
	writeJSON(w, http.StatusOK, out)
}

// verifyResponse is GET /api/v1/audit/verify: the result, the key that
// checked the checkpoints, and the newest checkpoint for a caller to keep
// as a witness.
type verifyResponse struct {
	audit.Result
	KeyID      string            `json:"key_id"`
	PublicKey  string            `json:"public_key"`
	Checkpoint *audit.Checkpoint `json:"latest_checkpoint"`
}

func (s *server) auditVerify(w http.ResponseWriter, r *http.Request) {
	if s.ca.Command == nil {
		s.fail(w, r, errf(http.StatusServiceUnavailable, "unavailable", "the collector has no signing key to check checkpoints with"))
		return
	}
	res, err := s.reg.VerifyAudit(r.Context(), s.ca.Command.Public, nil, audit.Options{Now: time.Now(), MaxUncovered: s.maxUncovered()})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cps, err := s.reg.AuditCheckpoints(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.sensitiveRead(w, r, "audit.verified", "audit-log", map[string]any{"ok": res.OK, "entries": res.Entries, "head_seq": res.HeadSeq, "problem": res.Problem}) {
		return
	}
	out := verifyResponse{Result: res, KeyID: s.ca.Command.KeyID(), PublicKey: s.ca.Command.PublicBase64()}
	if len(cps) > 0 {
		out.Checkpoint = &cps[len(cps)-1]
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) auditCheckpoints(w http.ResponseWriter, r *http.Request) {
	cps, err := s.reg.AuditCheckpoints(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if cps == nil {
		cps = []audit.Checkpoint{}
	}
	writeJSON(w, http.StatusOK, list[audit.Checkpoint]{Items: cps})
}

// maxUncovered is how old an entry no checkpoint covers may be: two
// checkpoint intervals and a minute of slack.
func (s *server) maxUncovered() time.Duration {
	if s.checkpointEvery <= 0 {
		return 0
	}
	return 2*s.checkpointEvery + time.Minute
}
