package registry_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/collector/webhook"
	"github.com/rosterhq/roster/shared/wire"
)

// realEvents reports every captured host under the shipped policies, then
// each again with a fifth of its packages gone (software events), and
// returns the events the registry recorded: real payloads, from a few
// dozen bytes to compliance.changed's hundreds.
func realEvents(t testing.TB, e *env) []registry.EventRecord {
	t.Helper()
	e.configure(t, string(compliance.DefaultFile()), webhook.Endpoint{ID: "all", URL: "https://hooks.example/all", Secret: "s", Events: []string{"*"}, Enabled: true})
	for name, s := range registrytest.Snapshots(t) {
		if s.Hardware == nil {
			continue
		}
		d := e.reported(t, s, t0)
		if s.Software == nil || len(s.Software.Packages) < 5 {
			continue
		}
		cur := registrytest.Clone(t, s)
		cur.Software.Packages = cur.Software.Packages[len(cur.Software.Packages)/5:]
		if ack := e.apply(t, d, full(t, cur, 2), t0.Add(time.Hour)); ack.Status != wire.AckApplied {
			t.Fatalf("second report of %s: %+v", name, ack)
		}
	}
	evs := e.events(t, registry.EventFilter{})
	var big, small int
	for _, ev := range evs {
		if len(ev.Data) >= 256 {
			big++
		} else {
			small++
		}
	}
	if big == 0 || small == 0 {
		t.Fatalf("the captured hosts gave %d payloads of 256 bytes or more and %d smaller; want both", big, small)
	}
	return evs
}

// TestEventPayloadsReadBackExactly records real payloads and checks that
// the API's read (Events) and the webhook worker's (Due) give back the
// bytes recorded, byte for byte, whether stored packed or as text, and
// that the large ones were stored packed.
func TestEventPayloadsReadBackExactly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	src := realEvents(t, e)
	at := t0.Add(24 * time.Hour)
	var in []webhook.Event
	want := map[string][]byte{}
	for i, ev := range src {
		w := webhook.Event{ID: "again-" + ev.ID, Kind: ev.Kind, At: at.Add(time.Duration(i) * time.Millisecond), DeviceID: ev.DeviceID, AssetTag: ev.AssetTag, Subject: ev.Subject, Data: bytes.Clone(ev.Data)}
		in = append(in, w)
		want[w.ID] = w.Data
	}
	before, err := registry.PackedEvents(ctx, e.reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.RecordEvents(ctx, in); err != nil {
		t.Fatal(err)
	}
	after, err := registry.PackedEvents(ctx, e.reg)
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Fatal("no recorded payload was stored packed")
	}
	since := at
	got := e.events(t, registry.EventFilter{Since: &since})
	if len(got) != len(in) {
		t.Fatalf("read %d events, recorded %d", len(got), len(in))
	}
	for _, ev := range got {
		if !bytes.Equal(ev.Data, want[ev.ID]) {
			t.Errorf("event %s (%s): Events gives\n%s\nrecorded\n%s", ev.ID, ev.Kind, ev.Data, want[ev.ID])
		}
	}
	due, err := e.reg.Outbox(0).Due(ctx, at.Add(time.Hour), 10000)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, p := range due {
		if w, ok := want[p.Event.ID]; ok {
			seen++
			if !bytes.Equal(p.Event.Data, w) {
				t.Errorf("event %s (%s): Due gives\n%s\nrecorded\n%s", p.Event.ID, p.Event.Kind, p.Event.Data, w)
			}
		}
	}
	if seen != len(in) {
		t.Errorf("Due gave %d of the %d recorded events", seen, len(in))
	}
}

// TestMigratePackedEvents stores real payloads as the code before
// migration 0023 did (text), migrates, and checks that Events gives
// them back byte for byte, in order, and that an event recorded after
// the migration reads back beside them.
func TestMigratePackedEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := realEvents(t, newEnv(t))
	r, err := registry.OpenStore(ctx, registry.NewTestStore(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	registry.MigrateBeforePackedEvents(t, r)
	for _, ev := range src {
		if err := registry.InsertEventBefore0023(ctx, r, ev); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	big := src[0]
	for _, ev := range src {
		if len(ev.Data) > len(big.Data) {
			big = ev
		}
	}
	if _, err := r.RecordEvents(ctx, []webhook.Event{{ID: "after-0023", Kind: big.Kind, At: t0.Add(48 * time.Hour), DeviceID: big.DeviceID, Subject: big.Subject, Data: big.Data}}); err != nil {
		t.Fatal(err)
	}
	got, _, err := r.Events(ctx, registry.EventFilter{}, registry.Page{Limit: registry.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(src)+1 {
		t.Fatalf("read %d events, stored %d and recorded 1", len(got), len(src))
	}
	for i, ev := range src {
		g := got[i]
		if g.ID != ev.ID || g.Kind != ev.Kind || !g.At.Equal(ev.At) || g.DeviceID != ev.DeviceID || g.Subject != ev.Subject || !bytes.Equal(g.Data, ev.Data) {
			t.Errorf("event %d after migration:\n%+v\nstored\n%+v", i, g, ev)
		}
	}
	if last := got[len(src)]; last.ID != "after-0023" || !bytes.Equal(last.Data, big.Data) {
		t.Errorf("event recorded after the migration reads %s %s, want %s", last.ID, last.Data, big.Data)
	}
}

// literalsType is the type of the literals section of a zstd frame's
// first block (RFC 8878 3.1.1.3.1.1): 0 raw, 1 RLE, 2 Huffman-coded with
// a table in the frame, 3 with the previous table; -1 when the first
// block is not a compressed one.
func literalsType(t *testing.T, frame []byte) int {
	t.Helper()
	var h zstd.Header
	if err := h.Decode(frame); err != nil {
		t.Fatal(err)
	}
	if !h.FirstBlock.OK || !h.FirstBlock.Compressed {
		return -1
	}
	const blockHeader = 3
	return int(frame[h.HeaderSize+blockHeader] & 3)
}

// TestEventPayloadsPackWithRawLiterals: real payloads are packed without
// a Huffman table of their own, which unpacking built again for every
// event of a page; payloads packed before (with one) still read back byte
// for byte.
func TestEventPayloadsPackWithRawLiterals(t *testing.T) {
	t.Parallel()
	p := registry.NewEventPacking()
	huffmanBefore := 0
	for _, ev := range realEvents(t, newEnv(t)) {
		now, before := p.Now(ev.Data), p.Before(ev.Data)
		if now == nil {
			continue // kept as text
		}
		if lt := literalsType(t, now); lt > 1 {
			t.Errorf("event %s (%s, %d bytes): literals of type %d, want raw or RLE", ev.ID, ev.Kind, len(ev.Data), lt)
		}
		if literalsType(t, before) == 2 {
			huffmanBefore++
		}
		for name, packed := range map[string][]byte{"now": now, "before": before} {
			got, err := p.Unpack(packed)
			if err != nil || !bytes.Equal(got, ev.Data) {
				t.Errorf("event %s packed %s reads back %q, %v; want %q", ev.ID, name, got, err, ev.Data)
			}
		}
	}
	if huffmanBefore == 0 {
		t.Error("no payload packed as before had Huffman-coded literals: the test no longer tells the two apart")
	}
}

// BenchmarkEventPayloads unpacks the captured hosts' real event payloads
// of 256 bytes or more (compliance.changed's), packed as the registry
// stores them now and as it did before raw literals, and reports the
// packed size.
func BenchmarkEventPayloads(b *testing.B) {
	p := registry.NewEventPacking()
	var data [][]byte
	for _, ev := range realEvents(b, newEnvB(b)) {
		if len(ev.Data) >= 256 {
			data = append(data, ev.Data)
		}
	}
	for name, pack := range map[string]func([]byte) []byte{"now": p.Now, "before": p.Before} {
		b.Run(name, func(b *testing.B) {
			var frames [][]byte
			size := 0
			for _, d := range data {
				frames = append(frames, pack(d))
				size += len(frames[len(frames)-1])
			}
			for b.Loop() {
				for _, f := range frames {
					if _, err := p.Unpack(f); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(frames)), "ns/payload")
			b.ReportMetric(float64(size)/float64(len(frames)), "B/packed")
		})
	}
}
