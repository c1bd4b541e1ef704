// Command agent-packages builds roster-agent's .deb and .rpm packages for
// linux amd64 and arm64 (installers/linuxpkg) from the agents `make cross`
// wrote:
//
//	go run ./installers/cmd/agent-packages -out bin/installers \
//	    -describe "$(git describe --tags --always --dirty)"
//
// SOURCE_DATE_EPOCH sets the files' times and the changelog's date, so two
// builds of one commit are identical; without it the time of the build is
// used. It prints the path of each package written.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rosterhq/roster/installers/linuxpkg"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("agent-packages", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "bin/installers", "write the packages to `DIR`")
	describe := fs.String("describe", "", "the build's `VERSION` as git describe --tags --always --dirty prints it (required)")
	binDir := fs.String("bin", "bin/cross", "read roster-agent-linux-{amd64,arm64} from `DIR`")
	arches := fs.String("arch", "amd64,arm64", "comma-separated Go `ARCHES` to package")
	formats := fs.String("format", "deb,rpm", "comma-separated `FORMATS` to build")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *describe == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "agent-packages: -describe VERSION is required, and no arguments")
		return 2
	}
	o := linuxpkg.Options{Describe: *describe, OutDir: *out, Binaries: map[string]string{}}
	for _, a := range strings.Split(*arches, ",") {
		bin := filepath.Join(*binDir, "roster-agent-linux-"+a)
		if _, err := os.Stat(bin); err != nil {
			fmt.Fprintf(stderr, "agent-packages: %v (run make cross first)\n", err)
			return 1
		}
		o.Binaries[a] = bin
	}
	o.Formats = strings.Split(*formats, ",")
	if s := getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintf(stderr, "agent-packages: SOURCE_DATE_EPOCH %q is not a number of seconds\n", s)
			return 2
		}
		o.MTime = time.Unix(sec, 0)
	}
	paths, err := linuxpkg.Build(o)
	if err != nil {
		fmt.Fprintf(stderr, "agent-packages: %v\n", err)
		return 1
	}
	for _, p := range paths {
		fmt.Fprintln(stdout, p)
	}
	return 0
}
