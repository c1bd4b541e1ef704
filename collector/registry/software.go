package registry

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
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

// DeviceSoftware returns a page of a device's packages, in catalogue
// order.
func (r *Registry) DeviceSoftware(ctx context.Context, ref string, p Page) ([]Package, string, error) {
	after, err := decodeIntsCursor("s", p.Cursor, 2)
	if err != nil {
		return nil, "", err
	}
	id, err := r.resolve(ctx, r.db, ref)
	if err != nil {
		return nil, "", err
	}
	limit := p.limit()
	rows, err := r.db.QueryContext(ctx, `SELECT w.package_id, w.dup, c.name, c.version, c.arch, c.source, c.publisher, w.install_date
		FROM device_software w JOIN software_catalogue c ON c.id = w.package_id
		WHERE w.device_num = (SELECT num FROM devices WHERE id = $1) AND (w.package_id, w.dup) > ($2, $3)
		ORDER BY w.package_id, w.dup LIMIT $4`, id, after[0], after[1], limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list software of %s: %w", id, err)
	}
	defer rows.Close()
	out := []Package{}
	var keys [][]int64
	for rows.Next() {
		var pk Package
		k := make([]int64, 2)
		var inst sql.NullString
		if err := rows.Scan(&k[0], &k[1], &pk.Name, &pk.Version, &pk.Arch, &pk.Source, &pk.Publisher, &inst); err != nil {
			return nil, "", fmt.Errorf("list software of %s: %w", id, err)
		}
		pk.InstallDate = timePtr(inst)
		out = append(out, pk)
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list software of %s: %w", id, err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = intsCursor("s", keys[limit-1])
	}
	return out, next, nil
}

// intsCursor is a cursor holding the key of a page's last row when that
// key is several integers (device_software's are catalogue id, device
// number, duplicate counter).
func intsCursor(kind string, key []int64) string {
	parts := make([]string, len(key))
	for i, n := range key {
		parts[i] = strconv.FormatInt(n, 10)
	}
	return encodeCursor(kind, strings.Join(parts, ":"))
}

// decodeIntsCursor reads a cursor of n integers; the empty cursor is the
// key before every row (ids start at 1).
func decodeIntsCursor(kind, c string, n int) ([]int64, error) {
	out := make([]int64, n)
	key, err := decodeCursor(kind, c)
	if err != nil || key == "" {
		out[0] = -1
		return out, err
	}
	parts := strings.Split(key, ":")
	if len(parts) != n {
		return nil, ErrInvalid.Errorf("cursor is not one this list gave out")
	}
	for i, p := range parts {
		if out[i], err = strconv.ParseInt(p, 10, 64); err != nil {
			return nil, ErrInvalid.Errorf("cursor is not one this list gave out")
		}
	}
	return out, nil
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
	after, err := decodeIntsCursor("w", p.Cursor, 3)
	if err != nil {
		return nil, "", err
	}
	// The catalogue's (name, version, ...) index finds the few package
	// versions asked for; device_software_package their devices.
	var q query
	q.add("c.name = ?", sq.Name)
	if sq.Version != "" {
		q.add("c.version = ?", sq.Version)
	}
	if sq.Source != "" {
		q.add("c.source = ?", sq.Source)
	}
	q.add("(w.package_id, w.device_num, w.dup) > (?, ?, ?)", after[0], after[1], after[2])
	limit := p.limit()
	stmt := `SELECT w.package_id, w.device_num, w.dup, d.id, d.hostname, c.name, c.version, c.arch, c.source
		FROM software_catalogue c JOIN device_software w ON w.package_id = c.id JOIN devices d ON d.num = w.device_num` +
		q.sql() + " ORDER BY w.package_id, w.device_num, w.dup" + q.limitArg(limit+1)
	rows, err := r.db.QueryContext(ctx, stmt, q.args...)
	if err != nil {
		return nil, "", fmt.Errorf("search software: %w", err)
	}
	defer rows.Close()
	out := []SoftwareHit{}
	var keys [][]int64
	for rows.Next() {
		var h SoftwareHit
		k := make([]int64, 3)
		if err := rows.Scan(&k[0], &k[1], &k[2], &h.DeviceID, &h.Hostname, &h.Name, &h.Version, &h.Arch, &h.Source); err != nil {
			return nil, "", fmt.Errorf("search software: %w", err)
		}
		out = append(out, h)
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("search software: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = intsCursor("w", keys[limit-1])
	}
	return out, next, nil
}
