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

// SearchSoftware answers "who has X (version Y)" fleet-wide, in the order
// (catalogue id, device number, duplicate counter) its cursor holds.
//
// The catalogue's (name, version, ...) index finds the few package
// versions asked for; then device_software_package is walked from the
// cursor one catalogue id at a time, so a page reads the rows it returns
// and no more. (One join ordered by catalogue id read and sorted every
// hit of a common package before its first page.)
func (r *Registry) SearchSoftware(ctx context.Context, sq SoftwareQuery, p Page) ([]SoftwareHit, string, error) {
	if sq.Name == "" {
		return nil, "", ErrInvalid.Errorf("name is required")
	}
	after, err := decodeIntsCursor("w", p.Cursor, 3)
	if err != nil {
		return nil, "", err
	}
	cat, err := r.catalogueMatches(ctx, sq, after[0])
	if err != nil {
		return nil, "", fmt.Errorf("search software: %w", err)
	}
	limit := p.limit()
	out := []SoftwareHit{}
	var keys [][3]int64
	for _, c := range cat {
		from := [2]int64{-1, -1}
		if c.id == after[0] {
			from = [2]int64{after[1], after[2]}
		}
		rows, err := r.db.QueryContext(ctx, `SELECT w.device_num, w.dup, d.id, d.hostname
			FROM device_software w JOIN devices d ON d.num = w.device_num
			WHERE w.package_id = $1 AND (w.device_num, w.dup) > ($2, $3)
			ORDER BY w.device_num, w.dup LIMIT $4`, c.id, from[0], from[1], limit+1-len(out))
		if err != nil {
			return nil, "", fmt.Errorf("search software: %w", err)
		}
		for rows.Next() {
			h := c.hit
			k := [3]int64{c.id}
			if err := rows.Scan(&k[1], &k[2], &h.DeviceID, &h.Hostname); err != nil {
				rows.Close()
				return nil, "", fmt.Errorf("search software: %w", err)
			}
			out = append(out, h)
			keys = append(keys, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, "", fmt.Errorf("search software: %w", err)
		}
		if len(out) > limit {
			break
		}
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = intsCursor("w", keys[limit-1][:])
	}
	return out, next, nil
}

// catalogueHit is a catalogue row "who has" matched, as its hits show it.
type catalogueHit struct {
	id  int64
	hit SoftwareHit
}

// catalogueMatches are the catalogue rows sq names from id from on, by id.
func (r *Registry) catalogueMatches(ctx context.Context, sq SoftwareQuery, from int64) ([]catalogueHit, error) {
	var q query
	q.add("name = ?", sq.Name)
	if sq.Version != "" {
		q.add("version = ?", sq.Version)
	}
	if sq.Source != "" {
		q.add("source = ?", sq.Source)
	}
	q.add("id >= ?", from)
	rows, err := r.db.QueryContext(ctx, `SELECT id, name, version, arch, source FROM software_catalogue`+q.sql()+` ORDER BY id`, q.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []catalogueHit
	for rows.Next() {
		var c catalogueHit
		if err := rows.Scan(&c.id, &c.hit.Name, &c.hit.Version, &c.hit.Arch, &c.hit.Source); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
