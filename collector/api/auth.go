package api

// Authentication and authorisation in front of every route: the guard
// reads the permission the route declared (routes in api.go), finds who is
// asking (bearer token or device certificate), refuses what the role may
// not do, records every refusal in the audit log, and throttles sources
// that keep presenting bad credentials.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/throttle"
)

// requestID returns the caller's X-Request-ID when it is short and plain,
// else a new random one.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-ID"); id != "" && len(id) <= 64 && !strings.ContainsFunc(id, func(c rune) bool {
		return !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z')
	}) {
		return id
	}
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// guard wraps h with the check perm needs.
func (s *server) guard(perm access.Permission, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rid := requestID(r)
		w.Header().Set("X-Request-ID", rid)
		actor := access.Actor{Source: throttle.Source(r), RequestID: rid}
		switch perm {
		case access.Public:
			h(w, r.WithContext(access.WithActor(r.Context(), actor)))
			return
		case access.Agent:
			if wait := s.limiter.Blocked(actor.Source); wait > 0 {
				s.throttled(w, wait)
				return
			}
			device, serial, ae := s.clientDevice(r)
			if ae != nil {
				// The handler asks clientDevice again, gets the same
				// refusal and answers it through fail (audited, counted
				// toward the throttle) after recording its own metric.
				h(w, r.WithContext(access.WithActor(r.Context(), actor)))
				return
			}
			actor.Principal = access.Principal{ID: device, Name: "device " + device, Kind: access.KindDevice}
			ctx := context.WithValue(access.WithActor(r.Context(), actor), deviceKey{}, clientCert{device, serial})
			h(w, r.WithContext(ctx))
			return
		}
		if wait := s.limiter.Blocked(actor.Source); wait > 0 {
			s.throttled(w, wait)
			return
		}
		scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			s.deny(w, r, actor, perm, errf(http.StatusUnauthorized, "unauthenticated", "send Authorization: Bearer <API token>"))
			return
		}
		p, err := s.reg.AuthenticateToken(r.Context(), strings.TrimSpace(tok), actor.Source, s.now())
		if err != nil {
			if !errors.Is(err, registry.ErrUnauthenticated) {
				s.fail(w, r, err)
				return
			}
			actor.Principal = p
			s.deny(w, r, actor, perm, s.classify(err))
			return
		}
		actor.Principal = p
		if !p.Role.Can(perm) {
			s.deny(w, r, actor, perm, errf(http.StatusForbidden, "forbidden", "the %s role may not do this (%s %s needs permission %s)", p.Role, r.Method, r.URL.Path, perm))
			return
		}
		h(w, r.WithContext(access.WithActor(r.Context(), actor)))
	}
}

func (s *server) throttled(w http.ResponseWriter, wait time.Duration) {
	secs := int(wait.Seconds()) + 1
	w.Header().Set("Retry-After", fmt.Sprint(secs))
	writeError(w, http.StatusTooManyRequests, "too_many_failures",
		fmt.Sprintf("too many failed authentications from this address; retry in %d s", secs))
}

// deny answers a refused request and records it in the audit log with the
// principal when known, never the presented credential. Authentication
// failures count toward the source's throttle.
func (s *server) deny(w http.ResponseWriter, r *http.Request, actor access.Actor, perm access.Permission, ae *apiError) {
	if ae.status == http.StatusUnauthorized {
		s.limiter.Fail(actor.Source)
	}
	ctx := access.WithActor(r.Context(), actor)
	detail := map[string]any{"status": ae.status, "code": ae.code, "reason": ae.message, "permission": perm}
	if err := s.reg.AuditOutside(ctx, "request.denied", r.Method+" "+r.URL.Path, audit.Denied, detail); err != nil {
		s.logger.Error("audit denied request", "err", err)
	}
	s.logger.Warn("request denied", "method", r.Method, "path", r.URL.Path, "source", actor.Source, "principal", actor.Name,
		"status", ae.status, "reason", ae.message, "request_id", actor.RequestID)
	writeError(w, ae.status, ae.code, ae.message)
}

// sensitiveRead records a read an auditor wants to know about (a raw
// snapshot, a certificate, an export, the access review) before the
// answer goes out; when the entry cannot be written the read is refused.
func (s *server) sensitiveRead(w http.ResponseWriter, r *http.Request, action, target string, detail any) bool {
	if err := s.reg.AuditOutside(r.Context(), action, target, audit.OK, detail); err != nil {
		s.fail(w, r, err)
		return false
	}
	return true
}

type deviceKey struct{}

// clientCert is the device and certificate serial the guard verified.
type clientCert struct{ device, serial string }
