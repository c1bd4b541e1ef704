package api

// From the registry's values to the API's types (collector/apitypes): the
// registry may change how it stores and names things; what the API says
// changes only here, additively. A type whose fields match its registry
// twin one for one is converted as a whole, so a field added to or
// removed from either side stops the build here, where someone decides
// what the API shows. TestConvertKeepsJSON checks that every conversion
// writes the JSON the registry value did.

import (
	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/apitypes"
	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/registry"
)

// each converts every element; a nil slice stays nil (JSON null), an
// empty one empty ([]), as the registry's value encoded.
func each[S, D any](in []S, f func(S) D) []D {
	if in == nil {
		return nil
	}
	out := make([]D, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

// listOf is a page of converted items.
func listOf[S, D any](items []S, next string, f func(S) D) apitypes.List[D] {
	return apitypes.List[D]{Items: each(items, f), NextCursor: next}
}

// ptr converts what p points to; nil stays nil.
func ptr[S, D any](p *S, f func(S) D) *D {
	if p == nil {
		return nil
	}
	v := f(*p)
	return &v
}

func toDevice(d registry.Device) apitypes.Device {
	return apitypes.Device{
		ID: d.ID, Hostname: d.Hostname, Platform: d.Platform,
		SystemSerial: d.SystemSerial, SystemUUID: d.SystemUUID, BoardSerial: d.BoardSerial, MACs: d.MACs,
		Vendor: d.Vendor, Model: d.Model,
		OSName: d.OSName, OSVersion: d.OSVersion, OSBuild: d.OSBuild, Kernel: d.Kernel,
		LastUpdateAt: d.LastUpdateAt, PendingUpdates: d.PendingUpdates, PendingSecurityUpdates: d.PendingSecurityUpdates,
		RebootRequired: d.RebootRequired, AgentVersion: d.AgentVersion, State: d.State, Flags: d.Flags,
		AgentSpoolDepth: d.AgentSpoolDepth, AgentTransport: d.AgentTransport, AgentHeartbeatAt: d.AgentHeartbeatAt,
		FirstSeen: d.FirstSeen, LastSeen: d.LastSeen, LastReportSeq: d.LastReportSeq, SoftwareCount: d.SoftwareCount,
		SystemEncrypted: d.SystemEncrypted, EnrolledAt: d.EnrolledAt, CertSerial: d.CertSerial, CertNotAfter: d.CertNotAfter,
		Asset:                ptr(d.Asset, toDeviceAsset),
		FlagDetails:          each(d.FlagDetails, toFlag),
		Enrolment:            ptr(d.Enrolment, toEnrolment),
		Enrolments:           each(d.Enrolments, toEnrolment),
		IdentityConflicts:    each(d.IdentityConflicts, toIdentityConflict),
		ReenrollAllowedUntil: d.ReenrollAllowedUntil,
		MergedInto:           d.MergedInto,
		SnapshotPurgedAt:     d.SnapshotPurgedAt,
	}
}

func toDeviceAsset(a registry.DeviceAsset) apitypes.DeviceAsset {
	return apitypes.DeviceAsset{
		ID: a.ID, AssetTag: a.AssetTag, Type: a.Type, Model: a.Model, Owner: a.Owner, OwnerEmail: a.OwnerEmail,
		Classification: a.Classification, Location: a.Location, Status: a.Status,
		LinkedBy: a.LinkedBy, LinkedAt: a.LinkedAt, Flags: each(a.Flags, toFlag),
	}
}

func toFlag(f registry.Flag) apitypes.Flag                { return apitypes.Flag(f) }
func toEnrolment(e registry.Enrolment) apitypes.Enrolment { return apitypes.Enrolment(e) }
func toIdentityConflict(c registry.IdentityConflict) apitypes.IdentityConflict {
	return apitypes.IdentityConflict(c)
}
func toPackage(p registry.Package) apitypes.Package { return apitypes.Package(p) }
func toHistoryEntry(e registry.HistoryEntry) apitypes.HistoryEntry {
	return apitypes.HistoryEntry(e)
}
func toSoftwareHit(h registry.SoftwareHit) apitypes.SoftwareHit { return apitypes.SoftwareHit(h) }
func toSecret(s registry.Secret) apitypes.Secret                { return apitypes.Secret(s) }

func toMergeResult(m registry.MergeResult) apitypes.MergeResult {
	return apitypes.MergeResult{Device: toDevice(m.Device), Merged: toDevice(m.Merged)}
}

func toAsset(a registry.Asset) apitypes.Asset {
	return apitypes.Asset{
		ID: a.ID, AssetTag: a.AssetTag, Serial: a.Serial, SerialNormalised: a.SerialNormalised,
		Type: a.Type, Model: a.Model, Owner: a.Owner, OwnerEmail: a.OwnerEmail,
		Classification: a.Classification, Location: a.Location, Status: a.Status,
		PurchaseDate: a.PurchaseDate, FixedAssetRef: a.FixedAssetRef, Notes: a.Notes, Tags: a.Tags,
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
		Device: ptr(a.Device, func(d registry.LinkedDevice) apitypes.LinkedDevice { return apitypes.LinkedDevice(d) }),
		Flags:  each(a.Flags, toFlag),
	}
}

// fromAssetInput is the registry's input: the two are one field table
// (TestAssetInputFollowsTable holds the registry's to assetcsv's).
func fromAssetInput(in apitypes.AssetInput) registry.AssetInput { return registry.AssetInput(in) }

func toRowError(e registry.RowError) apitypes.RowError { return apitypes.RowError(e) }

func toImportResult(r registry.ImportResult) apitypes.ImportResult {
	change := func(c registry.AssetChange) apitypes.AssetChange {
		return apitypes.AssetChange{Line: c.Line, AssetTag: c.AssetTag,
			Changes: each(c.Changes, func(f registry.FieldChange) apitypes.FieldChange { return apitypes.FieldChange(f) })}
	}
	return apitypes.ImportResult{
		DryRun: r.DryRun, Created: each(r.Created, change), Updated: each(r.Updated, change), Unchanged: r.Unchanged,
		Errors: each(r.Errors, toRowError), LinksChanged: r.LinksChanged, FlagsSet: r.FlagsSet, FlagsCleared: r.FlagsCleared,
	}
}

func toRegisterEntry(e registry.RegisterEntry) apitypes.RegisterEntry {
	return apitypes.RegisterEntry(e)
}
func toChanges(c registry.Changes) apitypes.Changes { return apitypes.Changes(c) }

func toReconciliation(r registry.Reconciliation) apitypes.Reconciliation {
	match := func(m registry.ReconcileMatch) apitypes.ReconcileMatch { return apitypes.ReconcileMatch(m) }
	return apitypes.Reconciliation{
		GeneratedAt: r.GeneratedAt, HostnameRule: r.HostnameRule, Summary: apitypes.ReconcileSummary(r.Summary),
		Matched:      each(r.Matched, match),
		Unregistered: each(r.Unregistered, func(d registry.ReconcileDevice) apitypes.ReconcileDevice { return apitypes.ReconcileDevice(d) }),
		Missing:      each(r.Missing, func(a registry.ReconcileAsset) apitypes.ReconcileAsset { return apitypes.ReconcileAsset(a) }),
		NotInService: each(r.NotInService, match),
		Mismatches:   each(r.Mismatches, func(m registry.ReconcileMismatch) apitypes.ReconcileMismatch { return apitypes.ReconcileMismatch(m) }),
	}
}

func toPolicy(p compliance.Policy) apitypes.Policy {
	return apitypes.Policy{
		ID: p.ID, Title: p.Title, Description: p.Description, Severity: p.Severity,
		Scope: apitypes.PolicyScope(p.Scope), Kind: p.Kind, Params: apitypes.PolicyParams(p.Params),
		Expr: p.Expr, FailReason: p.FailReason, Remedy: p.Remedy, GraceDays: p.GraceDays, ValidityDays: p.ValidityDays,
	}
}

func toPolicySetRecord(r registry.PolicySetRecord) apitypes.PolicySetRecord {
	return apitypes.PolicySetRecord{ID: r.ID, Source: r.Source, Name: r.Name, Hash: r.Hash, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt}
}

func toEvalStats(s registry.EvalStats) apitypes.EvalStats {
	return apitypes.EvalStats{Devices: s.Devices, Changed: s.Changed, Events: s.Events}
}

func toDeviceCompliance(c registry.DeviceCompliance) apitypes.DeviceCompliance {
	return apitypes.DeviceCompliance{State: c.State, EvaluatedAt: c.EvaluatedAt,
		Results: each(c.Results, func(r registry.ResultRecord) apitypes.ResultRecord { return apitypes.ResultRecord(r) })}
}

func toException(e registry.ExceptionRecord) apitypes.ExceptionRecord {
	return apitypes.ExceptionRecord(e)
}

func toComplianceSummary(s registry.ComplianceSummary) apitypes.ComplianceSummary {
	return apitypes.ComplianceSummary{Devices: s.Devices, ByState: s.ByState,
		Policies: each(s.Policies, func(p registry.PolicyCount) apitypes.PolicyCount { return apitypes.PolicyCount(p) })}
}

func toEvent(e registry.EventRecord) apitypes.EventRecord { return apitypes.EventRecord(e) }

func toWipe(w registry.Wipe) apitypes.Wipe {
	return apitypes.Wipe{
		ID: w.ID, DeviceID: w.DeviceID, AssetID: w.AssetID, AssetTag: w.AssetTag, Hostname: w.Hostname,
		Vendor: w.Vendor, Model: w.Model, SystemSerial: w.SystemSerial, Classification: w.Classification,
		Ticket: w.Ticket, Reason: w.Reason, Method: w.Method, Reuse: w.Reuse, State: w.State,
		IssuedAt: w.IssuedAt, Deadline: w.Deadline, CreatedBy: w.CreatedBy, CreatedByID: w.CreatedByID,
		CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt, CompletedAt: w.CompletedAt, VerifiedAt: w.VerifiedAt,
		FailureReason: w.FailureReason, WipeMethod: w.WipeMethod, Tool: w.Tool, ToolVersion: w.ToolVersion,
		PerformedBy: w.PerformedBy, VerifiedBy: w.VerifiedBy, EvidenceName: w.EvidenceName, EvidenceSHA256: w.EvidenceSHA256,
		ReenrolledAt: w.ReenrolledAt, Verification: w.Verification, SinglePerson: w.SinglePerson, Escalated: w.Escalated,
		Transitions: each(w.Transitions, func(t registry.WipeTransition) apitypes.WipeTransition {
			return apitypes.WipeTransition{At: t.At, From: t.From, To: t.To, Actor: apitypes.WipeActor(t.Actor), Detail: t.Detail}
		}),
	}
}

func toPrincipal(p access.Principal) apitypes.Principal {
	return apitypes.Principal{ID: p.ID, Name: p.Name, Kind: p.Kind, Role: string(p.Role), TokenID: p.TokenID}
}

func toToken(t registry.TokenRecord) apitypes.TokenRecord {
	return apitypes.TokenRecord{
		ID: t.ID, PrincipalID: t.PrincipalID, Principal: t.Principal, Kind: t.Kind, Email: t.Email,
		Role: string(t.Role), Description: t.Description, CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy,
		ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, LastUsedFrom: t.LastUsedFrom,
		RevokedAt: t.RevokedAt, RevokedBy: t.RevokedBy, RotatedFrom: t.RotatedFrom, Status: t.Status,
		PrincipalDown: t.PrincipalDown,
	}
}

func toPrincipalRecord(p registry.PrincipalRecord) apitypes.PrincipalRecord {
	return apitypes.PrincipalRecord{
		ID: p.ID, Name: p.Name, Kind: p.Kind, Email: p.Email, Role: string(p.Role),
		CreatedAt: p.CreatedAt, CreatedBy: p.CreatedBy, DisabledAt: p.DisabledAt, LastUsedAt: p.LastUsedAt,
		Tokens: each(p.Tokens, toToken),
	}
}

func toAuditEntry(e audit.Entry) apitypes.AuditEntry { return apitypes.AuditEntry(e) }
func toCheckpoint(c audit.Checkpoint) apitypes.AuditCheckpoint {
	return apitypes.AuditCheckpoint(c)
}

func toAuditResult(r audit.Result) apitypes.AuditResult {
	return apitypes.AuditResult{
		OK: r.OK, Entries: r.Entries, HeadSeq: r.HeadSeq, HeadHash: r.HeadHash,
		Checkpoints: r.Checkpoints, Covered: r.Covered, FirstSeq: r.FirstSeq, Anchor: r.Anchor,
		Problem: ptr(r.Problem, func(p audit.Problem) apitypes.AuditProblem { return apitypes.AuditProblem(p) }),
	}
}
