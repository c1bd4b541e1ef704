package registry

// Fleet-wide lists the web console pages through: every open flag with
// what it is on, and every wipe request. The API serves single wipes and
// flags on their device or asset; these are the helpdesk's "show me all of
// them" views.

import (
	"context"
	"fmt"
	"strings"
)

// FlagEntry is one open flag with its subject.
type FlagEntry struct {
	// Subject is "device" or "asset"; SubjectID its id.
	Subject   string `json:"subject"`
	SubjectID string `json:"subject_id"`
	// Name is the device's hostname or the asset's tag.
	Name string `json:"name"`
	Flag
}

// FlagFilter narrows ListFlags; empty fields match everything.
type FlagFilter struct {
	Flag    string
	Subject string
}

// ListFlags returns open flags, newest first, a page at a time.
func (r *Registry) ListFlags(ctx context.Context, f FlagFilter, p Page) ([]FlagEntry, string, error) {
	after, err := decodeCursor("f", p.Cursor)
	if err != nil {
		return nil, "", err
	}
	var q query
	if f.Flag != "" {
		q.add("f.flag = ?", f.Flag)
	}
	if f.Subject != "" {
		q.add("f.subject = ?", f.Subject)
	}
	if after != "" {
		// The cursor is "since|subject|id|flag" of the last row served.
		parts := strings.SplitN(after, "|", 4)
		if len(parts) != 4 {
			return nil, "", ErrInvalid.Errorf("cursor is not one this list gave out")
		}
		q.add("(f.since < ? OR (f.since = ? AND (f.subject || '|' || f.subject_id || '|' || f.flag) > ?))",
			parts[0], parts[0], parts[1]+"|"+parts[2]+"|"+parts[3])
	}
	limit := p.limit()
	stmt := `SELECT f.subject, f.subject_id, f.flag, f.since, f.severity, f.detail,
		COALESCE(d.hostname, a.asset_tag, '')
		FROM flags f
		LEFT JOIN devices d ON f.subject = 'device' AND d.id = f.subject_id
		LEFT JOIN assets a ON f.subject = 'asset' AND a.id = f.subject_id` + q.sql() +
		` ORDER BY f.since DESC, f.subject || '|' || f.subject_id || '|' || f.flag` + q.limitArg(limit+1)
	rows, err := r.db.QueryContext(ctx, stmt, q.args...)
	if err != nil {
		return nil, "", fmt.Errorf("list flags: %w", err)
	}
	defer rows.Close()
	var out []FlagEntry
	var sinces []string
	for rows.Next() {
		var e FlagEntry
		var since string
		if err := rows.Scan(&e.Subject, &e.SubjectID, &e.Flag.Flag, &since, &e.Severity, &e.Detail, &e.Name); err != nil {
			return nil, "", fmt.Errorf("list flags: %w", err)
		}
		e.Since = parseTime(since)
		out = append(out, e)
		sinces = append(sinces, since)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list flags: %w", err)
	}
	next := ""
	if len(out) > limit {
		last := out[limit-1]
		next = encodeCursor("f", sinces[limit-1]+"|"+last.Subject+"|"+last.SubjectID+"|"+last.Flag.Flag)
		out = out[:limit]
	}
	return out, next, nil
}

// WipeFilter narrows ListWipes; State "" matches every state.
type WipeFilter struct {
	State string
}

// ListWipes returns wipe requests newest first without their transitions
// (Wipe returns one with them), a page at a time.
func (r *Registry) ListWipes(ctx context.Context, f WipeFilter, p Page) ([]Wipe, string, error) {
	after, err := decodeCursor("w", p.Cursor)
	if err != nil {
		return nil, "", err
	}
	var q query
	if f.State != "" {
		q.add("state = ?", f.State)
	}
	if after != "" {
		created, id, ok := strings.Cut(after, "|")
		if !ok {
			return nil, "", ErrInvalid.Errorf("cursor is not one this list gave out")
		}
		q.add("(created_at < ? OR (created_at = ? AND id < ?))", created, created, id)
	}
	limit := p.limit()
	rows, err := r.db.QueryContext(ctx, `SELECT `+wipeCols+` FROM wipe_requests`+q.sql()+
		` ORDER BY created_at DESC, id DESC`+q.limitArg(limit+1), q.args...)
	if err != nil {
		return nil, "", fmt.Errorf("list wipes: %w", err)
	}
	defer rows.Close()
	var out []Wipe
	for rows.Next() {
		w, err := scanWipe(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list wipes: %w", err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list wipes: %w", err)
	}
	next := ""
	if len(out) > limit {
		last := out[limit-1]
		next = encodeCursor("w", fmtTime(last.CreatedAt)+"|"+last.ID)
		out = out[:limit]
	}
	return out, next, nil
}

// ComplianceStates returns the evaluated compliance state of each listed
// device that has one, for lists that show it beside the device record.
func (r *Registry) ComplianceStates(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	marks := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		marks[i] = fmt.Sprintf("$%d", i+1)
		args[i] = id
	}
	rows, err := r.db.QueryContext(ctx, `SELECT device_id, state FROM device_compliance WHERE state <> '' AND device_id IN (`+strings.Join(marks, ", ")+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("read compliance states: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, st string
		if err := rows.Scan(&id, &st); err != nil {
			return nil, fmt.Errorf("read compliance states: %w", err)
		}
		out[id] = st
	}
	return out, rows.Err()
}

// CountFlags counts open flags by name (devices and assets together),
// for the overview's counts.
func (r *Registry) CountFlags(ctx context.Context) (map[string]int, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT flag, count(*) FROM flags GROUP BY flag`)
	if err != nil {
		return nil, fmt.Errorf("count flags: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var f string
		var n int
		if err := rows.Scan(&f, &n); err != nil {
			return nil, fmt.Errorf("count flags: %w", err)
		}
		out[f] = n
	}
	return out, rows.Err()
}
