// Package probe defines what an inventory probe is and runs a list of them:
// one after another, each with its own timeout, each writing into a private
// part of the snapshot that is merged only when the probe returns, so a
// failing or hung probe never drops or corrupts what the others found.
package probe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/shared/wire"
)

// Probe collects one part of the inventory.
type Probe interface {
	// Name is unique within a platform: "hardware", "software/dpkg".
	Name() string
	// Area is one of wire.Areas().
	Area() string
	// Commands lists every command line the probe may run, exactly as it
	// runs them (host.CommandLine form). A word written <like-this> stands
	// for one argument that varies (a device or mapping name). The runner
	// refuses any command not listed.
	Commands() []string
	// Collect reads the host and fills its part of s. Returning an error
	// matching ErrNotApplicable marks the probe "not applicable" (e.g.
	// rpm on a Debian host); any other error marks it "error", and what it
	// put in s is still kept.
	Collect(ctx context.Context, h *host.Host, s *wire.Snapshot) error
}

// ErrNotApplicable is returned (wrapped, with the reason) by a probe that
// has nothing to look at on this host.
var ErrNotApplicable = errors.New("not applicable")

// NotApplicable returns an ErrNotApplicable with a reason.
func NotApplicable(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotApplicable, fmt.Sprintf(format, args...))
}

// Func adapts a function to Probe.
type Func struct {
	ProbeName string
	ProbeArea string
	Cmds      []string
	Fn        func(ctx context.Context, h *host.Host, s *wire.Snapshot) error
}

func (f Func) Name() string       { return f.ProbeName }
func (f Func) Area() string       { return f.ProbeArea }
func (f Func) Commands() []string { return f.Cmds }
func (f Func) Collect(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	return f.Fn(ctx, h, s)
}

// Options tune Run.
type Options struct {
	// Timeout bounds each probe; 0 means DefaultTimeout.
	Timeout time.Duration
	// Only restricts the run to these areas; empty means all.
	Only []string
	// Skip names probes not to run; they are listed as skipped.
	Skip []string
	// Now stamps the snapshot; nil means time.Now.
	Now func() time.Time
	// AgentVersion is written into the snapshot.
	AgentVersion string
	Logger       *slog.Logger
}

// DefaultTimeout bounds one probe. Pending-update checks are the slowest
// (apt/dnf resolve the whole dependency graph).
const DefaultTimeout = 90 * time.Second

// Run runs probes one after another against h and returns the snapshot.
func Run(ctx context.Context, h *host.Host, probes []Probe, opt Options) *wire.Snapshot {
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	timeout := opt.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	logger := opt.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	snap := &wire.Snapshot{
		ProtocolVersion: wire.SnapshotVersion,
		CollectedAt:     now().UTC().Truncate(time.Second),
		AgentVersion:    opt.AgentVersion,
		Platform:        h.OS,
		Captured:        !h.Live,
		Probes:          []wire.ProbeStatus{},
	}
	for _, p := range probes {
		st := wire.ProbeStatus{Name: p.Name(), Area: p.Area()}
		if len(opt.Only) > 0 && !slices.Contains(opt.Only, p.Area()) {
			continue
		}
		if slices.Contains(opt.Skip, p.Name()) {
			st.Status = wire.ProbeSkipped
			st.Message = "skipped on request"
			snap.Probes = append(snap.Probes, st)
			continue
		}
		start := time.Now()
		part, err := runOne(ctx, h, p, timeout)
		st.DurationMS = float64(time.Since(start).Microseconds()) / 1000
		switch {
		case err == nil:
			st.Status = wire.ProbeOK
		case errors.Is(err, ErrNotApplicable):
			st.Status = wire.ProbeNotApplicable
			st.Message = strings.TrimPrefix(err.Error(), ErrNotApplicable.Error()+": ")
		default:
			st.Status = wire.ProbeError
			st.Message = err.Error()
			logger.Warn("probe failed", "probe", p.Name(), "err", err)
		}
		if part != nil {
			Merge(snap, part)
		}
		snap.Probes = append(snap.Probes, st)
	}
	Finish(snap)
	return snap
}

// runOne runs p in its own goroutine on a private snapshot. On timeout the
// goroutine is abandoned together with its part (the context tells it to
// stop; commands it started are killed by exec.CommandContext).
func runOne(ctx context.Context, h *host.Host, p Probe, timeout time.Duration) (*wire.Snapshot, error) {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ph := *h
	ph.Exec = allowList{next: h.Exec, allowed: p.Commands(), probe: p.Name()}
	part := &wire.Snapshot{}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("probe %s panicked: %v", p.Name(), r)
			}
		}()
		done <- p.Collect(pctx, &ph, part)
	}()
	select {
	case err := <-done:
		return part, err
	case <-pctx.Done():
		if ctx.Err() != nil {
			return nil, fmt.Errorf("probe %s: %w", p.Name(), ctx.Err())
		}
		return nil, fmt.Errorf("probe %s timed out after %s", p.Name(), timeout)
	}
}

// allowList refuses commands a probe did not declare, so --list-commands
// is exactly what can run.
type allowList struct {
	next    host.Runner
	allowed []string
	probe   string
}

func (a allowList) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	line := host.CommandLine(name, args...)
	for _, decl := range a.allowed {
		if Matches(decl, name, args) {
			return a.next.Run(ctx, name, args...)
		}
	}
	return nil, fmt.Errorf("probe %s ran undeclared command %q", a.probe, line)
}

// Matches reports whether the command name+args is the declared command
// line decl, where a declared word <like-this> matches any one argument.
func Matches(decl, name string, args []string) bool {
	words := strings.Split(decl, " ")
	got := append([]string{name}, args...)
	if strings.Contains(decl, "<") {
		if len(words) != len(got) {
			return false
		}
		for i, w := range words {
			if strings.HasPrefix(w, "<") && strings.HasSuffix(w, ">") && i > 0 {
				continue
			}
			if w != got[i] {
				return false
			}
		}
		return true
	}
	return decl == host.CommandLine(name, args...)
}

// Commands returns every command line the probes may run, sorted and
// without repeats.
func Commands(probes []Probe) []string {
	var out []string
	for _, p := range probes {
		out = append(out, p.Commands()...)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// Merge copies what part found into snap. Sections that several probes fill
// (software from dpkg and snap, OS facts from os-release and apt) are
// combined field by field: a value already set wins over a later one.
func Merge(snap, part *wire.Snapshot) {
	if part.Hardware != nil {
		if snap.Hardware == nil {
			snap.Hardware = &wire.Hardware{}
		}
		mergeStruct(snap.Hardware, part.Hardware)
	}
	if part.Encryption != nil {
		if snap.Encryption == nil {
			snap.Encryption = &wire.Encryption{}
		}
		mergeStruct(snap.Encryption, part.Encryption)
	}
	if part.OS != nil {
		if snap.OS == nil {
			snap.OS = &wire.OS{}
		}
		mergeStruct(snap.OS, part.OS)
	}
	if part.Software != nil {
		if snap.Software == nil {
			snap.Software = &wire.Software{Packages: []wire.Package{}}
		}
		snap.Software.Packages = append(snap.Software.Packages, part.Software.Packages...)
	}
}

// Finish puts the snapshot in canonical order (so two runs on an unchanged
// machine give identical JSON) and drops "unknown" entries for fields that
// a later probe did fill.
func Finish(snap *wire.Snapshot) {
	if hw := snap.Hardware; hw != nil {
		sort.Slice(hw.Disks, func(i, j int) bool { return hw.Disks[i].Name < hw.Disks[j].Name })
		sort.Slice(hw.NICs, func(i, j int) bool { return hw.NICs[i].Name < hw.NICs[j].Name })
		pruneUnknown(hw, hw.Unknown)
	}
	if e := snap.Encryption; e != nil {
		sort.SliceStable(e.Volumes, func(i, j int) bool { return e.Volumes[i].MountPoint < e.Volumes[j].MountPoint })
		if e.Volumes == nil {
			e.Volumes = []wire.Volume{}
		}
	}
	if o := snap.OS; o != nil {
		pruneUnknown(o, o.Unknown)
	}
	if sw := snap.Software; sw != nil {
		wire.SortPackages(sw.Packages)
		// The same package seen twice (one bundle found by two routes) is
		// one package: deltas and the collector key packages this way.
		sw.Packages = slices.CompactFunc(sw.Packages, func(a, b wire.Package) bool { return a.Key() == b.Key() })
	}
}
