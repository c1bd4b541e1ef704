package wipe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/linux/encryption"
	"github.com/rosterhq/roster/agent/luks"
	"github.com/rosterhq/roster/shared/wire"
)

// TargetAuto in wipe.targets means every LUKS volume backing a fixed file
// system, as the encryption probe finds them.
const TargetAuto = "auto"

// ErrNoTarget: nothing to erase, so nothing was.
var ErrNoTarget = errors.New("no LUKS volume to erase; " + ManualHint)

// The command lines the executor runs (host.CommandLine form; <device> is
// the target's device path).
var (
	toolVersion = []string{"cryptsetup", "--version"}
	eraseArgs   = []string{"erase", "--batch-mode"}
	dumpArgs    = []string{"luksDump"}
)

// Commands lists every command line the executor may run.
func Commands() []string {
	return []string{
		host.CommandLine(toolVersion[0], toolVersion[1:]...),
		host.CommandLine("cryptsetup", append(eraseArgs, "<device>")...),
		host.CommandLine("cryptsetup", append(dumpArgs, "<device>")...),
	}
}

// Target is one volume to erase.
type Target struct {
	// Device is the block device holding the LUKS header.
	Device string
	// MountPoint names what it backs, when discovery found it that way.
	MountPoint string
	// LUKSUUID is the UUID discovery saw; the header must match it.
	LUKSUUID string
}

// Executor performs the cryptographic erase on the live host.
type Executor struct {
	// Host reads headers (through its FS) and runs cryptsetup (through its
	// runner, which finds the binary in the system directories too).
	Host *host.Host
	// Targets is wipe.targets: TargetAuto and/or device paths.
	Targets []string
	// HeaderBackups is wipe.header_backups: LUKS header backup files to
	// overwrite and remove.
	HeaderBackups []string
	// Timeout bounds each cryptsetup run (2 minutes when 0).
	Timeout time.Duration
	Now     func() time.Time
	Logger  *slog.Logger
}

func (e *Executor) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Executor) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (e *Executor) run(ctx context.Context, args ...string) ([]byte, error) {
	d := e.Timeout
	if d <= 0 {
		d = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return e.Host.Run(ctx, "cryptsetup", args...)
}

// Run erases every target and verifies each by reading its header back.
// prev is the checkpoint of an earlier, interrupted run of the same
// command (nil when none): the keyslot counts it recorded before erasing
// are kept. checkpoint is called with each target's state before anything
// is erased; when it fails nothing is. The evidence is complete in every
// case; the error says why the wipe failed (ErrNoTarget when there was
// nothing to erase).
func (e *Executor) Run(ctx context.Context, prev *wire.WipeEvidence, checkpoint func(wire.WipeEvidence) error) (wire.WipeEvidence, error) {
	ev := wire.WipeEvidence{Method: Method, Tool: "cryptsetup", StartedAt: e.now(), Volumes: []wire.WipedVolume{}}
	if prev != nil && !prev.StartedAt.IsZero() {
		ev.StartedAt = prev.StartedAt
	}
	ev.Hostname, _ = os.Hostname()
	finish := func(err error) (wire.WipeEvidence, error) {
		ev.FinishedAt = e.now()
		return ev, err
	}
	targets, problems := e.Resolve(ctx)
	ev.Volumes = append(ev.Volumes, problems...)
	if len(targets) == 0 && len(problems) == 0 {
		return finish(ErrNoTarget)
	}
	out, err := e.run(ctx, toolVersion[1:]...)
	if err != nil {
		return finish(fmt.Errorf("cryptsetup not usable, nothing was erased: %v; %s", err, ManualHint))
	}
	ev.ToolVersion = parseToolVersion(out)

	// Before: every target's header, recorded before anything is erased.
	headers := make([]*luks.Header, len(targets))
	for i, t := range targets {
		v := wire.WipedVolume{Device: t.Device, MountPoint: t.MountPoint, StartedAt: e.now()}
		h, _, err := e.readHeader(t.Device)
		switch {
		case err != nil:
			v.Result, v.Reason = wire.WipeFailed, err.Error()
		case t.LUKSUUID != "" && !strings.EqualFold(t.LUKSUUID, h.UUID):
			v.Result = wire.WipeFailed
			v.Reason = fmt.Sprintf("header UUID %s is not the UUID %s the encryption probe saw; not erased", h.UUID, t.LUKSUUID)
		default:
			v.LUKSVersion, v.LUKSUUID, v.KeyslotsBefore = h.Version, h.UUID, h.ActiveKeyslots()
			headers[i] = &h
			if p := previous(prev, t.Device, h.UUID); p != nil {
				// Resumed: the earlier run saw the volume before the erase.
				v.KeyslotsBefore, v.StartedAt = p.KeyslotsBefore, p.StartedAt
			}
		}
		ev.Volumes = append(ev.Volumes, v)
	}
	if checkpoint != nil {
		if err := checkpoint(ev); err != nil {
			return finish(fmt.Errorf("record the state before erasing, nothing was erased: %w", err))
		}
	}

	// Erase, then verify from the device itself.
	base := len(problems)
	for i, t := range targets {
		if headers[i] == nil {
			continue
		}
		v := &ev.Volumes[base+i]
		logger := e.logger().With("device", t.Device, "luks_uuid", v.LUKSUUID)
		_, eraseErr := e.run(ctx, append(eraseArgs, t.Device)...)
		after, verr := e.verify(ctx, t.Device, *headers[i])
		v.KeyslotsAfter, v.FinishedAt = after, e.now()
		switch {
		case verr != nil:
			v.Result, v.Reason = wire.WipeFailed, "verification: "+verr.Error()
			if eraseErr != nil {
				v.Reason = "erase: " + eraseErr.Error() + "; " + v.Reason
			}
			logger.Error("LUKS erase failed verification", "reason", v.Reason)
		default:
			v.Result = wire.WipeErased
			if eraseErr != nil {
				// What counts is the header read back: a resumed wipe
				// finds the keyslots already gone.
				v.Reason = "cryptsetup erase reported " + eraseErr.Error() + ", but no keyslot remains"
			}
			logger.Info("LUKS keyslots destroyed", "keyslots_before", v.KeyslotsBefore)
		}
	}

	e.destroyBackups(ev.Volumes[base:], headers)
	var failed []string
	for _, v := range ev.Volumes {
		if v.Result != wire.WipeErased {
			failed = append(failed, v.Device+": "+v.Reason)
		}
	}
	if len(failed) > 0 {
		return finish(fmt.Errorf("%d of %d volumes not verified erased: %s", len(failed), len(ev.Volumes), strings.Join(failed, "; ")))
	}
	return finish(nil)
}

func previous(prev *wire.WipeEvidence, dev, uuid string) *wire.WipedVolume {
	if prev == nil {
		return nil
	}
	for i, v := range prev.Volumes {
		if v.Device == dev && v.LUKSUUID == uuid && v.LUKSUUID != "" {
			return &prev.Volumes[i]
		}
	}
	return nil
}

// parseToolVersion takes "2.6.1" from "cryptsetup 2.6.1 flags: UDEV ...".
func parseToolVersion(out []byte) string {
	f := strings.Fields(string(out))
	if len(f) >= 2 && f[0] == "cryptsetup" {
		return f[1]
	}
	return strings.TrimSpace(string(out))
}

// readHeader reads the LUKS header at the start of dev; for LUKS2 it
// returns both copies (primary and secondary) in the bytes.
func (e *Executor) readHeader(dev string) (luks.Header, []byte, error) {
	b, err := e.Host.ReadFileLimit(dev, 4096)
	if err != nil {
		return luks.Header{}, nil, fmt.Errorf("read LUKS header of %s: %w", dev, err)
	}
	size, err := luks.HeaderSize(b)
	if errors.Is(err, luks.ErrNotLUKS) {
		return luks.Header{}, nil, fmt.Errorf("%s does not start with a LUKS header (not LUKS, or a detached header); not erased", dev)
	}
	if err != nil {
		return luks.Header{}, nil, fmt.Errorf("read LUKS header of %s: %w", dev, err)
	}
	want := size
	if b[7] == 2 { // LUKS2: the secondary header follows the primary
		want = 2 * size
	}
	if b, err = e.Host.ReadFileLimit(dev, int64(want)); err != nil {
		return luks.Header{}, nil, fmt.Errorf("read LUKS header of %s: %w", dev, err)
	}
	h, err := luks.ParseHeader(b[:min(size, len(b))])
	if err != nil {
		return luks.Header{}, nil, fmt.Errorf("parse LUKS header of %s: %w", dev, err)
	}
	return h, b, nil
}

// verify reads dev's header back after the erase and returns its active
// keyslots; any remaining keyslot, or a view that disagrees, is an error.
// Three views must agree: the primary header, for LUKS2 the secondary
// header, and cryptsetup's own luksDump.
func (e *Executor) verify(ctx context.Context, dev string, before luks.Header) (int, error) {
	h, b, err := e.readHeader(dev)
	if err != nil {
		return -1, err
	}
	if h.UUID != before.UUID || h.Version != before.Version {
		return -1, fmt.Errorf("header now says LUKS%d %s, was LUKS%d %s", h.Version, h.UUID, before.Version, before.UUID)
	}
	n := h.ActiveKeyslots()
	if n != 0 {
		return n, fmt.Errorf("%d keyslots still active in the header (%v)", n, h.Keyslots)
	}
	if h.Version == 2 {
		size, _ := luks.HeaderSize(b)
		if err := checkSecondary(b, size); err != nil {
			return n, fmt.Errorf("secondary LUKS2 header: %w", err)
		}
	}
	out, err := e.run(ctx, append(dumpArgs, dev)...)
	if err != nil {
		return n, fmt.Errorf("cryptsetup luksDump: %w", err)
	}
	d, err := luks.ParseDump(out)
	if err != nil {
		return n, fmt.Errorf("cryptsetup luksDump: %w", err)
	}
	if d.UUID != h.UUID || d.ActiveKeyslots() != 0 {
		return n, fmt.Errorf("cryptsetup luksDump shows %s with %d active keyslots", d.UUID, d.ActiveKeyslots())
	}
	return n, nil
}

// destroyBackups overwrites and removes each configured header backup. A
// backup is listed with the volume whose UUID it holds (the first volume
// when it holds none of theirs: it was configured for wiping all the
// same); one that cannot be destroyed fails that volume.
func (e *Executor) destroyBackups(vols []wire.WipedVolume, headers []*luks.Header) {
	if len(vols) == 0 {
		return
	}
	for _, p := range e.HeaderBackups {
		uuid, err := backupUUID(p)
		if errors.Is(err, os.ErrNotExist) {
			e.logger().Info("header backup absent, nothing to destroy", "path", p)
			continue
		}
		i := 0
		for j, h := range headers {
			if h != nil && uuid != "" && h.UUID == uuid {
				i = j
			}
		}
		v := &vols[i]
		if err := destroyFile(p); err != nil {
			v.Result = wire.WipeFailed
			v.Reason = strings.TrimPrefix(v.Reason+"; ", "; ") + fmt.Sprintf("header backup %s not destroyed: %v", p, err)
			continue
		}
		v.HeaderBackups = append(v.HeaderBackups, p)
	}
}

// backupUUID reads the LUKS UUID a header backup file holds ("" when it
// holds no readable header).
func backupUUID(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, luks.MaxHeaderSize))
	if err != nil {
		return "", nil
	}
	size, err := luks.HeaderSize(b)
	if err != nil || size > len(b) {
		return "", nil
	}
	h, err := luks.ParseHeader(b[:size])
	if err != nil {
		return "", nil
	}
	return h.UUID, nil
}

// destroyFile overwrites a file with zeros, syncs it, removes it and syncs
// its directory, so neither the content nor the name survives a crash.
func destroyFile(p string) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("not a regular file")
	}
	zero := make([]byte, 64<<10)
	for left := st.Size(); left > 0; {
		n := int64(len(zero))
		if left < n {
			n = left
		}
		if _, err := f.Write(zero[:n]); err != nil {
			f.Close()
			return fmt.Errorf("overwrite: %w", err)
		}
		left -= n
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	if d, err := os.Open(filepath.Dir(p)); err == nil {
		defer d.Close()
		if err := d.Sync(); err != nil {
			return fmt.Errorf("sync directory: %w", err)
		}
	}
	return nil
}

// Resolve turns wipe.targets into devices: TargetAuto runs the encryption
// probe on the host and takes the device under every LUKS layer it found;
// device paths are taken as given. Duplicates are merged. LUKS volumes
// whose device cannot be found come back as failed volumes.
func (e *Executor) Resolve(ctx context.Context) ([]Target, []wire.WipedVolume) {
	var (
		out      []Target
		problems []wire.WipedVolume
		index    = map[string]int{}
	)
	add := func(t Target) {
		key := t.Device
		if real, err := filepath.EvalSymlinks(t.Device); err == nil {
			key = real
		}
		if i, ok := index[key]; ok {
			if t.MountPoint != "" && !strings.Contains(out[i].MountPoint, t.MountPoint) {
				out[i].MountPoint = strings.TrimPrefix(out[i].MountPoint+", "+t.MountPoint, ", ")
			}
			if out[i].LUKSUUID == "" {
				out[i].LUKSUUID = t.LUKSUUID
			}
			return
		}
		index[key] = len(out)
		out = append(out, t)
	}
	for _, t := range e.Targets {
		if t != TargetAuto {
			add(Target{Device: t})
			continue
		}
		snap := &wire.Snapshot{}
		for _, p := range encryption.Probes() {
			if err := p.Collect(ctx, e.Host, snap); err != nil {
				e.logger().Warn("encryption probe", "err", err)
			}
		}
		if snap.Encryption == nil {
			problems = append(problems, wire.WipedVolume{Device: TargetAuto, Result: wire.WipeFailed,
				Reason: "the encryption probe found no volumes"})
			continue
		}
		ts, ps := AutoTargets(snap.Encryption.Volumes)
		for _, t := range ts {
			add(t)
		}
		problems = append(problems, ps...)
	}
	return out, problems
}

// AutoTargets picks the devices under the LUKS layers of the probe's
// volumes. Each volume's Chain lists its device stack depth first, so the
// device under a crypt layer ("dm-0 (crypt luks2 root)") is the entry
// after it ("nvme0n1p3 (partition of nvme0n1)").
func AutoTargets(vols []wire.Volume) ([]Target, []wire.WipedVolume) {
	var (
		out      []Target
		problems []wire.WipedVolume
	)
	for _, v := range vols {
		if v.Scheme != wire.SchemeLUKS1 && v.Scheme != wire.SchemeLUKS2 {
			continue
		}
		var found []Target
		for i, c := range v.Chain {
			if !strings.Contains(c, " (crypt luks1") && !strings.Contains(c, " (crypt luks2") {
				continue
			}
			if i+1 >= len(v.Chain) {
				break
			}
			name, _, _ := strings.Cut(v.Chain[i+1], " (")
			if name == "" || strings.ContainsAny(name, "/ ") {
				continue
			}
			found = append(found, Target{Device: "/dev/" + name, MountPoint: v.MountPoint})
		}
		if len(found) == 1 {
			// The probe's LUKS UUID belongs to its (only) crypt layer.
			found[0].LUKSUUID = v.LUKSUUID
		}
		if len(found) == 0 {
			problems = append(problems, wire.WipedVolume{Device: v.Device, MountPoint: v.MountPoint, Result: wire.WipeFailed,
				Reason: fmt.Sprintf("%s volume: no device under its crypt layer in the chain %q; not erased", v.Scheme, v.Chain)})
		}
		out = append(out, found...)
	}
	return out, problems
}
