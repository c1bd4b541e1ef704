// Command msi builds the signed roster-agent MSI packages (installers/msi)
// from the agents `make cross` wrote:
//
//	go run ./installers/cmd/msi -out bin/installers -describe "$(git describe --tags --always --dirty)"
//
// -set and -set-file make a configured package instead, with ROSTER_*
// defaults baked into its Property table (for Group Policy, which cannot
// pass properties); write it to another directory than bin/installers,
// which the collector serves.
//
// SIGN_PFX (and SIGN_PFX_PASSWORD) name the code-signing certificate;
// without them a throwaway one is made for the build. SIGN_TIMESTAMP_URL
// adds an RFC 3161 timestamp (needs the network).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/rosterhq/roster/installers/msi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("msi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "bin/installers", "write the packages to `DIR`")
	describe := fs.String("describe", "", "the build's `git describe` (default: run git describe --tags --always --dirty)")
	commits := fs.Int("commits", -1, "`N` commits in HEAD, for an untagged describe (default: git rev-list --count HEAD)")
	exeX64 := fs.String("exe-x64", "bin/cross/roster-agent-windows-amd64.exe", "the amd64 agent `FILE`")
	exeARM64 := fs.String("exe-arm64", "bin/cross/roster-agent-windows-arm64.exe", "the arm64 agent `FILE` (skipped when absent)")
	preset := msi.Preset{}
	fs.Func("set", "bake a default `PROPERTY=VALUE` (ROSTER_URL, ROSTER_TAGS, ...) into a configured package; repeatable", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("want PROPERTY=VALUE")
		}
		preset[k] = v
		return nil
	})
	fs.Func("set-file", "bake a default `PROPERTY=FILE`, the value read from FILE (a secret: no shell quoting, no trace in ps); repeatable", func(s string) error {
		k, path, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("want PROPERTY=FILE")
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		preset[k] = strings.TrimRight(string(b), "\r\n")
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := preset.Validate(); err != nil {
		fmt.Fprintf(stderr, "msi: %v\n", err)
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "msi: %v\n", err)
		return 1
	}
	if *describe == "" {
		s, err := git(ctx, "describe", "--tags", "--always", "--dirty")
		if err != nil {
			return fail(err)
		}
		*describe = s
	}
	if *commits < 0 {
		s, err := git(ctx, "rev-list", "--count", "HEAD")
		if err != nil {
			return fail(err)
		}
		if *commits, err = strconv.Atoi(s); err != nil {
			return fail(fmt.Errorf("commit count %q: %w", s, err))
		}
	}
	work, err := os.MkdirTemp("", "roster-msi-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(work)

	signer := msi.Signer{PFX: getenv("SIGN_PFX"), PFXPassword: getenv("SIGN_PFX_PASSWORD"), TimestampURL: getenv("SIGN_TIMESTAMP_URL")}
	if signer.PFX == "" {
		t, err := msi.NewThrowaway(work, time.Now())
		if err != nil {
			return fail(err)
		}
		signer = t.Signer
		signer.TimestampURL = getenv("SIGN_TIMESTAMP_URL")
		fmt.Fprintf(stderr, "msi: no SIGN_PFX: signing with a throwaway certificate (SHA-256 %s), which Windows does not trust\n", t.Fingerprint)
	}
	if signer.TimestampURL == "" {
		fmt.Fprintln(stderr, "msi: no SIGN_TIMESTAMP_URL: signatures are not timestamped and lapse with the certificate")
	}

	built := 0
	for _, p := range []struct{ arch, exe string }{{"x64", *exeX64}, {"arm64", *exeARM64}} {
		if _, err := os.Stat(p.exe); err != nil {
			if p.arch == "arm64" && os.IsNotExist(err) {
				fmt.Fprintf(stderr, "msi: %s absent, no arm64 package\n", p.exe)
				continue
			}
			return fail(err)
		}
		dir, err := os.MkdirTemp(work, p.arch+"-")
		if err != nil {
			return fail(err)
		}
		res, err := msi.Build(ctx, msi.ExecRunner{}, msi.Options{
			Arch: p.arch, Describe: *describe, Commits: *commits, Exe: p.exe, Preset: preset,
			OutDir: *out, Signer: signer, WorkDir: dir,
		})
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "%s\tProductVersion %s\tProductCode %s\n", res.MSI, res.Spec.ProductVersion, res.Spec.ProductCode())
		built++
	}
	if built == 0 {
		return fail(fmt.Errorf("no agent executable to package"))
	}
	return 0
}

func git(ctx context.Context, args ...string) (string, error) {
	out, err := msi.ExecRunner{Timeout: 30 * time.Second}.Run(ctx, "git", args...)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}
