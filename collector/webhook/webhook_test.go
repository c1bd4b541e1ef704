package webhook_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/webhook"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		filters []string
		kind    string
		want    bool
	}{
		{[]string{"*"}, "compliance.changed", true},
		{[]string{"compliance.changed"}, "compliance.changed", true},
		{[]string{"compliance.*"}, "compliance.changed", true},
		{[]string{"compliance.*"}, "device.missing", false},
		{[]string{"device.*", "software.banned"}, "software.banned", true},
		{[]string{" device.missing "}, "device.missing", true},
		{[]string{"*.removed"}, "software.removed", true},
		{[]string{"software"}, "software.removed", false},
		{[]string{"[bad"}, "[bad", true}, // exact match wins over a broken glob
		{[]string{"[bad"}, "b", false},
		{nil, "compliance.changed", false},
		{[]string{}, "", false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.filters, ",")+"/"+tt.kind, func(t *testing.T) {
			t.Parallel()
			if got := webhook.Match(tt.filters, tt.kind); got != tt.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tt.filters, tt.kind, got, tt.want)
			}
		})
	}
}

func TestEndpointValidate(t *testing.T) {
	t.Parallel()
	ok := webhook.Endpoint{ID: "e", URL: "https://hooks.example.com/x", Secret: "s", Events: []string{"*"}, Enabled: true}
	tests := []struct {
		name    string
		edit    func(*webhook.Endpoint)
		wantErr string
	}{
		{"valid", func(*webhook.Endpoint) {}, ""},
		{"http", func(e *webhook.Endpoint) { e.URL = "http://127.0.0.1:8080/hook" }, ""},
		{"relative url", func(e *webhook.Endpoint) { e.URL = "/hook" }, "absolute http or https"},
		{"ftp", func(e *webhook.Endpoint) { e.URL = "ftp://example.com/" }, "absolute http or https"},
		{"unparsable", func(e *webhook.Endpoint) { e.URL = "http://[::1/SECRET" }, "endpoint url: missing ']' in host"},
		{"no secret", func(e *webhook.Endpoint) { e.Secret = "" }, "secret is empty"},
		{"no filters", func(e *webhook.Endpoint) { e.Events = nil }, "no event filters"},
		{"empty filter", func(e *webhook.Endpoint) { e.Events = []string{" "} }, "empty event filter"},
		{"bad glob", func(e *webhook.Endpoint) { e.Events = []string{"compliance.[a"} }, "compliance.[a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := ok
			tt.edit(&e)
			err := e.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "SECRET") {
				t.Fatalf("got %v, want an error containing %q (and not the URL)", err, tt.wantErr)
			}
		})
	}
}

func TestBody(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		ev   webhook.Event
		want string
	}{
		{
			"empty data",
			webhook.Event{ID: "e1", Kind: "device.missing", At: at},
			`{"id":"e1","kind":"device.missing","at":"2026-01-02T02:04:05Z","device_id":"","asset_tag":"","subject":"","data":{}}`,
		},
		{
			"full",
			webhook.Event{ID: "e2", Kind: "compliance.changed", At: at, DeviceID: "d", AssetTag: "A-1", Subject: "now failing", Data: []byte(`{"from":"pass","to":"fail"}`)},
			`{"id":"e2","kind":"compliance.changed","at":"2026-01-02T02:04:05Z","device_id":"d","asset_tag":"A-1","subject":"now failing","data":{"from":"pass","to":"fail"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := webhook.Body(tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	if _, err := webhook.Body(webhook.Event{ID: "bad", Data: []byte(`{"x":`)}); err == nil {
		t.Error("Body with invalid data: got nil error, want one")
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_767_225_600, 0)
	body := []byte(`{"id":"x"}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	good := webhook.Sign("s3cret", now.Unix(), body)
	other := webhook.Sign("other", now.Unix(), body)
	tests := []struct {
		name      string
		secret    string
		header    string
		timestamp string
		body      []byte
		now       time.Time
		tolerance time.Duration
		want      error
	}{
		{"valid", "s3cret", good, ts, body, now, time.Minute, nil},
		{"valid upper-case hex", "s3cret", "sha256=" + strings.ToUpper(strings.TrimPrefix(good, "sha256=")), ts, body, now, time.Minute, nil},
		{"valid among several", "s3cret", other + ", v0=abc," + good, ts, body, now, time.Minute, nil},
		{"valid at the tolerance edge", "s3cret", good, ts, body, now.Add(time.Minute), time.Minute, nil},
		{"default tolerance", "s3cret", good, ts, body, now.Add(4 * time.Minute), 0, nil},
		{"wrong secret", "nope", good, ts, body, now, time.Minute, webhook.ErrBadSignature},
		{"tampered body", "s3cret", good, ts, []byte(`{"id":"y"}`), now, time.Minute, webhook.ErrBadSignature},
		{"timestamp not the signed one", "s3cret", good, strconv.FormatInt(now.Unix()+1, 10), body, now, time.Minute, webhook.ErrBadSignature},
		{"replayed later", "s3cret", good, ts, body, now.Add(time.Minute + time.Second), time.Minute, webhook.ErrStaleTimestamp},
		{"from the future", "s3cret", good, ts, body, now.Add(-time.Hour), time.Minute, webhook.ErrStaleTimestamp},
		{"past default tolerance", "s3cret", good, ts, body, now.Add(6 * time.Minute), 0, webhook.ErrStaleTimestamp},
		{"empty timestamp", "s3cret", good, "", body, now, time.Minute, webhook.ErrBadTimestamp},
		{"signed timestamp", "s3cret", good, "+" + ts, body, now, time.Minute, webhook.ErrBadTimestamp},
		{"negative timestamp", "s3cret", good, "-" + ts, body, now, time.Minute, webhook.ErrBadTimestamp},
		{"float timestamp", "s3cret", good, "1.7e9", body, now, time.Minute, webhook.ErrBadTimestamp},
		{"huge timestamp", "s3cret", good, "99999999999999999999", body, now, time.Minute, webhook.ErrBadTimestamp},
		{"no header", "s3cret", "", ts, body, now, time.Minute, webhook.ErrNoSignature},
		{"bare hex", "s3cret", strings.TrimPrefix(good, "sha256="), ts, body, now, time.Minute, webhook.ErrNoSignature},
		{"other scheme only", "s3cret", "sha1=" + strings.TrimPrefix(good, "sha256="), ts, body, now, time.Minute, webhook.ErrNoSignature},
		{"short hex", "s3cret", good[:len(good)-2], ts, body, now, time.Minute, webhook.ErrNoSignature},
		{"not hex", "s3cret", "sha256=" + strings.Repeat("zz", 32), ts, body, now, time.Minute, webhook.ErrNoSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := webhook.Verify(tt.secret, tt.header, tt.timestamp, tt.body, tt.now, tt.tolerance)
			if !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	body := []byte(`{"id":"x"}`)
	f.Add("s3cret", webhook.Sign("s3cret", 1_767_225_600, body), "1767225600", body)
	f.Add("s", "sha256=00,sha256=", "0", []byte{})
	f.Add("", " sha256=abc , ,=,sha256", "17672256000000000000", []byte("x"))
	f.Add("k", "sha256="+strings.Repeat("A", 64), "1767225600", body)
	f.Fuzz(func(t *testing.T, secret, header, timestamp string, body []byte) {
		now := time.Unix(1_767_225_600, 0)
		err := webhook.Verify(secret, header, timestamp, body, now, 10*365*24*time.Hour)
		ts, perr := strconv.ParseInt(timestamp, 10, 64)
		if err == nil {
			// Only a header holding the right MAC may pass.
			if perr != nil {
				t.Fatalf("accepted unparsable timestamp %q", timestamp)
			}
			want := strings.TrimPrefix(webhook.Sign(secret, ts, body), "sha256=")
			if !strings.Contains(strings.ToLower(header), want) {
				t.Fatalf("accepted header %q without the signature %s", header, want)
			}
		}
		// What Sign produces always verifies (for timestamps Verify can parse).
		if perr == nil && ts >= 0 && len(timestamp) <= 18 && strconv.FormatInt(ts, 10) == timestamp {
			if err := webhook.Verify(secret, webhook.Sign(secret, ts, body), timestamp, body, time.Unix(ts, 0), time.Minute); err != nil {
				t.Fatalf("Sign/Verify round trip (ts %d): %v", ts, err)
			}
		}
	})
}

func TestDefaultBackoff(t *testing.T) {
	t.Parallel()
	for attempt, want := range map[int]time.Duration{
		1: 10 * time.Second, 2: 20 * time.Second, 3: 40 * time.Second, 4: 80 * time.Second,
		9: 2560 * time.Second, 10: time.Hour, 11: time.Hour, 33: time.Hour, 1000: time.Hour,
	} {
		for range 50 { // jitter is random: check its bounds many times
			got := webhook.DefaultBackoff(attempt)
			if got > want || got < want-want/10 {
				t.Fatalf("DefaultBackoff(%d) = %v, want within (%v, %v]", attempt, got, want-want/10, want)
			}
		}
	}
}
