package console

// The overview, search, exceptions, offboarding, reconciliation and
// account pages. Each calls the registry use case the JSON API calls, with
// the request's actor in the context, so the audit log, separation of
// duties and validation are the same whichever door is used.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/registry"
)

// trendDays is the overview chart's span.
const trendDays = 30

type overviewData struct {
	Summary registry.ComplianceSummary
	// States is the summary's states in severity order with their counts.
	States []stateCount
	Trend  *chart
	// Flags counts open flags by name.
	Flags map[string]int
}

type stateCount struct {
	State string
	N     int
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, v *view) {
	ctx := r.Context()
	sum, err := c.reg.Summary(ctx)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	d := overviewData{Summary: sum, Flags: map[string]int{}}
	for _, s := range compliance.Statuses() {
		if s != compliance.StatusNotApplicable {
			d.States = append(d.States, stateCount{s, sum.ByState[s]})
		}
	}
	trend, err := c.reg.ComplianceTrend(ctx, trendDays, c.now())
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	d.Trend = trendChart(trend, c.now(), trendDays)
	if v.Can(string(access.AssetsRead)) {
		counts, err := c.reg.CountFlags(ctx)
		if err != nil {
			c.fail(w, r, v, err)
			return
		}
		for _, flag := range []string{"unregistered", "missing", "not_in_service", "identity_conflict"} {
			d.Flags[flag] = counts[flag]
		}
	}
	c.render(w, r, http.StatusOK, "overview", v, "Fleet overview", d)
}

type searchData struct {
	Query string
	Hits  []registry.SearchHit
}

func (c *Console) search(w http.ResponseWriter, r *http.Request, v *view) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	d := searchData{Query: q}
	if q != "" {
		hits, err := c.reg.SearchDevices(r.Context(), q, 50)
		if err != nil {
			c.fail(w, r, v, err)
			return
		}
		d.Hits = hits
	}
	c.render(w, r, http.StatusOK, "search", v, "Search", d)
}

type exceptionData struct {
	E      registry.ExceptionRecord
	Policy *compliance.Policy
	// Own says the viewer requested it (and so may not decide it).
	Own bool
}

func (c *Console) exception(w http.ResponseWriter, r *http.Request, v *view) {
	e, err := c.reg.Exception(r.Context(), r.PathValue("id"), c.now())
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	d := exceptionData{E: e, Own: e.RequestedByID != "" && e.RequestedByID == v.Principal.ID}
	if set, _, err := c.reg.PolicySet(r.Context()); err == nil {
		if p, ok := set.Policy(e.PolicyID); ok {
			d.Policy = &p
		}
	}
	c.render(w, r, http.StatusOK, "exception", v, "Exception "+shortID(e.ID), d)
}

// requestException is the helpdesk's request from the device page: it is
// pending until another principal approves it.
func (c *Console) requestException(w http.ResponseWriter, r *http.Request, v *view) {
	f := r.PostForm
	exp, err := time.Parse(time.DateOnly, f.Get("expires"))
	if err != nil {
		c.errorPage(w, r, v, http.StatusBadRequest, fmt.Sprintf("Expiry %q: pick a date (YYYY-MM-DD).", f.Get("expires")))
		return
	}
	// The exception lasts to the end of the chosen day, UTC.
	exp = exp.Add(24*time.Hour - time.Second)
	e, err := c.reg.RequestException(r.Context(), registry.ExceptionInput{
		PolicyID: f.Get("policy"), Device: f.Get("device"), Reason: strings.TrimSpace(f.Get("reason")),
		CompensatingControl: strings.TrimSpace(f.Get("control")), ExpiresAt: exp,
	}, c.now())
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/ui/exceptions/"+url.PathEscape(e.ID), http.StatusSeeOther)
}

func (c *Console) approveException(w http.ResponseWriter, r *http.Request, v *view) {
	c.decideException(w, r, v, c.reg.ApproveException)
}

func (c *Console) denyException(w http.ResponseWriter, r *http.Request, v *view) {
	c.decideException(w, r, v, c.reg.DenyException)
}

func (c *Console) decideException(w http.ResponseWriter, r *http.Request, v *view,
	decide func(ctx context.Context, id, note string, now time.Time) (registry.ExceptionRecord, error)) {
	e, err := decide(r.Context(), r.PathValue("id"), strings.TrimSpace(r.PostForm.Get("note")), c.now())
	if err != nil {
		// Separation of duties is audited by the registry as denied.
		c.fail(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/ui/exceptions/"+url.PathEscape(e.ID), http.StatusSeeOther)
}

type wipeData struct {
	W registry.Wipe
	// Certificate is there once the wipe is completed or verified.
	Certificate *registry.SanitisationCertificate
}

func (c *Console) wipe(w http.ResponseWriter, r *http.Request, v *view) {
	wp, err := c.reg.Wipe(r.Context(), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	c.render(w, r, http.StatusOK, "wipe", v, "Offboarding "+orDash(wp.Hostname, wp.AssetTag), wipeData{W: wp})
}

// confirmName is what a person types to confirm they mean this device:
// its hostname, else its serial, else its id.
func confirmName(d registry.Device) string {
	for _, s := range []string{d.Hostname, d.SystemSerial} {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return d.ID
}

// startWipe starts offboarding from the device page. The person types the
// device's name (confirmName) to confirm they mean this device.
func (c *Console) startWipe(w http.ResponseWriter, r *http.Request, v *view) {
	f := r.PostForm
	d, err := c.reg.Device(r.Context(), f.Get("device"))
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	if name := confirmName(d); !strings.EqualFold(strings.TrimSpace(f.Get("confirm")), name) {
		c.errorPage(w, r, v, http.StatusBadRequest, fmt.Sprintf("To start offboarding, type %s exactly in the confirmation box; nothing was started.", name))
		return
	}
	wp, err := c.reg.StartWipe(r.Context(), registry.WipeStart{
		Ref: d.ID, Ticket: strings.TrimSpace(f.Get("ticket")), Reason: strings.TrimSpace(f.Get("reason")),
		Method: f.Get("method"), Reuse: f.Get("reuse") == "on",
		Actor: registry.WipeActor{Kind: registry.ActorPerson, ID: v.Principal.ID, Name: v.Principal.Name},
	}, c.now())
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/ui/offboarding/"+url.PathEscape(wp.ID), http.StatusSeeOther)
}

func (c *Console) cancelWipe(w http.ResponseWriter, r *http.Request, v *view) {
	wp, err := c.reg.CancelWipe(r.Context(), r.PathValue("id"), registry.WipeActor{Kind: registry.ActorPerson, ID: v.Principal.ID, Name: v.Principal.Name}, c.now())
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/ui/offboarding/"+url.PathEscape(wp.ID), http.StatusSeeOther)
}

// wipeCertificate shows the certificate of sanitisation, printable; the
// signed JSON stays with the API (rosterctl offboard certificate), which
// holds the signing key. Reading it is audited like the API's.
func (c *Console) wipeCertificate(w http.ResponseWriter, r *http.Request, v *view) {
	id := r.PathValue("id")
	wp, err := c.reg.Wipe(r.Context(), id)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	cert, err := c.reg.WipeCertificate(r.Context(), id, c.now())
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	if err := c.reg.AuditOutside(r.Context(), "wipe.certificate.read", "wipe:"+id, "ok", map[string]string{"format": "console"}); err != nil {
		c.fail(w, r, v, err)
		return
	}
	c.render(w, r, http.StatusOK, "wipe", v, "Certificate of sanitisation", wipeData{W: wp, Certificate: &cert})
}

type reconcileData struct {
	R registry.Reconciliation
}

func (c *Console) reconcile(w http.ResponseWriter, r *http.Request, v *view) {
	rec, err := c.reg.Reconcile(r.Context(), c.hostnameRule, c.now())
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	if wantsCSV(r) {
		var rows [][]string
		for _, m := range rec.Unregistered {
			rows = append(rows, []string{"unregistered", "", m.DeviceID, m.Hostname, m.Serial, m.LastSeen, m.Since})
		}
		for _, m := range rec.Missing {
			rows = append(rows, []string{"missing", m.AssetTag, m.DeviceID, "", m.Serial, m.LastSeen, m.Detail})
		}
		for _, m := range rec.NotInService {
			rows = append(rows, []string{"not_in_service", m.AssetTag, m.DeviceID, m.Hostname, "", m.LastSeen, m.Status})
		}
		for _, m := range rec.Mismatches {
			rows = append(rows, []string{"mismatch", m.AssetTag, m.DeviceID, m.Hostname, "", "", m.Field + ": register " + m.Register + ", reported " + m.Reported})
		}
		for _, m := range rec.Matched {
			rows = append(rows, []string{"matched", m.AssetTag, m.DeviceID, m.Hostname, "", m.LastSeen, "linked by " + m.LinkedBy})
		}
		writeCSV(w, "reconcile", []string{"section", "asset_tag", "device_id", "hostname", "serial", "last_seen", "detail"}, rows)
		return
	}
	c.render(w, r, http.StatusOK, "reconcile", v, "Register reconciliation", reconcileData{R: rec})
}

type accountData struct {
	Sessions []registry.Session
}

func (c *Console) account(w http.ResponseWriter, r *http.Request, v *view) {
	ss, err := c.reg.ListSessions(r.Context(), v.Principal.ID, c.now())
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	c.render(w, r, http.StatusOK, "account", v, "Your account", accountData{Sessions: ss})
}

// chart is the overview's 30-day trend as SVG geometry: the share of
// evaluated devices passing (pass + exempt) per day, drawn with SVG
// attributes only (the CSP forbids inline styles).
type chart struct {
	Width, Height int
	// Points is the polyline's "x,y x,y ..." list.
	Points string
	Dots   []dot
	// Labels are the y axis' 0/50/100 % and the first and last day.
	From, To string
	Empty    bool
	// Table is the same data for people who cannot see the chart.
	Table []trendRow
}

type dot struct {
	X, Y  int
	Title string
}

type trendRow struct {
	Day              string
	Devices, Passing int
	Percent          int
}

func trendChart(points []registry.TrendPoint, now time.Time, days int) *chart {
	c := &chart{Width: 600, Height: 160}
	var rows []registry.TrendPoint
	for _, p := range points {
		if p.Policy == "" {
			rows = append(rows, p)
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Day < rows[j].Day })
	start := now.UTC().AddDate(0, 0, -(days - 1))
	c.From, c.To = start.Format(time.DateOnly), now.UTC().Format(time.DateOnly)
	if len(rows) == 0 {
		c.Empty = true
		return c
	}
	const left, right, top, bottom = 40, 10, 10, 20
	w, h := c.Width-left-right, c.Height-top-bottom
	var pts []string
	for _, p := range rows {
		day, err := time.Parse(time.DateOnly, p.Day)
		if err != nil {
			continue
		}
		pass := p.Pass + p.Exempt
		pct := 0
		if p.Devices > 0 {
			pct = pass * 100 / p.Devices
		}
		x := left + int(day.Sub(start).Hours()/24)*w/max(days-1, 1)
		y := top + h - pct*h/100
		pts = append(pts, fmt.Sprintf("%d,%d", x, y))
		c.Dots = append(c.Dots, dot{X: x, Y: y, Title: fmt.Sprintf("%s: %d%% of %d devices compliant", p.Day, pct, p.Devices)})
		c.Table = append(c.Table, trendRow{Day: p.Day, Devices: p.Devices, Passing: pass, Percent: pct})
	}
	c.Points = strings.Join(pts, " ")
	return c
}
