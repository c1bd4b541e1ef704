package apitypes

// Local accounts and single sign-on users of the web console
// (/api/v1/users): people, never their passwords; a password or TOTP
// secret appears only in the one answer that makes it.

import "time"

// User is a person principal: a local account or one created at its first
// single sign-on.
type User struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Email      string     `json:"email"`
	Role       string     `json:"role"`
	Kind       string     `json:"kind"`
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  string     `json:"created_by"`
	DisabledAt *time.Time `json:"disabled_at"`
	// HasPassword: the user can sign in with a local password.
	HasPassword bool `json:"has_password"`
	// TOTP: the local password needs a one-time code too.
	TOTP bool `json:"totp"`
	// LockedUntil is set while failed sign-ins keep the account locked.
	LockedUntil    *time.Time `json:"locked_until"`
	FailedAttempts int        `json:"failed_attempts"`
	LastSignInAt   *time.Time `json:"last_signin_at"`
	// Source is "local" or the OIDC issuer the user signs in through.
	Source string `json:"source"`
	// Sessions is how many web console sessions are live.
	Sessions int `json:"sessions"`
}

// UserRequest is POST /api/v1/users: a local account with a password,
// given or (generate) made by the collector and returned once.
type UserRequest struct {
	Name     string `json:"name"`
	Email    string `json:"email,omitempty"`
	Role     string `json:"role"`
	Password string `json:"password,omitempty"`
	Generate bool   `json:"generate,omitempty"`
}

// UserCreated is the answer of POST /api/v1/users; Password only when the
// collector generated it.
type UserCreated struct {
	User     User   `json:"user"`
	Password string `json:"password,omitempty"`
}

// PasswordRequest is POST /api/v1/users/{name}/password: a new password,
// or generate one.
type PasswordRequest struct {
	Password string `json:"password,omitempty"`
	Generate bool   `json:"generate,omitempty"`
}

// PasswordReset is the answer of POST /api/v1/users/{name}/password: the
// user's sessions have ended; Password only when generated.
type PasswordReset struct {
	User     User   `json:"user"`
	Password string `json:"password,omitempty"`
}

// TOTPEnabled is the answer of POST /api/v1/users/{name}/totp: the secret
// and the otpauth:// URL an authenticator app enrols from, shown once.
type TOTPEnabled struct {
	User       User   `json:"user"`
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
}

// SessionsEnded is the answer of POST /api/v1/users/{name}/sessions/end.
type SessionsEnded struct {
	User  string `json:"user"`
	Ended int    `json:"ended"`
}
