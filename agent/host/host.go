// Package host is the agent's window on the machine it inventories: a file
// system rooted at the host root, a command runner and (on Windows) a
// registry. The live machine and a captured host tree (--host-root) are two
// ways to build the same Host, so every probe runs the same code on both.
//
// This is the only agent package that imports os/exec.
package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/rosterhq/roster/agent/winreg"
)

// Host is one machine to inventory, live or captured.
type Host struct {
	// OS is the platform whose probes run: linux, darwin or windows.
	OS string
	// Root is the host root on the local file system ("/" when live). Most
	// probes read through FS; Root exists for libraries (gopsutil) that
	// take a path prefix instead of an fs.FS.
	Root string
	// FS reads files under Root; paths are slash-separated and relative
	// ("etc/os-release"). Use Path to turn "/etc/os-release" into that.
	FS fs.FS
	// Exec runs commands (live) or answers them from captures.
	Exec Runner
	// Registry reads the Windows registry; nil when the host has none.
	Registry winreg.Registry
	// Live is true for the running machine.
	Live bool
	// Cache, when set, lets RunCached reuse outputs across inventories
	// (the service loop sets it; see OutputCache).
	Cache *OutputCache
}

// Path turns an absolute host path ("/sys/class/dmi/id") into the relative
// form fs.FS wants ("sys/class/dmi/id").
func Path(p string) string {
	p = strings.TrimLeft(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

// ReadFile reads an absolute host path through h.FS.
func (h *Host) ReadFile(p string) ([]byte, error) {
	return fs.ReadFile(h.FS, Path(p))
}

// ReadFileLimit reads at most n bytes of an absolute host path; for logs and
// databases that may be large, and for block devices, whose size is the disk's.
func (h *Host) ReadFileLimit(p string, n int64) ([]byte, error) {
	f, err := h.FS.Open(Path(p))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}

// ReadString reads a small text file (sysfs attribute) and trims spaces
// and the trailing newline.
func (h *Host) ReadString(p string) (string, error) {
	b, err := h.ReadFileLimit(p, 64<<10)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Exists reports whether an absolute host path exists.
func (h *Host) Exists(p string) bool {
	_, err := fs.Stat(h.FS, Path(p))
	return err == nil
}

// ReadDir lists an absolute host path.
func (h *Host) ReadDir(p string) ([]fs.DirEntry, error) {
	return fs.ReadDir(h.FS, Path(p))
}

// ReadLink reads a symbolic link (sysfs device links) when the FS supports it.
func (h *Host) ReadLink(p string) (string, error) {
	rl, ok := h.FS.(fs.ReadLinkFS)
	if !ok {
		return "", fmt.Errorf("read link %s: %w", p, errors.ErrUnsupported)
	}
	return rl.ReadLink(Path(p))
}

// Run runs a command through h.Exec.
func (h *Host) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return h.Exec.Run(ctx, name, args...)
}

// Live builds the Host for the running machine.
func Live(goos string) *Host {
	return &Host{
		OS:       goos,
		Root:     "/",
		FS:       os.DirFS("/"),
		Exec:     NewLiveRunner(),
		Registry: winreg.Live(),
		Live:     true,
	}
}

// Captured builds a Host from a captured host tree: files under dir,
// command outputs under dir/commands, registry exports under dir/registry.
func Captured(goos, dir string) (*Host, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("open captured host: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("open captured host: %s is not a directory", dir)
	}
	fsys := os.DirFS(dir)
	h := &Host{
		OS:   goos,
		Root: dir,
		FS:   fsys,
		Exec: CapturedRunner{FS: fsys, Dir: "commands"},
	}
	if _, err := fs.Stat(fsys, "registry"); err == nil {
		reg, err := winreg.LoadExports(fsys, "registry")
		if err != nil {
			return nil, fmt.Errorf("load captured registry: %w", err)
		}
		h.Registry = reg
	}
	return h, nil
}
