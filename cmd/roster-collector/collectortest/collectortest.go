// Package collectortest starts the real roster-collector binary on loopback
// for end-to-end tests (the agent's included): it builds the binary, runs
// `serve --data DIR --listen 127.0.0.1:0`, waits for its "listening on"
// line, and hands back the URL, the CA fingerprint and an admin token made
// with `token create`. It uses only the binary's documented command line,
// never collector packages, so an agent-side test may import it without
// linking server code.
package collectortest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Package is the import path Build compiles by default.
const Package = "github.com/rosterhq/roster/cmd/roster-collector"

// StartTimeout bounds how long Start waits for the listening line; it is a
// failure bound, not a synchronisation delay.
const StartTimeout = 2 * time.Minute

// Build compiles pkg (Package when empty) into dir and returns the binary's
// path. cgo is switched on: the collector's SQLite driver is C, and a build
// without it compiles but fails at run time.
func Build(ctx context.Context, dir, pkg string) (string, error) {
	if pkg == "" {
		pkg = Package
	}
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// Options for Start.
type Options struct {
	// DataDir is the data directory; empty means a new t.TempDir().
	DataDir string
	// Args are extra serve flags, e.g. "--http3=false".
	Args []string
	// Config is a configuration file given to serve and to token create
	// (--config), e.g. one naming a PostgreSQL store.
	Config string
}

// Collector is a running roster-collector process.
type Collector struct {
	// URL is https://127.0.0.1:PORT (TCP and UDP).
	URL  string
	Addr string
	// Fingerprint is the CA's "sha256:<hex>", from `ca fingerprint`.
	Fingerprint string
	// CAFile is the CA certificate (PEM) in the data directory.
	CAFile string
	// AdminToken is a fresh admin API token from `token create`.
	AdminToken string
	// BootstrapToken is the token serve printed on the data directory's
	// very first start ("" on later starts).
	BootstrapToken string
	DataDir        string
	// Stdout is everything serve printed up to the listening line.
	Stdout string

	bin    string
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
	err    error
	once   sync.Once
}

// Start runs bin serve and stops it (gracefully, checking a zero exit)
// when the test ends.
func Start(t testing.TB, bin string, opts Options) *Collector {
	t.Helper()
	dir := opts.DataDir
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "data")
	}
	c := &Collector{DataDir: dir, CAFile: filepath.Join(dir, "pki", "ca.crt"), bin: bin, stderr: &syncBuffer{}, done: make(chan struct{})}
	args := []string{"serve", "--data", dir, "--listen", "127.0.0.1:0", "--log-format", "json"}
	var configArgs []string
	if opts.Config != "" {
		configArgs = []string{"--config", opts.Config}
	}
	args = append(append(args, configArgs...), opts.Args...)
	c.cmd = exec.Command(bin, args...)
	c.cmd.Stderr = c.stderr
	// quic-go warns on stderr when it cannot enlarge UDP buffers; that is
	// noise here, not a failure.
	c.cmd.Env = append(os.Environ(), "QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true")
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("roster-collector stdout: %v", err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start roster-collector: %v", err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		if code := c.Stop(); code != 0 {
			t.Errorf("roster-collector exited %d on SIGINT, want 0; stderr:\n%s", code, c.stderr)
		}
	})

	var out strings.Builder
	timeout := time.After(StartTimeout)
wait:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				<-c.done
				t.Fatalf("roster-collector exited before listening (%v); stdout:\n%s\nstderr:\n%s", c.err, out.String(), c.stderr)
			}
			out.WriteString(line + "\n")
			if strings.HasPrefix(line, "Bootstrap admin token ") {
				c.BootstrapToken = line[strings.LastIndex(line, " ")+1:]
			}
			if addr, ok := strings.CutPrefix(line, "listening on "); ok {
				c.Addr = addr
				break wait
			}
		case <-timeout:
			t.Fatalf("roster-collector printed no listening line within %v; stdout:\n%s\nstderr:\n%s", StartTimeout, out.String(), c.stderr)
		}
	}
	// Keep draining stdout so the process never blocks on a full pipe.
	go func() {
		for range lines {
		}
	}()
	c.Stdout = out.String()
	c.URL = "https://" + c.Addr
	c.Fingerprint = strings.TrimSpace(c.Run(t, "ca", "fingerprint", "--data", dir))
	// A second collector on a shared store finds the principal made by the
	// first: its token keeps that principal's role.
	c.AdminToken = strings.TrimSpace(c.Run(t, append([]string{"token", "create", "--data", dir, "--role", "admin", "--name", "e2e-admin"}, configArgs...)...))
	return c
}

// Run runs another roster-collector command (token create, ca fingerprint,
// migrate) and returns its stdout, failing the test on a non-zero exit.
func (c *Collector) Run(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(c.bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("roster-collector %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// PID is the collector's process id (to sample its CPU and memory).
func (c *Collector) PID() int { return c.cmd.Process.Pid }

// Stop sends SIGINT, waits for the process (killing it after a bound) and
// returns its exit code. Later calls return the same code.
// Kill ends the collector with SIGKILL, as a crash or the loss of its
// host would: no graceful shutdown, no final checkpoint.
func (c *Collector) Kill() {
	c.once.Do(func() {
		_ = c.cmd.Process.Kill()
		<-c.done
		c.err = nil
	})
}

func (c *Collector) Stop() int {
	c.once.Do(func() {
		_ = c.cmd.Process.Signal(os.Interrupt)
		select {
		case <-c.done:
		case <-time.After(time.Minute):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	if c.err == nil {
		return 0
	}
	return c.cmd.ProcessState.ExitCode()
}

// Stderr is what the process logged so far.
func (c *Collector) Stderr() string { return c.stderr.String() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
