package apitypes

// Who may do what: principals, tokens, the access review and the audit
// log.

import "time"

// Principal is who a request acts as.
type Principal struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Role    string `json:"role,omitempty"`
	TokenID string `json:"token_id,omitempty"`
}

// TokenRecord is an API token's record (never the token itself).
type TokenRecord struct {
	ID            string     `json:"id"`
	PrincipalID   string     `json:"principal_id"`
	Principal     string     `json:"principal"`
	Kind          string     `json:"kind"`
	Email         string     `json:"email"`
	Role          string     `json:"role"`
	Description   string     `json:"description"`
	CreatedAt     time.Time  `json:"created_at"`
	CreatedBy     string     `json:"created_by"`
	ExpiresAt     time.Time  `json:"expires_at"`
	LastUsedAt    *time.Time `json:"last_used_at"`
	LastUsedFrom  string     `json:"last_used_from"`
	RevokedAt     *time.Time `json:"revoked_at"`
	RevokedBy     string     `json:"revoked_by"`
	RotatedFrom   string     `json:"rotated_from"`
	Status        string     `json:"status"`
	PrincipalDown bool       `json:"principal_disabled"`
}

// PrincipalRecord is a principal with its tokens.
type PrincipalRecord struct {
	ID         string        `json:"id"`
	Name       string        `json:"name"`
	Kind       string        `json:"kind"`
	Email      string        `json:"email"`
	Role       string        `json:"role"`
	CreatedAt  time.Time     `json:"created_at"`
	CreatedBy  string        `json:"created_by"`
	DisabledAt *time.Time    `json:"disabled_at"`
	LastUsedAt *time.Time    `json:"last_used_at"`
	Tokens     []TokenRecord `json:"tokens"`
}

// AuditEntry is one entry of the hash-chained audit log.
type AuditEntry struct {
	Seq           int64     `json:"seq"`
	At            time.Time `json:"at"`
	PrincipalID   string    `json:"principal_id"`
	PrincipalName string    `json:"principal_name"`
	PrincipalKind string    `json:"principal_kind"`
	Role          string    `json:"role"`
	Source        string    `json:"source"`
	RequestID     string    `json:"request_id"`
	Action        string    `json:"action"`
	Target        string    `json:"target"`
	Outcome       string    `json:"outcome"`
	Detail        string    `json:"detail"`
	PrevHash      string    `json:"prev_hash"`
	Hash          string    `json:"hash"`
}

// AuditCheckpoint is a signed checkpoint of the audit log's head.
type AuditCheckpoint struct {
	Seq       int64     `json:"seq"`
	Hash      string    `json:"hash"`
	At        time.Time `json:"at"`
	KeyID     string    `json:"key_id"`
	Signature string    `json:"signature"`
}

// AuditResult is what a verification of the audit log found.
type AuditResult struct {
	OK          bool   `json:"ok"`
	Entries     int64  `json:"entries"`
	HeadSeq     int64  `json:"head_seq"`
	HeadHash    string `json:"head_hash"`
	Checkpoints int64  `json:"checkpoints"`
	Covered     int64  `json:"covered"`
	// FirstSeq is the first entry verified: 1, or later once retention
	// purged the oldest entries up to the signed checkpoint Anchor.
	FirstSeq int64         `json:"first_seq"`
	Anchor   int64         `json:"anchor,omitempty"`
	Problem  *AuditProblem `json:"problem,omitempty"`
}

// AuditProblem is the first thing wrong with the audit log.
type AuditProblem struct {
	Seq     int64  `json:"seq"`
	Message string `json:"message"`
}

// Whoami is GET /api/v1/whoami: who the caller is, the token it used and
// what its role may do.
type Whoami struct {
	Principal   Principal    `json:"principal"`
	Token       *TokenRecord `json:"token"`
	Permissions []string     `json:"permissions"`
}

// TokenRequest is POST /api/v1/tokens.
type TokenRequest struct {
	Principal   string `json:"principal"`
	Kind        string `json:"kind,omitempty"`
	Email       string `json:"email,omitempty"`
	Role        string `json:"role,omitempty"`
	Description string `json:"description,omitempty"`
	// ExpiresIn is "90d", "12h"; "" is the default (90 days).
	ExpiresIn string `json:"expires_in,omitempty"`
}

// TokenCreated is the one response that carries a token.
type TokenCreated struct {
	Token  string      `json:"token"`
	Record TokenRecord `json:"record"`
}

// RotateRequest is POST /api/v1/tokens/{id}/rotate and /tokens/self/rotate.
type RotateRequest struct {
	ExpiresIn string `json:"expires_in,omitempty"`
}

// RoleRequest is PUT /api/v1/principals/{name}/role.
type RoleRequest struct {
	Role string `json:"role"`
}

// RoleChanged is the answer of PUT /api/v1/principals/{name}/role.
type RoleChanged struct {
	Principal string `json:"principal"`
	Role      string `json:"role"`
}

// PrincipalDisabled is the answer of POST /api/v1/principals/{name}/disable.
type PrincipalDisabled struct {
	Principal string `json:"principal"`
	Status    string `json:"status"`
}

// AccessReview is what a periodic access review reads (SOC 2 CC6.2/CC6.3,
// ISO 27001 A.5.18): every principal with its role and tokens, and every
// change to principals and tokens during the period.
type AccessReview struct {
	GeneratedAt time.Time         `json:"generated_at"`
	Since       *time.Time        `json:"since"`
	Until       *time.Time        `json:"until"`
	Principals  []PrincipalRecord `json:"principals"`
	Changes     []AuditEntry      `json:"changes"`
}

// SignOffRequest is POST /api/v1/access/review/sign-off.
type SignOffRequest struct {
	Statement string `json:"statement"`
	// Since and Until name the period reviewed (RFC 3339 or a date).
	Since string `json:"since"`
	Until string `json:"until"`
}

// SignOffResponse is the audit entry recording the sign-off.
type SignOffResponse struct {
	Seq          int64  `json:"seq"`
	ReviewSHA256 string `json:"review_sha256"`
	Principals   int    `json:"principals"`
}

// AuditVerify is GET /api/v1/audit/verify: the result, the key that
// checked the checkpoints, and the newest checkpoint for a caller to keep
// as a witness.
type AuditVerify struct {
	AuditResult
	KeyID      string           `json:"key_id"`
	PublicKey  string           `json:"public_key"`
	Checkpoint *AuditCheckpoint `json:"latest_checkpoint"`
}
