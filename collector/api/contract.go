package api

// What each route takes and answers: its query parameters, request body
// and success response, by Go type: collector/apitypes, the types the
// handlers encode and decode and rosterctl reads, or shared/wire for the
// agent's routes. The table is the one source of the
// query parameters a route accepts (New refuses any other before the
// handler runs) and of the OpenAPI document (openapi.go), whose tests fail
// when a route has no contract here or a contract names no route.

import (
	"fmt"
	"maps"
	"net/http"
	"slices"

	"github.com/rosterhq/roster/collector/apitypes"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/shared/wire"
)

// contract is one method of one route. Bodies are Go values whose type
// is the schema (a nil value: an opaque body of that media type).
type contract struct {
	id, summary string
	// params are the query (and header) parameters; strict routes refuse
	// query parameters not among them, as strict decoding refuses unknown
	// fields.
	params []param
	strict bool
	body   []content
	// bodyOptional: the request body may be left out.
	bodyOptional bool
	status       int
	answers      []content
	// errs are error bodies other than wire.ErrorBody, by status.
	errs map[int]any
}

type content struct {
	media string
	v     any
}

// param is a query or header parameter; kind is string, integer, boolean
// or date-time.
type param struct {
	name, in, kind, desc string
	enum                 []string
	required             bool
}

func op(id, summary string) contract {
	return contract{id: id, summary: summary, status: http.StatusOK}
}

// query declares the query parameters the route takes and makes it refuse
// any other.
func (c contract) query(ps ...param) contract {
	c.params = append(slices.Clip(c.params), ps...)
	c.strict = true
	return c
}

func (c contract) header(p param) contract {
	p.in = "header"
	c.params = append(slices.Clip(c.params), p)
	return c
}

// in declares a JSON request body.
func (c contract) in(v any) contract { return c.inAs("application/json", v) }

func (c contract) inAs(media string, v any) contract {
	c.body = append(slices.Clip(c.body), content{media, v})
	return c
}

// optional makes the request body optional.
func (c contract) optional() contract { c.bodyOptional = true; return c }

// out declares the success status and its JSON body.
func (c contract) out(status int, v any) contract {
	c.status = status
	return c.outAs("application/json", v)
}

// outAs adds another media type the success response may come as.
func (c contract) outAs(media string, v any) contract {
	c.answers = append(slices.Clip(c.answers), content{media, v})
	return c
}

// fails declares an error body other than wire.ErrorBody.
func (c contract) fails(status int, v any) contract {
	m := map[int]any{status: v}
	for k, e := range c.errs {
		if k != status {
			m[k] = e
		}
	}
	c.errs = m
	return c
}

func qstr(name, desc string) param { return param{name: name, in: "query", kind: "string", desc: desc} }

// periodParams are from and to of the compliance history routes: a date
// (UTC midnight) or RFC 3339, so strings rather than date-times.
func periodParams() []param {
	return []param{qstr("from", "start, inclusive: 2006-01-02 (UTC midnight) or RFC 3339; default 30 days before to"),
		qstr("to", "end, exclusive: 2006-01-02 (UTC midnight) or RFC 3339; default now")}
}
func qbool(name, desc string) param {
	return param{name: name, in: "query", kind: "boolean", desc: desc}
}
func qtime(name, desc string) param {
	return param{name: name, in: "query", kind: "date-time", desc: desc}
}
func qenum(name, desc string, values ...string) param {
	return param{name: name, in: "query", kind: "string", desc: desc, enum: values}
}

// pageParams are every paged list's.
func pageParams() []param {
	return []param{
		{name: "limit", in: "query", kind: "integer", desc: fmt.Sprintf("page size, 1 to %d (default 100)", registry.MaxLimit)},
		qstr("cursor", "next_cursor of the previous page"),
	}
}

// rangeParams are every time-ranged list's.
func rangeParams() []param {
	return []param{qtime("since", "from this time (RFC 3339)"), qtime("until", "before this time (RFC 3339)")}
}

func params(groups ...[]param) []param { return slices.Concat(groups...) }

// contracts is every route's contract, keyed by "METHOD path" as routes()
// declares them.
func contracts() map[string]contract {
	history := params(pageParams(), rangeParams(), []param{qstr("kind", "entry kind")})
	register := params(pageParams(), rangeParams(), []param{qstr("kind", "entry kind"), qstr("device", "device reference")})
	status := apitypes.Status{}
	rows := apitypes.RowsErrorBody{}
	cs := map[string]contract{
		"GET /healthz":             op("healthz", "The process is up").out(http.StatusOK, status),
		"GET /readyz":              op("readyz", "The registry is reachable and migrated").out(http.StatusOK, status),
		"GET /metrics":             op("metrics", "Prometheus metrics").outAs("text/plain", nil),
		"GET /api/v1/openapi.json": op("openAPI", "This document").out(http.StatusOK, map[string]any{}),

		"POST /api/v1/enroll": op("enroll", "Enrol a device with an enrolment secret").
			in(wire.EnrollRequest{}).out(http.StatusCreated, wire.EnrollResponse{}),
		"POST /api/v1/agent/renew": op("renewCertificate", "Renew the device certificate").
			in(wire.RenewRequest{}).out(http.StatusOK, wire.RenewResponse{}),
		"POST /api/v1/agent/report": op("report", "Send a full or delta report (gzip)").
			header(param{name: "Content-Encoding", kind: "string", enum: []string{"gzip"}, required: true, desc: "reports are gzip-compressed"}).
			in(wire.Report{}).out(http.StatusOK, wire.Ack{}),
		"POST /api/v1/agent/heartbeat": op("heartbeat", "Check in between reports").
			in(wire.Heartbeat{}).out(http.StatusOK, wire.HeartbeatAck{}),
		"POST /api/v1/agent/commands/status": op("commandStatus", "Report a command's progress").
			in(wire.CommandStatus{}).out(http.StatusOK, struct{}{}),

		"GET /api/v1/devices": op("listDevices", "List devices").
			query(params(pageParams(), []param{
				qstr("platform", "linux, darwin or windows"), qstr("hostname", "hostname"), qstr("serial", "serial number"),
				qstr("state", "device state"), qstr("compliance", "evaluated compliance state (fail, unknown, ...)"), qstr("flag", "carries this flag"), qtime("seen_after", "last seen after (RFC 3339)"), qtime("seen_before", "last seen before (RFC 3339)"),
				qstr("software", "has this package installed"), qstr("software_version", "of this version (with software)"),
			})...).out(http.StatusOK, apitypes.List[apitypes.Device]{}),
		"GET /api/v1/devices/{ref}":          op("getDevice", "A device with its compliance, exceptions and recent changes").out(http.StatusOK, apitypes.DeviceDetail{}),
		"GET /api/v1/devices/{ref}/snapshot": op("getDeviceSnapshot", "A device's last full snapshot").out(http.StatusOK, wire.Snapshot{}),
		"GET /api/v1/devices/{ref}/software": op("listDeviceSoftware", "A device's installed software").
			query(pageParams()...).out(http.StatusOK, apitypes.List[apitypes.Package]{}),
		"GET /api/v1/devices/{ref}/history": op("listDeviceHistory", "A device's history").
			query(history...).out(http.StatusOK, apitypes.List[apitypes.HistoryEntry]{}),
		"POST /api/v1/devices/{ref}/revoke": op("revokeDevice", "Revoke a device's certificate").out(http.StatusOK, apitypes.Device{}),
		"POST /api/v1/devices/{ref}/merge": op("mergeDevice", "Merge a new record into the device it duplicates").
			in(apitypes.MergeRequest{}).out(http.StatusOK, apitypes.MergeResult{}),
		"POST /api/v1/devices/{ref}/allow-reenroll": op("allowReenroll", "Let the next matching enrolment continue the device").
			in(apitypes.AllowReenrollRequest{}).out(http.StatusOK, apitypes.Device{}),
		"GET /api/v1/history": op("listHistory", "The fleet's history").
			query(history...).out(http.StatusOK, apitypes.List[apitypes.HistoryEntry]{}),
		"GET /api/v1/software": op("searchSoftware", "Devices by installed software").
			query(params(pageParams(), []param{qstr("name", "package name"), qstr("version", "package version"), qstr("source", "package source")})...).
			out(http.StatusOK, apitypes.List[apitypes.SoftwareHit]{}),

		"GET /api/v1/secrets": op("listSecrets", "List enrolment secrets").out(http.StatusOK, apitypes.List[apitypes.Secret]{}),
		"POST /api/v1/secrets": op("createSecret", "Create an enrolment secret").
			in(apitypes.SecretRequest{}).out(http.StatusCreated, apitypes.SecretCreated{}),
		"DELETE /api/v1/secrets/{id}": op("revokeSecret", "Revoke an enrolment secret").out(http.StatusOK, apitypes.Secret{}),

		"GET /api/v1/assets": op("listAssets", "List the asset register").
			query(params(pageParams(), []param{
				qstr("status", "asset status"), qstr("type", "asset type"), qstr("classification", "classification"),
				qstr("owner", "owner"), qstr("location", "location"), qstr("flag", "has this flag"), qstr("linked", "linked or not"),
			})...).out(http.StatusOK, apitypes.List[apitypes.Asset]{}),
		"POST /api/v1/assets": op("addAsset", "Add an asset").
			in(apitypes.AssetInput{}).out(http.StatusCreated, apitypes.Asset{}).fails(http.StatusBadRequest, rows),
		"POST /api/v1/assets/import": op("importAssets", "Import the register from CSV").
			query(qbool("dry_run", "report what would change, change nothing"), qstr("map", "column mapping, FIELD=COLUMN,...")).
			inAs("text/csv", nil).out(http.StatusOK, apitypes.ImportResult{}).fails(http.StatusBadRequest, rows),
		"GET /api/v1/assets/export": op("exportAssets", "Export the register").
			query(qenum("format", "csv (default) or json", "csv", "json")).
			outAs("text/csv", nil).out(http.StatusOK, apitypes.List[apitypes.Asset]{}),
		"GET /api/v1/assets/{tag}": op("getAsset", "An asset").out(http.StatusOK, apitypes.Asset{}),
		"PATCH /api/v1/assets/{tag}": op("updateAsset", "Change an asset").
			in(apitypes.AssetInput{}).out(http.StatusOK, apitypes.Asset{}).fails(http.StatusBadRequest, rows),
		"POST /api/v1/assets/{tag}/link": op("linkAsset", "Link an asset to a device").
			in(apitypes.LinkRequest{}).out(http.StatusOK, apitypes.Asset{}),
		"DELETE /api/v1/assets/{tag}/link": op("unlinkAsset", "Unlink an asset").out(http.StatusOK, apitypes.Asset{}),
		"GET /api/v1/assets/{tag}/history": op("listAssetHistory", "An asset's register history").
			query(register...).out(http.StatusOK, apitypes.List[apitypes.RegisterEntry]{}),
		"GET /api/v1/register/history": op("listRegisterHistory", "The register's history").
			query(params(register, []param{qstr("asset", "asset tag")})...).out(http.StatusOK, apitypes.List[apitypes.RegisterEntry]{}),
		"POST /api/v1/flags/refresh": op("refreshFlags", "Recompute the register's flags").
			query().out(http.StatusOK, apitypes.Changes{}),
		"GET /api/v1/reconcile": op("reconcile", "Reconcile the register with the fleet").
			query(qstr("hostname_rule", "naming rule (a regular expression)")).out(http.StatusOK, apitypes.Reconciliation{}),

		"GET /api/v1/policies": op("listPolicies", "The policy set in force").query().out(http.StatusOK, apitypes.PolicySet{}),
		"PUT /api/v1/policies": op("replacePolicies", "Replace the policy set").
			inAs("application/yaml", apitypes.PolicyFile{}).inAs("application/json", apitypes.PolicyFile{}).out(http.StatusOK, apitypes.PolicySet{}),
		"GET /api/v1/policies/{id}": op("getPolicy", "A policy in force").out(http.StatusOK, apitypes.Policy{}),
		"GET /api/v1/exceptions": op("listExceptions", "List exceptions").
			query(qbool("active", "only approved and unexpired"), qstr("status", "exception status"), qstr("device", "device reference"), qstr("policy", "policy id")).
			out(http.StatusOK, apitypes.List[apitypes.ExceptionRecord]{}),
		"POST /api/v1/exceptions": op("requestException", "Request an exception").
			in(apitypes.ExceptionRequest{}).out(http.StatusCreated, apitypes.ExceptionRecord{}),
		"GET /api/v1/exceptions/{id}":    op("getException", "An exception").out(http.StatusOK, apitypes.ExceptionRecord{}),
		"DELETE /api/v1/exceptions/{id}": op("revokeException", "Revoke an exception").out(http.StatusOK, apitypes.ExceptionRecord{}),
		"POST /api/v1/exceptions/{id}/approve": op("approveException", "Approve an exception").
			in(apitypes.ExceptionDecision{}).optional().out(http.StatusOK, apitypes.ExceptionRecord{}),
		"POST /api/v1/exceptions/{id}/deny": op("denyException", "Deny an exception").
			in(apitypes.ExceptionDecision{}).optional().out(http.StatusOK, apitypes.ExceptionRecord{}),
		"GET /api/v1/compliance/summary": op("complianceSummary", "The fleet's compliance").
			query().out(http.StatusOK, apitypes.ComplianceSummary{}),
		"GET /api/v1/compliance/history": op("complianceHistory", "A device's policy statuses when a period began and their changes during it").
			query(append([]param{qstr("device", "device reference (id, serial, hostname or asset tag); required"),
				qstr("policy", "only this policy id")}, periodParams()...)...).
			out(http.StatusOK, apitypes.ComplianceHistory{}),
		"GET /api/v1/compliance/daily": op("complianceDaily", "The daily compliance rate of a policy, or of the fleet and every policy, over a period").
			query(append([]param{qstr("policy", "only this policy id (default: the fleet and every policy)")}, periodParams()...)...).
			out(http.StatusOK, apitypes.DailyCompliance{}),
		"GET /api/v1/events": op("listEvents", "Drift and compliance events").
			query(params(pageParams(), rangeParams(), []param{qstr("kind", "event kind"), qstr("device", "device reference")})...).
			out(http.StatusOK, apitypes.List[apitypes.EventRecord]{}),
		"PUT /api/v1/test/clock": op("setTestClock", "Move the test clock (end-to-end tests only)").
			in(apitypes.ClockRequest{}).out(http.StatusOK, apitypes.ClockView{}),

		"POST /api/v1/wipes": op("startWipe", "Start an offboarding wipe").
			in(apitypes.WipeStartRequest{}).out(http.StatusCreated, apitypes.Wipe{}),
		"GET /api/v1/wipes/{ref}":        op("getWipe", "A wipe").out(http.StatusOK, apitypes.Wipe{}),
		"POST /api/v1/wipes/{id}/cancel": op("cancelWipe", "Cancel a wipe").out(http.StatusOK, apitypes.Wipe{}),
		"POST /api/v1/wipes/{id}/record": op("recordWipe", "Record a manual wipe").
			in(apitypes.WipeRecordRequest{}).out(http.StatusOK, apitypes.Wipe{}),
		"GET /api/v1/wipes/{id}/certificate": op("getWipeCertificate", "The signed certificate of sanitisation").
			query(qenum("format", "json (default) or html", "json", "html")).
			out(http.StatusOK, wire.SignedCertificate{}).outAs("text/html", nil),

		"GET /api/v1/whoami": op("whoami", "Who the token belongs to and what it may do").out(http.StatusOK, apitypes.Whoami{}),
		"GET /api/v1/tokens": op("listTokens", "List token records").
			query(qstr("principal", "principal name"), qbool("all", "revoked and expired too")).out(http.StatusOK, apitypes.List[apitypes.TokenRecord]{}),
		"POST /api/v1/tokens": op("createToken", "Create a token").
			in(apitypes.TokenRequest{}).out(http.StatusCreated, apitypes.TokenCreated{}),
		"POST /api/v1/tokens/self/rotate": op("rotateOwnToken", "Replace the token in use").
			in(apitypes.RotateRequest{}).optional().out(http.StatusCreated, apitypes.TokenCreated{}),
		"GET /api/v1/tokens/{id}":    op("getToken", "A token record").out(http.StatusOK, apitypes.TokenRecord{}),
		"DELETE /api/v1/tokens/{id}": op("revokeToken", "Revoke a token").out(http.StatusOK, apitypes.TokenRecord{}),
		"POST /api/v1/tokens/{id}/rotate": op("rotateToken", "Replace a token").
			in(apitypes.RotateRequest{}).optional().out(http.StatusCreated, apitypes.TokenCreated{}),
		"GET /api/v1/principals": op("listPrincipals", "Every principal with its tokens").out(http.StatusOK, apitypes.List[apitypes.PrincipalRecord]{}),
		"PUT /api/v1/principals/{name}/role": op("setPrincipalRole", "Change a principal's role").
			in(apitypes.RoleRequest{}).out(http.StatusOK, apitypes.RoleChanged{}),
		"POST /api/v1/principals/{name}/disable": op("disablePrincipal", "Disable a principal").out(http.StatusOK, apitypes.PrincipalDisabled{}),
		"GET /api/v1/access/review": op("accessReview", "The periodic access review").
			query(rangeParams()...).out(http.StatusOK, apitypes.AccessReview{}),
		"POST /api/v1/access/review/sign-off": op("signOffAccessReview", "Record an access review's sign-off").
			query().in(apitypes.SignOffRequest{}).out(http.StatusCreated, apitypes.SignOffResponse{}),
		"GET /api/v1/audit": op("listAudit", "The audit log").
			query(params(rangeParams(), []param{
				qstr("principal", "principal name"), qstr("action", "action, or a prefix ending in *"), qstr("target", "target"),
				qstr("cursor", "next_cursor of the previous page"), {name: "limit", in: "query", kind: "integer", desc: "page size, 1 to 1000"},
			})...).out(http.StatusOK, apitypes.List[apitypes.AuditEntry]{}),
		"GET /api/v1/audit/verify":      op("verifyAudit", "Verify the audit log's chain and checkpoints").out(http.StatusOK, apitypes.AuditVerify{}),
		"GET /api/v1/audit/checkpoints": op("listAuditCheckpoints", "The audit log's signed checkpoints").out(http.StatusOK, apitypes.List[apitypes.AuditCheckpoint]{}),
	}
	maps.Copy(cs, userContracts())
	maps.Copy(cs, evidenceContracts())
	return cs
}

// checked is h behind the contract's query check.
func (s *server) checked(c contract, h http.HandlerFunc) http.HandlerFunc {
	if !c.strict {
		return h
	}
	var names []string
	for _, p := range c.params {
		if p.in == "query" {
			names = append(names, p.name)
		}
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if ae := knownParams(r.URL.Query(), names...); ae != nil {
			s.fail(w, r, ae)
			return
		}
		h(w, r)
	}
}
