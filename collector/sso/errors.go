package sso

import "errors"

// Error is a sign-in that did not happen. Message is safe to show the
// person signing in; Code is stable, for the audit log and for tests; Err
// is the cause, for the collector's log only.
type Error struct {
	Code    string
	Message string
	Err     error
}

// The codes of Error.
const (
	// CodeProviderUnreachable: discovery failed; the provider is down or
	// the issuer is wrong.
	CodeProviderUnreachable = "provider_unreachable"
	// CodeNoFlow: no flow cookie, or it expired.
	CodeNoFlow = "no_flow"
	// CodeBadCookie: the flow cookie does not open with this collector's
	// key (altered, or sealed by a collector with another key).
	CodeBadCookie = "bad_cookie"
	// CodeStateMismatch: the answer's state is not the flow's.
	CodeStateMismatch = "state_mismatch"
	// CodeProviderError: the provider answered with an error (the person
	// cancelled, or the provider refused them).
	CodeProviderError = "provider_error"
	// CodeExchange: the token endpoint refused the code (replayed,
	// expired, wrong verifier or client credentials).
	CodeExchange = "exchange"
	// CodeIDToken: the ID token is missing or failed verification
	// (signature, issuer, audience, expiry, nonce).
	CodeIDToken = "id_token"
	// CodeClaims: the claims could not be read.
	CodeClaims = "claims"
	// CodeNoRole: none of the user's groups maps to a role.
	CodeNoRole = "no_role"
)

func (e *Error) Error() string {
	if e.Err != nil {
		return "sso: " + e.Message + ": " + e.Err.Error()
	}
	return "sso: " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// PublicMessage is what the person signing in may be shown about err:
// Error.Message, without the cause (which can quote the provider's
// answers and belongs in the log).
func PublicMessage(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Message
	}
	return "single sign-on failed"
}
