package api

// Offboarding: wipe requests for people and automation (start, status,
// cancel, manual record, certificate of sanitisation), the agents' command
// status endpoint, and the signed commands that ride on report and
// heartbeat acks.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/apitypes"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/shared/wire"
)

// maxRecordBody admits a 1 MiB evidence file in base64 with its fields.
const maxRecordBody = 2 << 20

func (s *server) wipeRoutes() []route {
	return []route{
		{"/api/v1/agent/commands/status", map[string]endpoint{"POST": ep(access.Agent, s.commandStatus)}},
		{"/api/v1/wipes", map[string]endpoint{"POST": ep(access.WipesManage, s.startWipe)}},
		{"/api/v1/wipes/{ref}", map[string]endpoint{"GET": ep(access.WipesRead, s.getWipe)}},
		{"/api/v1/wipes/{id}/cancel", map[string]endpoint{"POST": ep(access.WipesManage, s.cancelWipe)}},
		{"/api/v1/wipes/{id}/record", map[string]endpoint{"POST": ep(access.WipesRecord, s.recordWipe)}},
		{"/api/v1/wipes/{id}/certificate", map[string]endpoint{"GET": ep(access.WipesRead, s.wipeCertificate)}},
	}
}

// tokenActor is the wipe lifecycle's view of the request's principal.
func tokenActor(r *http.Request) registry.WipeActor {
	a := access.ActorFrom(r.Context())
	return registry.WipeActor{Kind: registry.ActorToken, ID: a.ID, Name: a.Name}
}

func (s *server) startWipe(w http.ResponseWriter, r *http.Request) {
	var req apitypes.WipeStartRequest
	if ae := decodeJSON(w, r, maxJSONBody, &req); ae != nil {
		s.fail(w, r, ae)
		return
	}
	if strings.TrimSpace(req.Device) == "" {
		s.fail(w, r, errf(http.StatusBadRequest, "bad_request", "device is required (a device id, serial, hostname or asset tag)"))
		return
	}
	var deadline time.Duration
	if req.Deadline != "" {
		var err error
		if deadline, err = parseWipeDuration(req.Deadline); err != nil {
			s.fail(w, r, errf(http.StatusBadRequest, "bad_request", "deadline: %v", err))
			return
		}
	}
	wp, err := s.reg.StartWipe(r.Context(), registry.WipeStart{
		Ref: req.Device, Ticket: req.Ticket, Reason: req.Reason, Method: req.Method, Reuse: req.Reuse, Deadline: deadline, Actor: tokenActor(r),
	}, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger.Info("wipe requested", "wipe_id", wp.ID, "device_id", wp.DeviceID, "asset_tag", wp.AssetTag, "ticket", wp.Ticket, "method", wp.Method)
	writeJSON(w, http.StatusCreated, toWipe(wp))
}

// parseWipeDuration takes Go durations and whole days ("14d").
func parseWipeDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		for _, c := range d {
			if c < '0' || c > '9' || n > 10000 {
				return 0, errors.New("want a duration such as 14d, 36h or 90m")
			}
			n = n*10 + int(c-'0')
		}
		if d == "" {
			return 0, errors.New("want a duration such as 14d, 36h or 90m")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

func (s *server) getWipe(w http.ResponseWriter, r *http.Request) {
	wp, err := s.reg.WipeByRef(r.Context(), r.PathValue("ref"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toWipe(wp))
}

func (s *server) cancelWipe(w http.ResponseWriter, r *http.Request) {
	wp, err := s.reg.CancelWipe(r.Context(), r.PathValue("id"), tokenActor(r), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger.Info("wipe cancelled", "wipe_id", wp.ID)
	writeJSON(w, http.StatusOK, toWipe(wp))
}

func (s *server) recordWipe(w http.ResponseWriter, r *http.Request) {
	var req apitypes.WipeRecordRequest
	if ae := decodeJSON(w, r, maxRecordBody, &req); ae != nil {
		s.fail(w, r, ae)
		return
	}
	ev, err := base64.StdEncoding.DecodeString(req.Evidence)
	if err != nil {
		s.fail(w, r, errf(http.StatusBadRequest, "bad_request", "evidence is not base64: %v", err))
		return
	}
	wp, err := s.reg.RecordWipe(r.Context(), r.PathValue("id"), registry.ManualWipe{
		Method: req.Method, Tool: req.Tool, ToolVersion: req.ToolVersion, PerformedBy: req.PerformedBy, VerifiedBy: req.VerifiedBy,
		Evidence: ev, EvidenceName: req.EvidenceName,
	}, tokenActor(r), s.now())
	if errors.Is(err, registry.ErrSeparation) {
		s.failDuty(w, r, err)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger.Info("manual wipe recorded", "wipe_id", wp.ID, "state", wp.State, "single_person", wp.SinglePerson)
	writeJSON(w, http.StatusOK, toWipe(wp))
}

func (s *server) wipeCertificate(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "html" {
		s.fail(w, r, errf(http.StatusBadRequest, "bad_parameter", "format %q: want json or html", format))
		return
	}
	if s.ca.Command == nil {
		s.fail(w, r, errors.New("no command-signing key loaded"))
		return
	}
	cert, err := s.reg.WipeCertificate(r.Context(), r.PathValue("id"), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := json.Marshal(cert)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sc := wire.SignedCertificate{Certificate: body, Signature: s.ca.Command.Sign(body), KeyID: s.ca.Command.KeyID()}
	if !s.sensitiveRead(w, r, "wipe.certificate.read", "wipe:"+r.PathValue("id"), map[string]string{"format": format}) {
		return
	}
	if format != "html" {
		writeJSON(w, http.StatusOK, sc)
		return
	}
	var buf bytes.Buffer
	if err := certificatePage().Execute(&buf, struct {
		C         registry.SanitisationCertificate
		Signature string
		KeyID     string
		PublicKey string
	}{cert, sc.Signature, sc.KeyID, s.ca.Command.PublicBase64()}); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

// certificatePage is the printable certificate: appendix G's layout, the
// same content as the JSON, and the signature to check it with.
func certificatePage() *template.Template {
	return template.Must(template.New("certificate").Funcs(template.FuncMap{
		"date": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	}).Parse(certificateHTML))
}

const certificateHTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Certificate of Sanitization {{.C.WipeRequestID}}</title>
<style>
body{font-family:sans-serif;max-width:52em;margin:2em auto;color:#000}
h1{font-size:1.4em} h2{font-size:1.1em;border-bottom:1px solid #000;margin-top:1.5em}
table{border-collapse:collapse;width:100%} th{text-align:left;width:40%;vertical-align:top}
th,td{border:1px solid #888;padding:.3em .5em} .sig{font-family:monospace;word-break:break-all;font-size:.8em}
@media print{body{margin:0}}
</style></head><body>
<h1>Certificate of Sanitization</h1>
<p>{{.C.Standard}}. Issued {{date .C.IssuedAt}}.</p>
<h2>Media information</h2>
<table>
<tr><th>Manufacturer</th><td>{{.C.Manufacturer}}</td></tr>
<tr><th>Model</th><td>{{.C.Model}}</td></tr>
<tr><th>Serial number</th><td>{{.C.SerialNumber}}</td></tr>
<tr><th>Media property number (asset tag)</th><td>{{.C.PropertyNumber}}</td></tr>
<tr><th>Media type</th><td>{{.C.MediaType}}</td></tr>
<tr><th>Media source</th><td>{{.C.MediaSource}}</td></tr>
<tr><th>Pre-sanitization confidentiality</th><td>{{.C.PreSanitisationConfidentiality}}</td></tr>
</table>
<h2>Sanitization details</h2>
<table>
<tr><th>Sanitization description</th><td>{{.C.SanitisationDescription}}</td></tr>
<tr><th>Method used</th><td>{{.C.Method}}</td></tr>
<tr><th>Method details</th><td>{{.C.MethodDetails}}</td></tr>
<tr><th>Tool used (version)</th><td>{{.C.Tool}} {{.C.ToolVersion}}</td></tr>
<tr><th>Verification method</th><td>{{.C.VerificationMethod}}</td></tr>
<tr><th>Post-sanitization destination</th><td>{{.C.PostSanitisationDestination}}</td></tr>
</table>
{{if .C.Volumes}}<h2>Volumes</h2>
<table><tr><th>Device</th><th>LUKS</th><th>UUID</th><th>Keyslots before → after</th><th>Result</th></tr>
{{range .C.Volumes}}<tr><td>{{.Device}}</td><td>{{.LUKSVersion}}</td><td>{{.LUKSUUID}}</td><td>{{.KeyslotsBefore}} → {{.KeyslotsAfter}}</td><td>{{.Result}}</td></tr>
{{end}}</table>{{end}}
<h2>Sanitization performed by</h2>
<table><tr><th>Name</th><td>{{.C.PerformedBy.Name}}</td></tr><tr><th>Date</th><td>{{date .C.PerformedBy.Date}}</td></tr><tr><th>Location</th><td>{{.C.PerformedBy.Location}}</td></tr></table>
<h2>Sanitization verified by</h2>
<table><tr><th>Name</th><td>{{.C.VerifiedBy.Name}}</td></tr><tr><th>Date</th><td>{{date .C.VerifiedBy.Date}}</td></tr><tr><th>Location</th><td>{{.C.VerifiedBy.Location}}</td></tr></table>
<h2>Roster references</h2>
<table>
<tr><th>Wipe request</th><td>{{.C.WipeRequestID}}</td></tr>
<tr><th>Ticket</th><td>{{.C.Ticket}}</td></tr>
<tr><th>Reason</th><td>{{.C.Reason}}</td></tr>
<tr><th>Asset id</th><td>{{.C.AssetID}}</td></tr>
<tr><th>Device id</th><td>{{.C.DeviceID}}</td></tr>
<tr><th>State</th><td>{{.C.State}} (completed {{date .C.CompletedAt}}{{if .C.VerifiedAt}}, verified {{date .C.VerifiedAt}}{{end}})</td></tr>
<tr><th>Evidence SHA-256</th><td class="sig">{{.C.EvidenceSHA256}}</td></tr>
{{if .C.SinglePersonOperation}}<tr><th>Separation of duties</th><td><strong>Single-person operation</strong>: {{.C.SinglePersonDetail}}</td></tr>{{end}}
</table>
<h2>Signature</h2>
<p>The JSON form of this certificate is signed (Ed25519) by the Roster collector.
Check it offline with <code>rosterctl offboard verify-certificate FILE --public-key KEY</code>.</p>
<table>
<tr><th>Key id</th><td class="sig">{{.KeyID}}</td></tr>
<tr><th>Public key</th><td class="sig">{{.PublicKey}}</td></tr>
<tr><th>Signature</th><td class="sig">{{.Signature}}</td></tr>
</table>
</body></html>
`

// commandStatus is POST /api/v1/agent/commands/status (mTLS).
func (s *server) commandStatus(w http.ResponseWriter, r *http.Request) {
	device, serial, ae := s.clientDevice(r)
	if ae != nil {
		s.fail(w, r, ae)
		return
	}
	if err := s.reg.CheckCertificate(r.Context(), device, serial); err != nil {
		s.fail(w, r, err)
		return
	}
	var st wire.CommandStatus
	if ae := decodeJSON(w, r, maxJSONBody, &st); ae != nil {
		s.fail(w, r, ae)
		return
	}
	if st.CommandID == "" {
		s.fail(w, r, errf(http.StatusBadRequest, "bad_request", "command_id is required"))
		return
	}
	wp, err := s.reg.RecordCommandStatus(r.Context(), registry.CommandStatusInput{DeviceID: device, CertSerial: serial, Status: st, Now: s.now()})
	if errors.Is(err, registry.ErrCommandNotDelivered) {
		// The registry audited the refusal (wipe.command_status, denied).
		s.logger.Warn("command status refused", "device_id", device, "serial", serial, "command_id", st.CommandID, "err", err)
		ae := s.classify(err)
		writeError(w, ae.status, ae.code, ae.message)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger.Info("command status", "device_id", device, "command_id", st.CommandID, "status", st.Status, "wipe_state", wp.State)
	writeJSON(w, http.StatusOK, struct{}{})
}

// pendingCommands signs the commands waiting for device, for its ack. A
// failure is logged, not returned: the report itself was applied, and the
// command goes out with the next ack.
func (s *server) pendingCommands(ctx context.Context, device, serial string) []wire.SignedCommand {
	pending, err := s.reg.WipeCheckIn(ctx, device, serial, s.now())
	if err != nil {
		s.logger.Error("wipe check-in", "device_id", device, "err", err)
	}
	if len(pending) == 0 || s.ca.Command == nil {
		return nil
	}
	out := make([]wire.SignedCommand, 0, len(pending))
	for _, p := range pending {
		payload, err := json.Marshal(p.Command())
		if err != nil {
			s.logger.Error("encode command", "device_id", device, "command_id", p.ID, "err", err)
			continue
		}
		out = append(out, wire.SignedCommand{Payload: payload, Signature: s.ca.Command.Sign(payload), KeyID: s.ca.Command.KeyID()})
	}
	return out
}
