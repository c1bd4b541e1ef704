package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Report kinds.
const (
	ReportFull  = "full"
	ReportDelta = "delta"
)

// Report is what an agent sends to POST /api/v1/agent/report, gzip-compressed.
// The device is named by the client certificate, never by the body.
type Report struct {
	ProtocolVersion int `json:"protocol_version"`
	// Kind is "full" (Snapshot set) or "delta" (Delta set, BaseHash names
	// the snapshot it applies to).
	Kind string `json:"kind"`
	// Seq is the agent's report sequence number, strictly increasing per
	// enrolment. Applying the same Seq twice changes nothing.
	Seq      uint64    `json:"seq"`
	BaseHash string    `json:"base_hash,omitempty"`
	Snapshot *Snapshot `json:"snapshot,omitempty"`
	Delta    *Delta    `json:"delta,omitempty"`
	// Hash is the hash of the full snapshot after applying the report, of
	// the form ProtocolVersion names (SnapshotHashAt). BaseHash is the
	// base's hash as the collector holds it, of either form.
	Hash string `json:"hash"`
}

// Ack statuses.
const (
	// AckApplied: the report was applied.
	AckApplied = "applied"
	// AckDuplicate: a report with this Seq was applied before; nothing changed.
	AckDuplicate = "duplicate"
	// AckResync: the delta's base is unknown or its result did not hash to
	// Report.Hash; send a full report next. The report was not applied.
	AckResync = "resync"
)

// Ack is the collector's answer to a report.
type Ack struct {
	Status  string `json:"status"`
	Seq     uint64 `json:"seq"`
	Hash    string `json:"hash,omitempty"`
	Message string `json:"message,omitempty"`
	// DeviceID is the device the report was recorded under.
	DeviceID string `json:"device_id,omitempty"`
	// Schedule, when set, is how often the collector wants this agent to
	// report and send heartbeats (IT tunes the fleet centrally).
	Schedule *Schedule `json:"schedule,omitempty"`
	// Commands are signed commands waiting for this device (command.go).
	Commands []SignedCommand `json:"commands,omitempty"`
	// ProtocolVersion is the highest protocol version the collector
	// speaks (absent from collectors that speak only version 1).
	ProtocolVersion int `json:"protocol_version,omitempty"`
}

// Schedule is the check-in timing the collector asks for, in seconds.
type Schedule struct {
	// ReportIntervalS is the full-inventory interval (default 3600).
	ReportIntervalS int `json:"report_interval_s,omitempty"`
	// HeartbeatIntervalS is the heartbeat interval (default 300).
	HeartbeatIntervalS int `json:"heartbeat_interval_s,omitempty"`
	// FullEveryS forces a full report (rather than a delta) this often
	// (default 7 days).
	FullEveryS int `json:"full_every_s,omitempty"`
}

// Heartbeat is POST /api/v1/agent/heartbeat (mTLS, plain JSON, small): it
// keeps "last seen" true between inventories without resending them.
type Heartbeat struct {
	ProtocolVersion int    `json:"protocol_version"`
	AgentVersion    string `json:"agent_version,omitempty"`
	// LastSeq and LastHash are the agent's last acknowledged report; a
	// collector whose stored hash differs answers resync.
	LastSeq  uint64 `json:"last_seq"`
	LastHash string `json:"last_hash,omitempty"`
	// SpoolDepth is how many reports wait to be sent.
	SpoolDepth int `json:"spool_depth"`
}

// Heartbeat statuses.
const (
	HeartbeatOK     = "ok"
	HeartbeatResync = "resync"
)

// HeartbeatAck is the answer to a heartbeat.
type HeartbeatAck struct {
	Status   string          `json:"status"`
	DeviceID string          `json:"device_id,omitempty"`
	Schedule *Schedule       `json:"schedule,omitempty"`
	Commands []SignedCommand `json:"commands,omitempty"`
}

// Delta is a change set against a base snapshot. Small sections travel whole
// when anything in them changed; software travels per package.
type Delta struct {
	CollectedAt  time.Time `json:"collected_at"`
	AgentVersion string    `json:"agent_version,omitempty"`
	Platform     string    `json:"platform,omitempty"`
	// Agent travels whole in every delta, like AgentVersion: it is small,
	// and nil means the snapshot has none.
	Agent  *AgentInfo    `json:"agent,omitempty"`
	Probes []ProbeStatus `json:"probes,omitempty"`
	// Set names the sections that changed; a named section with a nil
	// value was removed.
	Set        []string    `json:"set,omitempty"`
	Hardware   *Hardware   `json:"hardware,omitempty"`
	Encryption *Encryption `json:"encryption,omitempty"`
	OS         *OS         `json:"os,omitempty"`
	// SoftwareAdded and SoftwareRemoved change the package set by Key.
	SoftwareAdded   []Package    `json:"software_added,omitempty"`
	SoftwareRemoved []PackageKey `json:"software_removed,omitempty"`
	// SoftwareSection is true when the software section appeared or vanished
	// as a whole (the software probes were not run, say).
	SoftwareSection string `json:"software_section,omitempty"`
}

// PackageKey identifies one installed package: several versions of one
// name can be installed at once (kernels), and one app can sit in several
// places (two copies of an .app bundle), so version and location are part
// of it.
type PackageKey struct {
	Source   string `json:"source"`
	Name     string `json:"name"`
	Arch     string `json:"arch,omitempty"`
	Version  string `json:"version,omitempty"`
	Location string `json:"location,omitempty"`
}

// Key returns p's PackageKey.
func (p Package) Key() PackageKey {
	return PackageKey{Source: p.Source, Name: p.Name, Arch: p.Arch, Version: p.Version, Location: p.Location}
}

// CanonicalJSON is the byte form hashes are taken over: encoding/json of the
// snapshot with packages, volumes, disks and NICs in canonical order and
// maps sorted (encoding/json sorts map keys).
func CanonicalJSON(s *Snapshot) ([]byte, error) {
	c := *s
	Canonicalise(&c)
	return json.Marshal(&c)
}

// SnapshotHash is "sha256:<hex>" of CanonicalJSON: the hash of protocol
// version 1.
func SnapshotHash(s *Snapshot) (string, error) {
	b, err := CanonicalJSON(s)
	if err != nil {
		return "", fmt.Errorf("hash snapshot: %w", err)
	}
	sum := sha256.Sum256(b)
	return HashPrefixV1 + hex.EncodeToString(sum[:]), nil
}

// The prefixes of a snapshot hash's two forms, which say which one it is.
const (
	HashPrefixV1 = "sha256:"
	HashPrefixV2 = "sha256p:"
)

// PackageDigestHash is the hash of protocol version 2: "sha256p:<hex>" of
// SHA-256 over
//
//   - CanonicalJSON of the snapshot with its package list left out
//     ("software":{"packages":null}, or "software":null without a software
//     section), then
//   - for each package in canonical order, the 32 bytes of SHA-256 over its
//     encoding/json encoding (as it appears in CanonicalJSON).
//
// A delta that changes a few packages changes a few of those digests, so a
// collector keeping them hashes the snapshot's ~20 KB outside the packages
// and 32 bytes per package, not the ~150 KB of a 750-package snapshot's
// whole encoding.
func PackageDigestHash(s *Snapshot) (string, error) {
	c := *s
	Canonicalise(&c)
	var pkgs []Package
	if c.Software != nil {
		pkgs = c.Software.Packages
		c.Software = &Software{}
	}
	head, err := json.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("hash snapshot: %w", err)
	}
	h := sha256.New()
	h.Write(head)
	var b []byte
	for i := range pkgs {
		if b, err = AppendPackageJSON(b[:0], &pkgs[i]); err != nil {
			return "", fmt.Errorf("hash snapshot: %w", err)
		}
		sum := sha256.Sum256(b)
		h.Write(sum[:])
	}
	return HashPrefixV2 + hex.EncodeToString(h.Sum(nil)), nil
}

// SnapshotHashAt is the snapshot's hash of the form protocol version v
// uses: SnapshotHash for 1, PackageDigestHash from 2.
func SnapshotHashAt(s *Snapshot, v int) (string, error) {
	if v >= 2 {
		return PackageDigestHash(s)
	}
	return SnapshotHash(s)
}

// HashVersion is the protocol version whose form h has: 1 for
// "sha256:<64 hex>", 2 for "sha256p:<64 hex>", 0 when h is neither.
func HashVersion(h string) int {
	v := 0
	rest, ok := strings.CutPrefix(h, HashPrefixV1)
	if ok {
		v = 1
	} else if rest, ok = strings.CutPrefix(h, HashPrefixV2); ok {
		v = 2
	}
	if len(rest) != sha256.Size*2 {
		return 0
	}
	for _, c := range []byte(rest) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return 0
		}
	}
	return v
}

// SnapshotHashLike is the snapshot's hash of the same form as h (the
// first form when h is of neither).
func SnapshotHashLike(s *Snapshot, h string) (string, error) {
	return SnapshotHashAt(s, HashVersion(h))
}

// Canonicalise sorts the snapshot's lists in place into canonical order.
// It copies the software slice first so the caller's order is untouched.
func Canonicalise(s *Snapshot) {
	if s.Software != nil {
		sw := *s.Software
		sw.Packages = append([]Package(nil), sw.Packages...)
		SortPackages(sw.Packages)
		s.Software = &sw
	}
}

// SortPackages orders packages by source, name, arch, version, location.
func SortPackages(p []Package) {
	sort.SliceStable(p, func(i, j int) bool { return lessPackage(p[i], p[j]) })
}

func lessPackage(a, b Package) bool {
	if a.Source != b.Source {
		return a.Source < b.Source
	}
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	if a.Arch != b.Arch {
		return a.Arch < b.Arch
	}
	if a.Version != b.Version {
		return a.Version < b.Version
	}
	return a.Location < b.Location
}

// Diff returns the delta that turns old into cur. It refuses snapshots
// with two packages that share a key (the agent's probe.Finish keeps one),
// which no delta can express.
func Diff(old, cur *Snapshot) (*Delta, error) {
	d := &Delta{CollectedAt: cur.CollectedAt, AgentVersion: cur.AgentVersion, Platform: cur.Platform, Agent: cur.Agent, Probes: cur.Probes}
	same := func(a, b any) (bool, error) {
		ja, err := json.Marshal(a)
		if err != nil {
			return false, err
		}
		jb, err := json.Marshal(b)
		if err != nil {
			return false, err
		}
		return string(ja) == string(jb), nil
	}
	for _, sec := range []struct {
		name     string
		old, cur any
		set      func()
	}{
		{AreaHardware, old.Hardware, cur.Hardware, func() { d.Hardware = cur.Hardware }},
		{AreaEncryption, old.Encryption, cur.Encryption, func() { d.Encryption = cur.Encryption }},
		{AreaOS, old.OS, cur.OS, func() { d.OS = cur.OS }},
	} {
		eq, err := same(sec.old, sec.cur)
		if err != nil {
			return nil, fmt.Errorf("diff %s: %w", sec.name, err)
		}
		if !eq {
			d.Set = append(d.Set, sec.name)
			sec.set()
		}
	}
	switch {
	case old.Software == nil && cur.Software != nil:
		d.SoftwareSection = "added"
	case old.Software != nil && cur.Software == nil:
		d.SoftwareSection = "removed"
	}
	oldPk := map[PackageKey]Package{}
	if old.Software != nil {
		for _, p := range old.Software.Packages {
			if _, ok := oldPk[p.Key()]; ok {
				return nil, sharedKeyError("base", p.Key())
			}
			oldPk[p.Key()] = p
		}
	}
	curPk := map[PackageKey]bool{}
	if cur.Software != nil {
		for _, p := range cur.Software.Packages {
			k := p.Key()
			if curPk[k] {
				return nil, sharedKeyError("current", k)
			}
			curPk[k] = true
			if o, ok := oldPk[k]; !ok || !samePackage(o, p) {
				d.SoftwareAdded = append(d.SoftwareAdded, p)
			}
		}
	}
	for k := range oldPk {
		if !curPk[k] {
			d.SoftwareRemoved = append(d.SoftwareRemoved, k)
		}
	}
	SortPackages(d.SoftwareAdded)
	sort.Slice(d.SoftwareRemoved, func(i, j int) bool {
		return lessPackage(d.SoftwareRemoved[i].Package(), d.SoftwareRemoved[j].Package())
	})
	return d, nil
}

// sharedKeyError is Diff's refusal of a snapshot with two packages that
// share a key: a delta changes packages by key, so it cannot say how many
// copies there are, and the sender reports in full instead.
func sharedKeyError(which string, k PackageKey) error {
	return fmt.Errorf("diff software: the %s snapshot has two packages %s %s %s %s %s", which, k.Source, k.Name, k.Arch, k.Version, k.Location)
}

// Package returns a Package with only k's fields set.
func (k PackageKey) Package() Package {
	return Package{Source: k.Source, Name: k.Name, Arch: k.Arch, Version: k.Version, Location: k.Location}
}

func samePackage(a, b Package) bool {
	if a.Name != b.Name || a.Version != b.Version || a.Arch != b.Arch || a.Source != b.Source || a.Publisher != b.Publisher || a.Location != b.Location {
		return false
	}
	if (a.InstallDate == nil) != (b.InstallDate == nil) {
		return false
	}
	return a.InstallDate == nil || a.InstallDate.Equal(*b.InstallDate)
}

// Apply returns base with d applied. base is not modified.
func Apply(base *Snapshot, d *Delta) (*Snapshot, error) {
	out := *base
	out.CollectedAt = d.CollectedAt
	out.AgentVersion = d.AgentVersion
	out.Agent = d.Agent
	if d.Platform != "" {
		out.Platform = d.Platform
	}
	out.Probes = d.Probes
	for _, s := range d.Set {
		switch s {
		case AreaHardware:
			out.Hardware = d.Hardware
		case AreaEncryption:
			out.Encryption = d.Encryption
		case AreaOS:
			out.OS = d.OS
		default:
			return nil, fmt.Errorf("apply delta: unknown section %q", s)
		}
	}
	switch d.SoftwareSection {
	case "":
	case "added":
		if out.Software == nil {
			out.Software = &Software{Packages: []Package{}}
		}
	case "removed":
		out.Software = nil
		if len(d.SoftwareAdded) > 0 {
			return nil, fmt.Errorf("apply delta: software section removed but packages added")
		}
		return &out, nil
	default:
		return nil, fmt.Errorf("apply delta: unknown software_section %q", d.SoftwareSection)
	}
	if len(d.SoftwareAdded) == 0 && len(d.SoftwareRemoved) == 0 {
		return &out, nil
	}
	if out.Software == nil {
		return nil, fmt.Errorf("apply delta: package changes against a snapshot without software")
	}
	byKey := map[PackageKey]Package{}
	for _, p := range out.Software.Packages {
		byKey[p.Key()] = p
	}
	for _, k := range d.SoftwareRemoved {
		if _, ok := byKey[k]; !ok {
			return nil, fmt.Errorf("apply delta: removed package %s %s %s not in base", k.Source, k.Name, k.Version)
		}
		delete(byKey, k)
	}
	for _, p := range d.SoftwareAdded {
		byKey[p.Key()] = p
	}
	pkgs := make([]Package, 0, len(byKey))
	for _, p := range byKey {
		pkgs = append(pkgs, p)
	}
	SortPackages(pkgs)
	out.Software = &Software{Packages: pkgs}
	return &out, nil
}
