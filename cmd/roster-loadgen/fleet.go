package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/google/uuid"

	"github.com/rosterhq/roster/shared/wire"
)

// idSpace names the UUIDs of simulated devices, so that device i has the
// same system UUID in every run (a rerun re-enrols the same devices).
const idSpace = "6f0d3c2e-5a4b-4e8f-9c1d-7b2a3e4f5a6b"

// clone deep-copies a snapshot.
func clone(s *wire.Snapshot) (*wire.Snapshot, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("copy snapshot: %w", err)
	}
	var c wire.Snapshot
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("copy snapshot: %w", err)
	}
	return &c, nil
}

// deviceSnapshot is base as simulated device i of fleet reports it: the
// hardware identity (hostname, system and board serial, system UUID, MACs)
// is made distinct per fleet and device and every other fact stays what
// the real machine reported, so the collector's identity matching sees
// separate machines. A fleet is one run's machines: the collector treats a
// second enrolment of the same machine with a new key as a second live
// agent (identity_conflict), so runs use fleets of their own.
func deviceSnapshot(base *wire.Snapshot, fleet string, i int) (*wire.Snapshot, error) {
	if base.Hardware == nil {
		return nil, fmt.Errorf("snapshot has no hardware section to derive identities from")
	}
	s, err := clone(base)
	if err != nil {
		return nil, err
	}
	hw := s.Hardware
	host := hw.Hostname
	if host == "" {
		host = "host"
	}
	hw.Hostname = fmt.Sprintf("%s-lg-%s-%06d", host, fleet, i)
	hw.SystemSerial = fmt.Sprintf("LOADGEN-%s-%06d", fleet, i)
	hw.SystemUUID = uuid.NewSHA1(uuid.MustParse(idSpace), []byte(fleet+"/"+strconv.Itoa(i))).String()
	if hw.BoardSerial != "" {
		hw.BoardSerial = fmt.Sprintf("LOADGEN-BOARD-%s-%06d", fleet, i)
	}
	// Locally administered unicast: 14 bits of the fleet's hash in the
	// first two bytes, then the NIC index, then the device.
	fh := sha256.Sum256([]byte(fleet))
	for n := range hw.NICs {
		hw.NICs[n].MAC = fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", 0x02|(fh[0]&0xfc), fh[1], n&0xff, (i>>16)&0xff, (i>>8)&0xff, i&0xff)
	}
	return s, nil
}

// toggled is s with one package's version changed: the second of the two
// states a run alternates between, the small real change an upgrade makes.
func toggled(s *wire.Snapshot) (*wire.Snapshot, error) {
	if s.Software == nil || len(s.Software.Packages) == 0 {
		return nil, fmt.Errorf("snapshot has no packages to change")
	}
	c, err := clone(s)
	if err != nil {
		return nil, err
	}
	p := &c.Software.Packages[len(c.Software.Packages)/2]
	p.Version += "+loadgen"
	return c, nil
}

// body is one report's JSON split around its sequence number: prefix ends
// with `"seq":`, rest (what follows the number) is already gzip-compressed.
// A gzip stream may hold several members, which a reader concatenates, so
// a report costs compressing a few dozen bytes, not the snapshot: the
// client's CPU then stays out of the figures.
type body struct {
	prefix []byte
	rest   []byte
	// raw is the uncompressed length of everything but the number.
	raw int
}

func newBody(rep wire.Report) (body, error) {
	rep.Seq = 0
	b, err := json.Marshal(rep)
	if err != nil {
		return body{}, fmt.Errorf("encode report: %w", err)
	}
	want := fmt.Appendf(nil, `{"protocol_version":%d,"kind":%q,"seq":0`, rep.ProtocolVersion, rep.Kind)
	if !bytes.HasPrefix(b, want) {
		return body{}, fmt.Errorf("encode report: unexpected field order in %.60s", b)
	}
	cut := len(want) - 1
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(b[cut+1:]); err != nil {
		return body{}, fmt.Errorf("compress report: %w", err)
	}
	if err := zw.Close(); err != nil {
		return body{}, fmt.Errorf("compress report: %w", err)
	}
	return body{prefix: b[:cut], rest: gz.Bytes(), raw: len(b) - 1}, nil
}

// encode is the gzip body of the report with seq, compressed with zw
// (reused between calls).
func (b body) encode(zw *gzip.Writer, seq uint64) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(b.rest) + 64)
	zw.Reset(&buf)
	if _, err := zw.Write(strconv.AppendUint(bytes.Clone(b.prefix), seq, 10)); err != nil {
		return nil, fmt.Errorf("compress report: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress report: %w", err)
	}
	buf.Write(b.rest)
	return buf.Bytes(), nil
}

// plan is everything one device sends, worked out before the clock runs:
// its two states, their hashes, a full report of each and the delta into
// each from the other, at the protocol version its collector speaks
// (prepare).
type plan struct {
	protocol int
	states   [2]*wire.Snapshot
	hashes   [2]string
	full     [2]body
	delta    [2]body
}

func newPlan(base *wire.Snapshot, fleet string, i int) (*plan, error) {
	a, err := deviceSnapshot(base, fleet, i)
	if err != nil {
		return nil, err
	}
	b, err := toggled(a)
	if err != nil {
		return nil, err
	}
	return &plan{states: [2]*wire.Snapshot{a, b}}, nil
}

// prepare works out the plan's hashes and reports at protocol version
// v: what an agent sends once its collector said it speaks v
// (wire.EnrollResponse.ProtocolVersion; 0 from one that speaks 1 only).
func (p *plan) prepare(v int) error {
	p.protocol = wire.SpokenWith(v)
	var err error
	for k, s := range p.states {
		if p.hashes[k], err = wire.SnapshotHashAt(s, p.protocol); err != nil {
			return err
		}
	}
	for k, s := range p.states {
		if p.full[k], err = newBody(wire.Report{ProtocolVersion: p.protocol, Kind: wire.ReportFull, Snapshot: s, Hash: p.hashes[k]}); err != nil {
			return err
		}
		d, err := wire.Diff(p.states[1-k], s)
		if err != nil {
			return fmt.Errorf("diff states: %w", err)
		}
		if p.delta[k], err = newBody(wire.Report{ProtocolVersion: p.protocol, Kind: wire.ReportDelta, BaseHash: p.hashes[1-k], Delta: d, Hash: p.hashes[k]}); err != nil {
			return err
		}
	}
	return nil
}
