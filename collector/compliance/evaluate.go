package compliance

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Result statuses.
const (
	StatusPass = "pass"
	StatusFail = "fail"
	// StatusInGrace: failing for less than the policy's GraceDays.
	StatusInGrace = "in_grace"
	// StatusExempt: a valid exception waives the policy for this device.
	StatusExempt = "exempt"
	// StatusUnknown: a fact the policy needs is missing or unknown.
	StatusUnknown = "unknown"
	// StatusStale: the device has not checked in within ValidityDays.
	StatusStale = "stale"
	// StatusNotApplicable: the device is outside the policy's scope.
	StatusNotApplicable = "not_applicable"
)

// Statuses lists every status from worst to best, not_applicable last.
func Statuses() []string {
	return []string{StatusFail, StatusUnknown, StatusStale, StatusInGrace, StatusExempt, StatusPass, StatusNotApplicable}
}

// Exception waives one policy for one device (DeviceID) or for the device
// linked to one asset (AssetTag) until ExpiresAt. Only approved exceptions
// are given to evaluation: a pending or denied request exempts nothing, so
// the registry never passes one.
type Exception struct {
	ID                  string    `json:"id"`
	PolicyID            string    `json:"policy_id"`
	DeviceID            string    `json:"device_id,omitempty"`
	AssetTag            string    `json:"asset_tag,omitempty"`
	ExpiresAt           time.Time `json:"expires_at"`
	Reason              string    `json:"reason"`
	CompensatingControl string    `json:"compensating_control,omitempty"`
	// Approver is who approved it (a principal, checked by the registry to
	// be someone other than the requester).
	Approver  string `json:"approver"`
	CreatedBy string `json:"created_by,omitempty"`
}

// Validate checks an exception being requested at now: it names a policy,
// a device or an asset (not both) and a reason, and its expiry passes
// ValidateExpiry. Who approves it is the registry's business.
func (e Exception) Validate(now time.Time, maxValidity time.Duration) error {
	switch {
	case e.PolicyID == "":
		return errors.New("exception: policy id is required")
	case (e.DeviceID == "") == (e.AssetTag == ""):
		return errors.New("exception: give either a device id or an asset tag")
	case e.Reason == "":
		return errors.New("exception: reason is required")
	}
	return ValidateExpiry(e.ExpiresAt, now, maxValidity)
}

// ValidateExpiry checks an exception's expiry at now, when it is requested
// and again when it is approved: set, after now, and at most maxValidity
// later (0 means no maximum).
func ValidateExpiry(expires, now time.Time, maxValidity time.Duration) error {
	switch {
	case expires.IsZero():
		return errors.New("exception: expiry is required")
	case !now.Before(expires):
		return fmt.Errorf("exception: expiry %s is not in the future", expires.UTC().Format(time.RFC3339))
	case maxValidity > 0 && expires.Sub(now) > maxValidity:
		return fmt.Errorf("exception: expiry %s is more than %s away", expires.UTC().Format(time.RFC3339), maxValidity)
	}
	return nil
}

// Input is everything one device's evaluation reads.
type Input struct {
	DeviceID string
	Facts    Facts
	// Asset is nil when the device is linked to no asset.
	Asset *AssetFacts
	// LastSeen is the device's last check-in (report or heartbeat).
	LastSeen time.Time
	// Software is nil when the software inventory is unknown.
	Software SoftwareView
	// Exceptions may include other devices' and expired ones; only valid
	// exceptions for this device (by DeviceID or Asset.Tag) apply.
	Exceptions []Exception
	// FailingSince maps policy id to when it started failing, taken from
	// the stored previous results' FailingSince.
	FailingSince map[string]time.Time
	Now          time.Time
}

// Result is one policy's verdict for one device.
type Result struct {
	PolicyID string `json:"policy_id"`
	Status   string `json:"status"`
	// Reason is for people: "last update 47 days ago, limit 30".
	Reason string `json:"reason"`
	// ExceptionID is the exception that made the result exempt.
	ExceptionID string `json:"exception_id,omitempty"`
	// FailingSince is when the policy started failing; set for fail and
	// in_grace, and carried over through unknown and stale so that a
	// device cannot restart its grace period by going quiet. Store it and
	// pass it back in Input.FailingSince.
	FailingSince time.Time `json:"failing_since,omitzero"`
}

// Evaluate runs every policy of the set against one device, in set order.
// Per policy: out of scope gives not_applicable; a valid exception exempt;
// no check-in within ValidityDays stale (except max_days_since_checkin,
// which then fails); otherwise the check gives pass, fail or unknown, and a
// failure younger than GraceDays is in_grace.
func (s *Set) Evaluate(in Input) []Result {
	return s.EvaluateInto(make([]Result, 0, len(s.policies)), in)
}

// EvaluateInto is Evaluate writing the results over out's elements,
// growing it only when it is too short: a fleet evaluation evaluates
// 100,000 devices, each into the same buffer (the results are copied into
// their stored form at once), where a slice per device was a tenth of
// what the evaluation allocated.
func (s *Set) EvaluateInto(out []Result, in Input) []Result {
	out = out[:0]
	var cel celInput
	for _, c := range s.policies {
		out = append(out, c.evaluate(&in, &cel))
	}
	return out
}

// celInput is the copy of a device's input that its CEL policies read. A
// CEL activation is handed to cel-go behind an interface, so whatever it
// points to escapes: pointing it at Evaluate's parameter moved that
// parameter to the heap for every device and every policy set, CEL or not
// (448 bytes a device, 45 MB of a 100,000-device evaluation). The copy is
// made for the device's first CEL policy and shared by its others.
type celInput struct{ in *Input }

// get returns the copy of in, making it on first use.
func (ci *celInput) get(in *Input) *Input {
	if ci.in == nil {
		ci.in = new(Input)
		*ci.in = *in
	}
	return ci.in
}

func (c *compiled) evaluate(in *Input, cel *celInput) Result {
	r := Result{PolicyID: c.ID}
	if ok, status, reason := c.inScope(in); !ok {
		r.Status, r.Reason = status, reason
		return r
	}
	if e := c.exception(in); e != nil {
		r.Status, r.ExceptionID = StatusExempt, e.ID
		r.Reason = fmt.Sprintf("exception %s until %s: %s", e.ID, e.ExpiresAt.UTC().Format(time.RFC3339), e.Reason)
		return r
	}
	prev, failedBefore := in.FailingSince[c.ID]
	if c.Kind != KindMaxDaysSinceCheckin {
		if in.LastSeen.IsZero() {
			r.Status, r.Reason = StatusStale, "the device has never checked in"
		} else if age := in.Now.Sub(in.LastSeen); age > days(c.ValidityDays) {
			r.Status = StatusStale
			r.Reason = fmt.Sprintf("last check-in %s ago (%s), facts count for %d days",
				humanDays(age), in.LastSeen.UTC().Format(time.DateOnly), c.ValidityDays)
		}
		if r.Status != "" {
			if failedBefore {
				r.FailingSince = prev
			}
			return r
		}
	}
	r.Status, r.Reason = c.check(in, cel)
	switch r.Status {
	case StatusFail:
		r.FailingSince = in.Now
		if failedBefore && prev.Before(in.Now) {
			r.FailingSince = prev
		}
		if grace := days(c.GraceDays); in.Now.Sub(r.FailingSince) < grace {
			r.Status = StatusInGrace
			r.Reason += fmt.Sprintf(" (grace until %s)", r.FailingSince.Add(grace).UTC().Format(time.RFC3339))
		}
	case StatusUnknown:
		if failedBefore {
			r.FailingSince = prev
		}
	}
	return r
}

// inScope matches the policy's scope; a scope that needs the register's
// answer for a device that has none gives unknown, because the device might
// be in scope and a missing answer must not read as compliant.
func (c *compiled) inScope(in *Input) (ok bool, status, reason string) {
	sc := c.Scope
	if len(sc.Platforms) > 0 && !slices.Contains(sc.Platforms, in.Facts.Device.Platform) {
		return false, StatusNotApplicable, "platform " + in.Facts.Device.Platform + " is out of scope"
	}
	if len(sc.AssetTypes) > 0 {
		typ, from := in.Facts.Device.FormFactor, "form factor"
		if in.Asset != nil && in.Asset.Type != "" {
			typ, from = in.Asset.Type, "asset type"
		}
		switch {
		case typ == "":
			return false, StatusUnknown, "scope needs the asset type: no asset type in the register and no form factor reported"
		case !slices.Contains(sc.AssetTypes, typ):
			return false, StatusNotApplicable, from + " " + typ + " is out of scope"
		}
	}
	if len(sc.Classifications) > 0 {
		switch {
		case in.Asset == nil:
			return false, StatusUnknown, "scope needs the classification: " + ReasonNoAsset
		case in.Asset.Classification == "":
			return false, StatusUnknown, "scope needs the classification: asset " + in.Asset.Tag + " has none"
		case !slices.Contains(sc.Classifications, in.Asset.Classification):
			return false, StatusNotApplicable, "classification " + in.Asset.Classification + " is out of scope"
		}
	}
	if len(sc.Tags) > 0 {
		if in.Asset == nil {
			return false, StatusUnknown, "scope needs asset tags: " + ReasonNoAsset
		}
		if !slices.ContainsFunc(in.Asset.Tags, func(t string) bool { return slices.Contains(sc.Tags, t) }) {
			return false, StatusNotApplicable, "asset " + in.Asset.Tag + " has none of the tags in scope"
		}
	}
	return true, "", ""
}

// exception returns the valid exception for this device and policy that
// lasts longest, or nil. Valid means Now is before ExpiresAt: at the expiry
// instant the policy is evaluated again.
func (c *compiled) exception(in *Input) *Exception {
	var best *Exception
	for i := range in.Exceptions {
		e := &in.Exceptions[i]
		if e.PolicyID != c.ID || !in.Now.Before(e.ExpiresAt) {
			continue
		}
		mine := (e.DeviceID != "" && e.DeviceID == in.DeviceID) ||
			(e.AssetTag != "" && in.Asset != nil && e.AssetTag == in.Asset.Tag)
		if mine && (best == nil || e.ExpiresAt.After(best.ExpiresAt)) {
			best = e
		}
	}
	return best
}

// humanDays renders a duration in whole days ("47 days", "1 day").
func humanDays(d time.Duration) string {
	n := int(d / (24 * time.Hour))
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

// Worst returns the device's overall state: the worst status of its results
// in the order fail > unknown > stale > in_grace > exempt > pass.
// not_applicable results are ignored; with no other result the state is
// not_applicable.
func Worst(results []Result) string {
	order := Statuses()
	worst := len(order) - 1 // not_applicable
	for _, r := range results {
		if i := slices.Index(order, r.Status); i >= 0 && i < worst {
			worst = i
		}
	}
	return order[worst]
}
