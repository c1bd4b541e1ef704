// Package access is who may do what on the collector: the roles, the
// permissions every route declares, the table joining them, and the actor
// (principal, source address, request id) a request carries through its
// context down to the audit log. It holds no state: the table is a pure
// function, so the API, the web console and the tests read the same one.
package access

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Role is a principal's role. Each principal has exactly one.
type Role string

// The roles (docs/api.md, "Roles and permissions").
const (
	Admin      Role = "admin"
	Helpdesk   Role = "helpdesk"
	Auditor    Role = "auditor"
	Automation Role = "automation"
)

// Roles lists every role in a stable order.
func Roles() []Role { return []Role{Admin, Helpdesk, Auditor, Automation} }

// ParseRole returns the role named s or an error naming the choices.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(Roles(), r) {
		return r, nil
	}
	return "", fmt.Errorf("role %q: want one of admin, helpdesk, auditor, automation", s)
}

// Permission is what a route needs. Public and Agent are not held by any
// role: Public routes need nothing, Agent routes need a device certificate.
type Permission string

// The permissions. A route declares exactly one.
const (
	// Public: no credential (health probes, enrolment with its secret).
	Public Permission = "public"
	// Agent: a current device client certificate (mTLS).
	Agent Permission = "agent"

	DevicesRead       Permission = "devices.read"
	DevicesSnapshot   Permission = "devices.snapshot"
	DevicesAdmin      Permission = "devices.admin"
	AssetsRead        Permission = "assets.read"
	AssetsWrite       Permission = "assets.write"
	ComplianceRead    Permission = "compliance.read"
	PoliciesWrite     Permission = "policies.write"
	ExceptionsRequest Permission = "exceptions.request"
	ExceptionsApprove Permission = "exceptions.approve"
	SecretsManage     Permission = "secrets.manage"
	TokensManage      Permission = "tokens.manage"
	TokensSelf        Permission = "tokens.self"
	UsersManage       Permission = "users.manage"
	AccessReview      Permission = "access.review"
	AccessSignOff     Permission = "access.signoff"
	WipesRead         Permission = "wipes.read"
	WipesManage       Permission = "wipes.manage"
	WipesRecord       Permission = "wipes.record"
	AuditRead         Permission = "audit.read"
	EvidenceExport    Permission = "evidence.export"
	MetricsRead       Permission = "metrics.read"
	TestClock         Permission = "test.clock"
)

// Permissions lists every permission a role can hold, in a stable order.
func Permissions() []Permission {
	return []Permission{
		DevicesRead, DevicesSnapshot, DevicesAdmin, AssetsRead, AssetsWrite, ComplianceRead, PoliciesWrite,
		ExceptionsRequest, ExceptionsApprove, SecretsManage, TokensManage, TokensSelf, UsersManage, AccessReview, AccessSignOff,
		WipesRead, WipesManage, WipesRecord, AuditRead, EvidenceExport, MetricsRead, TestClock,
	}
}

// Can is the permission table. Why each role holds what it holds is in
// docs/api.md; the matrix test in collector/api holds every route to it.
func (r Role) Can(p Permission) bool {
	switch r {
	case Admin:
		return slices.Contains(Permissions(), p)
	case Helpdesk:
		// Finds a device and says why it is not compliant; asks for an
		// exception; reads a wipe's progress for a leaver's ticket. No
		// secrets, tokens, policies, wipes or audit log.
		switch p {
		case DevicesRead, AssetsRead, ComplianceRead, ExceptionsRequest, WipesRead, TokensSelf:
			return true
		}
	case Auditor:
		// Reads everything an auditor samples, including the raw snapshot,
		// the audit log and the access review, signs the review off and
		// exports a period's evidence bundle. Changes nothing in the
		// registry; never sees secrets or tokens.
		switch p {
		case DevicesRead, DevicesSnapshot, AssetsRead, ComplianceRead, WipesRead, AuditRead, EvidenceExport,
			AccessReview, AccessSignOff, MetricsRead, TokensSelf:
			return true
		}
	case Automation:
		// Offboarding runbooks: find the device, start, follow, cancel a
		// wipe and fetch its certificate; scrape metrics. A manual wipe
		// record needs a person (WipesRecord is not here).
		switch p {
		case DevicesRead, AssetsRead, WipesRead, WipesManage, MetricsRead, TokensSelf:
			return true
		}
	}
	return false
}

// Principal kinds.
const (
	KindPerson     = "person"
	KindAutomation = "automation"
	KindDevice     = "device"
	KindCollector  = "collector"
)

// Principal is who acts: a person or automation holding a token, a device
// holding a certificate, or the collector itself.
type Principal struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Kind string `json:"kind"`
	Role Role   `json:"role,omitempty"`
	// TokenID is the credential used, when a token was.
	TokenID string `json:"token_id,omitempty"`
}

// CollectorPrincipal is the principal of the collector's own jobs (expiry,
// periodic re-evaluation, checkpoints).
func CollectorPrincipal() Principal {
	return Principal{ID: "collector", Name: "collector", Kind: KindCollector}
}

// Actor is a principal acting through one request.
type Actor struct {
	Principal
	// Source is the client's address (host:port or host).
	Source string `json:"source,omitempty"`
	// RequestID ties the audit entry to the request and its log lines.
	RequestID string `json:"request_id,omitempty"`
}

type actorKey struct{}

// WithActor returns ctx carrying a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries, or the collector acting alone.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return Actor{Principal: CollectorPrincipal()}
}
