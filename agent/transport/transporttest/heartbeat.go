package transporttest

import (
	"fmt"
	"net/http"

	"github.com/rosterhq/roster/shared/wire"
)

// SetSchedule makes every acknowledgement carry s (nil: none).
func (c *Collector) SetSchedule(s *wire.Schedule) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.schedule = s
}

// SetDown makes the collector answer 503 to everything, as one that is
// down behind a load balancer would, until SetDown(false).
func (c *Collector) SetDown(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = down
}

// heartbeat answers POST /api/v1/agent/heartbeat as docs/api.md says:
// resync when the agent's last hash is not the one stored.
func (c *Collector) heartbeat(r *http.Request, id string, rec *Request) (int, any) {
	var hb wire.Heartbeat
	if err := decodeStrict(http.MaxBytesReader(nil, r.Body, 4<<10), &hb); err != nil {
		return apiErr(400, "malformed_json", err.Error())
	}
	rec.Kind, rec.Seq, rec.Protocol = "heartbeat", hb.LastSeq, hb.ProtocolVersion
	if hb.ProtocolVersion < 1 || hb.ProtocolVersion > c.protocol() {
		return apiErr(400, "bad_request", fmt.Sprintf("protocol_version %d not supported (1 to %d)", hb.ProtocolVersion, c.protocol()))
	}
	status := wire.HeartbeatOK
	if d := c.devices[id]; d == nil || d.hash != hb.LastHash {
		status = wire.HeartbeatResync
	}
	return 200, wire.HeartbeatAck{Status: status, DeviceID: id, Schedule: c.schedule}
}
