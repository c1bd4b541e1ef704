// Package state is the agent's state directory: its key and certificate, the
// collector's CA, the device record written at enrolment, the report sequence
// counter, the last snapshot the collector acknowledged, which transport
// last worked, which of several collectors is in use, the collector's command-signing key and the journal of
// signed commands (commands.go). The directory is 0700 and every file 0600, each written
// atomically (temp file, fsync, rename, fsync of the directory) so a crash
// leaves either the old or the new content, never a torn file.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// File names inside the state directory.
const (
	KeyFile    = "key.pem"
	CertFile   = "cert.pem"
	CAFile     = "ca.pem"
	DeviceFile = "device.json"
	SeqFile    = "seq"
	// AckedFile is the acknowledged-snapshot file of agents before the
	// spool (replaced by SpooledFile); enrolment still removes it.
	AckedFile     = "acked.json"
	TransportFile = "transport.json"
	CollectorFile = "collector.json"
)

// pendingSuffix marks the halves of a key+certificate swap in progress.
const pendingSuffix = ".next"

// ErrNotEnrolled is returned when the directory holds no enrolment.
var ErrNotEnrolled = errors.New("not enrolled: run roster-agent enroll first")

// DefaultDir is the state directory of a system-wide agent on goos.
func DefaultDir(goos string) string {
	switch goos {
	case "darwin":
		return "/Library/Application Support/Roster"
	case "windows":
		base := os.Getenv("ProgramData")
		if base == "" {
			base = `C:\ProgramData`
		}
		return base + `\Roster`
	}
	return "/var/lib/roster-agent"
}

// Dir is an opened state directory.
type Dir struct {
	path string
}

// Open creates the directory (0700) when missing and tightens its mode when
// it is more open than that, because it holds the device's private key.
func Open(path string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("open state directory: no path")
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open state directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("open state directory: %s is not a directory", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o700); err != nil {
			return nil, fmt.Errorf("restrict state directory: %w", err)
		}
	}
	return &Dir{path: path}, nil
}

// Path is the directory's path.
func (d *Dir) Path() string { return d.path }

// ReadFile reads a file of the directory.
func (d *Dir) ReadFile(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(d.path, name))
}

// WriteFile replaces a file of the directory atomically with mode 0600.
func (d *Dir) WriteFile(name string, data []byte) error {
	if err := writeAtomic(filepath.Join(d.path, name), data); err != nil {
		return err
	}
	return syncDir(d.path)
}

// saveJSON writes v as JSON to name atomically (WriteFile); what names the
// record in the error. Compact: the spooled snapshot is rewritten on every
// report, and people read these files through `roster-agent status`.
func (d *Dir) saveJSON(name, what string, v any) error {
	b, err := json.Marshal(v)
	if err == nil {
		err = d.WriteFile(name, append(b, '\n'))
	}
	if err != nil {
		return fmt.Errorf("save %s: %w", what, err)
	}
	return nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	fail := func(err error) error {
		tmp.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// syncDir makes renames durable. Windows cannot open a directory for
// syncing, and NTFS journals renames anyway, so failures there are ignored.
func syncDir(path string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sync state directory: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync state directory: %w", err)
	}
	return nil
}

// Device is what enrolment leaves behind besides the credentials.
type Device struct {
	DeviceID string `json:"device_id"`
	// Collector is the URL the enrolment went through.
	Collector string `json:"collector"`
	// Collectors are every URL of the deployment the device enrolled
	// with, in order of preference; empty for enrolments before several
	// collectors (Collector alone).
	Collectors []string  `json:"collectors,omitempty"`
	EnrolledAt time.Time `json:"enrolled_at"`
	ReEnrolled bool      `json:"re_enrolled,omitempty"`
}

// Enrolment is everything SaveEnrolment writes.
type Enrolment struct {
	Device  Device
	KeyPEM  []byte
	CertPEM []byte
	CAPEM   []byte
	// CommandKey is the collector's command-signing public key (base64),
	// empty when the collector gave none.
	CommandKey string
}

// SaveEnrolment stores a new enrolment. The device record is written last:
// its presence is what says the directory is enrolled, so a crash half-way
// leaves the directory unenrolled rather than with mismatched files. The
// acknowledged snapshot is dropped because the collector's copy is unknown
// until a full report went through; the sequence counter is kept so a
// collector that continues this device's record never sees a seq go back.
func (d *Dir) SaveEnrolment(e Enrolment) error {
	if err := os.Remove(filepath.Join(d.path, DeviceFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("save enrolment: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{KeyFile, e.KeyPEM}, {CertFile, e.CertPEM}, {CAFile, e.CAPEM}} {
		if err := d.WriteFile(f.name, f.data); err != nil {
			return fmt.Errorf("save enrolment: %w", err)
		}
	}
	// The key is replaced, or removed, with the enrolment: a key left from
	// an earlier collector must not verify this one's commands.
	if err := d.saveCommandKey(e.CommandKey); err != nil {
		return fmt.Errorf("save enrolment: %w", err)
	}
	for _, name := range []string{KeyFile + pendingSuffix, CertFile + pendingSuffix, AckedFile, SpooledFile, LastAckFile} {
		if err := os.Remove(filepath.Join(d.path, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("save enrolment: %w", err)
		}
	}
	return d.saveJSON(DeviceFile, "enrolment", e.Device)
}

// Device reads the device record; ErrNotEnrolled when there is none.
func (d *Dir) Device() (Device, error) {
	var dev Device
	b, err := d.ReadFile(DeviceFile)
	if errors.Is(err, fs.ErrNotExist) {
		return dev, ErrNotEnrolled
	}
	if err != nil {
		return dev, fmt.Errorf("read device record: %w", err)
	}
	if err := json.Unmarshal(b, &dev); err != nil {
		return dev, fmt.Errorf("read device record: %w", err)
	}
	if dev.DeviceID == "" || dev.Collector == "" {
		return dev, fmt.Errorf("read device record: %s lacks device_id or collector", DeviceFile)
	}
	return dev, nil
}

// Credentials returns the key, certificate and CA PEM, first finishing a
// key+certificate swap that a crash interrupted.
func (d *Dir) Credentials() (keyPEM, certPEM, caPEM []byte, err error) {
	if err := d.recoverSwap(); err != nil {
		return nil, nil, nil, err
	}
	if keyPEM, err = d.ReadFile(KeyFile); err != nil {
		return nil, nil, nil, fmt.Errorf("read key: %w", err)
	}
	if certPEM, err = d.ReadFile(CertFile); err != nil {
		return nil, nil, nil, fmt.Errorf("read certificate: %w", err)
	}
	if caPEM, err = d.ReadFile(CAFile); err != nil {
		return nil, nil, nil, fmt.Errorf("read CA: %w", err)
	}
	return keyPEM, certPEM, caPEM, nil
}

// SwapCredentials replaces key and certificate as a pair. Both new files
// are first written whole beside the old ones (the key, then the certificate
// whose presence commits the swap), then renamed into place; Credentials
// finishes a swap a crash left half-done and forgets one that never
// committed, so key.pem and cert.pem never end up from different pairs.
func (d *Dir) SwapCredentials(keyPEM, certPEM []byte) error {
	if err := d.WriteFile(KeyFile+pendingSuffix, keyPEM); err != nil {
		return fmt.Errorf("swap credentials: %w", err)
	}
	if err := d.WriteFile(CertFile+pendingSuffix, certPEM); err != nil {
		return fmt.Errorf("swap credentials: %w", err)
	}
	return d.recoverSwap()
}

func (d *Dir) recoverSwap() error {
	p := func(name string) string { return filepath.Join(d.path, name) }
	if _, err := os.Stat(p(CertFile + pendingSuffix)); errors.Is(err, fs.ErrNotExist) {
		// Not committed: a lone pending key belongs to no certificate.
		if err := os.Remove(p(KeyFile + pendingSuffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("swap credentials: %w", err)
		}
		return nil
	}
	// The key is renamed first; if the crash came after that, only the
	// certificate is left to move.
	if err := os.Rename(p(KeyFile+pendingSuffix), p(KeyFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("swap credentials: %w", err)
	}
	if err := os.Rename(p(CertFile+pendingSuffix), p(CertFile)); err != nil {
		return fmt.Errorf("swap credentials: %w", err)
	}
	return syncDir(d.path)
}

// NextSeq increments the persisted report sequence number and returns the
// new value. It is durable before the report leaves, so a report retried
// after a crash never reuses a number for different content.
func (d *Dir) NextSeq() (uint64, error) {
	cur, err := d.Seq()
	if err != nil {
		return 0, err
	}
	next := cur + 1
	if err := d.WriteFile(SeqFile, []byte(strconv.FormatUint(next, 10)+"\n")); err != nil {
		return 0, fmt.Errorf("advance report sequence: %w", err)
	}
	return next, nil
}

// Seq is the last sequence number handed out (0 before the first report).
func (d *Dir) Seq() (uint64, error) {
	b, err := d.ReadFile(SeqFile)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read report sequence: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read report sequence: %s is corrupt: %w", SeqFile, err)
	}
	return n, nil
}

// URLs are the collectors of the enrolment in order of preference.
func (d Device) URLs() []string {
	if len(d.Collectors) > 0 {
		return d.Collectors
	}
	return []string{d.Collector}
}

// TransportChoice is which transport last carried a request, and when.
type TransportChoice struct {
	Transport string    `json:"transport"`
	At        time.Time `json:"at"`
}

// LastTransport returns the remembered transport; the zero value when none.
func (d *Dir) LastTransport() (TransportChoice, error) {
	var c TransportChoice
	b, err := d.ReadFile(TransportFile)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read transport choice: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		// A corrupt hint only costs one HTTP/3 attempt.
		return TransportChoice{}, nil
	}
	return c, nil
}

// RememberTransport records the transport that worked.
func (d *Dir) RememberTransport(c TransportChoice) error {
	return d.saveJSON(TransportFile, "transport choice", c)
}

// CollectorChoice is which of several collectors the agent uses, and
// since when: the time it moved to it, or last tried the preferred one
// in vain.
type CollectorChoice struct {
	Collector string    `json:"collector"`
	Since     time.Time `json:"since"`
}

// LastCollector returns the remembered collector; the zero value when none.
func (d *Dir) LastCollector() (CollectorChoice, error) {
	var c CollectorChoice
	b, err := d.ReadFile(CollectorFile)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read collector choice: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		// A corrupt hint only costs starting with the preferred collector.
		return CollectorChoice{}, nil
	}
	return c, nil
}

// RememberCollector records the collector in use.
func (d *Dir) RememberCollector(c CollectorChoice) error {
	return d.saveJSON(CollectorFile, "collector choice", c)
}
