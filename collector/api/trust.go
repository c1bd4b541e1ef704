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
	"github.com/rosterhq/roster/collector/apitypes"
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

func (s *server) whoami(w http.ResponseWriter, r *http.Request) {
	a := access.ActorFrom(r.Context())
	out := apitypes.Whoami{Principal: toPrincipal(a.Principal), Permissions: []string{}}
	for _, p := range access.Permissions() {
		if a.Role.Can(p) {
			out.Permissions = append(out.Permissions, string(p))
		}
	}
	if a.TokenID != "" {
		t, err := s.reg.Token(r.Context(), a.TokenID, s.now())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out.Token = ptr(&t, toToken)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) createToken(w http.ResponseWriter, r *http.Request) {
	var req apitypes.TokenRequest
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
	writeJSON(w, http.StatusCreated, apitypes.TokenCreated{Token: plain, Record: toToken(rec)})
}

func (s *server) listTokens(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	items, err := s.reg.ListTokens(r.Context(), registry.TokenFilter{Principal: q.Get("principal"), All: q.Get("all") == "true"}, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listOf(items, "", toToken))
}

func (s *server) getToken(w http.ResponseWriter, r *http.Request) {
	t, err := s.reg.Token(r.Context(), r.PathValue("id"), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toToken(t))
}

func (s *server) revokeToken(w http.ResponseWriter, r *http.Request) {
	t, err := s.reg.RevokeToken(r.Context(), r.PathValue("id"), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger.Info("token revoked", "token_id", t.ID, "principal", t.Principal)
	writeJSON(w, http.StatusOK, toToken(t))
}

func (s *server) rotate(w http.ResponseWriter, r *http.Request, id string) {
	var req apitypes.RotateRequest
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
	writeJSON(w, http.StatusCreated, apitypes.TokenCreated{Token: plain, Record: toToken(rec)})
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
	writeJSON(w, http.StatusOK, listOf(items, "", toPrincipalRecord))
}

func (s *server) setPrincipalRole(w http.ResponseWriter, r *http.Request) {
	var req apitypes.RoleRequest
	if ae := decodeJSON(w, r, maxJSONBody, &req); ae != nil {
		s.fail(w, r, ae)
		return
	}
	if err := s.reg.SetPrincipalRole(r.Context(), r.PathValue("name"), req.Role); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apitypes.RoleChanged{Principal: r.PathValue("name"), Role: req.Role})
}

func (s *server) disablePrincipal(w http.ResponseWriter, r *http.Request) {
	if err := s.reg.DisablePrincipal(r.Context(), r.PathValue("name"), s.now()); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apitypes.PrincipalDisabled{Principal: r.PathValue("name"), Status: "disabled"})
}

// buildReview is the access review (apitypes.AccessReview) of the period
// r's since and until name.
func (s *server) buildReview(r *http.Request) (apitypes.AccessReview, *apiError, error) {
	q := r.URL.Query()
	since, until, ae := timeRange(q)
	if ae != nil {
		return apitypes.AccessReview{}, ae, nil
	}
	now := s.now()
	ps, err := s.reg.ListPrincipals(r.Context(), now)
	if err != nil {
		return apitypes.AccessReview{}, nil, err
	}
	rev := apitypes.AccessReview{GeneratedAt: now.UTC(), Since: since, Until: until, Principals: each(ps, toPrincipalRecord), Changes: []apitypes.AuditEntry{}}
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
				return apitypes.AccessReview{}, nil, err
			}
			rev.Changes = append(rev.Changes, each(es, toAuditEntry)...)
			if next == 0 {
				break
			}
			f.AfterSeq = next
		}
	}
	slices.SortFunc(rev.Changes, func(a, b apitypes.AuditEntry) int { return cmp.Compare(a.Seq, b.Seq) })
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

func (s *server) signOffReview(w http.ResponseWriter, r *http.Request) {
	var req apitypes.SignOffRequest
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
	writeJSON(w, http.StatusCreated, apitypes.SignOffResponse{Seq: e.Seq, ReviewSHA256: digest, Principals: len(rev.Principals)})
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
	out := listOf(items, "", toAuditEntry)
	if next > 0 {
		out.NextCursor = strconv.FormatInt(next, 10)
	}
	writeJSON(w, http.StatusOK, out)
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
	out := apitypes.AuditVerify{AuditResult: toAuditResult(res), KeyID: s.ca.Command.KeyID(), PublicKey: s.ca.Command.PublicBase64()}
	if len(cps) > 0 {
		out.Checkpoint = ptr(&cps[len(cps)-1], toCheckpoint)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) auditCheckpoints(w http.ResponseWriter, r *http.Request) {
	cps, err := s.reg.AuditCheckpoints(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listOf(nonNil(cps), "", toCheckpoint))
}

// maxUncovered is how old an entry no checkpoint covers may be: two
// checkpoint intervals and a minute of slack.
func (s *server) maxUncovered() time.Duration {
	if s.checkpointEvery <= 0 {
		return 0
	}
	return 2*s.checkpointEvery + time.Minute
}
