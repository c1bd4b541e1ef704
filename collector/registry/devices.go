package registry

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/register"
	"github.com/rosterhq/roster/shared/identity"
	"github.com/rosterhq/roster/shared/wire"
)

// Device states.
const (
	StateActive           = "active"
	StateRevoked          = "revoked"
	StateIdentityConflict = "identity_conflict"
)

// FlagIdentityConflict marks a device whose hardware identity another live
// agent also claims.
const FlagIdentityConflict = register.FlagIdentityConflict

// Device is a device record; its JSON keys are the API's (docs/api.md).
type Device struct {
	ID           string   `json:"id"`
	Hostname     string   `json:"hostname"`
	Platform     string   `json:"platform"`
	SystemSerial string   `json:"system_serial"`
	SystemUUID   string   `json:"system_uuid"`
	BoardSerial  string   `json:"board_serial"`
	MACs         []string `json:"macs"`
	Vendor       string   `json:"vendor"`
	Model        string   `json:"model"`
	OSName       string   `json:"os_name"`
	OSVersion    string   `json:"os_version"`
	OSBuild      string   `json:"os_build"`
	Kernel       string   `json:"kernel"`
	// Patch level; the counts are null when the agent could not tell.
	LastUpdateAt           *time.Time `json:"last_update_at"`
	PendingUpdates         *int       `json:"pending_updates"`
	PendingSecurityUpdates *int       `json:"pending_security_updates"`
	RebootRequired         string     `json:"reboot_required"`
	AgentVersion           string     `json:"agent_version"`
	// Agent health from the last heartbeat: reports waiting in its spool
	// (nil before the first), the protocol it came over, and when.
	AgentSpoolDepth  *int       `json:"agent_spool_depth"`
	AgentTransport   string     `json:"agent_transport"`
	AgentHeartbeatAt *time.Time `json:"agent_heartbeat_at"`
	State            string     `json:"state"`
	Flags            []string   `json:"flags"`
	FirstSeen        time.Time  `json:"first_seen"`
	LastSeen         time.Time  `json:"last_seen"`
	LastReportSeq    uint64     `json:"last_report_seq"`
	SoftwareCount    int        `json:"software_count"`
	SystemEncrypted  string     `json:"system_encrypted"`
	EnrolledAt       time.Time  `json:"enrolled_at"`
	CertSerial       string     `json:"cert_serial"`
	CertNotAfter     *time.Time `json:"cert_not_after"`
	// Asset and FlagDetails come from the register, on the single-device
	// read only: the linked asset (absent when none) and each flag with
	// its first-seen time.
	Asset       *DeviceAsset `json:"asset,omitempty"`
	FlagDetails []Flag       `json:"flag_details,omitempty"`
	// Enrolment is the newest enrolment (which secret, which continuity
	// rule), Enrolments all of them oldest first; IdentityConflicts are
	// the open enrolment conflicts; ReenrollAllowedUntil an admin's
	// reinstall allowance; MergedInto the record continuing a merged one.
	// Single-device read only.
	Enrolment            *Enrolment         `json:"enrolment,omitempty"`
	Enrolments           []Enrolment        `json:"enrolments,omitempty"`
	IdentityConflicts    []IdentityConflict `json:"identity_conflicts,omitempty"`
	ReenrollAllowedUntil *time.Time         `json:"reenroll_allowed_until,omitempty"`
	MergedInto           string             `json:"merged_into,omitempty"`
	// SnapshotPurgedAt is when retention removed the device's snapshot,
	// facts and software (a retired device); its facts are then unknown.
	// Single-device read only.
	SnapshotPurgedAt *time.Time `json:"snapshot_purged_at,omitempty"`
}

const deviceSelect = `SELECT d.id, d.hostname, d.platform, d.system_serial, d.system_uuid, d.board_serial, d.macs,
	d.vendor, d.model, d.os_name, d.os_version, d.kernel, d.agent_version, d.state, d.flags,
	d.first_seen, d.last_seen, d.last_seq, d.software_count, d.system_encrypted, d.enrolled_at,
	(SELECT c.serial FROM certificates c WHERE c.device_id = d.id AND c.revoked_at IS NULL ORDER BY c.issued_at DESC LIMIT 1),
	(SELECT c.not_after FROM certificates c WHERE c.device_id = d.id AND c.revoked_at IS NULL ORDER BY c.issued_at DESC LIMIT 1),
	d.os_build, d.last_update_at, d.pending_updates, d.pending_security_updates, d.reboot_required,
	d.agent_spool_depth, d.agent_transport, d.agent_heartbeat_at
	FROM devices d`

func scanDevice(row interface{ Scan(...any) error }) (Device, error) {
	var d Device
	var macs, flags, first, last, enrolled string
	var certSerial, certNotAfter, lastUpdate sql.NullString
	var pending, pendingSec, spool sql.NullInt64
	var heartbeat sql.NullString
	var seq int64
	err := row.Scan(&d.ID, &d.Hostname, &d.Platform, &d.SystemSerial, &d.SystemUUID, &d.BoardSerial, &macs,
		&d.Vendor, &d.Model, &d.OSName, &d.OSVersion, &d.Kernel, &d.AgentVersion, &d.State, &flags,
		&first, &last, &seq, &d.SoftwareCount, &d.SystemEncrypted, &enrolled, &certSerial, &certNotAfter,
		&d.OSBuild, &lastUpdate, &pending, &pendingSec, &d.RebootRequired, &spool, &d.AgentTransport, &heartbeat)
	if err != nil {
		return Device{}, err
	}
	if spool.Valid {
		n := int(spool.Int64)
		d.AgentSpoolDepth = &n
	}
	d.AgentHeartbeatAt = timePtr(heartbeat)
	d.LastUpdateAt = timePtr(lastUpdate)
	if pending.Valid {
		n := int(pending.Int64)
		d.PendingUpdates = &n
	}
	if pendingSec.Valid {
		n := int(pendingSec.Int64)
		d.PendingSecurityUpdates = &n
	}
	d.MACs, d.Flags = splitList(macs), splitList(flags)
	d.FirstSeen, d.LastSeen, d.EnrolledAt = parseTime(first), parseTime(last), parseTime(enrolled)
	d.LastReportSeq = uint64(seq)
	d.CertSerial = certSerial.String
	d.CertNotAfter = timePtr(certNotAfter)
	return d, nil
}

// splitList never returns nil so lists encode as [] rather than null.
func splitList(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

func addFlag(flags, f string) string {
	l := splitList(flags)
	if slices.Contains(l, f) {
		return flags
	}
	l = append(l, f)
	slices.Sort(l)
	return strings.Join(l, ",")
}

func removeFlag(flags, f string) string {
	return strings.Join(slices.DeleteFunc(splitList(flags), func(s string) bool { return s == f }), ",")
}

// stateFor derives the state column: revoked wins, then a conflict flag.
func stateFor(revoked bool, flags string) string {
	switch {
	case revoked:
		return StateRevoked
	case slices.Contains(splitList(flags), FlagIdentityConflict):
		return StateIdentityConflict
	}
	return StateActive
}

// Page asks for one page of a list.
type Page struct {
	// Limit is the page size: 0 means 100, at most 1000.
	Limit int
	// Cursor is the opaque next_cursor of the previous page.
	Cursor string
}

// MaxLimit is the largest page.
const MaxLimit = 1000

func (p Page) limit() int {
	switch {
	case p.Limit <= 0:
		return 100
	case p.Limit > MaxLimit:
		return MaxLimit
	}
	return p.Limit
}

// encodeCursor hides the resume key so clients treat it as opaque and the
// key can change later.
func encodeCursor(kind, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + key))
}

func decodeCursor(kind, c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	k, key, ok := strings.Cut(string(b), ":")
	if err != nil || !ok || k != kind {
		return "", ErrInvalid.Errorf("cursor is not one this list gave out")
	}
	return key, nil
}

func decodeIntCursor(kind, c string) (int64, error) {
	key, err := decodeCursor(kind, c)
	if err != nil || key == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(key, 10, 64)
	if err != nil {
		return 0, ErrInvalid.Errorf("cursor is not one this list gave out")
	}
	return n, nil
}

// query builds a WHERE clause with $N placeholders numbered in order of
// appearance, which SQLite's positional binding requires.
type query struct {
	where []string
	args  []any
}

// add appends a condition; each "?" in cond becomes the next $N.
func (q *query) add(cond string, args ...any) {
	var b strings.Builder
	for _, r := range cond {
		if r == '?' {
			q.args = append(q.args, nil)
			fmt.Fprintf(&b, "$%d", len(q.args))
			continue
		}
		b.WriteRune(r)
	}
	copy(q.args[len(q.args)-len(args):], args)
	q.where = append(q.where, b.String())
}

func (q *query) sql() string {
	if len(q.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.where, " AND ")
}

// next returns the limit placeholder.
func (q *query) limitArg(n int) string {
	q.args = append(q.args, n)
	return fmt.Sprintf(" LIMIT $%d", len(q.args))
}

// DeviceFilter selects devices; zero fields do not filter.
type DeviceFilter struct {
	Platform string
	// Hostname is exact (case-insensitive) or a glob with '*'.
	Hostname   string
	Serial     string
	State      string
	SeenAfter  *time.Time
	SeenBefore *time.Time
	// Compliance keeps devices whose evaluated state is this (fail,
	// unknown, ... as compliance.Statuses); Flag those carrying this flag.
	Compliance string
	Flag       string
	// Software and SoftwareVersion keep devices that have that package.
	Software        string
	SoftwareVersion string
}

// likePattern turns a '*' glob into a LIKE pattern with '\' as escape.
func likePattern(glob string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`, `*`, `%`)
	return strings.ToLower(r.Replace(glob))
}

// ListDevices returns a page of devices ordered by id.
func (r *Registry) ListDevices(ctx context.Context, f DeviceFilter, p Page) ([]Device, string, error) {
	after, err := decodeCursor("d", p.Cursor)
	if err != nil {
		return nil, "", err
	}
	var q query
	if f.Platform != "" {
		q.add("d.platform = ?", f.Platform)
	}
	if f.Hostname != "" {
		q.add(`lower(d.hostname) LIKE ? ESCAPE '\'`, likePattern(f.Hostname))
	}
	if f.Serial != "" {
		s := identity.Serial(f.Serial)
		if s == "" {
			return []Device{}, "", nil
		}
		q.add("(d.system_serial = ? OR d.board_serial = ?)", s, s)
	}
	if f.State != "" {
		if !slices.Contains([]string{StateActive, StateRevoked, StateIdentityConflict}, f.State) {
			return nil, "", ErrInvalid.Errorf("state %q (want active, revoked or identity_conflict)", f.State)
		}
		q.add("d.state = ?", f.State)
	}
	if f.Compliance != "" {
		if !slices.Contains(compliance.Statuses(), f.Compliance) {
			return nil, "", ErrInvalid.Errorf("compliance %q (want one of %s)", f.Compliance, strings.Join(compliance.Statuses(), ", "))
		}
		q.add("EXISTS (SELECT 1 FROM device_compliance c WHERE c.device_id = d.id AND c.state = ?)", f.Compliance)
	}
	if f.Flag != "" {
		q.add("EXISTS (SELECT 1 FROM flags fl WHERE fl.subject = 'device' AND fl.subject_id = d.id AND fl.flag = ?)", f.Flag)
	}
	if f.SeenAfter != nil {
		q.add("d.last_seen >= ?", fmtTime(*f.SeenAfter))
	}
	if f.SeenBefore != nil {
		q.add("d.last_seen < ?", fmtTime(*f.SeenBefore))
	}
	if f.Software != "" {
		if f.SoftwareVersion != "" {
			q.add("d.num IN (SELECT w.device_num FROM software_catalogue c JOIN device_software w ON w.package_id = c.id WHERE c.name = ? AND c.version = ?)", f.Software, f.SoftwareVersion)
		} else {
			q.add("d.num IN (SELECT w.device_num FROM software_catalogue c JOIN device_software w ON w.package_id = c.id WHERE c.name = ?)", f.Software)
		}
	} else if f.SoftwareVersion != "" {
		return nil, "", ErrInvalid.Errorf("software_version needs software")
	}
	if after != "" {
		q.add("d.id > ?", after)
	}
	limit := p.limit()
	stmt := deviceSelect + q.sql() + " ORDER BY d.id" + q.limitArg(limit+1)
	rows, err := r.db.QueryContext(ctx, stmt, q.args...)
	if err != nil {
		return nil, "", fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	out := []Device{}
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list devices: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list devices: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodeCursor("d", out[limit-1].ID)
	}
	return out, next, nil
}

// Device returns one device named by id, serial or hostname: ErrNotFound,
// or ErrAmbiguous when a serial or hostname names several.
func (r *Registry) Device(ctx context.Context, ref string) (Device, error) {
	id, err := r.resolve(ctx, r.db, ref)
	if err != nil {
		return Device{}, err
	}
	return r.DeviceDetail(ctx, id)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (r *Registry) deviceByID(ctx context.Context, q querier, id string) (Device, error) {
	d, err := scanDevice(q.QueryRowContext(ctx, deviceSelect+` WHERE d.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Device{}, ErrNotFound.Errorf("no device %s", id)
	}
	if err != nil {
		return Device{}, fmt.Errorf("read device %s: %w", id, err)
	}
	return d, nil
}

// resolve turns a device reference into an id: a UUID that is a device id,
// else the asset tag of a linked asset, else a serial (normalised), else a
// hostname (case-insensitive).
func (r *Registry) resolve(ctx context.Context, q querier, ref string) (string, error) {
	if ref == "" {
		return "", ErrNotFound.Errorf("no device named")
	}
	if u, err := uuid.Parse(ref); err == nil {
		var id string
		err := q.QueryRowContext(ctx, `SELECT id FROM devices WHERE id = $1`, u.String()).Scan(&id)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", fmt.Errorf("resolve device %q: %w", ref, err)
		}
	}
	if id, err := linkedDevice(ctx, q, ref); id != "" || err != nil {
		return id, err
	}
	ids := func(stmt string, arg string) ([]string, error) {
		rows, err := q.QueryContext(ctx, stmt, arg)
		if err != nil {
			return nil, fmt.Errorf("resolve device %q: %w", ref, err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return nil, fmt.Errorf("resolve device %q: %w", ref, err)
			}
			out = append(out, id)
		}
		return out, rows.Err()
	}
	if s := identity.Serial(ref); s != "" {
		got, err := ids(`SELECT id FROM devices WHERE system_serial = $1 ORDER BY id LIMIT 2`, s)
		if err != nil {
			return "", err
		}
		switch len(got) {
		case 1:
			return got[0], nil
		case 2:
			return "", ErrAmbiguous.Errorf("serial %q names several devices: use the device id", ref)
		}
	}
	got, err := ids(`SELECT id FROM devices WHERE lower(hostname) = $1 ORDER BY id LIMIT 2`, strings.ToLower(ref))
	if err != nil {
		return "", err
	}
	switch len(got) {
	case 0:
		return "", ErrNotFound.Errorf("no device %q", ref)
	case 1:
		return got[0], nil
	}
	return "", ErrAmbiguous.Errorf("hostname %q names several devices: use the device id", ref)
}

// DeviceSnapshot returns the latest full snapshot of a device as canonical
// JSON (the stored snapshot with its delta chain applied), or ErrNotFound
// when it has not reported yet.
func (r *Registry) DeviceSnapshot(ctx context.Context, ref string) (json.RawMessage, error) {
	id, err := r.resolve(ctx, r.db, ref)
	if err != nil {
		return nil, err
	}
	var lastHash string
	if err := r.db.QueryRowContext(ctx, `SELECT last_hash FROM devices WHERE id = $1`, id).Scan(&lastHash); err != nil {
		return nil, fmt.Errorf("read snapshot of %s: %w", id, err)
	}
	cs, err := r.latestSnapshot(ctx, r.db, id, lastHash)
	if err != nil {
		return nil, fmt.Errorf("read snapshot of %s: %w", id, err)
	}
	if cs == nil {
		return nil, r.noSnapshot(ctx, id)
	}
	b, err := cs.canonical()
	if err != nil {
		return nil, fmt.Errorf("read snapshot of %s: %w", id, err)
	}
	return json.RawMessage(b), nil
}

// DeviceFacts returns the latest snapshot of a device without its
// software (read it page by page with DeviceSoftware), for pages that show
// identity, encryption, OS and probes: no JSON is encoded or decoded, so
// it stays cheap for a device with thousands of packages. The sections are
// shared with the registry's cache: callers must not modify them.
// ErrNotFound when the device has not reported yet.
func (r *Registry) DeviceFacts(ctx context.Context, ref string) (*wire.Snapshot, error) {
	id, err := r.resolve(ctx, r.db, ref)
	if err != nil {
		return nil, err
	}
	var lastHash string
	if err := r.db.QueryRowContext(ctx, `SELECT last_hash FROM devices WHERE id = $1`, id).Scan(&lastHash); err != nil {
		return nil, fmt.Errorf("read facts of %s: %w", id, err)
	}
	cs, err := r.latestSnapshot(ctx, r.db, id, lastHash)
	if err != nil {
		return nil, fmt.Errorf("read facts of %s: %w", id, err)
	}
	if cs == nil {
		return nil, r.noSnapshot(ctx, id)
	}
	s := *cs.snap
	s.Software = nil
	return &s, nil
}

// CountDevicesByState counts devices per state, every state present.
func (r *Registry) CountDevicesByState(ctx context.Context) (map[string]int, error) {
	out := map[string]int{StateActive: 0, StateRevoked: 0, StateIdentityConflict: 0}
	rows, err := r.db.QueryContext(ctx, `SELECT state, count(*) FROM devices GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count devices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("count devices: %w", err)
		}
		out[s] = n
	}
	return out, rows.Err()
}
