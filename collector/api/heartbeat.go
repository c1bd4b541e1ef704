package api

import (
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/shared/wire"
)

// maxHeartbeatBytes limits a heartbeat body on the wire and, when it comes
// gzip-compressed, once inflated: a real one is about 200 bytes.
const maxHeartbeatBytes = 4 << 10

// maxAgentVersion bounds the agent version a heartbeat may store; it is
// shown in listings, so it must stay a short printable string.
const maxAgentVersion = 128

// heartbeat is POST /api/v1/agent/heartbeat: every agent calls it every
// few minutes, so it costs one small body and one UPDATE, which also checks
// the certificate (a refused certificate is told apart only then) and says
// whether wipe commands may be waiting (only then are they read).
func (s *server) heartbeat(w http.ResponseWriter, r *http.Request) {
	reject := func(err error) {
		ae := s.fail(w, r, err)
		s.metrics.Heartbeat(ae.code)
	}
	device, serial, ae := s.clientDevice(r)
	if ae != nil {
		reject(ae)
		return
	}
	if ae := checkJSONType(r); ae != nil {
		reject(ae)
		return
	}
	hb, ae := decodeHeartbeat(&s.gunzip, http.MaxBytesReader(w, r.Body, maxHeartbeatBytes), r.Header.Get("Content-Encoding"))
	if ae != nil {
		reject(ae)
		return
	}
	ack, commands, err := s.reg.Heartbeat(r.Context(), registry.HeartbeatInput{
		DeviceID: device, CertSerial: serial, AgentVersion: hb.AgentVersion, LastHash: hb.LastHash,
		SpoolDepth: hb.SpoolDepth, Transport: r.Proto, Now: s.now(),
	})
	if err != nil {
		reject(err)
		return
	}
	ack.Schedule = s.schedule
	if commands {
		ack.Commands = s.pendingCommands(r.Context(), device, serial)
	}
	s.metrics.Heartbeat(ack.Status)
	s.logger.Debug("heartbeat", "device_id", device, "status", ack.Status, "last_seq", hb.LastSeq, "spool_depth", hb.SpoolDepth)
	writeJSON(w, http.StatusOK, ack)
}

// decodeHeartbeat reads a heartbeat, plain or gzip-compressed (accepted
// for agents that compress everything, not required), strictly decoded and
// checked.
func decodeHeartbeat(g *gunzippers, body io.Reader, contentEncoding string) (*wire.Heartbeat, *apiError) {
	var hb wire.Heartbeat
	switch enc := strings.ToLower(strings.TrimSpace(contentEncoding)); enc {
	case "", "identity":
		b, err := io.ReadAll(io.LimitReader(body, maxHeartbeatBytes+1))
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe) || len(b) > maxHeartbeatBytes:
			return nil, errf(http.StatusRequestEntityTooLarge, "too_large", "heartbeat over the %d-byte limit", maxHeartbeatBytes)
		case err != nil:
			return nil, errf(http.StatusBadRequest, "bad_request", "read body: %v", err)
		}
		if ae := unmarshalStrict(b, &hb); ae != nil {
			return nil, ae
		}
	case "gzip":
		if ae := g.read(body, "heartbeat", maxHeartbeatBytes, maxHeartbeatBytes, func(b []byte) *apiError {
			return unmarshalStrict(b, &hb)
		}); ae != nil {
			return nil, ae
		}
	default:
		return nil, errf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Encoding %q: send plain JSON or gzip", contentEncoding)
	}
	if ae := checkHeartbeat(&hb); ae != nil {
		return nil, ae
	}
	return &hb, nil
}

func checkHeartbeat(hb *wire.Heartbeat) *apiError {
	bad := func(format string, args ...any) *apiError {
		return errf(http.StatusBadRequest, "bad_request", format, args...)
	}
	switch {
	case hb.ProtocolVersion < 1 || hb.ProtocolVersion > wire.ProtocolVersion:
		return bad("protocol_version %d not supported (1 to %d)", hb.ProtocolVersion, wire.ProtocolVersion)
	case hb.LastHash != "" && wire.HashVersion(hb.LastHash) == 0:
		return bad("last_hash %q is not sha256:<64 hex digits> or sha256p:<64 hex digits>", hb.LastHash)
	case hb.LastSeq > math.MaxInt64:
		return bad("last_seq %d too large", hb.LastSeq)
	case hb.SpoolDepth < 0:
		return bad("spool_depth must not be negative")
	case len(hb.AgentVersion) > maxAgentVersion:
		return bad("agent_version longer than %d bytes", maxAgentVersion)
	case !utf8.ValidString(hb.AgentVersion) || strings.ContainsFunc(hb.AgentVersion, func(r rune) bool { return !unicode.IsPrint(r) }):
		return bad("agent_version %q has unprintable characters", hb.AgentVersion)
	}
	return nil
}

// ackSchedule is the schedule every ack carries: sc without its
// non-positive fields, or nil when none is left.
func ackSchedule(sc wire.Schedule) *wire.Schedule {
	pos := func(n int) int { return max(n, 0) }
	out := wire.Schedule{ReportIntervalS: pos(sc.ReportIntervalS), HeartbeatIntervalS: pos(sc.HeartbeatIntervalS), FullEveryS: pos(sc.FullEveryS)}
	if out == (wire.Schedule{}) {
		return nil
	}
	return &out
}
