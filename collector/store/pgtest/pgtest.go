// Package pgtest starts a throwaway PostgreSQL server for tests: Debian's
// postgresql binaries (installed by scripts/deps.sh), a cluster made by
// initdb in a temporary directory, run as an unprivileged user because the
// server refuses root, listening on a Unix socket in that directory and on
// a free 127.0.0.1 port, and removed when the test ends. No mock: the
// store's PostgreSQL engine is tested against the real server.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a running throwaway PostgreSQL.
type Server struct {
	// Dir holds the cluster (data/) and the socket.
	Dir  string
	Port int
	// User is the database superuser initdb made (trust authentication:
	// the server listens on loopback and a private socket only).
	User string
	// PID is the postmaster's process id.
	PID int
	cmd *exec.Cmd
}

// DSN is a libpq/pgx connection string for database db over loopback TCP.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", s.User, s.Port, db)
}

// BinDir finds the newest installed PostgreSQL's binaries (Debian keeps
// them off PATH, in /usr/lib/postgresql/<major>/bin).
func BinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	var usable []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			usable = append(usable, d)
		}
	}
	if len(usable) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", errors.New("no PostgreSQL server binaries (initdb): install Debian's postgresql package (make deps)")
	}
	slices.SortFunc(usable, func(a, b string) int { return major(a) - major(b) })
	return usable[len(usable)-1], nil
}

func major(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start makes and starts a cluster for t and stops and removes it when t
// ends. It fails t when PostgreSQL is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := start(t.Context())
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop PostgreSQL: %v", err)
		}
	})
	return s
}

func start(ctx context.Context) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	cred, err := unprivileged()
	if err != nil {
		return nil, err
	}
	// Not t.TempDir(): its parents are root's 0700 directories, which the
	// unprivileged server could not enter.
	dir, err := os.MkdirTemp("", "roster-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, User: "roster"}
	fail := func(err error) (*Server, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(fmt.Errorf("hand the cluster directory to uid %d: %w", cred.Uid, err))
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", s.User, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %w\n%s", err, out))
	}
	if s.Port, err = freePort(); err != nil {
		return fail(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return fail(err)
	}
	defer logFile.Close()
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(s.Port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=100")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.cmd.Dir = dir
	if err := s.cmd.Start(); err != nil {
		return fail(fmt.Errorf("start postgres: %w", err))
	}
	s.PID = s.cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)), time.Second)
		if err == nil {
			c.Close()
			ready := exec.CommandContext(ctx, filepath.Join(bin, "pg_isready"), "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-U", s.User)
			if ready.Run() == nil {
				break
			}
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			return fail(fmt.Errorf("postgres exited before accepting connections: %v\n%s", err, log))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.cmd.Process.Kill()
			<-exited
			return fail(errors.New("postgres did not accept connections within 60 s"))
		}
	}
	s.cmd.Process.Release()
	s.cmd = nil
	go func() { <-exited }()
	return s, nil
}

// Stop shuts the server down (fast shutdown, then kill) and removes its
// directory.
func (s *Server) Stop() error {
	defer os.RemoveAll(s.Dir)
	p, err := os.FindProcess(s.PID)
	if err != nil {
		return nil
	}
	if err := p.Signal(syscall.SIGINT); err != nil {
		return nil // already gone
	}
	for range 100 {
		if p.Signal(syscall.Signal(0)) != nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(-s.PID, syscall.SIGKILL)
	return fmt.Errorf("postgres %d did not stop within 5 s; killed", s.PID)
}

// unprivileged is the credential the server runs with: nil when the test
// is not root, else the postgres user's (nobody's when there is none).
func unprivileged() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root and no postgres or nobody user to run the server as")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	_, port, _ := strings.Cut(l.Addr().String(), ":")
	return strconv.Atoi(port)
}

// Shared is one server for a whole test binary, started by the first test
// that asks for a database and stopped by the package's TestMain, with a
// fresh database for every test: starting a cluster takes seconds, making
// a database a fraction of one. Its zero value is ready to use.
type Shared struct {
	once sync.Once
	srv  *Server
	err  error
	mu   sync.Mutex // createdb one at a time
	n    int
}

// Database makes a new empty database for t and returns its DSN. It fails
// t when PostgreSQL cannot start.
func (s *Shared) Database(t testing.TB) string {
	t.Helper()
	s.once.Do(func() { s.srv, s.err = start(context.Background()) })
	if s.err != nil {
		t.Fatalf("start PostgreSQL: %v", s.err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	name := fmt.Sprintf("t_%d", s.n)
	bin, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), filepath.Join(bin, "createdb"), "-h", "127.0.0.1", "-p", strconv.Itoa(s.srv.Port), "-U", s.srv.User, name).CombinedOutput()
	if err != nil {
		t.Fatalf("createdb %s: %v\n%s", name, err, out)
	}
	return s.srv.DSN(name)
}

// Stop stops the server if one was started.
func (s *Shared) Stop() error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Stop()
}
