package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Runner runs a command and returns its standard output. A command that is
// not installed yields an error matching ErrNotFound; one that ran and
// exited non-zero yields an *ExitError, which carries stdout too, because
// some tools (dnf check-update, apt-get -s) signal results through the exit
// code.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// ErrNotFound means the command is not installed on the host.
var ErrNotFound = errors.New("command not found")

// ExitError is a command that ran and failed.
type ExitError struct {
	Command string
	Code    int
	Stdout  []byte
	Stderr  []byte
}

func (e *ExitError) Error() string {
	msg := strings.TrimSpace(string(e.Stderr))
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	if msg == "" {
		return fmt.Sprintf("%s: exit status %d", e.Command, e.Code)
	}
	return fmt.Sprintf("%s: exit status %d: %s", e.Command, e.Code, msg)
}

type combinedKey struct{}

// WithCombinedOutput asks the live runner to return standard error
// interleaved with standard output, as a terminal shows them, for tools
// that print their answer on stderr (macOS softwareupdate prints "No new
// software available." there). Captured hosts store such commands' output
// combined in the .out file.
func WithCombinedOutput(ctx context.Context) context.Context {
	return context.WithValue(ctx, combinedKey{}, true)
}

func combined(ctx context.Context) bool {
	v, _ := ctx.Value(combinedKey{}).(bool)
	return v
}

// CommandLine is the command as one line, as --list-commands prints it.
func CommandLine(name string, args ...string) string {
	return strings.Join(append([]string{name}, args...), " ")
}

// Slug turns a command line into the file name its captured output has:
// every character outside [A-Za-z0-9._-] becomes "_".
func Slug(line string) string {
	b := []byte(line)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			b[i] = '_'
		}
	}
	return string(b)
}

// CapturedRunner answers commands from files: Dir/<slug>.out is the
// standard output; optional Dir/<slug>.exit holds a non-zero exit code and
// Dir/<slug>.err the standard error. A missing .out means the command is
// not installed on the captured host.
type CapturedRunner struct {
	FS  fs.FS
	Dir string
}

// Run implements Runner.
func (r CapturedRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	line := CommandLine(name, args...)
	base := r.Dir + "/" + Slug(line)
	out, err := fs.ReadFile(r.FS, base+".out")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read captured output of %q: %w", line, err)
	}
	code := 0
	if b, err := fs.ReadFile(r.FS, base+".exit"); err == nil {
		code, err = strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("read captured exit code of %q: %w", line, err)
		}
	}
	if code != 0 {
		stderr, _ := fs.ReadFile(r.FS, base+".err")
		return out, &ExitError{Command: name, Code: code, Stdout: out, Stderr: stderr}
	}
	return out, nil
}

// LiveRunner runs commands on the running machine. It looks binaries up in
// PATH and then in the system directories a service's PATH may lack, runs
// them with LC_ALL=C so output is not localised, and keeps stderr for the
// error.
type LiveRunner struct {
	// ExtraDirs are searched after PATH.
	ExtraDirs []string
	// MaxOutput caps the bytes read from stdout.
	MaxOutput int64
}

// NewLiveRunner returns a runner with the usual system directories.
func NewLiveRunner() *LiveRunner {
	return &LiveRunner{
		ExtraDirs: []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin", "/opt/homebrew/bin"},
		MaxOutput: 256 << 20,
	}
}

func (r *LiveRunner) lookPath(name string) (string, error) {
	if filepath.IsAbs(name) {
		if _, err := os.Stat(name); err != nil {
			return "", fmt.Errorf("%s: %w", name, ErrNotFound)
		}
		return name, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range r.ExtraDirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, ErrNotFound)
}

// Run implements Runner.
func (r *LiveRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	p, err := r.lookPath(name)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, p, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	var stdout limitedBuffer
	stdout.max = r.MaxOutput
	var stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if combined(ctx) {
		cmd.Stderr = &stdout
	}
	cmd.WaitDelay = cmdWaitDelay
	err = cmd.Run()
	if ctx.Err() != nil {
		return stdout.Bytes(), fmt.Errorf("run %s: %w", name, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return stdout.Bytes(), &ExitError{Command: name, Code: ee.ExitCode(), Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	}
	if err != nil {
		return stdout.Bytes(), fmt.Errorf("run %s: %w", name, err)
	}
	if stdout.truncated {
		return stdout.Bytes(), fmt.Errorf("run %s: output larger than %d bytes", name, r.MaxOutput)
	}
	return stdout.Bytes(), nil
}

// limitedBuffer keeps the first max bytes written and notes the rest. It
// deliberately does not embed bytes.Buffer: io.Copy would use the embedded
// ReadFrom and bypass the limit.
type limitedBuffer struct {
	buf       bytes.Buffer
	max       int64
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	room := b.max - int64(b.buf.Len())
	if int64(len(p)) > room {
		b.truncated = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *limitedBuffer) Bytes() []byte { return b.buf.Bytes() }

// cmdWaitDelay bounds how long a killed command's pipes may stay open.
const cmdWaitDelay = 2 * time.Second
