package compliance

import (
	"fmt"
	"math"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// A CEL policy runs after every report, inside the report's transaction,
// and for every device when the fleet is re-evaluated, so one expensive
// expression (comprehensions nested over the volumes, a software lookup per
// asset tag) slows every device. Two bounds, both in CEL's cost units (about
// one basic operation each, see cel-go's cost model):
//
//   - at load, cel-go's estimator gives each expression's worst-case cost on
//     a device as large as the size hints below; an expression whose estimate
//     is above Limits.MaxEstimatedCost is refused, with its file, line and id.
//   - at run time every evaluation carries a cost tracker; one that spends
//     more than Limits.MaxRuntimeCost stops and the policy is unknown.
//
// The runtime bound is the guarantee, because a real device can be larger
// than the hints. Both count the same way, so a policy that loaded runs to
// the end on every device within the hints as long as MaxRuntimeCost is at
// least MaxEstimatedCost (the collector's config requires that). A cost
// limit rather than a timeout keeps results deterministic: the same facts
// give the same result on a busy collector and an idle one.

// Default limits. Measured on the build machine, a unit takes about 50 ns
// in software lookups and in comprehensions over strings, and up to 170 ns
// in comparisons of whole volume maps, so a policy at the estimate limit
// takes 5 to 17 ms on a device as large as the hints, and far less on a
// real one. The estimate allows about fifty software lookups, a
// comprehension over the volumes or tags, or two nested whose body compares
// with constants (4,096 iterations); it refuses two nested that compare
// strings pairwise (a string fact may be 1 KiB), three nested (262,144
// iterations) and a software lookup per asset tag. The runtime limit is five times higher:
// a policy that loaded is stopped only on a device well beyond the hints
// (a policy of software lookups, whose cost grows with the package count,
// runs to the end up to 100,000 packages), and a runaway evaluation stops
// within about 25 to 85 ms.
const (
	DefaultMaxEstimatedCost = 100_000
	DefaultMaxRuntimeCost   = 500_000
)

// Size hints: the largest facts the load-time estimate assumes. They are
// generous maxima, not averages: the captured hosts report from a handful
// to 773 packages and at most a few volumes.
const (
	// hintPackages is the most installed packages a device reports.
	hintPackages = 20_000
	// hintVolumes is the most fixed volumes a device reports.
	hintVolumes = 64
	// hintVolumeKeys is the keys of one volume map (see activation.encryption).
	hintVolumeKeys = 8
	// hintTags is the most tags an asset carries in the register.
	hintTags = 64
	// hintString is the longest string fact, key or value: names, versions,
	// reasons, mount points.
	hintString = 1024
)

// packageCost is what one software lookup costs per installed package: a
// name match is a short string comparison, which CEL's model charges at 0.1
// per byte compared; one in ten is a generous average for a pattern whose
// first byte rejects most names.
const packageCost = 0.1

// Limits bound what a CEL policy may cost (see above). A zero field means
// its default, never "unlimited".
type Limits struct {
	// MaxEstimatedCost refuses at load an expression whose estimated
	// worst-case cost is higher.
	MaxEstimatedCost uint64
	// MaxRuntimeCost stops an evaluation that spends more; the result is
	// unknown.
	MaxRuntimeCost uint64
}

// DefaultLimits returns the default cost limits.
func DefaultLimits() Limits {
	return Limits{MaxEstimatedCost: DefaultMaxEstimatedCost, MaxRuntimeCost: DefaultMaxRuntimeCost}
}

// withDefaults fills zero fields with the defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxEstimatedCost == 0 {
		l.MaxEstimatedCost = DefaultMaxEstimatedCost
	}
	if l.MaxRuntimeCost == 0 {
		l.MaxRuntimeCost = DefaultMaxRuntimeCost
	}
	return l
}

// estimateCEL returns the worst-case cost of a checked expression at the
// size hints.
func estimateCEL(env *cel.Env, checked *cel.Ast) (uint64, error) {
	est, err := env.EstimateCost(checked, sizeHints{})
	if err != nil {
		return 0, fmt.Errorf("estimate cost: %w", err)
	}
	return est.Max, nil
}

// sizeHints is the load-time estimator: the size of each list and string
// fact, and the cost of Roster's own functions.
type sizeHints struct{}

// EstimateSize sizes a node by its path: the variable (a fact's dotted
// name), then "@items" for a list element and a field or key name.
func (sizeHints) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	path := n.Path()
	if len(path) == 0 {
		return nil
	}
	str := cost.RangedSizeEstimate(0, hintString)
	var size cost.SizeEstimate
	switch {
	case path[0] == "encryption.volumes" && len(path) == 1:
		volume := cost.MapSizeEstimate(cost.RangedSizeEstimate(0, hintVolumeKeys), str, str)
		size = cost.ListSizeEstimate(cost.RangedSizeEstimate(0, hintVolumes), volume)
	case path[0] == "encryption.volumes" && len(path) == 2:
		size = cost.MapSizeEstimate(cost.RangedSizeEstimate(0, hintVolumeKeys), str, str)
	case path[0] == "asset.tags" && len(path) == 1:
		size = cost.ListSizeEstimate(cost.RangedSizeEstimate(0, hintTags), str)
	default:
		// Every other fact, list item or map value that has a size is a
		// string; scalars (counts, timestamps) never ask.
		size = str
	}
	return &size
}

// EstimateCallCost prices the software functions, which scan the device's
// packages, and version_at_least, which walks both strings. Everything else
// is CEL's standard model.
func (sizeHints) EstimateCallCost(function, _ string, _ *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	switch function {
	case fnHasSoftware:
		return cost.NewCallEstimate(lookupCost(hintPackages), nil)
	case fnSoftwareVersion:
		str := cost.RangedSizeEstimate(0, hintString)
		return cost.NewCallEstimate(lookupCost(hintPackages), &str)
	case fnVersionAtLeast:
		var sum uint64
		for _, a := range args {
			if s := a.ComputedSize(); s != nil {
				sum = cost.SafeAdd(sum, s.Max)
			} else {
				sum = cost.SafeAdd(sum, hintString)
			}
		}
		return cost.NewCallEstimate(cost.RangedCostEstimate(1, versionCost(sum)), nil)
	}
	return nil
}

// lookupCost is the cost range of one software lookup on a device with at
// most packages packages.
func lookupCost(packages uint64) cost.Estimate {
	return cost.RangedCostEstimate(1, max(1, cost.SafeMultiplyByFactor(packages, packageCost)))
}

// versionCost is the cost of comparing two versions of n bytes in all.
func versionCost(n uint64) uint64 { return 1 + uint64(math.Ceil(float64(n)*0.1)) }

// runtimeCost charges the software functions by the device's real package
// count (the Facts, not the SoftwareView, so a lookup costs the same after a
// report, where it scans the list, and in a fleet evaluation, where an index
// answers it: the result must not depend on the path) and version_at_least
// by its arguments' length, matching sizeHints.
type runtimeCost struct {
	// lookup is the cost of one software lookup on this device.
	lookup uint64
}

func newRuntimeCost(packages uint64) runtimeCost {
	return runtimeCost{lookup: lookupCost(packages).Max}
}

func (r *runtimeCost) CallCost(function, _ string, args []ref.Val, _ ref.Val) *uint64 {
	switch function {
	case fnHasSoftware, fnSoftwareVersion:
		return &r.lookup
	case fnVersionAtLeast:
		var n uint64
		for _, a := range args {
			if s, ok := a.(types.String); ok {
				n += uint64(len(s))
			}
		}
		c := versionCost(n)
		return &c
	}
	return nil
}

// newTracker returns the cost tracker an evaluation clones; its estimator is
// set per device (see celProgram.eval).
func newTracker(limit uint64) (*cost.Tracker, error) {
	return cost.NewTracker(&runtimeCost{}, cost.TrackerLimit(limit))
}

// eval evaluates the program for one device under the runtime cost limit,
// charging the software functions by the device's package count.
func (p *celProgram) eval(act *activation) (ref.Val, error) {
	frame, err := interpreter.NewExecutionFrame(act)
	if err != nil {
		return nil, fmt.Errorf("evaluation frame: %w", err)
	}
	defer frame.Close()
	t, err := p.tracker.Clone()
	if err != nil {
		return nil, fmt.Errorf("cost tracker: %w", err)
	}
	var packages uint64
	if n := act.in.Facts.Packages; n != nil && *n > 0 {
		packages = uint64(*n)
	}
	act.cost = newRuntimeCost(packages)
	t.Estimator = &act.cost
	frame.SetCostTracker(t)
	out, _, err := p.prg.Eval(frame)
	return out, err
}

// costExceeded says whether an error from Program.Eval is the runtime cost
// limit; Eval returns the cancellation unwrapped.
func costExceeded(err error) bool {
	ec, ok := err.(interpreter.EvalCancelledError)
	return ok && ec.Cause == interpreter.CostLimitExceeded
}
