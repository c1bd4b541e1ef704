// Package webhook delivers registry events (compliance changes, drift,
// unregistered or missing devices) to HTTP endpoints from a durable outbox.
// The registry stores events and one delivery per matching endpoint in its
// database (the Store); a Worker polls the due deliveries, POSTs each event as
// signed JSON and records the outcome back in the Store, so a collector crash
// or a receiver outage loses nothing: a delivery is marked delivered only
// after the receiver answered 2xx. Delivery is therefore at least once;
// receivers deduplicate on the event id (or X-Roster-Delivery).
//
// # Request
//
//	POST <endpoint URL>
//	Content-Type: application/json
//	User-Agent: roster-collector
//	X-Roster-Event: compliance.changed
//	X-Roster-Delivery: 7d1f2c4e-...          (same on every retry of this delivery)
//	X-Roster-Timestamp: 1767225600           (unix seconds when this attempt was signed)
//	X-Roster-Signature: sha256=<64 hex>
//
//	{"id":"<event uuid>","kind":"compliance.changed","at":"2026-01-01T00:00:00Z",
//	 "device_id":"...","asset_tag":"...","subject":"...","data":{...}}
//
// All seven body keys are always present ("" when unknown, data {} when
// empty); at is UTC RFC 3339. A policy change's fleet evaluation sends one
// compliance.fleet_changed (device_id "", counts in data) instead of a
// compliance.changed per device; docs/api.md lists every kind's data.
//
// # Signature
//
// X-Roster-Signature is "sha256=" followed by the lower-case hex
// HMAC-SHA256, keyed with the endpoint's secret, of the bytes
//
//	X-Roster-Timestamp + "." + raw request body
//
// (the same scheme as Stripe's and GitHub's). A receiver recomputes it over
// the raw body before parsing it, compares in constant time, and rejects a
// timestamp older than a few minutes so that a captured request cannot be
// replayed later. The header may carry several comma-separated
// "sha256=<hex>" values (kept open for secret rotation); one match suffices.
// Verify does all of this.
//
// # Retries
//
// 2xx: delivered. 410 Gone: the receiver asks us to stop; the delivery is
// given up at once. Any other status, a timeout or a network error: retried
// after Options.Backoff (default 10s, 20s, 40s, ... capped at 1h, minus up
// to 10% jitter) until Options.MaxAttempts attempts have failed, then given
// up. Given-up deliveries stay in the store for inspection and redelivery.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// Header names set on every delivery request.
const (
	HeaderEvent     = "X-Roster-Event"
	HeaderDelivery  = "X-Roster-Delivery"
	HeaderTimestamp = "X-Roster-Timestamp"
	HeaderSignature = "X-Roster-Signature"
	UserAgent       = "roster-collector"
)

// Event kinds the registry emits. Endpoint filters match against these.
const (
	KindComplianceChanged = "compliance.changed"
	// KindComplianceFleetChanged summarises a policy change's fleet
	// evaluation in one event, in place of a compliance.changed per device.
	KindComplianceFleetChanged = "compliance.fleet_changed"
	KindEncryptionDisabled     = "encryption.disabled"
	KindSoftwareInstalled      = "software.installed"
	KindSoftwareRemoved        = "software.removed"
	KindSoftwareBanned         = "software.banned"
	KindOSUpgraded             = "os.upgraded"
	KindDeviceUnregistered     = "device.unregistered"
	KindDeviceMissing          = "device.missing"
	KindDeviceFlagCleared      = "device.flag_cleared"
)

// Endpoint is a receiver of events.
type Endpoint struct {
	ID     string
	URL    string
	Secret string
	// Events are filters on the event kind: an exact kind, "*" for all, or
	// a glob such as "compliance.*" (path.Match syntax). See Match.
	Events  []string
	Enabled bool
}

// Validate reports what is wrong with an endpoint's configuration: the URL
// must be absolute http or https with a host, the secret non-empty, and
// there must be at least one well-formed filter.
func (e Endpoint) Validate() error {
	// Errors never quote the URL: its path is often the secret (Slack).
	u, err := url.Parse(e.URL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("endpoint url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("endpoint url: want an absolute http or https URL")
	}
	if e.Secret == "" {
		return errors.New("endpoint secret is empty")
	}
	if len(e.Events) == 0 {
		return errors.New("endpoint has no event filters (use \"*\" for all events)")
	}
	for _, f := range e.Events {
		f = strings.TrimSpace(f)
		if f == "" {
			return errors.New("endpoint has an empty event filter")
		}
		if _, err := path.Match(f, ""); err != nil {
			return fmt.Errorf("endpoint event filter %q: %w", f, err)
		}
	}
	return nil
}

// Event is something that happened to a device or asset. Data carries
// kind-specific details and must be valid JSON (or empty).
type Event struct {
	ID       string // UUID
	Kind     string
	At       time.Time
	DeviceID string
	AssetTag string
	Subject  string // one line for humans: "root volume is not encrypted"
	Data     json.RawMessage
}

// Delivery is one event on its way to one endpoint.
type Delivery struct {
	ID            string // UUID, sent as X-Roster-Delivery
	EndpointID    string
	EventID       string
	Attempt       int // attempts made so far; 0 before the first
	NextAttemptAt time.Time
	LastError     string
}

// Pending is a due delivery with what the Worker needs to send it.
type Pending struct {
	Delivery Delivery
	Endpoint Endpoint
	Event    Event
}

// Store is the durable outbox. The registry implements it in its database;
// webhooktest.Store is an in-memory version for tests.
//
// Due returns up to limit deliveries that are neither delivered nor given up,
// whose endpoint is enabled and whose NextAttemptAt is at or before now,
// oldest NextAttemptAt first. Delivered, Failed and GiveUp record an
// attempt's outcome; Failed stores the new attempt count and when to try
// next; Delivered and GiveUp count one more attempt themselves. A Worker calls them only after the attempt finished, so a crash in
// between leaves the delivery due and it is sent again.
type Store interface {
	Due(ctx context.Context, now time.Time, limit int) ([]Pending, error)
	Delivered(ctx context.Context, id string, at time.Time) error
	Failed(ctx context.Context, id string, attempt int, next time.Time, errMsg string) error
	GiveUp(ctx context.Context, id string, errMsg string) error
}

// Match reports whether an event kind passes an endpoint's filters: "*"
// matches every kind, other filters are exact kinds or path.Match globs
// ("compliance.*", "device.*"). No filters match nothing, so an endpoint
// receives only what it asked for.
func Match(filters []string, kind string) bool {
	for _, f := range filters {
		f = strings.TrimSpace(f)
		if f == "*" || f == kind {
			return true
		}
		if ok, err := path.Match(f, kind); err == nil && ok {
			return true
		}
	}
	return false
}

// body is the wire form of an Event; every key is always present.
type body struct {
	ID       string          `json:"id"`
	Kind     string          `json:"kind"`
	At       string          `json:"at"`
	DeviceID string          `json:"device_id"`
	AssetTag string          `json:"asset_tag"`
	Subject  string          `json:"subject"`
	Data     json.RawMessage `json:"data"`
}

// Body returns the JSON request body for ev (see the package doc).
func Body(ev Event) ([]byte, error) {
	data := ev.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	b, err := json.Marshal(body{
		ID:       ev.ID,
		Kind:     ev.Kind,
		At:       ev.At.UTC().Format(time.RFC3339),
		DeviceID: ev.DeviceID,
		AssetTag: ev.AssetTag,
		Subject:  ev.Subject,
		Data:     data,
	})
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", ev.ID, err)
	}
	return b, nil
}

// Sign returns the X-Roster-Signature value for body signed at timestamp
// (unix seconds, the X-Roster-Timestamp value).
func Sign(secret string, timestamp int64, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, strconv.FormatInt(timestamp, 10), body))
}

func mac(secret, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// DefaultTolerance is how far a timestamp may be from the receiver's clock
// when Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Errors returned by Verify.
var (
	ErrBadTimestamp   = errors.New("webhook timestamp is not unix seconds")
	ErrStaleTimestamp = errors.New("webhook timestamp is outside the tolerance")
	ErrNoSignature    = errors.New("webhook signature header has no sha256 signature")
	ErrBadSignature   = errors.New("webhook signature does not match")
)

// Verify checks a delivery as a receiver must: header is the
// X-Roster-Signature value, timestamp the X-Roster-Timestamp value and body
// the raw request body. The timestamp must be within tolerance of now
// (DefaultTolerance when tolerance <= 0), in either direction, and one of
// the header's "sha256=<hex>" values must equal the HMAC of timestamp + "." +
// body under secret.
func Verify(secret, header, timestamp string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if timestamp == "" || len(timestamp) > 18 || strings.Trim(timestamp, "0123456789") != "" {
		return ErrBadTimestamp
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrStaleTimestamp
	}
	want := mac(secret, timestamp, body)
	found := false
	for _, part := range strings.Split(header, ",") {
		scheme, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || scheme != "sha256" {
			continue
		}
		got, err := hex.DecodeString(value)
		if err != nil || len(got) != sha256.Size {
			continue
		}
		found = true
		if hmac.Equal(got, want) {
			return nil
		}
	}
	if !found {
		return ErrNoSignature
	}
	return ErrBadSignature
}
