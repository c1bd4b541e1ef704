package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/register"
	"github.com/rosterhq/roster/shared/identity"
	"github.com/rosterhq/roster/shared/wire"
)

// ReportInput is a decoded, validated report with the device and
// certificate serial taken from the verified client certificate.
type ReportInput struct {
	DeviceID   string
	CertSerial string
	Report     *wire.Report
	Now        time.Time
}

// result is a report's snapshot worked out: the snapshot after it and
// what changed in the package set.
type result struct {
	next *canonSnap
	ch   pkgChange
	// base is the snapshot a delta was applied to.
	base *canonSnap
	// err is why a delta does not apply (answered resync) or why a full
	// report is bad.
	err error
	// stripped is a delta packed for snapshot_deltas without its
	// packages (storeSnapshot), when worked out before the transaction.
	stripped *packedDelta
	// facts is what compliance reads of next (complianceAfterReport).
	facts *reportFacts
	// hw is next's normalised identity and hostname, nil when it has no
	// hardware section (writeReport then keeps the stored ones).
	hw *reportHardware
}

// reportHardware is the identity and hostname a snapshot's hardware
// section gives the device's row; the hostname is empty when the section
// has none that identity.Clean keeps.
type reportHardware struct {
	id       hwID
	hostname string
}

// work derives the snapshot a report leads to (from base for a delta) and
// checks it against the report's hash. It is pure CPU work on immutable
// values, so ApplyReport runs it before taking the write lock whenever the
// base is cached: concurrent reports then compute in parallel and only
// their SQL is serialised.
func work(rep *wire.Report, base *canonSnap) result {
	res := derive(rep, base)
	if res.err == nil {
		if res.facts, res.err = newReportFacts(res.next.snap); res.err != nil {
			res.err = ErrBadReport.Errorf("bad report: %w", res.err)
		}
		if s := res.next.snap; s.Hardware != nil {
			res.hw = &reportHardware{id: normaliseIdentity(wire.IdentityOf(s)), hostname: identity.Clean(s.Hardware.Hostname)}
		}
	}
	return res
}

// derive is work's snapshot and its check against the report's hash.
func derive(rep *wire.Report, base *canonSnap) result {
	res := result{base: base}
	// The new snapshot is hashed in the form the report's hash has
	// (ValidateReport allowed it).
	v := wire.HashVersion(rep.Hash)
	if rep.Kind == wire.ReportFull {
		res.next, res.err = newCanonSnap(rep.Snapshot, v)
		switch {
		case res.err != nil:
			res.err = ErrBadReport.Errorf("bad report: %w", res.err)
		case res.next.hash != rep.Hash:
			// Trust wire's own encoding over the spliced one before
			// calling the agent wrong.
			if c, err := slowCanon(rep.Snapshot, v); err == nil && c.hash == rep.Hash {
				res.next = c
			} else {
				res.err = ErrBadReport.Errorf("bad report: snapshot hashes to %s, report says %s", res.next.hash, rep.Hash)
			}
		}
		return res
	}
	res.next, res.ch, res.err = base.apply(rep.Delta, v)
	if res.err != nil {
		res.err = fmt.Errorf("delta does not apply: %v: send a full report", res.err)
		return res
	}
	if res.next.hash != rep.Hash {
		// Same guard as for full reports: the general path decides.
		if s, err := wire.Apply(base.snap, rep.Delta); err == nil {
			if c, err := slowCanon(s, v); err == nil && c.hash == rep.Hash {
				res.next = c
				res.ch = pkgChange{old: packagesByKey(base.snap), new: packagesByKey(c.snap)}
				return res
			}
		}
		res.err = errors.New("delta result does not match its hash: send a full report")
	}
	return res
}

// slowCanon is newCanonSnap through wire's own encoding and hash.
func slowCanon(s *wire.Snapshot, v int) (*canonSnap, error) {
	c := *s
	wire.Canonicalise(&c)
	return hashed(&c, nil, nil, nil, v)
}

// ApplyReport records a report in one transaction: device facts, software
// set, change history and the sequence number that makes a replay a no-op.
// A delta against an unknown base or whose result does not hash to
// Report.Hash answers resync and changes nothing; a full report whose hash
// is wrong is ErrBadReport. It runs in named steps: load what the device
// has (loadReportDevice, and the base snapshot when one is needed), decide
// in pure code what the report does (replayAck, decideReport), and write
// only that (writeReport).
func (r *Registry) ApplyReport(ctx context.Context, in ReportInput) (wire.Ack, error) {
	ack, _, err := r.CheckInReport(ctx, in)
	return ack, err
}

// CheckInReport is ApplyReport for the agent's check-in: it also says
// whether the device has wipe requests its check-in acts on
// (checkInWipes), read with the device's row, so that the caller asks
// WipeCheckIn only then (a query of its own, ~4 % of a delta's CPU).
func (r *Registry) CheckInReport(ctx context.Context, in ReportInput) (ack wire.Ack, commands bool, err error) {
	rep := in.Report
	if err := ValidateReport(rep); err != nil {
		return wire.Ack{}, false, fmt.Errorf("apply report: %w", err)
	}
	now := in.Now.UTC()
	ack = wire.Ack{Seq: rep.Seq, DeviceID: in.DeviceID}
	// Work out the new snapshot before queueing for the write lock; the
	// transaction checks that its base is still the device's.
	var pre *result
	switch rep.Kind {
	case wire.ReportDelta:
		if base := r.committedBase(ctx, in.DeviceID, in.CertSerial, rep.BaseHash); base != nil {
			res := work(rep, base)
			if res.err == nil {
				// Nearly every chain is on a snapshot stored without
				// its packages; storeSnapshot packs the other form
				// itself.
				if res.stripped, err = packDelta(r.snaps.codec, rep.Delta, false); err != nil {
					return wire.Ack{}, false, fmt.Errorf("apply report: %w", err)
				}
			}
			pre = &res
		}
	case wire.ReportFull:
		res := work(rep, nil)
		pre = &res
	}
	// Reports arrive from many agents at once: they share transactions
	// (WriteGrouped), each in a savepoint of its own.
	err = r.WriteGrouped(ctx, func(ctx context.Context, tx *Tx) error {
		// load
		cur, seen, err := loadReportDevice(ctx, tx, in.DeviceID, in.CertSerial, rep.Seq)
		if err != nil {
			return err
		}
		commands = cur.commands
		// decide (a retried run starts from the same answer)
		if a, replay := replayAck(rep, in.DeviceID, cur, seen); replay {
			ack = a
			return nil
		}
		var stored *canonSnap
		if needsStoredSnapshot(rep, cur, pre) {
			if stored, err = r.latestSnapshot(ctx, tx, in.DeviceID, cur.lastHash); err != nil {
				return err
			}
		}
		res, a, err := decideReport(rep, in.DeviceID, cur, pre, stored)
		if err != nil || res == nil {
			ack = a
			return err
		}
		// write
		if err := r.writeReport(ctx, tx, in, cur, res, now); err != nil {
			return err
		}
		ack = wire.Ack{Seq: rep.Seq, DeviceID: in.DeviceID, Status: wire.AckApplied, Hash: rep.Hash}
		// The cache learns the new snapshot only once it is committed.
		next := res.next
		tx.AfterCommit(func() { r.snaps.put(in.DeviceID, next) })
		return nil
	})
	if err != nil {
		return wire.Ack{}, false, fmt.Errorf("apply report: %w", err)
	}
	return ack, commands, nil
}

// committedBase is the device's latest committed snapshot if it is the
// one with hash base (nil otherwise): from the cache, or rebuilt from the
// database through the pool, before the write lock. In a fleet larger
// than the cache, nearly every delta (a device's next one comes an hour
// later) misses it, and rebuilding, hashing and applying in the write
// transaction held every other writer meanwhile. A read of last_hash comes
// first, so a delta against a base the device no longer has costs no
// rebuild. An error here only means no base worked out in advance: the
// transaction reads again and meets it. The read also asks for the
// device's certificate to be current (the transaction checks it again), so
// a revoked device's deltas cost no rebuild either.
func (r *Registry) committedBase(ctx context.Context, device, serial, base string) *canonSnap {
	if cs := r.snaps.get(device, base); cs != nil {
		return cs
	}
	var last string
	err := r.db.QueryRowContext(ctx, `SELECT d.last_hash FROM devices d WHERE d.id = $1 AND d.state <> $2
		AND EXISTS (SELECT 1 FROM certificates c WHERE c.serial = $3 AND c.device_id = d.id AND c.revoked_at IS NULL)`,
		device, StateRevoked, serial).Scan(&last)
	if err != nil || last != base {
		return nil
	}
	cs, err := r.latestSnapshot(ctx, r.db, device, last)
	if err != nil || cs == nil || cs.hash != base {
		return nil
	}
	return cs
}

// reportDevice is what applying a report reads of the device first.
type reportDevice struct {
	lastSeq  int64
	lastHash string
	flags    string
	hostname string
	id       hwID
	// chain is the stored delta chain the report would extend.
	chain deltaChain
	// num is the device number device_software rows carry.
	num int64
	// commands: the device has wipe requests its check-in acts on.
	commands bool
	// assetMissing: the asset linked to the device is flagged missing.
	assetMissing bool
}

// loadReportDevice checks the report's certificate as checkCert does
// (serial must be a current certificate of an unrevoked device) and reads
// the device's stored state, whether seq was applied already, whether
// wipe requests wait on its check-in, whether its asset is flagged missing
// (reportMovesRegister) and whether its stored snapshot leaves its
// packages to device_packages (snapshots.software_rows, for
// storeSnapshot), in one statement.
func loadReportDevice(ctx context.Context, q querier, device, serial string, seq uint64) (cur reportDevice, seen bool, err error) {
	// SQLite numbers $N parameters in the order they first appear: they
	// appear here in their order.
	var cert sql.NullBool // the certificate's row: revoked or not
	var state string
	err = q.QueryRowContext(ctx, `SELECT last_seq, last_hash, flags, hostname, system_serial, system_uuid, board_serial, macs, delta_count, delta_bytes, num,
			EXISTS (SELECT 1 FROM reports_applied a WHERE a.device_id = devices.id AND a.seq = $1),
			EXISTS (SELECT 1 FROM wipe_requests w WHERE w.device_id = devices.id AND `+checkInWipes+`),
			EXISTS (SELECT 1 FROM asset_links l JOIN flags f ON f.subject = '`+register.SubjectAsset+`' AND f.subject_id = l.asset_id AND f.flag = '`+FlagMissing+`'
				WHERE l.device_id = devices.id),
			COALESCE((SELECT s.software_rows FROM snapshots s WHERE s.device_id = devices.id), 0),
			(SELECT c.revoked_at IS NOT NULL FROM certificates c WHERE c.serial = $2 AND c.device_id = devices.id), state
		FROM devices WHERE id = $3`, int64(seq), serial, device).
		Scan(&cur.lastSeq, &cur.lastHash, &cur.flags, &cur.hostname, &cur.id.Serial, &cur.id.UUID, &cur.id.Board, &cur.id.MACs, &cur.chain.count, &cur.chain.size, &cur.num,
			&seen, &cur.commands, &cur.assetMissing, &cur.chain.softwareRows, &cert, &state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return cur, false, certRefusal(device, serial, false, false, "")
	case err != nil:
		return cur, false, fmt.Errorf("read device: %w", err)
	}
	if err := certRefusal(device, serial, cert.Valid, cert.Bool, state); err != nil {
		return cur, false, err
	}
	return cur, seen, nil
}

// reportMovesRegister says whether a report can change its device's asset
// links or register flags, which relinkReporter recomputes (six reads and
// the matching, ~8 % of the write transaction of a small delta). Of what
// register.MatchLinks and register.ComputeFlags read, a report changes
// only its device's identity, its flags (and the state they give) and its
// last_seen; the assets, links, wipes and other devices change in
// transactions that settle their scope themselves (ImportAssets,
// LinkAsset, the wipe lifecycle, merges, RefreshFlags). last_seen matters
// to one flag, the device's asset's missing flag, which a report can only
// clear (its device was just seen): loadReportDevice says whether the
// asset carries one (assetMissing). Full reports and a device's first
// report always relink.
func reportMovesRegister(rep *wire.Report, cur reportDevice, hostname string, id hwID, flags string) bool {
	if rep.Kind != wire.ReportDelta || cur.lastHash == "" || cur.assetMissing {
		return true
	}
	return hostname != cur.hostname || id != cur.id || flags != cur.flags
}

// replayAck answers a report whose sequence was applied already or is at
// or below the last applied one: a replay from the agent's spool, which
// acknowledging lets the agent drop. replay is false for a new report.
func replayAck(rep *wire.Report, device string, cur reportDevice, seen bool) (ack wire.Ack, replay bool) {
	if !seen && int64(rep.Seq) > cur.lastSeq {
		return wire.Ack{}, false
	}
	return wire.Ack{Seq: rep.Seq, DeviceID: device, Status: wire.AckDuplicate, Hash: cur.lastHash,
		Message: fmt.Sprintf("seq %d already applied (last %d)", rep.Seq, cur.lastSeq)}, true
}

// needsStoredSnapshot says whether deciding rep needs the device's stored
// snapshot: a full report diffs against it, a delta whose base was not in
// the cache applies to it.
func needsStoredSnapshot(rep *wire.Report, cur reportDevice, pre *result) bool {
	switch rep.Kind {
	case wire.ReportFull:
		return pre != nil && pre.err == nil
	case wire.ReportDelta:
		return pre == nil && cur.lastHash != "" && rep.BaseHash == cur.lastHash
	}
	return false
}

// decideReport is what a new report does, in pure code: the result to
// write, or (res nil) the resync answer that writes nothing, or the error
// that refuses it. pre is the result worked out before the transaction
// (nil when the delta's base was not cached), stored the device's stored
// snapshot when needsStoredSnapshot asked for it.
func decideReport(rep *wire.Report, device string, cur reportDevice, pre *result, stored *canonSnap) (*result, wire.Ack, error) {
	resync := func(msg string) (*result, wire.Ack, error) {
		return nil, wire.Ack{Seq: rep.Seq, DeviceID: device, Status: wire.AckResync, Hash: cur.lastHash, Message: msg}, nil
	}
	var res result
	switch rep.Kind {
	case wire.ReportFull:
		res = *pre
		if res.err != nil {
			return nil, wire.Ack{}, res.err
		}
		res.base = stored
		res.ch = diffPackages(stored, res.next)
	case wire.ReportDelta:
		if cur.lastHash == "" || rep.BaseHash != cur.lastHash {
			return resync("delta base unknown: send a full report")
		}
		if pre != nil {
			res = *pre
		} else {
			if stored == nil || stored.hash != cur.lastHash {
				return resync("delta base unknown: send a full report")
			}
			res = work(rep, stored)
		}
		if res.err != nil {
			return resync(res.err.Error())
		}
	default:
		return nil, wire.Ack{}, ErrBadReport.Errorf("bad report: kind %q (want full or delta)", rep.Kind)
	}
	return &res, wire.Ack{}, nil
}

// writeReport writes what decideReport decided: the software set, the
// device's identity, flags and facts, the snapshot, the change history,
// links and compliance, the sequence and the audit entry.
func (r *Registry) writeReport(ctx context.Context, tx *Tx, in ReportInput, cur reportDevice, res *result, now time.Time) error {
	rep := in.Report
	snap := res.next.snap
	var evs []deviceChange
	if res.base != nil {
		evs = diffSnapshots(res.base.snap, snap, res.ch.old, res.ch.new)
	}
	if err := replaceSoftware(ctx, tx, cur.num, res.base == nil, res.ch.old, res.ch.new); err != nil {
		return err
	}
	// Identity: a section the agent could not read keeps the stored
	// values, so a failed probe does not erase what matching needs.
	id, hostname := cur.id, cur.hostname
	if res.hw != nil {
		id = res.hw.id
		if res.hw.hostname != "" {
			hostname = res.hw.hostname
		}
	}
	flags := cur.flags
	if rep.Kind == wire.ReportFull || slices.Contains(rep.Delta.Set, wire.AreaHardware) {
		fl, cevs, err := r.flagConflicts(ctx, tx, in.DeviceID, id, flags, now, rep.Seq)
		if err != nil {
			return err
		}
		flags = fl
		evs = append(evs, cevs...)
	}
	f := factsOf(snap)
	swCount := 0
	if snap.Software != nil {
		swCount = len(snap.Software.Packages)
	}
	var delta *wire.Delta
	if rep.Kind == wire.ReportDelta {
		delta = rep.Delta
	}
	count, size, err := storeSnapshot(ctx, tx, r.snaps.codec, in.DeviceID, delta, res.stripped, res.next, cur.chain)
	if err != nil {
		return err
	}
	args := []any{snap.Platform, f.vendor, f.model, f.osName, f.osVersion, f.kernel, f.encrypted, snap.AgentVersion,
		stateFor(false, flags), flags, fmtTime(now), int64(rep.Seq), rep.Hash, swCount, count, size,
		f.osBuild, f.lastUpdate, f.pending, f.pendingSecurity, f.reboot}
	query := updateDevice
	if hostname != cur.hostname || id != cur.id {
		query = updateDeviceIdentity
		args = append(args, hostname, id.Serial, id.UUID, id.Board, id.MACs)
	}
	_, err = tx.ExecContext(ctx, query, append(args, in.DeviceID)...)
	if err != nil {
		return fmt.Errorf("update device: %w", err)
	}
	// The search keys derive from these three alone; every write of them
	// moves the keys, so unchanged ones (nearly every report) have theirs.
	if hostname != cur.hostname || id.Serial != cur.id.Serial || id.MACs != cur.id.MACs {
		if err := syncDeviceSearchKeys(ctx, tx, in.DeviceID); err != nil {
			return err
		}
	}
	if err := insertHistory(ctx, tx, in.DeviceID, now, rep.Seq, evs); err != nil {
		return err
	}
	// Link first: compliance scopes policies by the linked asset.
	if reportMovesRegister(rep, cur, hostname, id, flags) {
		if err := r.relinkReporter(ctx, tx, in.DeviceID, now); err != nil {
			return err
		}
	}
	if err := r.complianceAfterReport(ctx, tx, in.DeviceID, res.facts, evs, now); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO reports_applied (device_id, seq, kind, hash, applied_at) VALUES ($1, $2, $3, $4, $5)`,
		in.DeviceID, int64(rep.Seq), rep.Kind, rep.Hash, fmtTime(now)); err != nil {
		return fmt.Errorf("record sequence: %w", err)
	}
	// A report that changed what the registry knows is a change made by
	// the device: audited like a person's, unchanged ones are not.
	if rep.Hash != cur.lastHash && !r.quietReports.Load() {
		kinds := map[string]int{}
		for _, e := range evs {
			kinds[e.Kind]++
		}
		if err := r.audit(ctx, tx, "report.applied", "device:"+in.DeviceID, map[string]any{
			"seq": rep.Seq, "kind": rep.Kind, "hash": rep.Hash, "base_hash": cur.lastHash, "changes": kinds}); err != nil {
			return err
		}
	}
	return nil
}

// updateDevice writes a report's facts to its device's row, and
// updateDeviceIdentity its identity too. SQLite rewrites the entry of
// every index on a column an UPDATE assigns, whether or not the value
// changed; the hostname, serial, UUID and MACs are each indexed and nearly
// no report changes them, so they are assigned only when they move (four
// index entries a report fewer, and the pages they dirty).
const (
	updateDeviceFacts = `UPDATE devices SET platform = $1, vendor = $2, model = $3, os_name = $4, os_version = $5, kernel = $6,
		system_encrypted = $7, agent_version = $8, state = $9, flags = $10, last_seen = $11, last_seq = $12, last_hash = $13,
		software_count = $14, delta_count = $15, delta_bytes = $16, os_build = $17, last_update_at = $18, pending_updates = $19,
		pending_security_updates = $20, reboot_required = $21`
	updateDevice         = updateDeviceFacts + ` WHERE id = $22`
	updateDeviceIdentity = updateDeviceFacts + `, hostname = $22, system_serial = $23, system_uuid = $24, board_serial = $25, macs = $26
		WHERE id = $27`
)

// ValidateReport checks a decoded report's envelope; errors wrap
// ErrBadReport.
func ValidateReport(rep *wire.Report) error {
	bad := func(format string, args ...any) error {
		return ErrBadReport.Errorf("bad report: "+format, args...)
	}
	switch {
	case rep == nil:
		return bad("empty report")
	case rep.ProtocolVersion < 1 || rep.ProtocolVersion > wire.ProtocolVersion:
		return bad("protocol_version %d not supported (1 to %d)", rep.ProtocolVersion, wire.ProtocolVersion)
	case rep.Seq == 0:
		return bad("seq must be positive")
	case rep.Seq > math.MaxInt64:
		return bad("seq %d too large", rep.Seq)
	case wire.HashVersion(rep.Hash) == 0:
		return bad("hash %q is not sha256:<64 hex digits> or sha256p:<64 hex digits>", rep.Hash)
	case wire.HashVersion(rep.Hash) > rep.ProtocolVersion:
		return bad("hash %q is of protocol version %d, the report says %d", rep.Hash, wire.HashVersion(rep.Hash), rep.ProtocolVersion)
	}
	switch rep.Kind {
	case wire.ReportFull:
		if rep.Snapshot == nil || rep.Delta != nil || rep.BaseHash != "" {
			return bad("a full report carries snapshot only (no delta, no base_hash)")
		}
	case wire.ReportDelta:
		if rep.Delta == nil || rep.Snapshot != nil {
			return bad("a delta report carries delta only (no snapshot)")
		}
		if wire.HashVersion(rep.BaseHash) == 0 {
			return bad("base_hash %q is not sha256:<64 hex digits> or sha256p:<64 hex digits>", rep.BaseHash)
		}
	default:
		return bad("kind %q (want full or delta)", rep.Kind)
	}
	return nil
}

// flagConflicts flags this device and every other live device claiming its
// identity, recording an event the first time each is flagged. When no live
// device conflicts any more and no enrolment conflict waits for a person
// (conflictPartners), this device's flag is lifted.
func (r *Registry) flagConflicts(ctx context.Context, tx *Tx, self string, id hwID, flags string, now time.Time, seq uint64) (string, []deviceChange, error) {
	others, err := conflictPartners(ctx, tx, self, id, now)
	if err != nil {
		return "", nil, fmt.Errorf("check identity conflicts: %w", err)
	}
	if len(others) == 0 {
		return removeFlag(flags, FlagIdentityConflict), nil, nil
	}
	var evs []deviceChange
	newly := !slices.Contains(splitList(flags), FlagIdentityConflict)
	for _, o := range others {
		if newly {
			evs = append(evs, deviceChange{Kind: KindIdentityConflict, Subject: o})
		}
		var of string
		var state string
		if err := tx.QueryRowContext(ctx, `SELECT flags, state FROM devices WHERE id = $1`, o).Scan(&of, &state); err != nil {
			return "", nil, fmt.Errorf("flag identity conflict: %w", err)
		}
		if slices.Contains(splitList(of), FlagIdentityConflict) {
			continue
		}
		of = addFlag(of, FlagIdentityConflict)
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET flags = $1, state = $2 WHERE id = $3`, of, stateFor(state == StateRevoked, of), o); err != nil {
			return "", nil, fmt.Errorf("flag identity conflict: %w", err)
		}
		if err := insertHistory(ctx, tx, o, now, 0, []deviceChange{{Kind: KindIdentityConflict, Subject: self}}); err != nil {
			return "", nil, err
		}
	}
	return addFlag(flags, FlagIdentityConflict), evs, nil
}

type facts struct {
	vendor, model, osName, osVersion, osBuild, kernel, encrypted, reboot string
	lastUpdate                                                           any // RFC 3339 text or nil
	pending, pendingSecurity                                             any // int or nil when unknown
}

func factsOf(s *wire.Snapshot) facts {
	f := facts{encrypted: string(wire.Unknown), reboot: string(wire.Unknown)}
	if hw := s.Hardware; hw != nil {
		f.vendor, f.model = hw.Vendor, hw.Model
	}
	if o := s.OS; o != nil {
		f.osName, f.osVersion, f.osBuild, f.kernel = o.Name, o.Version, o.Build, o.Kernel
		if o.LastUpdateAt != nil {
			f.lastUpdate = fmtTime(*o.LastUpdateAt)
		}
		if o.PendingUpdates != nil {
			f.pending = *o.PendingUpdates
		}
		if o.PendingSecurityUpdates != nil {
			f.pendingSecurity = *o.PendingSecurityUpdates
		}
		if o.RebootRequired != "" {
			f.reboot = string(o.RebootRequired)
		}
	}
	if e := s.Encryption; e != nil && e.System.Encrypted != "" {
		f.encrypted = string(e.System.Encrypted)
	}
	return f
}

func packagesByKey(s *wire.Snapshot) map[wire.PackageKey][]wire.Package {
	if s == nil || s.Software == nil {
		return map[wire.PackageKey][]wire.Package{}
	}
	out := make(map[wire.PackageKey][]wire.Package, len(s.Software.Packages))
	for _, p := range s.Software.Packages {
		out[p.Key()] = append(out[p.Key()], p)
	}
	return out
}

func samePackages(a, b []wire.Package) bool {
	return slices.EqualFunc(a, b, func(x, y wire.Package) bool {
		if x.Name != y.Name || x.Version != y.Version || x.Arch != y.Arch || x.Source != y.Source || x.Publisher != y.Publisher || x.Location != y.Location {
			return false
		}
		if (x.InstallDate == nil) != (y.InstallDate == nil) {
			return false
		}
		return x.InstallDate == nil || x.InstallDate.Equal(*y.InstallDate)
	})
}

// diffSnapshots lists what changed between two snapshots of one device. A
// section the two share (the same pointer: a delta that did not name it
// keeps its base's value, and snapshot values are never modified) has
// nothing to compare.
func diffSnapshots(old, cur *wire.Snapshot, oldBy, newBy map[wire.PackageKey][]wire.Package) []deviceChange {
	var evs []deviceChange
	if old.Hardware != cur.Hardware {
		evs = append(evs, diffHardware(old.Hardware, cur.Hardware)...)
	}
	if old.OS != cur.OS {
		if o, n := osText(old.OS), osText(cur.OS); o != n {
			evs = append(evs, deviceChange{Kind: KindOSChanged, Subject: "os", Old: o, New: n})
		}
		if o, n := kernelOf(old.OS), kernelOf(cur.OS); o != n {
			evs = append(evs, deviceChange{Kind: KindKernelChanged, Subject: "kernel", Old: o, New: n})
		}
	}
	if old.Encryption != cur.Encryption {
		evs = append(evs, diffEncryption(old.Encryption, cur.Encryption)...)
	}
	if old.Software != nil && cur.Software != nil {
		evs = append(evs, diffSoftware(oldBy, newBy)...)
	}
	return evs
}

func diffHardware(o, n *wire.Hardware) []deviceChange {
	// A section missing on either side means the probe failed, not that the
	// machine lost its serial: nothing to record.
	if o == nil || n == nil {
		return nil
	}
	macs := func(h *wire.Hardware) string {
		var l []string
		for _, nic := range h.NICs {
			if m := identity.MAC(nic.MAC); m != "" {
				l = append(l, m)
			}
		}
		slices.Sort(l)
		return strings.Join(slices.Compact(l), ",")
	}
	var evs []deviceChange
	for _, f := range []struct{ name, old, new string }{
		{"hostname", o.Hostname, n.Hostname},
		{"system_serial", identity.Serial(o.SystemSerial), identity.Serial(n.SystemSerial)},
		{"system_uuid", identity.UUID(o.SystemUUID), identity.UUID(n.SystemUUID)},
		{"board_serial", identity.Serial(o.BoardSerial), identity.Serial(n.BoardSerial)},
		{"macs", macs(o), macs(n)},
		{"vendor", o.Vendor, n.Vendor},
		{"model", o.Model, n.Model},
	} {
		if f.old != f.new {
			evs = append(evs, deviceChange{Kind: KindHardwareChanged, Subject: f.name, Old: f.old, New: f.new})
		}
	}
	return evs
}

func osText(o *wire.OS) string {
	if o == nil {
		return ""
	}
	var parts []string
	for _, s := range []string{o.Name, o.Version, o.Build} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " ")
}

func kernelOf(o *wire.OS) string {
	if o == nil {
		return ""
	}
	return o.Kernel
}

func encText(encrypted wire.Tri, status, scheme string) string {
	s := "encrypted=" + string(encrypted) + " status=" + status
	if scheme != "" {
		s += " scheme=" + scheme
	}
	return s
}

func diffEncryption(o, n *wire.Encryption) []deviceChange {
	if o == nil || n == nil {
		return nil
	}
	var evs []deviceChange
	if a, b := encText(o.System.Encrypted, o.System.Status, o.System.Scheme), encText(n.System.Encrypted, n.System.Status, n.System.Scheme); a != b {
		evs = append(evs, deviceChange{Kind: KindEncryptionChanged, Subject: "system", Old: a, New: b})
	}
	vols := func(e *wire.Encryption) map[string]string {
		m := map[string]string{}
		for _, v := range e.Volumes {
			m[v.MountPoint] = encText(v.Encrypted, v.Status, v.Scheme)
		}
		return m
	}
	ov, nv := vols(o), vols(n)
	var mounts []string
	for m := range ov {
		mounts = append(mounts, m)
	}
	for m := range nv {
		if _, ok := ov[m]; !ok {
			mounts = append(mounts, m)
		}
	}
	slices.Sort(mounts)
	for _, m := range mounts {
		if ov[m] != nv[m] {
			evs = append(evs, deviceChange{Kind: KindEncryptionChanged, Subject: m, Old: ov[m], New: nv[m]})
		}
	}
	return evs
}

// softwareSubject names a package without its version: source:name[:arch].
func softwareSubject(source, name, arch string) string {
	s := source + ":" + name
	if arch != "" {
		s += ":" + arch
	}
	return s
}

// diffSoftware pairs removed and added versions of the same source, name
// and arch as changes (oldest removed with oldest added, so a kernel series
// reads naturally); the rest are plain additions and removals.
func diffSoftware(oldBy, newBy map[wire.PackageKey][]wire.Package) []deviceChange {
	type group struct{ source, name, arch string }
	removed, added := map[group][]string{}, map[group][]string{}
	for k := range oldBy {
		if _, ok := newBy[k]; !ok {
			g := group{k.Source, k.Name, k.Arch}
			removed[g] = append(removed[g], k.Version)
		}
	}
	for k := range newBy {
		if _, ok := oldBy[k]; !ok {
			g := group{k.Source, k.Name, k.Arch}
			added[g] = append(added[g], k.Version)
		}
	}
	groups := map[group]bool{}
	for g := range removed {
		groups[g] = true
	}
	for g := range added {
		groups[g] = true
	}
	var keys []group
	for g := range groups {
		keys = append(keys, g)
	}
	slices.SortFunc(keys, func(a, b group) int {
		return strings.Compare(a.source+"\x00"+a.name+"\x00"+a.arch, b.source+"\x00"+b.name+"\x00"+b.arch)
	})
	var evs []deviceChange
	for _, g := range keys {
		rv, av := removed[g], added[g]
		slices.Sort(rv)
		slices.Sort(av)
		subj := softwareSubject(g.source, g.name, g.arch)
		n := min(len(rv), len(av))
		for i := 0; i < n; i++ {
			evs = append(evs, deviceChange{Kind: KindSoftwareChanged, Subject: subj, Old: rv[i], New: av[i]})
		}
		for _, v := range rv[n:] {
			evs = append(evs, deviceChange{Kind: KindSoftwareRemoved, Subject: subj, Old: v})
		}
		for _, v := range av[n:] {
			evs = append(evs, deviceChange{Kind: KindSoftwareAdded, Subject: subj, New: v})
		}
	}
	return evs
}
