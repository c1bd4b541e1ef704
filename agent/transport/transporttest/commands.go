package transporttest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/rosterhq/roster/shared/wire"
)

// queued is a signed command waiting for a device, with the statuses the
// device reported for it.
type queued struct {
	device string
	signed wire.SignedCommand
	id     string
	last   string // the last status accepted; "cancelled" after Cancel
}

// terminal statuses end delivery of a command.
var terminal = map[string]bool{
	wire.CommandCompleted: true, wire.CommandFailed: true, wire.CommandRefused: true,
	wire.CommandNotSupported: true, "cancelled": true,
}

// next lists the transitions the fake accepts from each status, as the
// collector's lifecycle does (docs/api.md: out of order is 409).
var next = map[string][]string{
	"":                     {wire.CommandDelivered, wire.CommandRefused, wire.CommandNotSupported},
	wire.CommandDelivered:  {wire.CommandInProgress, wire.CommandRefused, wire.CommandFailed},
	wire.CommandInProgress: {wire.CommandCompleted, wire.CommandFailed},
}

// CommandKey is the public half of the fake's command-signing key, given
// to agents at enrolment.
func (c *Collector) CommandKey() ed25519.PublicKey {
	return c.cmdKey.Public().(ed25519.PublicKey)
}

// Sign signs cmd as the collector does: Ed25519 over the payload bytes.
func (c *Collector) Sign(t testing.TB, cmd wire.Command) wire.SignedCommand {
	t.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.CommandKey())
	return wire.SignedCommand{Payload: b, Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(c.cmdKey, b)),
		KeyID: "ed25519:" + hex.EncodeToString(sum[:8])}
}

// Queue delivers sc to device in every acknowledgement (reports and
// heartbeats) until the device reports a final status for it, as a
// collector re-sends until it hears back.
func (c *Collector) Queue(device string, sc wire.SignedCommand) {
	var p struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(sc.Payload, &p)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queue = append(c.queue, &queued{device: device, signed: sc, id: p.ID})
}

// Cancel makes the collector answer 409 to every further status of
// command id, as after a cancellation.
func (c *Collector) Cancel(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, q := range c.queue {
		if q.id == id {
			q.last = "cancelled"
		}
	}
}

// Statuses are the command statuses the collector accepted, in order.
func (c *Collector) Statuses() []wire.CommandStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]wire.CommandStatus(nil), c.statuses...)
}

// pending is what an acknowledgement to device carries.
func (c *Collector) pending(device string) []wire.SignedCommand {
	var out []wire.SignedCommand
	for _, q := range c.queue {
		if q.device == device && !terminal[q.last] {
			out = append(out, q.signed)
		}
	}
	return out
}

// commandStatus answers POST /api/v1/agent/commands/status.
func (c *Collector) commandStatus(r *http.Request, id string, rec *Request) (int, any) {
	var st wire.CommandStatus
	if err := decodeStrict(http.MaxBytesReader(nil, r.Body, 1<<20), &st); err != nil {
		return apiErr(400, "malformed_json", err.Error())
	}
	rec.Kind = st.Status
	var q *queued
	for _, x := range c.queue {
		if x.device == id && x.id == st.CommandID {
			q = x
		}
	}
	if q == nil {
		return apiErr(404, "not_found", "no such command for this device")
	}
	for _, ok := range next[q.last] {
		if ok == st.Status {
			q.last = st.Status
			c.statuses = append(c.statuses, st)
			return 200, struct{}{}
		}
	}
	return apiErr(409, "conflict", "command is "+q.last+", cannot become "+st.Status)
}
