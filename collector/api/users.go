package api

// The people who sign in to the web console, over HTTP: local accounts
// (create, password reset, TOTP), single sign-on users as they were
// created at first sign-in, roles, disabling and signing out everywhere.
// All need users.manage (administrators). A password or TOTP secret is
// only ever in the one answer that made it: never logged, never audited.

import (
	"net/http"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/apitypes"
	"github.com/rosterhq/roster/collector/password"
	"github.com/rosterhq/roster/collector/registry"
)

func (s *server) userRoutes() []route {
	m := access.UsersManage
	return []route{
		{"/api/v1/users", map[string]endpoint{"GET": ep(m, s.listUsers), "POST": ep(m, s.createUser)}},
		{"/api/v1/users/{name}", map[string]endpoint{"GET": ep(m, s.getUser)}},
		{"/api/v1/users/{name}/disable", map[string]endpoint{"POST": ep(m, s.disableUser)}},
		{"/api/v1/users/{name}/password", map[string]endpoint{"POST": ep(m, s.resetPassword)}},
		{"/api/v1/users/{name}/role", map[string]endpoint{"PUT": ep(m, s.setUserRole)}},
		{"/api/v1/users/{name}/totp", map[string]endpoint{"POST": ep(m, s.enableTOTP), "DELETE": ep(m, s.disableTOTP)}},
		{"/api/v1/users/{name}/sessions/end", map[string]endpoint{"POST": ep(m, s.endUserSessions)}},
	}
}

// userContracts are the users routes' contracts (contract.go).
func userContracts() map[string]contract {
	user := apitypes.User{}
	return map[string]contract{
		"GET /api/v1/users": op("listUsers", "Every person who can sign in to the web console").
			query().out(http.StatusOK, apitypes.List[apitypes.User]{}),
		"POST /api/v1/users": op("createUser", "Create a local account").
			in(apitypes.UserRequest{}).out(http.StatusCreated, apitypes.UserCreated{}),
		"GET /api/v1/users/{name}":          op("getUser", "A user").query().out(http.StatusOK, user),
		"POST /api/v1/users/{name}/disable": op("disableUser", "Disable a user and end its sessions").out(http.StatusOK, user),
		"POST /api/v1/users/{name}/password": op("resetPassword", "Set a local user's password, clear its lockout, end its sessions").
			in(apitypes.PasswordRequest{}).out(http.StatusOK, apitypes.PasswordReset{}),
		"PUT /api/v1/users/{name}/role": op("setUserRole", "Change a user's role").
			in(apitypes.RoleRequest{}).out(http.StatusOK, user),
		"POST /api/v1/users/{name}/totp":   op("enableTOTP", "Give a local user a new TOTP secret").out(http.StatusOK, apitypes.TOTPEnabled{}),
		"DELETE /api/v1/users/{name}/totp": op("disableTOTP", "Remove a local user's TOTP").out(http.StatusOK, user),
		"POST /api/v1/users/{name}/sessions/end": op("endUserSessions", "Sign a user out everywhere").
			out(http.StatusOK, apitypes.SessionsEnded{}),
	}
}

// toUser is a user with its count of live sessions.
func (s *server) toUser(r *http.Request, u registry.UserRecord) (apitypes.User, error) {
	ss, err := s.reg.ListSessions(r.Context(), u.ID, s.now())
	if err != nil {
		return apitypes.User{}, err
	}
	return apitypes.User{
		ID: u.ID, Name: u.Name, Email: u.Email, Role: string(u.Role), Kind: u.Kind, CreatedAt: u.CreatedAt, CreatedBy: u.CreatedBy,
		DisabledAt: u.DisabledAt, HasPassword: u.HasPassword, TOTP: u.TOTP, LockedUntil: u.LockedUntil,
		FailedAttempts: u.FailedAttempts, LastSignInAt: u.LastSignInAt, Source: u.Source, Sessions: len(ss),
	}, nil
}

// writeUser answers with name's current record.
func (s *server) writeUser(w http.ResponseWriter, r *http.Request, name string, wrap func(apitypes.User) any) {
	u, err := s.reg.User(r.Context(), name, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := s.toUser(r, u)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wrap(out))
}

func asIs(u apitypes.User) any { return u }

// newPassword is the password a request gives, or a generated one (then
// also returned to be shown once).
func newPassword(given string, generate bool) (pw, generated string, ae *apiError) {
	switch {
	case generate && given != "":
		return "", "", errf(http.StatusBadRequest, "bad_request", "give a password or generate one, not both")
	case generate:
		g, err := password.Generate()
		if err != nil {
			return "", "", errf(http.StatusInternalServerError, "internal", "generate a password")
		}
		return g, g, nil
	case given == "":
		return "", "", errf(http.StatusBadRequest, "bad_request", `a password is required: send {"password": "..."} or {"generate": true}`)
	}
	return given, "", nil
}

func (s *server) listUsers(w http.ResponseWriter, r *http.Request) {
	us, err := s.reg.ListUsers(r.Context(), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := apitypes.List[apitypes.User]{Items: make([]apitypes.User, 0, len(us))}
	for _, u := range us {
		au, err := s.toUser(r, u)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out.Items = append(out.Items, au)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) createUser(w http.ResponseWriter, r *http.Request) {
	var req apitypes.UserRequest
	if ae := decodeJSON(w, r, maxJSONBody, &req); ae != nil {
		s.fail(w, r, ae)
		return
	}
	pw, generated, ae := newPassword(req.Password, req.Generate)
	if ae != nil {
		s.fail(w, r, ae)
		return
	}
	u, err := s.reg.CreateUser(r.Context(), registry.UserInput{Name: req.Name, Email: req.Email, Role: access.Role(req.Role), Password: pw}, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger.Info("user created", "user", u.Name, "role", u.Role, "password_generated", generated != "")
	out, err := s.toUser(r, u)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, apitypes.UserCreated{User: out, Password: generated})
}

func (s *server) getUser(w http.ResponseWriter, r *http.Request) {
	s.writeUser(w, r, r.PathValue("name"), asIs)
}

// person refuses a name that is not a person principal's with 404, so
// the users routes never act on automation.
func (s *server) person(w http.ResponseWriter, r *http.Request) (registry.UserRecord, bool) {
	u, err := s.reg.User(r.Context(), r.PathValue("name"), s.now())
	if err != nil {
		s.fail(w, r, err)
		return u, false
	}
	return u, true
}

func (s *server) disableUser(w http.ResponseWriter, r *http.Request) {
	u, ok := s.person(w, r)
	if !ok {
		return
	}
	if err := s.reg.DisablePrincipal(r.Context(), u.Name, s.now()); err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger.Info("user disabled", "user", u.Name)
	s.writeUser(w, r, u.Name, asIs)
}

func (s *server) resetPassword(w http.ResponseWriter, r *http.Request) {
	var req apitypes.PasswordRequest
	if ae := decodeJSON(w, r, maxJSONBody, &req); ae != nil {
		s.fail(w, r, ae)
		return
	}
	pw, generated, ae := newPassword(req.Password, req.Generate)
	if ae != nil {
		s.fail(w, r, ae)
		return
	}
	name := r.PathValue("name")
	if err := s.reg.ResetPassword(r.Context(), name, pw, s.now()); err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger.Info("user password reset", "user", name, "password_generated", generated != "")
	s.writeUser(w, r, name, func(u apitypes.User) any { return apitypes.PasswordReset{User: u, Password: generated} })
}

func (s *server) setUserRole(w http.ResponseWriter, r *http.Request) {
	var req apitypes.RoleRequest
	if ae := decodeJSON(w, r, maxJSONBody, &req); ae != nil {
		s.fail(w, r, ae)
		return
	}
	u, ok := s.person(w, r)
	if !ok {
		return
	}
	if err := s.reg.SetPrincipalRole(r.Context(), u.Name, req.Role); err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeUser(w, r, u.Name, asIs)
}

func (s *server) enableTOTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	secret, url, err := s.reg.EnableTOTP(r.Context(), name, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger.Info("user TOTP enabled", "user", name)
	s.writeUser(w, r, name, func(u apitypes.User) any { return apitypes.TOTPEnabled{User: u, Secret: secret, OTPAuthURL: url} })
}

func (s *server) disableTOTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.reg.DisableTOTP(r.Context(), name, s.now()); err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeUser(w, r, name, asIs)
}

func (s *server) endUserSessions(w http.ResponseWriter, r *http.Request) {
	u, ok := s.person(w, r)
	if !ok {
		return
	}
	n, err := s.reg.EndSessions(r.Context(), u.ID, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apitypes.SessionsEnded{User: u.Name, Ended: n})
}
