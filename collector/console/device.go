package console

// The device page: who and what the device is, how it is protected, how
// current it is, each policy's result with what was measured, what the
// policy requires, since when and what to do — and the forms to ask for
// an exception or start offboarding.

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/shared/wire"
)

// softwarePage is how many packages the device page lists at once; the
// filter narrows them on the server, so a device with thousands of
// packages still gives a light page.
const softwarePage = 100

// historyOnPage is how many recent changes the device page shows.
const historyOnPage = 25

type deviceData struct {
	D          registry.Device
	Compliance registry.DeviceCompliance
	Results    []resultRow
	Exceptions []registry.ExceptionRecord
	Software   []registry.Package
	// SoftwareFilter is the filter's text; SoftwareNext the next page.
	SoftwareFilter, SoftwareNext string
	History                      []registry.HistoryEntry
	Snapshot                     *facts
	Wipe                         *registry.Wipe
	// Policies are the policies an exception may be requested for: the
	// device's non-passing ones first.
	Policies []compliance.Policy
	// MinExpiry and MaxExpiry bound the exception form's date.
	MinExpiry, MaxExpiry string
}

// resultRow is one policy's result with the words around it.
type resultRow struct {
	registry.ResultRecord
	Requirement, Remedy string
}

// facts is the stored snapshot without its software (read page by page
// from the registry instead); read-only, shared with the registry's cache.
type facts struct {
	*wire.Snapshot
}

// ConfirmName is what the offboarding form asks to be typed.
func (d *deviceData) ConfirmName() string { return confirmName(d.D) }

// FailedProbes are the probes that did not answer, with why.
func (f *facts) FailedProbes() []wire.ProbeStatus {
	var out []wire.ProbeStatus
	for _, p := range f.Probes {
		if p.Status == wire.ProbeError {
			out = append(out, p)
		}
	}
	return out
}

func (c *Console) device(w http.ResponseWriter, r *http.Request, v *view) {
	ctx := r.Context()
	d, err := c.reg.Device(ctx, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	data, err := c.deviceData(ctx, r, d)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	title := orDash(d.Hostname, d.ID)
	c.render(w, r, http.StatusOK, "device", v, title, data)
}

func (c *Console) deviceData(ctx context.Context, r *http.Request, d registry.Device) (*deviceData, error) {
	now := c.now()
	data := &deviceData{D: d}
	var err error
	if data.Compliance, err = c.reg.DeviceComplianceOf(ctx, d.ID); err != nil {
		return nil, err
	}
	set, _, err := c.reg.PolicySet(ctx)
	if err != nil {
		return nil, err
	}
	for _, res := range data.Compliance.Results {
		row := resultRow{ResultRecord: res}
		if p, ok := set.Policy(res.PolicyID); ok {
			row.Requirement = compliance.Requirement(p)
			row.Remedy = compliance.Remedy(p, res.Status, res.Reason, d.Platform)
			if res.Status != compliance.StatusPass && res.Status != compliance.StatusNotApplicable {
				data.Policies = append(data.Policies, p)
			}
		}
		data.Results = append(data.Results, row)
	}
	if data.Exceptions, err = c.reg.ListExceptions(ctx, registry.ExceptionFilter{Device: d.ID}, now); err != nil {
		return nil, err
	}
	data.SoftwareFilter = strings.TrimSpace(r.URL.Query().Get("software"))
	if data.Software, data.SoftwareNext, err = c.software(ctx, d.ID, data.SoftwareFilter, r.URL.Query().Get("sw_cursor")); err != nil {
		return nil, err
	}
	if data.History, err = c.reg.RecentChanges(ctx, d.ID, historyOnPage); err != nil {
		return nil, err
	}
	if s, err := c.reg.DeviceFacts(ctx, d.ID); err == nil {
		data.Snapshot = &facts{s}
	} else if !errors.Is(err, registry.ErrNotFound) {
		return nil, err
	}
	if wp, err := c.reg.WipeByRef(ctx, d.ID); err == nil {
		data.Wipe = &wp
	} else if !errors.Is(err, registry.ErrNotFound) {
		return nil, err
	}
	data.MinExpiry = now.AddDate(0, 0, 1).UTC().Format(time.DateOnly)
	data.MaxExpiry = now.AddDate(0, 0, 90).UTC().Format(time.DateOnly)
	return data, nil
}

// software returns one page of the device's packages whose name contains
// filter (case-insensitive); the registry pages by name, so a filtered
// page reads on until it has softwarePage matches or the list ends.
func (c *Console) software(ctx context.Context, id, filter, cursor string) ([]registry.Package, string, error) {
	if filter == "" {
		return c.reg.DeviceSoftware(ctx, id, registry.Page{Limit: softwarePage, Cursor: cursor})
	}
	want := strings.ToLower(filter)
	var out []registry.Package
	for {
		items, next, err := c.reg.DeviceSoftware(ctx, id, registry.Page{Limit: registry.MaxLimit, Cursor: cursor})
		if err != nil {
			return nil, "", err
		}
		for _, p := range items {
			if strings.Contains(strings.ToLower(p.Name), want) {
				out = append(out, p)
			}
		}
		if next == "" || len(out) >= softwarePage {
			return out, next, nil
		}
		cursor = next
	}
}

func (c *Console) deviceHistory(w http.ResponseWriter, r *http.Request, v *view) {
	d, err := c.reg.Device(r.Context(), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	items, next, err := c.reg.History(r.Context(), registry.HistoryFilter{Device: d.ID, Kind: r.URL.Query().Get("kind")}, pageOf(r))
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	t := table{
		Intro:   "Every change the device's reports, enrolments and merges made.",
		Filters: []filter{{Name: "kind", Label: "Kind", Value: r.URL.Query().Get("kind")}},
		Columns: []string{"When", "Kind", "Change"},
		Empty:   "No change recorded yet.",
	}
	for _, e := range items {
		t.Rows = append(t.Rows, []cell{stamp(e.At), text(e.Kind), text(changeText(e))})
	}
	t.Next = nextQuery(r, next)
	c.showTable(w, r, v, "history-"+url.PathEscape(d.ID), "History of "+orDash(d.Hostname, d.ID), t)
}

// changeText says what one history entry changed.
func changeText(e registry.HistoryEntry) string {
	switch {
	case e.Old != "" && e.New != "":
		return e.Subject + ": " + e.Old + " → " + e.New
	case e.New != "":
		return e.Subject + ": " + e.New
	case e.Old != "":
		return e.Subject + ": was " + e.Old
	}
	return e.Subject
}
