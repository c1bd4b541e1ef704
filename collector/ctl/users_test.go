package ctl

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/rosterhq/roster/collector/api"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
)

// usersCollector is the real API on a SQLite registry, with an admin
// token in the returned settings.
func usersCollector(t *testing.T) (map[string]string, *registry.Registry) {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	reg, err := registry.OpenAndMigrate(ctx, registry.StoreConfig{Engine: registry.EngineSQLite, Path: filepath.Join(dir, "roster.db")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	ca, _, err := pki.LoadOrCreate(filepath.Join(dir, "pki"), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, tok, err := reg.CreateToken(ctx, registry.TokenInput{Principal: "root", Role: "admin"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(api.New(api.Options{Registry: reg, CA: ca}))
	srv.TLS = ca.ServerTLS(nil)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"ROSTER_URL": srv.URL, "ROSTER_TOKEN": tok, "ROSTER_CA": caFile}, reg
}

// runWith runs rosterctl with a standard input and, when typed is not
// nil, a terminal that answers each prompt with the next of typed.
func runWith(t *testing.T, env map[string]string, stdin io.Reader, typed []string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }, HomeDir: t.TempDir(), Stdin: stdin}
	if typed != nil {
		e.ReadPassword = func(prompt string) (string, error) {
			if len(typed) == 0 {
				return "", io.EOF
			}
			pw := typed[0]
			typed = typed[1:]
			return pw, nil
		}
	}
	code := Run(context.Background(), args, e)
	return result{code, stdout.String(), stderr.String()}
}

func TestUsersCommands(t *testing.T) {
	t.Parallel()
	env, reg := usersCollector(t)
	ctx := context.Background()
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("correct horse battery\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	signIn := func(name, pw string) error {
		_, err := reg.SignIn(ctx, name, pw, "", time.Now())
		return err
	}
	tests := []struct {
		name    string
		stdin   string
		typed   []string
		args    []string
		code    int
		out     []string
		errOut  string
		check   func() error
		notInIO string
	}{
		{name: "add from a file", args: []string{"users", "add", "alice", "--role", "helpdesk", "--email", "alice@example.org", "--password-file", pwFile},
			out: []string{"name:", "alice", "has_password:", "true", "source:", "local"}, notInIO: "correct horse",
			check: func() error { return signIn("alice", "correct horse battery") }},
		{name: "add typed twice", typed: []string{"typed passphrase 1", "typed passphrase 1"}, args: []string{"users", "add", "bob", "--role", "auditor"},
			out: []string{"bob"}, check: func() error { return signIn("bob", "typed passphrase 1") }},
		{name: "add typed twice differently", typed: []string{"typed passphrase 1", "typed passphrase 2"}, args: []string{"users", "add", "bob2", "--role", "auditor"},
			code: 1, errOut: "the two passwords differ"},
		{name: "add from standard input", stdin: "piped passphrase\n", args: []string{"users", "add", "carol", "--role", "helpdesk"},
			out: []string{"carol"}, check: func() error { return signIn("carol", "piped passphrase") }},
		{name: "add generated", args: []string{"users", "add", "dave", "--role", "admin", "--generate"},
			out: []string{"password:"}, errOut: "shown only this once"},
		{name: "add short password", stdin: "short\n", args: []string{"users", "add", "erin", "--role", "helpdesk"},
			code: 1, errOut: "too short: at least 12 characters"},
		{name: "add without role", args: []string{"users", "add", "erin", "--generate"}, code: exitUsage, errOut: "--role"},
		{name: "list", args: []string{"users", "list"}, out: []string{"NAME", "alice", "bob", "carol", "dave", "root"}},
		{name: "list json", args: []string{"users", "list", "--json"}, out: []string{`"name": "alice"`}},
		{name: "show", args: []string{"users", "show", "alice"}, out: []string{"email:", "alice@example.org"}},
		{name: "show unknown", args: []string{"users", "show", "nobody"}, code: 1, errOut: `no user "nobody"`},
		{name: "set-role", args: []string{"users", "set-role", "alice", "auditor"}, out: []string{"role:", "auditor"}},
		{name: "totp enable", args: []string{"users", "totp", "enable", "alice"}, out: []string{"otpauth_url:", "otpauth://totp/Roster:alice"}},
		{name: "totp disable", args: []string{"users", "totp", "disable", "alice"}, out: []string{"totp:", "false"}},
		{name: "totp wrong action", args: []string{"users", "totp", "on", "alice"}, code: exitUsage},
		{name: "reset-password generated", args: []string{"users", "reset-password", "alice", "--generate"},
			out: []string{"password of alice reset", "password:"}},
		{name: "reset-password both", args: []string{"users", "reset-password", "alice", "--generate", "--password-file", pwFile}, code: exitUsage},
		{name: "reset-password from file", args: []string{"users", "reset-password", "alice", "--password-file", pwFile},
			out: []string{"password of alice reset"}, check: func() error { return signIn("alice", "correct horse battery") }},
		{name: "signout", args: []string{"users", "signout", "alice"}, out: []string{"alice signed out everywhere: 0 sessions ended"}},
		{name: "disable", args: []string{"users", "disable", "alice"}, out: []string{"disabled_at:"}},
	}
	// The cases share one collector, so they run in order.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdin io.Reader
			if tt.stdin != "" {
				stdin = strings.NewReader(tt.stdin)
			}
			res := runWith(t, env, stdin, tt.typed, tt.args...)
			if res.code != tt.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", res.code, tt.code, res.stdout, res.stderr)
			}
			for _, w := range tt.out {
				if !strings.Contains(res.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, res.stdout)
				}
			}
			if tt.errOut != "" && !strings.Contains(res.stderr, tt.errOut) {
				t.Errorf("stderr %q, want it to mention %q", res.stderr, tt.errOut)
			}
			if tt.notInIO != "" && strings.Contains(res.stdout+res.stderr, tt.notInIO) {
				t.Errorf("the password was printed: %s %s", res.stdout, res.stderr)
			}
			if tt.check != nil {
				if err := tt.check(); err != nil {
					t.Errorf("afterwards: %v", err)
				}
			}
		})
	}
}
