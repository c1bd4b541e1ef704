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
	after, err := decodeSoftwareCursor("s", p.Cursor, 2)
	if err != nil {
		return nil, "", err
	}
	id, err := r.resolve(ctx, r.db, ref)
	if err != nil {
		return nil, "", err
	}
	limit := p.limit()
	rows, err := r.db.QueryContext(ctx, `SELECT w.package_id, w.dup, w.location, c.name, c.version, c.arch, c.source, c.publisher, w.install_date
		FROM device_software w JOIN software_catalogue c ON c.id = w.package_id
		WHERE w.device_num = (SELECT num FROM devices WHERE id = $1) AND (w.package_id, w.dup, w.location) > ($2, $3, $4)
		ORDER BY w.package_id, w.dup, w.location LIMIT $5`, id, after.ints[0], after.ints[1], after.location, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list software of %s: %w", id, err)
	}
	defer rows.Close()
	out := []Package{}
	var keys []softwareCursor
	for rows.Next() {
		var pk Package
		k := softwareCursor{ints: make([]int64, 2)}
		var inst sql.NullString
		if err := rows.Scan(&k.ints[0], &k.ints[1], &k.location, &pk.Name, &pk.Version, &pk.Arch, &pk.Source, &pk.Publisher, &inst); err != nil {
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
		next = keys[limit-1].encode("s")
	}
	return out, next, nil
}

// softwareCursor is the key of the last row of a page of device_software:
// integers (catalogue id, then device number or duplicate counter) and
// the location, which comes last in the cursor text because it may hold
// any character.
type softwareCursor struct {
	ints     []int64
	location string
}

func (c softwareCursor) encode(kind string) string {
	var b strings.Builder
	for _, n := range c.ints {
		b.WriteString(strconv.FormatInt(n, 10))
		b.WriteByte(':')
	}
	b.WriteString(c.location)
	return encodeCursor(kind, b.String())
}

// decodeSoftwareCursor reads a cursor of n integers and a location; the
// empty cursor is the key before every row.
func decodeSoftwareCursor(kind, c string, n int) (softwareCursor, error) {
	out := softwareCursor{ints: make([]int64, n)}
	key, err := decodeCursor(kind, c)
	if err != nil || key == "" {
		if err == nil {
			out.ints[0] = -1
		}
		return out, err
	}
	parts := strings.SplitN(key, ":", n+1)
	if len(parts) != n+1 {
		return out, ErrInvalid.Errorf("cursor is not one this list gave out")
	}
	for i := range n {
		if out.ints[i], err = strconv.ParseInt(parts[i], 10, 64); err != nil {
			return out, ErrInvalid.Errorf("cursor is not one this list gave out")
		}
	}
	out.location = parts[n]
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
	after, err := decodeSoftwareCursor("w", p.Cursor, 3)
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
	q.add("(w.package_id, w.device_num, w.dup, w.location) > (?, ?, ?, ?)", after.ints[0], after.ints[1], after.ints[2], after.location)
	limit := p.limit()
	stmt := `SELECT w.package_id, w.device_num, w.dup, w.location, d.id, d.hostname, c.name, c.version, c.arch, c.source
		FROM software_catalogue c JOIN device_software w ON w.package_id = c.id JOIN devices d ON d.num = w.device_num` +
		q.sql() + " ORDER BY w.package_id, w.device_num, w.dup, w.location" + q.limitArg(limit+1)
	rows, err := r.db.QueryContext(ctx, stmt, q.args...)
	if err != nil {
		return nil, "", fmt.Errorf("search software: %w", err)
	}
	defer rows.Close()
	out := []SoftwareHit{}
	var keys []softwareCursor
	for rows.Next() {
		var h SoftwareHit
		k := softwareCursor{ints: make([]int64, 3)}
		if err := rows.Scan(&k.ints[0], &k.ints[1], &k.ints[2], &k.location, &h.DeviceID, &h.Hostname, &h.Name, &h.Version, &h.Arch, &h.Source); err != nil {
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
		next = keys[limit-1].encode("w")
	}
	return out, next, nil
}
