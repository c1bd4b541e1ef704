package registry

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"
)

// Package is one installed package of a device (API keys).
type Package struct {
	Name        string     `json:"name"`
	Version     string     `json:"version"`
	Arch        string     `json:"arch"`
	Source      string     `json:"source"`
	Publisher   string     `json:"publisher"`
	InstallDate *time.Time `json:"install_date"`
}

// DeviceSoftware returns a page of a device's packages.
func (r *Registry) DeviceSoftware(ctx context.Context, ref string, p Page) ([]Package, string, error) {
	after, err := decodeIntCursor("s", p.Cursor)
	if err != nil {
		return nil, "", err
	}
	id, err := r.resolve(ctx, r.db, ref)
	if err != nil {
		return nil, "", err
	}
	limit := p.limit()
	rows, err := r.db.QueryContext(ctx, `SELECT id, name, version, arch, source, publisher, install_date FROM software
		WHERE device_id = $1 AND id > $2 ORDER BY id LIMIT $3`, id, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list software of %s: %w", id, err)
	}
	defer rows.Close()
	out := []Package{}
	var keys []int64
	for rows.Next() {
		var pk Package
		var rowID int64
		var inst sql.NullString
		if err := rows.Scan(&rowID, &pk.Name, &pk.Version, &pk.Arch, &pk.Source, &pk.Publisher, &inst); err != nil {
			return nil, "", fmt.Errorf("list software of %s: %w", id, err)
		}
		pk.InstallDate = timePtr(inst)
		out = append(out, pk)
		keys = append(keys, rowID)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list software of %s: %w", id, err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodeCursor("s", strconv.FormatInt(keys[limit-1], 10))
	}
	return out, next, nil
}

// SoftwareQuery asks who has a package.
type SoftwareQuery struct {
	Name    string
	Version string
	Source  string
}

// SoftwareHit is one device that has the package.
type SoftwareHit struct {
	DeviceID string `json:"device_id"`
	Hostname string `json:"hostname"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	Arch     string `json:"arch"`
	Source   string `json:"source"`
}

// SearchSoftware answers "who has X (version Y)" fleet-wide.
func (r *Registry) SearchSoftware(ctx context.Context, sq SoftwareQuery, p Page) ([]SoftwareHit, string, error) {
	if sq.Name == "" {
		return nil, "", ErrInvalid.Errorf("name is required")
	}
	after, err := decodeIntCursor("w", p.Cursor)
	if err != nil {
		return nil, "", err
	}
	var q query
	q.add("s.name = ?", sq.Name)
	if sq.Version != "" {
		q.add("s.version = ?", sq.Version)
	}
	if sq.Source != "" {
		q.add("s.source = ?", sq.Source)
	}
	q.add("s.id > ?", after)
	limit := p.limit()
	stmt := `SELECT s.id, s.device_id, d.hostname, s.name, s.version, s.arch, s.source FROM software s JOIN devices d ON d.id = s.device_id` +
		q.sql() + " ORDER BY s.id" + q.limitArg(limit+1)
	rows, err := r.db.QueryContext(ctx, stmt, q.args...)
	if err != nil {
		return nil, "", fmt.Errorf("search software: %w", err)
	}
	defer rows.Close()
	out := []SoftwareHit{}
	var keys []int64
	for rows.Next() {
		var h SoftwareHit
		var rowID int64
		if err := rows.Scan(&rowID, &h.DeviceID, &h.Hostname, &h.Name, &h.Version, &h.Arch, &h.Source); err != nil {
			return nil, "", fmt.Errorf("search software: %w", err)
		}
		out = append(out, h)
		keys = append(keys, rowID)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("search software: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodeCursor("w", strconv.FormatInt(keys[limit-1], 10))
	}
	return out, next, nil
}
