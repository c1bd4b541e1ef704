package compliance

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/functions"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/rosterhq/roster/shared/wire"
)

// The CEL environment declares every fact as its own dotted variable
// ("os.version", not a field of an "os" map) so that a misspelt fact is a
// compile error at load time, and types are checked there too. At run time
// the activation answers each variable from Facts and simply has no value for
// a fact that is unknown: CEL then yields a "no such attribute" error, which
// Evaluate turns into unknown with the fact's reason. CEL's logic operators
// absorb such errors only when the other side decides the result ("true ||
// error" is true), which is exactly three-valued logic: an unknown fact can
// never make an expression pass unless it did not matter.
//
// The software functions are late-bound: their implementation comes from the
// activation, since it needs the device's SoftwareView.

// celVar is one declared fact.
type celVar struct {
	name string
	typ  *cel.Type
}

func celVars() []celVar {
	str, num := cel.StringType, cel.IntType
	return []celVar{
		{"device.platform", str}, {"device.hostname", str}, {"device.serial", str}, {"device.uuid", str},
		{"device.vendor", str}, {"device.model", str}, {"device.form_factor", str}, {"device.virtual", str},
		{"os.name", str}, {"os.id", str}, {"os.version", str}, {"os.build", str}, {"os.edition", str},
		{"os.kernel", str}, {"os.last_update_at", cel.TimestampType}, {"os.pending_updates", num},
		{"os.pending_security_updates", num}, {"os.reboot_required", str},
		{"encryption.system.encrypted", str}, {"encryption.system.status", str},
		{"encryption.system.scheme", str}, {"encryption.system.mount", str},
		{"encryption.volumes", cel.ListType(cel.MapType(cel.StringType, cel.DynType))},
		{"asset.tag", str}, {"asset.classification", str}, {"asset.type", str},
		{"asset.tags", cel.ListType(cel.StringType)}, {"asset.status", str}, {"asset.owner", str},
		{"days_since_update", num}, {"days_since_checkin", num}, {"now", cel.TimestampType},
	}
}

// CEL function names.
const (
	fnHasSoftware     = "has_software"
	fnSoftwareVersion = "software_version"
	fnVersionAtLeast  = "version_at_least"
)

func newCELEnv() (*cel.Env, error) {
	opts := make([]cel.EnvOption, 0, 40)
	for _, v := range celVars() {
		opts = append(opts, cel.Variable(v.name, v.typ))
	}
	opts = append(opts,
		cel.Function(fnHasSoftware, cel.Overload("has_software_string",
			[]*cel.Type{cel.StringType}, cel.BoolType, cel.LateFunctionBinding())),
		cel.Function(fnSoftwareVersion, cel.Overload("software_version_string",
			[]*cel.Type{cel.StringType}, cel.StringType, cel.LateFunctionBinding())),
		cel.Function(fnVersionAtLeast, cel.Overload("version_at_least_string_string",
			[]*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
			cel.BinaryBinding(func(a, b ref.Val) ref.Val {
				x, y := string(a.(types.String)), string(b.(types.String))
				return types.Bool(x != "" && CompareVersions(x, y) >= 0)
			}))),
	)
	return cel.NewEnv(opts...)
}

// celProgram is a compiled expression and what bounds its evaluation.
type celProgram struct {
	prg cel.Program
	// tracker is cloned for each evaluation (see celProgram.eval).
	tracker *cost.Tracker
	// limit is the runtime cost limit, for the reason of a stopped one.
	limit uint64
}

// compileCEL compiles a bool expression, refuses it when its estimated cost
// is above lim.MaxEstimatedCost, and collects the constant software patterns
// it looks up. Compile errors read "LINE:COL: message", one per problem.
func compileCEL(env *cel.Env, expr string, lim Limits) (*celProgram, []string, error) {
	checked, iss := env.Compile(expr)
	if iss.Err() != nil {
		var msgs []string
		for _, e := range iss.Errors() {
			msgs = append(msgs, fmt.Sprintf("%d:%d: %s", e.Location.Line(), e.Location.Column()+1, e.Message))
		}
		return nil, nil, errors.New(strings.Join(msgs, "; "))
	}
	if !checked.OutputType().IsExactType(cel.BoolType) {
		return nil, nil, fmt.Errorf("must be a bool expression, not %s", checked.OutputType())
	}
	est, err := estimateCEL(env, checked)
	if err != nil {
		return nil, nil, err
	}
	if est > lim.MaxEstimatedCost {
		return nil, nil, fmt.Errorf("estimated cost %d is above the limit %d (compliance.cel_max_estimated_cost): "+
			"each comprehension multiplies the cost of its body by its list's size (up to %d volumes or %d tags) "+
			"and each software lookup costs up to %d (%d packages)",
			est, lim.MaxEstimatedCost, hintVolumes, hintTags, lookupCost(hintPackages).Max, hintPackages)
	}
	// cel.CostLimit installs the cost observer; celProgram.eval then gives each
	// evaluation its own tracker with the same limit.
	prg, err := env.Program(checked, cel.EvalOptions(cel.OptOptimize),
		cel.CostTracking(&runtimeCost{}), cel.CostLimit(lim.MaxRuntimeCost))
	if err != nil {
		return nil, nil, fmt.Errorf("build program: %w", err)
	}
	tracker, err := newTracker(lim.MaxRuntimeCost)
	if err != nil {
		return nil, nil, fmt.Errorf("build cost tracker: %w", err)
	}
	var patterns []string
	ast.PostOrderVisit(checked.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() != ast.CallKind {
			return
		}
		call := e.AsCall()
		if fn := call.FunctionName(); (fn == fnHasSoftware || fn == fnSoftwareVersion) && len(call.Args()) == 1 &&
			call.Args()[0].Kind() == ast.LiteralKind {
			if s, ok := call.Args()[0].AsLiteral().(types.String); ok {
				patterns = append(patterns, string(s))
			}
		}
	}))
	return &celProgram{prg: prg, tracker: tracker, limit: lim.MaxRuntimeCost}, patterns, nil
}

// activation answers the CEL variables for one evaluation from the input,
// and remembers which unknown facts the expression asked for so the result
// can say why it is unknown.
type activation struct {
	in      *Input
	missing []string
	// softwareWhy is why a software function could not answer.
	softwareWhy string
	// volumes is encryption.volumes, built on first use: a comprehension
	// resolves its range once per iteration of the one around it, and CEL
	// charges a resolution as one unit, not as the list it builds.
	volumes []any
	// cost prices this device's software lookups for the cost tracker.
	cost runtimeCost
}

func (a *activation) Parent() cel.Activation { return nil }

func (a *activation) ResolveName(name string) (any, bool) {
	v, ok := a.value(name)
	if !ok && !strings.Contains(name, "@") { // "@it"-style names are CEL's own
		a.missing = append(a.missing, name)
	}
	return v, ok
}

// str returns a string fact, absent when empty.
func str(s string) (any, bool) { return s, s != "" }

// tri returns a yes/no fact; unknown is absent, so it cannot be compared.
func tri(t wire.Tri) (any, bool) { return string(t), t == wire.Yes || t == wire.No }

func (a *activation) value(name string) (any, bool) {
	f := &a.in.Facts
	switch name {
	case "device.platform":
		return str(f.Device.Platform)
	case "device.hostname":
		return str(f.Device.Hostname)
	case "device.serial":
		return str(f.Device.Serial)
	case "device.uuid":
		return str(f.Device.UUID)
	case "device.vendor":
		return str(f.Device.Vendor)
	case "device.model":
		return str(f.Device.Model)
	case "device.form_factor":
		return str(f.Device.FormFactor)
	case "device.virtual":
		return tri(f.Device.Virtual)
	case "os.name":
		return str(f.OS.Name)
	case "os.id":
		return str(f.OS.ID)
	case "os.version":
		return str(f.OS.Version)
	case "os.build":
		return str(f.OS.Build)
	case "os.edition":
		return str(f.OS.Edition)
	case "os.kernel":
		return str(f.OS.Kernel)
	case "os.last_update_at":
		if f.OS.LastUpdateAt == nil {
			return nil, false
		}
		return *f.OS.LastUpdateAt, true
	case "os.pending_updates":
		return intPtr(f.OS.PendingUpdates)
	case "os.pending_security_updates":
		return intPtr(f.OS.PendingSecurityUpdates)
	case "os.reboot_required":
		return tri(f.OS.RebootRequired)
	case "days_since_update":
		if f.OS.LastUpdateAt == nil {
			return nil, false
		}
		return wholeDays(a.in.Now.Sub(*f.OS.LastUpdateAt)), true
	case "days_since_checkin":
		if a.in.LastSeen.IsZero() {
			return nil, false
		}
		return wholeDays(a.in.Now.Sub(a.in.LastSeen)), true
	case "now":
		return a.in.Now, true
	}
	if rest, ok := strings.CutPrefix(name, "encryption."); ok {
		return a.encryption(rest)
	}
	if rest, ok := strings.CutPrefix(name, "asset."); ok {
		return a.asset(rest)
	}
	return nil, false
}

func (a *activation) encryption(name string) (any, bool) {
	e := a.in.Facts.Encryption
	if e == nil {
		return nil, false
	}
	switch name {
	case "system.encrypted":
		return tri(e.System.Encrypted)
	case "system.status":
		if e.System.Status == wire.StateUnknown {
			return nil, false
		}
		return str(e.System.Status)
	case "system.scheme":
		return str(e.System.Scheme)
	case "system.mount":
		return str(e.System.Mount)
	case "volumes":
		if a.volumes == nil {
			a.volumes = volumeMaps(e.Volumes)
		}
		return a.volumes, true
	}
	return nil, false
}

// volumeMaps is encryption.volumes as CEL sees it. Maps omit unknown
// entries, so v.encrypted on a volume whose state is unknown is a "no such
// key" error, not a comparable string.
func volumeMaps(vols []VolumeFacts) []any {
	out := make([]any, 0, len(vols))
	for _, v := range vols {
		m := map[string]any{"mount": v.Mount, "system": v.System}
		for k, s := range map[string]string{"device": v.Device, "scheme": v.Scheme, "reason": v.Reason} {
			if s != "" {
				m[k] = s
			}
		}
		if v.Encrypted == wire.Yes || v.Encrypted == wire.No {
			m["encrypted"] = string(v.Encrypted)
		}
		if v.Status != "" && v.Status != wire.StateUnknown {
			m["status"] = v.Status
		}
		out = append(out, m)
	}
	return out
}

func (a *activation) asset(name string) (any, bool) {
	as := a.in.Asset
	if as == nil {
		return nil, false
	}
	switch name {
	case "tag":
		return str(as.Tag)
	case "classification":
		return str(as.Classification)
	case "type":
		return str(as.Type)
	case "tags":
		return as.Tags, true
	case "status":
		return str(as.Status)
	case "owner":
		return str(as.Owner)
	}
	return nil, false
}

func intPtr(p *int) (any, bool) {
	if p == nil {
		return nil, false
	}
	return int64(*p), true
}

func wholeDays(d time.Duration) int64 { return max(int64(d/(24*time.Hour)), 0) }

// ResolveFunction supplies the late-bound software functions.
func (a *activation) ResolveFunction(name string) (functions.LateBoundOp, bool) {
	switch name {
	case fnHasSoftware:
		return a.hasSoftware, true
	case fnSoftwareVersion:
		return a.softwareVersion, true
	}
	return nil, false
}

func (a *activation) match(arg ref.Val) ([]wire.Package, ref.Val) {
	pattern, _ := arg.(types.String)
	pkgs, why := lookupSoftware(a.in, string(pattern))
	if why != "" {
		a.missing, a.softwareWhy = append(a.missing, "software"), why
		return nil, types.NewErr("%s", why)
	}
	return pkgs, nil
}

func (a *activation) hasSoftware(_ string, args ...ref.Val) ref.Val {
	pkgs, errVal := a.match(args[0])
	if errVal != nil {
		return errVal
	}
	return types.Bool(len(pkgs) > 0)
}

// softwareVersion returns the newest installed version of the matching
// software, or "" when none is installed (so version_at_least is false).
func (a *activation) softwareVersion(_ string, args ...ref.Val) ref.Val {
	pkgs, errVal := a.match(args[0])
	if errVal != nil {
		return errVal
	}
	if len(pkgs) == 0 {
		return types.String("")
	}
	return types.String(newest(pkgs).Version)
}

// checkCEL evaluates the expression: true passes, false fails, an error
// (an unknown fact, a failed lookup, the cost limit) is unknown with the
// reason.
func (c *compiled) checkCEL(in *Input) (string, string) {
	act := &activation{in: in}
	out, err := c.program.eval(act)
	if costExceeded(err) {
		// Checked first: facts found missing before the stop do not
		// explain it.
		return StatusUnknown, fmt.Sprintf("evaluation exceeded its cost limit of %d (compliance.cel_max_runtime_cost) "+
			"on this device's facts: the expression does too much work to be judged", c.program.limit)
	}
	if err != nil {
		return StatusUnknown, celUnknownReason(act, err)
	}
	if b, ok := out.(types.Bool); ok && bool(b) {
		return StatusPass, "condition holds"
	} else if !ok {
		return StatusUnknown, fmt.Sprintf("expression gave %v, not a bool", out)
	}
	if c.FailReason != "" {
		return StatusFail, c.FailReason
	}
	return StatusFail, "condition not met: " + oneLine(c.Expr)
}

// celUnknownReason names the first unknown fact the expression needed, with
// the agent's reason, or else the evaluation error.
func celUnknownReason(act *activation, err error) string {
	in := act.in
	if len(act.missing) > 0 {
		name := act.missing[0]
		switch {
		case name == "software":
			return act.softwareWhy
		case strings.HasPrefix(name, "asset.") && in.Asset == nil:
			return name + " unknown: " + ReasonNoAsset
		case strings.HasPrefix(name, "asset."):
			return name + " unknown: not set in the register for asset " + in.Asset.Tag
		case name == "days_since_update":
			return name + " unknown: " + in.Facts.reason("os.last_update_at")
		case name == "days_since_checkin":
			return name + " unknown: the device has never checked in"
		case strings.HasPrefix(name, "encryption.") && in.Facts.Encryption != nil && in.Facts.Encryption.System.Reason != "":
			return name + " unknown: " + in.Facts.Encryption.System.Reason
		}
		return name + " unknown: " + in.Facts.reason(name)
	}
	if strings.Contains(err.Error(), "no such key") {
		return "a fact the expression reads is unknown (" + err.Error() + ")"
	}
	return "expression could not be evaluated: " + err.Error()
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
