package console

// Lists: devices, assets, flags, events, exceptions, offboarding and the
// audit log share one table template and one CSV writer, so every list
// pages, filters and exports the same way.

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/registry"
)

// table is a list page: filters above, rows, a link to the next page.
type table struct {
	Heading string
	Intro   string
	Filters []filter
	Columns []string
	Rows    [][]cell
	// Next is the next page's query string ("" on the last page).
	Next string
	// CSV is this list's CSV link.
	CSV string
	// Empty is said when there are no rows.
	Empty string
}

// filter is one field of a list's filter form.
type filter struct {
	Name, Label, Value string
	// Options makes a select; the first option should be "" (any).
	Options []string
}

// cell is one table cell; Href makes it a link, Class styles a status.
type cell struct {
	Text, Href, Class string
}

func text(s string) cell     { return cell{Text: s} }
func status(s string) cell   { return cell{Text: strings.ReplaceAll(s, "_", " "), Class: "st st-" + s} }
func stamp(t time.Time) cell { return cell{Text: fmtStamp(t)} }
func devLink(id, name string) cell {
	return cell{Text: orDash(name, id), Href: "/ui/devices/" + url.PathEscape(id)}
}
func excLink(id string) cell {
	return cell{Text: shortID(id), Href: "/ui/exceptions/" + url.PathEscape(id)}
}
func wipeLink(id, label string) cell {
	return cell{Text: label, Href: "/ui/offboarding/" + url.PathEscape(id)}
}

func fmtStamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func orDash(s, alt string) string {
	if strings.TrimSpace(s) != "" {
		return s
	}
	if alt != "" {
		return alt
	}
	return "—"
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// pageSize is the console's rows per page; ?limit= may ask for up to
// registry.MaxLimit (CSV exports ask for the most).
const pageSize = 50

func pageOf(r *http.Request) registry.Page {
	q := r.URL.Query()
	p := registry.Page{Limit: pageSize, Cursor: q.Get("cursor")}
	if wantsCSV(r) {
		p.Limit = registry.MaxLimit
	}
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && n > 0 {
		p.Limit = n
	}
	return p
}

// nextQuery is the current query with the cursor moved on.
func nextQuery(r *http.Request, next string) string {
	if next == "" {
		return ""
	}
	q := r.URL.Query()
	q.Set("cursor", next)
	q.Del("format")
	return "?" + q.Encode()
}

func csvLink(r *http.Request) string {
	q := r.URL.Query()
	q.Del("cursor")
	q.Set("format", "csv")
	return r.URL.Path + "?" + q.Encode()
}

// showTable renders t, or sends it as CSV when asked.
func (c *Console) showTable(w http.ResponseWriter, r *http.Request, v *view, name, title string, t table) {
	if wantsCSV(r) {
		rows := make([][]string, len(t.Rows))
		for i, row := range t.Rows {
			rows[i] = make([]string, len(row))
			for j, cl := range row {
				rows[i][j] = cl.Text
			}
		}
		writeCSV(w, name, t.Columns, rows)
		return
	}
	t.CSV = csvLink(r)
	t.Heading = title
	c.render(w, r, http.StatusOK, "list", v, title, t)
}

func (c *Console) devices(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	f := registry.DeviceFilter{Platform: q.Get("platform"), Compliance: q.Get("compliance"), Flag: q.Get("flag"),
		State: q.Get("state"), Hostname: q.Get("hostname"), Software: q.Get("software")}
	items, next, err := c.reg.ListDevices(r.Context(), f, pageOf(r))
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	ids := make([]string, len(items))
	for i, d := range items {
		ids[i] = d.ID
	}
	states, err := c.reg.ComplianceStates(r.Context(), ids)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	t := table{
		Filters: []filter{
			{Name: "compliance", Label: "Compliance", Value: f.Compliance, Options: append([]string{""}, compliance.Statuses()...)},
			{Name: "flag", Label: "Flag", Value: f.Flag, Options: []string{"", "unregistered", "missing", "not_in_service", "identity_conflict"}},
			{Name: "state", Label: "Record", Value: f.State, Options: []string{"", "active", "revoked", "identity_conflict"}},
			{Name: "platform", Label: "Platform", Value: f.Platform, Options: []string{"", "linux", "darwin", "windows"}},
			{Name: "hostname", Label: "Hostname (* wildcard)", Value: f.Hostname},
			{Name: "software", Label: "Has software", Value: f.Software},
		},
		Columns: []string{"Hostname", "Serial", "Platform", "OS", "Compliance", "Flags", "Record", "Last seen", "Device id"},
		Empty:   "No device matches these filters.",
	}
	for _, d := range items {
		t.Rows = append(t.Rows, []cell{devLink(d.ID, d.Hostname), text(d.SystemSerial), text(d.Platform),
			text(strings.TrimSpace(d.OSName + " " + d.OSVersion)), status(orNot(states[d.ID])), text(strings.Join(d.Flags, ", ")),
			text(d.State), stamp(d.LastSeen), text(d.ID)})
	}
	t.Next = nextQuery(r, next)
	c.showTable(w, r, v, "devices", "Devices", t)
}

// orNot names a compliance state not evaluated yet.
func orNot(state string) string {
	if state == "" {
		return "not_evaluated"
	}
	return state
}

func (c *Console) assets(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	f := registry.AssetFilter{Status: q.Get("status"), Type: q.Get("type"), Classification: q.Get("classification"),
		Owner: q.Get("owner"), Flag: q.Get("flag"), Linked: q.Get("linked")}
	items, next, err := c.reg.ListAssets(r.Context(), f, pageOf(r))
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	t := table{
		Filters: []filter{
			{Name: "status", Label: "Status", Value: f.Status, Options: []string{"", "in_stock", "in_service", "in_repair", "offboarding", "decommissioned", "disposed", "lost"}},
			{Name: "classification", Label: "Classification", Value: f.Classification, Options: []string{"", "confidential", "internal", "public"}},
			{Name: "owner", Label: "Owner", Value: f.Owner},
			{Name: "flag", Label: "Flag", Value: f.Flag, Options: []string{"", "missing", "not_in_service", "identity_conflict"}},
			{Name: "linked", Label: "Linked to a device", Value: f.Linked, Options: []string{"", "yes", "no"}},
		},
		Columns: []string{"Tag", "Serial", "Type", "Model", "Owner", "Email", "Status", "Classification", "Device", "Flags"},
		Empty:   "No asset matches these filters.",
	}
	for _, a := range items {
		dev := text("")
		if a.Device != nil {
			dev = devLink(a.Device.ID, a.Device.Hostname)
		}
		var flags []string
		for _, f := range a.Flags {
			flags = append(flags, f.Flag)
		}
		t.Rows = append(t.Rows, []cell{text(a.AssetTag), text(a.Serial), text(a.Type), text(a.Model), text(a.Owner), text(a.OwnerEmail),
			status(a.Status), text(a.Classification), dev, text(strings.Join(flags, ", "))})
	}
	t.Next = nextQuery(r, next)
	c.showTable(w, r, v, "assets", "Assets", t)
}

func (c *Console) flags(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	f := registry.FlagFilter{Flag: q.Get("flag"), Subject: q.Get("subject")}
	items, next, err := c.reg.ListFlags(r.Context(), f, pageOf(r))
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	t := table{
		Intro: "Flags set and clear themselves as devices report and the register changes; each says since when.",
		Filters: []filter{
			{Name: "flag", Label: "Flag", Value: f.Flag, Options: []string{"", "unregistered", "missing", "not_in_service", "identity_conflict"}},
			{Name: "subject", Label: "On", Value: f.Subject, Options: []string{"", "device", "asset"}},
		},
		Columns: []string{"Flag", "On", "Name", "Severity", "Since", "Detail"},
		Empty:   "No open flag.",
	}
	for _, e := range items {
		name := text(e.Name)
		if e.Subject == "device" {
			name = devLink(e.SubjectID, e.Name)
		}
		t.Rows = append(t.Rows, []cell{status(e.Flag.Flag), text(e.Subject), name, text(e.Severity), stamp(e.Since), text(e.Detail)})
	}
	t.Next = nextQuery(r, next)
	c.showTable(w, r, v, "flags", "Flags", t)
}

func (c *Console) events(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	f := registry.EventFilter{Kind: q.Get("kind"), Device: q.Get("device")}
	items, next, err := c.reg.Events(r.Context(), f, pageOf(r))
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	t := table{
		Filters: []filter{
			{Name: "kind", Label: "Kind", Value: f.Kind},
			{Name: "device", Label: "Device id", Value: f.Device},
		},
		Columns: []string{"When", "Kind", "Device", "Asset", "Subject"},
		Empty:   "No event.",
	}
	for _, e := range items {
		dev := text("")
		if e.DeviceID != "" {
			dev = devLink(e.DeviceID, shortID(e.DeviceID))
		}
		t.Rows = append(t.Rows, []cell{stamp(e.At), text(e.Kind), dev, text(e.AssetTag), text(e.Subject)})
	}
	t.Next = nextQuery(r, next)
	c.showTable(w, r, v, "events", "Events", t)
}

func (c *Console) exceptions(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	f := registry.ExceptionFilter{Status: q.Get("status"), PolicyID: q.Get("policy"), Device: q.Get("device")}
	items, err := c.reg.ListExceptions(r.Context(), f, c.now())
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	t := table{
		Intro: "An exception is requested by one person and approved or denied by another; it exempts its device from one policy until it expires.",
		Filters: []filter{
			{Name: "status", Label: "Status", Value: f.Status, Options: []string{"", "pending", "active", "denied", "expired", "revoked"}},
			{Name: "policy", Label: "Policy", Value: f.PolicyID},
		},
		Columns: []string{"Exception", "Status", "Policy", "Device", "Asset", "Requested by", "Approver", "Expires", "Reason"},
		Empty:   "No exception.",
	}
	for _, e := range items {
		dev := text("")
		if e.DeviceID != "" {
			dev = devLink(e.DeviceID, shortID(e.DeviceID))
		}
		t.Rows = append(t.Rows, []cell{excLink(e.ID), status(e.Status), text(e.PolicyID), dev, text(e.AssetTag),
			text(e.RequestedBy), text(e.Approver), text(e.ExpiresAt.UTC().Format(time.DateOnly)), text(e.Reason)})
	}
	c.showTable(w, r, v, "exceptions", "Exceptions", t)
}

func (c *Console) wipes(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	f := registry.WipeFilter{State: q.Get("state")}
	items, next, err := c.reg.ListWipes(r.Context(), f, pageOf(r))
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	t := table{
		Intro: "Start offboarding from the device's page. A wipe is verified when the same hardware enrols again after it.",
		Filters: []filter{
			{Name: "state", Label: "State", Value: f.State, Options: []string{"", "requested", "delivered", "in_progress", "completed", "failed", "verified", "cancelled", "expired"}},
		},
		Columns: []string{"Wipe", "State", "Device", "Asset", "Serial", "Ticket", "Method", "Started by", "Started", "Deadline"},
		Empty:   "No offboarding yet.",
	}
	for _, wp := range items {
		t.Rows = append(t.Rows, []cell{wipeLink(wp.ID, shortID(wp.ID)), status(wp.State), text(wp.Hostname), text(wp.AssetTag),
			text(wp.SystemSerial), text(wp.Ticket), text(wp.Method), text(wp.CreatedBy), stamp(wp.CreatedAt), stamp(wp.Deadline)})
	}
	t.Next = nextQuery(r, next)
	c.showTable(w, r, v, "offboarding", "Offboarding", t)
}

func (c *Console) auditLog(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	f := registry.AuditFilter{Principal: q.Get("principal"), Action: q.Get("action"), Target: q.Get("target"), Limit: pageSize}
	if wantsCSV(r) {
		f.Limit = registry.MaxLimit
	}
	if s := q.Get("since"); s != "" {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			c.errorPage(w, r, v, http.StatusBadRequest, fmt.Sprintf("since %q: want a date like 2026-12-01", s))
			return
		}
		f.Since = d
	}
	if n, err := strconv.ParseInt(q.Get("after"), 10, 64); err == nil {
		f.AfterSeq = n
	}
	items, _, err := c.reg.ListAudit(r.Context(), f)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	t := table{
		Intro: "Every change, refused request, sign-in and sensitive read, oldest first, hash-chained (rosterctl audit verify checks the chain).",
		Filters: []filter{
			{Name: "action", Label: "Action (* wildcard)", Value: f.Action},
			{Name: "principal", Label: "Principal", Value: f.Principal},
			{Name: "target", Label: "Target", Value: f.Target},
			{Name: "since", Label: "Since (date)", Value: q.Get("since")},
		},
		Columns: []string{"#", "When", "Principal", "Role", "Source", "Action", "Target", "Outcome", "Detail"},
		Empty:   "No entry matches.",
	}
	for _, e := range items {
		t.Rows = append(t.Rows, []cell{text(strconv.FormatInt(e.Seq, 10)), stamp(e.At), text(e.PrincipalName), text(e.Role),
			text(e.Source), text(e.Action), text(e.Target), status(e.Outcome), text(e.Detail)})
	}
	if len(items) == f.Limit && len(items) > 0 {
		nq := r.URL.Query()
		nq.Set("after", strconv.FormatInt(items[len(items)-1].Seq, 10))
		nq.Del("format")
		t.Next = "?" + nq.Encode()
	}
	c.showTable(w, r, v, "audit", "Audit log", t)
}
