// Command macpkg builds roster-agent's macOS flat package for one
// architecture from a cross-compiled darwin agent binary (make cross):
//
//	go run ./installers/cmd/macpkg -version 1.4.0 -arch arm64 \
//	    -agent bin/cross/roster-agent-darwin-arm64 -out roster-agent-1.4.0-arm64.pkg
//
// Time stamps come from -mtime, else SOURCE_DATE_EPOCH, else the agent
// binary's modification time, so the same inputs give the same bytes.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rosterhq/roster/installers/macpkg"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("macpkg", flag.ContinueOnError)
	fl.SetOutput(stderr)
	version := fl.String("version", "", "package version")
	arch := fl.String("arch", "", "amd64 or arm64")
	agent := fl.String("agent", "", "darwin roster-agent binary for -arch")
	out := fl.String("out", "", "the .pkg to write")
	mtime := fl.Int64("mtime", -1, "time stamps inside the package, Unix seconds")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if *version == "" || *arch == "" || *agent == "" || *out == "" || fl.NArg() > 0 {
		fmt.Fprintln(stderr, "macpkg: -version, -arch, -agent and -out are required")
		return 2
	}
	if err := build(*version, *arch, *agent, *out, *mtime, stdout); err != nil {
		fmt.Fprintf(stderr, "macpkg: %v\n", err)
		return 1
	}
	return 0
}

func build(version, arch, agentPath, out string, mtime int64, stdout io.Writer) error {
	bin, err := os.ReadFile(agentPath)
	if err != nil {
		return fmt.Errorf("read agent binary: %w", err)
	}
	stamp, err := modTime(mtime, agentPath)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".macpkg-*")
	if err != nil {
		return fmt.Errorf("create package: %w", err)
	}
	defer os.Remove(tmp.Name())
	st, err := macpkg.Build(tmp, macpkg.Package{Version: version, Arch: arch, Agent: bin, ModTime: stamp})
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write package: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("build %s: %w", out, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write package: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("write package: %w", err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return fmt.Errorf("stat package: %w", err)
	}
	fmt.Fprintf(stdout, "%s: %d bytes, %d paths, %d KB installed\n", out, fi.Size(), st.NumberOfFiles, st.InstallKBytes)
	return nil
}

func modTime(flagValue int64, agentPath string) (time.Time, error) {
	if flagValue >= 0 {
		return time.Unix(flagValue, 0).UTC(), nil
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	fi, err := os.Stat(agentPath)
	if err != nil {
		return time.Time{}, fmt.Errorf("stat agent binary: %w", err)
	}
	return fi.ModTime().UTC().Truncate(time.Second), nil
}
