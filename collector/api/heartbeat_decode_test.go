package api

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

// realHeartbeat is what an agent that has reported this machine's real
// snapshot sends (at protocol version 2, with its hash's second form).
func realHeartbeat(t testing.TB) wire.Heartbeat {
	h, err := wire.PackageDigestHash(registrytest.Rich(t))
	if err != nil {
		t.Fatal(err)
	}
	return wire.Heartbeat{ProtocolVersion: wire.ProtocolVersion, AgentVersion: "0.4.0", LastSeq: 17, LastHash: h, SpoolDepth: 3}
}

func TestDecodeHeartbeat(t *testing.T) {
	t.Parallel()
	want := realHeartbeat(t)
	body := mustJSON(t, want)
	if len(body) > 300 {
		t.Errorf("a heartbeat is %d bytes of JSON, want it well under the 300-byte wire goal", len(body))
	}
	for _, tc := range []struct {
		name, encoding string
		body           []byte
	}{
		{"plain", "", body},
		{"identity", "identity", body},
		{"gzip", "gzip", gzipBytes(t, body)},
		{"gzip, any case", " GZip ", gzipBytes(t, body)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ae := decodeHeartbeat(new(gunzippers), bytes.NewReader(tc.body), tc.encoding)
			if ae != nil {
				t.Fatalf("refused: %v", ae)
			}
			if diff := cmp.Diff(want, *got); diff != "" {
				t.Errorf("heartbeat (-want +got):\n%s", diff)
			}
		})
	}
	for _, tc := range []struct {
		name, encoding string
		body           []byte
		code           string
	}{
		{"exactly over the limit", "", append(bytes.Clone(body), bytes.Repeat([]byte(" "), maxHeartbeatBytes-len(body)+1)...), "too_large"},
		{"unknown field", "", []byte(`{"protocol_version":1,"seq":1}`), "unknown_field"},
		{"trailing data", "", append(bytes.Clone(body), '1'), "malformed_json"},
		{"deflate", "deflate", body, "unsupported_media_type"},
		{"uppercase hash", "", []byte(`{"protocol_version":1,"last_hash":"sha256:` + string(bytes.Repeat([]byte("A"), 64)) + `"}`), "bad_request"},
		{"second form, 63 digits", "", []byte(`{"protocol_version":2,"last_hash":"sha256p:` + string(bytes.Repeat([]byte("a"), 63)) + `"}`), "bad_request"},
		{"seq over int64", "", []byte(`{"protocol_version":1,"last_seq":9223372036854775808}`), "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ae := decodeHeartbeat(new(gunzippers), bytes.NewReader(tc.body), tc.encoding); ae == nil || ae.code != tc.code {
				t.Errorf("got %v, want %s", ae, tc.code)
			}
		})
	}
	// The limit itself is allowed.
	atLimit := append(bytes.Clone(body), bytes.Repeat([]byte(" "), maxHeartbeatBytes-len(body))...)
	if _, ae := decodeHeartbeat(new(gunzippers), bytes.NewReader(atLimit), ""); ae != nil {
		t.Errorf("a body of exactly %d bytes: %v", maxHeartbeatBytes, ae)
	}
}

func TestAckSchedule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   wire.Schedule
		want *wire.Schedule
	}{
		{wire.Schedule{}, nil},
		{wire.Schedule{ReportIntervalS: -1, FullEveryS: -2}, nil},
		{wire.Schedule{HeartbeatIntervalS: 60}, &wire.Schedule{HeartbeatIntervalS: 60}},
		{wire.Schedule{ReportIntervalS: 3600, HeartbeatIntervalS: -1, FullEveryS: 604800}, &wire.Schedule{ReportIntervalS: 3600, FullEveryS: 604800}},
	} {
		if diff := cmp.Diff(tc.want, ackSchedule(tc.in)); diff != "" {
			t.Errorf("ackSchedule(%+v) (-want +got):\n%s", tc.in, diff)
		}
	}
}

// FuzzHeartbeatDecoder: whatever the body, the decoder answers a heartbeat
// that passes its own checks or a 4xx, never a panic; and an accepted one
// survives a round trip.
func FuzzHeartbeatDecoder(f *testing.F) {
	hb := realHeartbeat(f)
	body := mustJSON(f, hb)
	f.Add(body, false)
	f.Add(gzipBytes(f, body), true)
	f.Add(mustJSON(f, wire.Heartbeat{ProtocolVersion: 1}), false)
	f.Add([]byte(`{"protocol_version":1,"agent_version":"\u00e9","spool_depth":0}`), false)
	f.Add([]byte(`{"protocol_version":1} {}`), false)
	f.Fuzz(func(t *testing.T, body []byte, gz bool) {
		enc := ""
		if gz {
			enc = "gzip"
		}
		got, ae := decodeHeartbeat(new(gunzippers), bytes.NewReader(body), enc)
		if ae != nil {
			if ae.status < 400 || ae.status > 499 || ae.code == "" {
				t.Fatalf("refusal %d %q, want a 4xx with a code", ae.status, ae.code)
			}
			return
		}
		if ae := checkHeartbeat(got); ae != nil {
			t.Fatalf("accepted a heartbeat its checks refuse: %v", ae)
		}
		again, ae := decodeHeartbeat(new(gunzippers), bytes.NewReader(mustJSON(t, got)), "")
		if ae != nil {
			t.Fatalf("re-encoded heartbeat refused: %v", ae)
		}
		if diff := cmp.Diff(got, again); diff != "" {
			t.Errorf("round trip (-first +second):\n%s", diff)
		}
	})
}
