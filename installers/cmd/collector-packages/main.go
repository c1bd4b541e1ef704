// Command collector-packages writes roster-collector's .deb, .rpm and OCI
// image (package installers/collector) into a directory; `make installers`
// runs it through installers/build/40-collector.sh.
//
//	collector-packages --out DIR --version DESCRIBE --collector BIN --rosterctl BIN [--static-collector BIN]
package main

import (
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/rosterhq/roster/installers/collector"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("collector-packages", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "bin/installers", "output `DIR`")
	describe := fs.String("version", "", "`git describe` of the build (mapped to package versions)")
	bin := fs.String("collector", "bin/roster-collector", "the roster-collector linux `binary` for the packages")
	ctl := fs.String("rosterctl", "bin/rosterctl", "the rosterctl linux `binary`")
	static := fs.String("static-collector", "", "a statically linked roster-collector `binary` for the OCI image (none: no image)")
	arch := fs.String("arch", "amd64", "Go architecture of the binaries: amd64 or arm64")
	certs := fs.String("ca-certs", "/etc/ssl/certs/ca-certificates.crt", "PEM `bundle` of public CAs for the image (empty: none)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *describe == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "collector-packages: --version is required and no arguments are taken")
		return 2
	}
	if err := build(stdout, *out, *describe, *bin, *ctl, *static, *arch, *certs); err != nil {
		fmt.Fprintf(stderr, "collector-packages: %v\n", err)
		return 1
	}
	return 0
}

func build(stdout io.Writer, out, describe, bin, ctl, static, arch, certs string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	libc, err := glibcVersion(bin)
	if err != nil {
		return err
	}
	debPath, rpmPath, err := collector.Packages(out, collector.Options{
		Collector: bin, Rosterctl: ctl, Describe: describe, Arch: arch, LibcVersion: libc,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, debPath)
	fmt.Fprintln(stdout, rpmPath)
	if static == "" {
		return nil
	}
	if libc, err := glibcVersion(static); err != nil || libc != "" {
		return fmt.Errorf("--static-collector %s is not statically linked (needs glibc %s): the image has no libc", static, libc)
	}
	if _, err := os.Stat(certs); err != nil {
		certs = ""
	}
	img, err := collector.Image(out, collector.ImageOptions{Collector: static, CACerts: certs, Describe: describe, Arch: arch})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, img)
	return nil
}

// glibcVersion is the highest GLIBC_x.y symbol version the binary imports,
// "" for a static binary.
func glibcVersion(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	syms, err := f.ImportedSymbols()
	if err != nil {
		if errors.Is(err, elf.ErrNoSymbols) {
			return "", nil
		}
		return "", fmt.Errorf("read %s symbols: %w", path, err)
	}
	best, bestParts := "", []int(nil)
	for _, s := range syms {
		v, ok := strings.CutPrefix(s.Version, "GLIBC_")
		if !ok {
			continue
		}
		parts, ok := versionParts(v)
		if ok && greater(parts, bestParts) {
			best, bestParts = v, parts
		}
	}
	return best, nil
}

func versionParts(v string) ([]int, bool) {
	var parts []int
	for _, p := range strings.Split(v, ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, false
		}
		parts = append(parts, n)
	}
	return parts, true
}

func greater(a, b []int) bool {
	for i := range a {
		if i >= len(b) || a[i] != b[i] {
			return i >= len(b) || a[i] > b[i]
		}
	}
	return false
}
