// Package ctl is rosterctl, the admin command line: it reads its settings
// (~/.config/roster/ctl.yaml, then ROSTER_* variables, then flags), calls
// the collector's read and secrets API (docs/api.md) with a bearer token,
// and prints tables for people or, with --json, the API's JSON for scripts.
// It speaks only HTTP and imports no collector internals, so it behaves
// exactly as any other API client would.
package ctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rosterhq/roster/shared/fieldtext"
)

// Env is what Run needs from its process.
type Env struct {
	Stdout, Stderr io.Writer
	// Getenv reads an environment variable (os.Getenv in main).
	Getenv func(string) string
	// HomeDir is the user's home, for ~/.config/roster/ctl.yaml ("" skips it).
	HomeDir string
	// Now is the clock for relative times such as --since 7d.
	Now     func() time.Time
	Version string
	// Stdin is where a password is read from when standard input is not
	// a terminal (nil: nowhere).
	Stdin io.Reader
	// ReadPassword prompts on the terminal and reads a line without
	// echoing it; nil when standard input is not a terminal.
	ReadPassword func(prompt string) (string, error)
	// StderrTerminal says Stderr is a terminal: a long download draws its
	// progress there, and nothing when it is not.
	StderrTerminal bool
}

func (e Env) getenv(k string) string {
	if e.Getenv == nil {
		return ""
	}
	return e.Getenv(k)
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, a ...any) error {
	return &usageError{fmt.Sprintf(format, a...)}
}

const usage = `usage: rosterctl [global flags] COMMAND [flags]

Commands:
  devices list [--platform P] [--hostname H] [--serial S] [--state S]
               [--seen-after T] [--seen-before T] [--software NAME]
               [--software-version V] [--limit N] [--cursor C] [--all]
  devices show REF                 REF is a device id, asset tag, serial or hostname
  devices software REF [--limit N] [--cursor C] [--all]
  devices history REF [--since T] [--until T] [--limit N] [--cursor C] [--all]
  devices revoke REF               revoke the device's certificates
  devices merge NEW --into OLD     resolve an identity conflict: NEW continues OLD's record
  devices allow-reenroll DEVICE [--within 24h]
                                   let a reinstall enrol again as DEVICE
  software search NAME [--version V] [--source S] [--limit N] [--cursor C] [--all]
  secrets create [--label L] [--expires 30d] [--max-uses N]
  secrets list
  secrets revoke ID
  history [--since T] [--until T] [--kind K] [--limit N] [--cursor C] [--all]
  assets import FILE.csv [--dry-run] [--map "Tag=asset_tag,Serial No=serial"]
  assets add TAG --status S [--serial S] [--type T] [--model M] [--owner O]
             [--owner-email E] [--classification C] [--location L]
             [--purchase-date D] [--fixed-asset-ref R] [--notes N] [--tags "a;b"]
  assets set TAG [the same field flags]
  assets show TAG | assets list [--status S] [--owner O] [--flag F] [--linked yes|no]
  assets export [--csv|--json]     the whole register (CSV by default)
  assets link TAG DEVICE | assets unlink TAG
  assets history TAG [--since T] [--kind K]
  assets refresh                   re-link and recompute flags now
  reconcile [--csv|--json] [--hostname-rule REGEXP]
  exceptions request --device REF|--asset TAG --policy ID --reason R --control C
                 --expires 2026-12-31|30d     pending until someone else approves it (alias: add)
  exceptions approve ID [--note N] | exceptions deny ID [--note N]
  exceptions list [--status pending|active|denied|expired|revoked] [--device REF] [--policy ID]
  exceptions show ID | exceptions revoke ID
  events [--since T] [--until T] [--kind K] [--device REF] [--limit N] [--cursor C] [--all]
  compliance summary               devices by compliance state, policies by status
  compliance history DEVICE [--policy ID] [--from T] [--to T] [--csv|--json]
                 each policy's status when the period began, then every change
  compliance history --policy ID [--from T] [--to T] [--csv|--json]
                 one row per UTC day: devices by status, the compliant share
  policies list | policies show ID
  offboard start DEVICE|TAG|SERIAL --ticket T --reason R [--method agent|manual]
                 [--reuse] [--deadline 14d]      prints the wipe id
  offboard status ID|DEVICE
  offboard wait ID [--timeout 72h] [--interval 5s]
                 exit 0 completed/verified, 1 failed, 2 timeout, 3 cancelled/expired
  offboard record-wipe ID --method M --tool T [--tool-version V]
                 --performed-by NAME --verified-by NAME --evidence FILE
  offboard cancel ID
  offboard certificate ID [--format json|html] [-o FILE]
  offboard verify-certificate FILE --public-key KEY|--collector-key-file F   (offline)
  whoami                           who the token belongs to, its role and permissions
  tokens create --principal NAME [--role R] [--kind person|automation] [--email E]
                [--description D] [--expires 90d]      prints the token once
  tokens list [--principal NAME] [--all] | tokens revoke ID | tokens rotate ID|self [--expires 90d]
  principals list | principals set-role NAME ROLE | principals disable NAME
  users add NAME --role R [--email E] [--password-file F | --generate]
                 web console account; without either flag the password is typed
                 twice at a terminal or read from standard input
  users list | users show NAME | users disable NAME | users set-role NAME ROLE
  users reset-password NAME [--password-file F | --generate]
  users totp enable|disable NAME   enable prints the otpauth URL once
  users signout NAME               end every web console session of NAME
  access review [--since T] [--until T] [--csv|--json] [--sign-off "statement"]
  audit log [--since T] [--until T] [--principal P] [--action A] [--target T]
            [--limit N] [--cursor C] [--all]
  audit verify [--witness FILE|none]   exit 1 names the first bad entry
  evidence export --from T [--to T] --out DIR|FILE.zip
                 the signed evidence bundle of the period [from, to) for auditors;
                 FILE.zip is written whole or not at all, DIR gets the files
  evidence verify BUNDLE --public-key KEY|FILE   (offline) BUNDLE is a zip or a
                 directory; exit 1 names each changed, missing or extra file
  version

Global flags (also accepted after the command):
  --url URL           collector, e.g. https://collector.example.com:8443 (ROSTER_URL)
  --token TOKEN       API token (ROSTER_TOKEN)
  --ca FILE           collector CA certificate, PEM (ROSTER_CA)
  --ca-fingerprint FP pin the collector CA by sha256:<hex> (ROSTER_CA_FINGERPRINT)
  --config FILE       settings file (ROSTER_CONFIG; default ~/.config/roster/ctl.yaml)
  --json              print the API's JSON instead of a table

Times (T) are RFC 3339 (2024-05-01T10:00:00Z), a date (2024-05-01, UTC), or an
age such as 30m, 12h or 7d meaning that long ago. See docs/rosterctl.md.
`

// global holds the flags every command accepts.
type global struct {
	flags      Settings
	configFile string
	json       bool
}

func (g *global) register(fs *flag.FlagSet) {
	fs.StringVar(&g.flags.URL, "url", g.flags.URL, "collector `URL`")
	fs.StringVar(&g.flags.Token, "token", g.flags.Token, "API `token`")
	fs.StringVar(&g.flags.CA, "ca", g.flags.CA, "collector CA certificate `file` (PEM)")
	fs.StringVar(&g.flags.CAFingerprint, "ca-fingerprint", g.flags.CAFingerprint, "collector CA `fingerprint` sha256:<hex>")
	fs.StringVar(&g.configFile, "config", g.configFile, "settings `file`")
	fs.BoolVar(&g.json, "json", g.json, "print JSON")
}

// Run runs rosterctl with args (without the program name) and returns the
// exit code: 0 success, 1 failure (including every API error), 2 usage.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Now == nil {
		env.Now = time.Now
	}
	err := run(ctx, args, env)
	var ue *usageError
	var xe *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &xe):
		if xe.msg != "" {
			fmt.Fprintf(env.Stderr, "rosterctl: %s\n", fieldtext.Escape(xe.msg))
		}
		return xe.code
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(env.Stderr, "rosterctl: %s\nRun 'rosterctl help' for usage.\n", fieldtext.Escape(ue.msg))
		return exitUsage
	default:
		fmt.Fprintf(env.Stderr, "rosterctl: %s\n", fieldtext.Escape(err.Error()))
		return exitFailure
	}
}

func run(ctx context.Context, args []string, env Env) error {
	var g global
	top := newFlagSet("rosterctl", env)
	g.register(top)
	if err := top.Parse(args); err != nil {
		return err
	}
	args = top.Args()
	if len(args) == 0 {
		return usageErrorf("no command given")
	}
	name := args[0]
	if name == "help" || name == "-h" {
		fmt.Fprint(env.Stdout, usage)
		return nil
	}
	if name == "version" {
		fmt.Fprintln(env.Stdout, "rosterctl", env.Version)
		return nil
	}
	if name == "devices" || name == "software" || name == "secrets" || name == "assets" || name == "exceptions" || name == "compliance" || name == "policies" || name == "offboard" ||
		name == "tokens" || name == "principals" || name == "access" || name == "audit" || name == "users" || name == "evidence" {
		if len(args) < 2 {
			return usageErrorf("%s needs a subcommand", name)
		}
		name += " " + args[1]
		args = args[2:]
	} else {
		args = args[1:]
	}
	cmd, ok := lookup(name)
	if !ok {
		return usageErrorf("unknown command %q", name)
	}
	fs := newFlagSet("rosterctl "+name, env)
	g.register(fs)
	c := &call{env: env, json: &g.json, fs: fs}
	runCmd := cmd.setup(c)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != cmd.nargs && (cmd.nargs >= 0 || len(pos) > -cmd.nargs) {
		return usageErrorf("usage: rosterctl %s %s", name, cmd.usage)
	}
	c.args = pos
	if offline(name) {
		return runCmd(ctx)
	}
	settings, err := resolve(g.flags, g.configFile, env)
	if err != nil {
		return err
	}
	if c.client, err = newClient(settings); err != nil {
		return err
	}
	return runCmd(ctx)
}

func newFlagSet(name string, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() { fmt.Fprint(env.Stderr, usage) }
	return fs
}

// parseInterspersed lets flags follow positional arguments, as in
// `rosterctl devices show web-01 --json`; the standard flag package stops
// at the first argument that is not a flag.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageErrorf("%s", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
