package ctl

// The people who sign in to the web console (docs/api.md, "Users"):
// local accounts with their passwords and TOTP, single sign-on users,
// roles, disabling and signing out everywhere. A password is read from a
// file, typed twice at a terminal, or read from a pipe; never a flag, so
// it stays out of the shell history and the process list.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"

	"github.com/rosterhq/roster/collector/apitypes"
	"github.com/rosterhq/roster/shared/fieldtext"
)

func userFields(u apitypes.User) []field {
	return []field{{"id", u.ID}, {"name", u.Name}, {"email", u.Email}, {"role", u.Role}, {"kind", u.Kind}, {"source", u.Source},
		{"has_password", strconv.FormatBool(u.HasPassword)}, {"totp", strconv.FormatBool(u.TOTP)},
		{"created_at", at(u.CreatedAt)}, {"created_by", u.CreatedBy}, {"last_signin_at", atp(u.LastSignInAt)},
		{"failed_attempts", strconv.Itoa(u.FailedAttempts)}, {"locked_until", atp(u.LockedUntil)},
		{"disabled_at", atp(u.DisabledAt)}, {"sessions", strconv.Itoa(u.Sessions)}}
}

func userPath(name string, rest ...string) string {
	p := "/api/v1/users/" + url.PathEscape(name)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// passwordFlags are the ways a command takes a new password.
type passwordFlags struct {
	file     string
	generate bool
}

func (c *call) passwordFlags() *passwordFlags {
	p := &passwordFlags{}
	c.fs.StringVar(&p.file, "password-file", "", "read the password from `file` (its first line)")
	c.fs.BoolVar(&p.generate, "generate", false, "let the collector generate a password and print it once")
	return p
}

// read returns the password to send ("" with generate): from the file,
// typed twice at a terminal, or read from standard input.
func (p *passwordFlags) read(c *call, user string) (string, error) {
	switch {
	case p.generate && p.file != "":
		return "", usageErrorf("give --password-file or --generate, not both")
	case p.generate:
		return "", nil
	case p.file != "":
		b, err := os.ReadFile(p.file)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return firstLine(b, "--password-file "+p.file)
	case c.env.ReadPassword != nil:
		pw, err := c.env.ReadPassword(fmt.Sprintf("New password for %s: ", user))
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		again, err := c.env.ReadPassword("Again: ")
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if pw != again {
			return "", errors.New("the two passwords differ")
		}
		if pw == "" {
			return "", usageErrorf("no password typed")
		}
		return pw, nil
	case c.env.Stdin != nil:
		b, err := io.ReadAll(io.LimitReader(c.env.Stdin, 64<<10))
		if err != nil {
			return "", fmt.Errorf("read password from standard input: %w", err)
		}
		return firstLine(b, "standard input")
	}
	return "", usageErrorf("give --password-file FILE or --generate, or pipe the password in")
}

// firstLine is b's first line without its line ending; empty is refused.
func firstLine(b []byte, from string) (string, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 {
		return "", usageErrorf("no password in %s", from)
	}
	return string(line), nil
}

// printGenerated prints a generated password once, on stdout, and says so.
func (c *call) printGenerated(pw string) {
	if pw == "" {
		return
	}
	c.printFields([]field{{"password", pw}})
	fmt.Fprintln(c.env.Stderr, "The password is shown only this once: hand it over now.")
}

func usersAdd(c *call) func(context.Context) error {
	var role, email string
	c.fs.StringVar(&role, "role", "", "admin, helpdesk, auditor or automation (required)")
	c.fs.StringVar(&email, "email", "", "the user's `email`")
	pf := c.passwordFlags()
	return func(ctx context.Context) error {
		if role == "" {
			return usageErrorf("--role R is required")
		}
		pw, err := pf.read(c, c.args[0])
		if err != nil {
			return err
		}
		out, done, err := fetch[apitypes.UserCreated](ctx, c, http.MethodPost, "/api/v1/users", nil,
			apitypes.UserRequest{Name: c.args[0], Email: email, Role: role, Password: pw, Generate: pf.generate})
		if done || err != nil {
			return err
		}
		c.printFields(userFields(out.User))
		c.printGenerated(out.Password)
		return nil
	}
}

func usersList(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return listCommand(ctx, c, "/api/v1/users", url.Values{}, &paging{}, "users",
			[]string{"NAME", "ROLE", "SOURCE", "EMAIL", "TOTP", "LAST SIGN-IN", "LOCKED UNTIL", "DISABLED", "SESSIONS"},
			func(u apitypes.User) []string {
				return []string{u.Name, u.Role, u.Source, u.Email, strconv.FormatBool(u.TOTP), atp(u.LastSignInAt),
					atp(u.LockedUntil), atp(u.DisabledAt), strconv.Itoa(u.Sessions)}
			})
	}
}

func usersShow(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return objectCommand(ctx, c, http.MethodGet, userPath(c.args[0]), nil, userFields)
	}
}

func usersDisable(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return objectCommand(ctx, c, http.MethodPost, userPath(c.args[0], "disable"), nil, userFields)
	}
}

func usersResetPassword(c *call) func(context.Context) error {
	pf := c.passwordFlags()
	return func(ctx context.Context) error {
		pw, err := pf.read(c, c.args[0])
		if err != nil {
			return err
		}
		out, done, err := fetch[apitypes.PasswordReset](ctx, c, http.MethodPost, userPath(c.args[0], "password"), nil,
			apitypes.PasswordRequest{Password: pw, Generate: pf.generate})
		if done || err != nil {
			return err
		}
		fmt.Fprintf(c.env.Stdout, "password of %s reset; its lockout is cleared and its sessions ended\n", fieldtext.Escape(out.User.Name))
		c.printGenerated(out.Password)
		return nil
	}
}

func usersSetRole(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return objectCommand(ctx, c, http.MethodPut, userPath(c.args[0], "role"), apitypes.RoleRequest{Role: c.args[1]}, userFields)
	}
}

func usersTOTP(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		action, name := c.args[0], c.args[1]
		switch action {
		case "enable":
			out, done, err := fetch[apitypes.TOTPEnabled](ctx, c, http.MethodPost, userPath(name, "totp"), nil, nil)
			if done || err != nil {
				return err
			}
			c.printFields([]field{{"user", out.User.Name}, {"secret", out.Secret}, {"otpauth_url", out.OTPAuthURL}})
			fmt.Fprintln(c.env.Stderr, "Shown only this once: enrol the authenticator app from the otpauth URL (as a QR code) or the secret.")
			return nil
		case "disable":
			return objectCommand(ctx, c, http.MethodDelete, userPath(name, "totp"), nil, userFields)
		}
		return usageErrorf("users totp %q: want enable or disable", action)
	}
}

func usersSignout(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		out, done, err := fetch[apitypes.SessionsEnded](ctx, c, http.MethodPost, userPath(c.args[0], "sessions", "end"), nil, nil)
		if done || err != nil {
			return err
		}
		fmt.Fprintf(c.env.Stdout, "%s signed out everywhere: %d sessions ended\n", fieldtext.Escape(out.User), out.Ended)
		return nil
	}
}
