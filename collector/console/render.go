package console

// Rendering: one layout around each page's template, helper functions the
// templates share, error pages, and CSV export of any list.

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/fault"
)

// page is what the layout receives.
type page struct {
	Title string
	V     *view
	Data  any
	Now   time.Time
	// Nav names the menu entry to mark current.
	Nav string
	// Query is the search box's text.
	Query string
}

func parseTemplates() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("parse console template %s: %w", n, err)
		}
		out[base] = t
	}
	return out, nil
}

var funcs = template.FuncMap{
	"when": func(t any) string {
		switch t := t.(type) {
		case time.Time:
			if t.IsZero() {
				return "never"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		case *time.Time:
			if t == nil || t.IsZero() {
				return "never"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		}
		return ""
	},
	"day": func(t time.Time) string { return t.UTC().Format(time.DateOnly) },
	"ago": func(now time.Time, t any) string {
		var at time.Time
		switch t := t.(type) {
		case time.Time:
			at = t
		case *time.Time:
			if t == nil {
				return "never"
			}
			at = *t
		}
		if at.IsZero() {
			return "never"
		}
		return humanAgo(now.Sub(at))
	},
	"intp": func(p *int) string {
		if p == nil {
			return "unknown"
		}
		return fmt.Sprint(*p)
	},
	"orUnknown": func(s string) string {
		if strings.TrimSpace(s) == "" {
			return "unknown"
		}
		return s
	},
	"label": func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	"join":  strings.Join,
	"add":   func(a, b int) int { return a + b },
}

func humanAgo(d time.Duration) string {
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

// render writes the named page inside the layout. It renders into a
// buffer first so a template error becomes a clean 500, not half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view, title string, data any) {
	t := c.pages[name]
	if t == nil {
		c.logger.Error("no console template", "name", name)
		http.Error(w, "console template missing", http.StatusInternalServerError)
		return
	}
	p := page{Title: title, V: v, Data: data, Now: c.now(), Nav: name, Query: r.URL.Query().Get("q")}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		c.logger.Error("render console page", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type errorData struct {
	Status  int
	Message string
}

func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, v *view, status int, msg string) {
	c.render(w, r, status, "error", v, http.StatusText(status), errorData{Status: status, Message: msg})
}

// fail shows a registry error with the status its kind implies: not found,
// invalid input and conflicts are the user's to fix and say so; anything
// else is logged and shown as a server error.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, v *view, err error) {
	var fe *fault.Error
	if errors.As(err, &fe) && fe.Kind.HTTPStatus() != http.StatusInternalServerError {
		c.errorPage(w, r, v, fe.Kind.HTTPStatus(), fe.Message)
		return
	}
	c.logger.Error("console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	c.errorPage(w, r, v, http.StatusInternalServerError, "Something went wrong on the collector; the error is in its log. Try again.")
}

// wantsCSV reports whether the list was asked for as CSV.
func wantsCSV(r *http.Request) bool { return r.URL.Query().Get("format") == "csv" }

// writeCSV sends rows as a CSV download named name.csv. Cells that a
// spreadsheet would run as a formula are prefixed with a quote.
func writeCSV(w http.ResponseWriter, name string, header []string, rows [][]string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
	cw := csv.NewWriter(w)
	cw.Write(header)
	for _, row := range rows {
		for i, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				row[i] = "'" + cell
			}
		}
		cw.Write(row)
	}
	cw.Flush()
}
