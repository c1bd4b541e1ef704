package api

// The asset register's endpoints: assets (add, read, list, change, link),
// the CSV import and export of the fixed-asset register, the register's
// history, the flags refresh and the reconciliation report.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/apitypes"
	"github.com/rosterhq/roster/collector/assetcsv"
	"github.com/rosterhq/roster/collector/registry"
)

// maxImportBody limits a register upload: 100,000 assets at a generous
// 300 bytes a row.
const maxImportBody = 32 << 20

// failAsset writes row errors with the rows they name, and anything else
// (a taken tag among it) as fail does.
func (s *server) failAsset(w http.ResponseWriter, r *http.Request, err error) {
	var re *registry.RowsError
	switch {
	case errors.As(err, &re):
		msg := fmt.Sprintf("%d row errors, nothing was written", len(re.Rows))
		if len(re.Rows) == 1 {
			msg = "1 row error, nothing was written"
		}
		writeJSON(w, http.StatusBadRequest, apitypes.RowsErrorBody{Error: apitypes.RowsError{Code: "invalid_rows", Message: msg, Rows: each(re.Rows, toRowError)}})
	default:
		s.fail(w, r, err)
	}
}

// actor is who the request's token says made a change.
func actorOf(r *http.Request) registry.Actor {
	a := access.ActorFrom(r.Context())
	return registry.Actor{ID: a.ID, Name: a.Name}
}

func (s *server) addAsset(w http.ResponseWriter, r *http.Request) {
	var in apitypes.AssetInput
	if ae := decodeJSON(w, r, maxJSONBody, &in); ae != nil {
		s.fail(w, r, ae)
		return
	}
	a, err := s.reg.AddAsset(r.Context(), fromAssetInput(in), actorOf(r), s.now())
	if err != nil {
		s.failAsset(w, r, err)
		return
	}
	s.logger.Info("asset added", "asset_tag", a.AssetTag, "by", actorOf(r).Name)
	writeJSON(w, http.StatusCreated, toAsset(a))
}

func (s *server) getAsset(w http.ResponseWriter, r *http.Request) {
	a, err := s.reg.Asset(r.Context(), r.PathValue("tag"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAsset(a))
}

func (s *server) updateAsset(w http.ResponseWriter, r *http.Request) {
	var in apitypes.AssetInput
	if ae := decodeJSON(w, r, maxJSONBody, &in); ae != nil {
		s.fail(w, r, ae)
		return
	}
	a, err := s.reg.UpdateAsset(r.Context(), r.PathValue("tag"), fromAssetInput(in), actorOf(r), s.now())
	if err != nil {
		s.failAsset(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAsset(a))
}

func (s *server) listAssets(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, ae := page(q)
	if ae != nil {
		s.fail(w, r, ae)
		return
	}
	f := registry.AssetFilter{Status: q.Get("status"), Type: q.Get("type"), Classification: q.Get("classification"),
		Owner: q.Get("owner"), Location: q.Get("location"), Flag: q.Get("flag"), Linked: q.Get("linked")}
	items, next, err := s.reg.ListAssets(r.Context(), f, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listOf(items, next, toAsset))
}

func (s *server) linkAsset(w http.ResponseWriter, r *http.Request) {
	var req apitypes.LinkRequest
	if ae := decodeJSON(w, r, maxJSONBody, &req); ae != nil {
		s.fail(w, r, ae)
		return
	}
	if strings.TrimSpace(req.Device) == "" {
		s.fail(w, r, errf(http.StatusBadRequest, "bad_request", "device is required: a device id, serial or hostname"))
		return
	}
	a, err := s.reg.LinkAsset(r.Context(), r.PathValue("tag"), req.Device, actorOf(r), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAsset(a))
}

func (s *server) unlinkAsset(w http.ResponseWriter, r *http.Request) {
	a, err := s.reg.UnlinkAsset(r.Context(), r.PathValue("tag"), actorOf(r), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAsset(a))
}

// boolParam reads true/false (absent: false).
func boolParam(v, name string) (bool, *apiError) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errf(http.StatusBadRequest, "bad_parameter", "%s must be true or false, not %q", name, v)
	}
	return b, nil
}

func (s *server) importAssets(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	dry, ae := boolParam(q.Get("dry_run"), "dry_run")
	if ae != nil {
		s.fail(w, r, ae)
		return
	}
	var opt assetcsv.Options
	if m := q.Get("map"); m != "" {
		var err error
		if opt.Map, err = assetcsv.ParseMap(m); err != nil {
			s.fail(w, r, errf(http.StatusBadRequest, "bad_parameter", "map: %v", err))
			return
		}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "text/csv" {
		s.fail(w, r, errf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be text/csv, not %q", r.Header.Get("Content-Type")))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxImportBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(w, r, errf(http.StatusRequestEntityTooLarge, "too_large", "register over the %d-byte limit", int64(maxImportBody)))
			return
		}
		s.fail(w, r, errf(http.StatusBadRequest, "bad_request", "read body: %v", err))
		return
	}
	rows, rowErrs, err := assetcsv.Read(bytes.NewReader(body), opt)
	if err != nil {
		s.fail(w, r, errf(http.StatusBadRequest, "bad_request", "%v", err))
		return
	}
	res, err := s.reg.ImportAssets(r.Context(), rows, rowErrs, registry.ImportOptions{DryRun: dry, Actor: actorOf(r), Now: s.now()})
	if err != nil {
		s.failAsset(w, r, err)
		return
	}
	if !dry {
		s.logger.Info("asset register imported", "created", len(res.Created), "updated", len(res.Updated), "unchanged", res.Unchanged, "by", actorOf(r).Name)
	}
	writeJSON(w, http.StatusOK, toImportResult(res))
}

func (s *server) exportAssets(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch q.Get("format") {
	case "", "csv":
		rows, err := s.reg.ExportAssets(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !s.sensitiveRead(w, r, "assets.exported", "register", map[string]any{"format": "csv", "assets": len(rows)}) {
			return
		}
		var buf bytes.Buffer
		if err := assetcsv.Write(&buf, rows); err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="assets.csv"`)
		w.WriteHeader(http.StatusOK)
		w.Write(buf.Bytes())
	case "json":
		all := []registry.Asset{}
		p := registry.Page{Limit: registry.MaxLimit}
		for {
			items, next, err := s.reg.ListAssets(r.Context(), registry.AssetFilter{}, p)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			all = append(all, items...)
			if next == "" {
				break
			}
			p.Cursor = next
		}
		writeJSON(w, http.StatusOK, listOf(all, "", toAsset))
	default:
		s.fail(w, r, errf(http.StatusBadRequest, "bad_parameter", "format must be csv or json, not %q", q.Get("format")))
	}
}

func (s *server) assetHistory(w http.ResponseWriter, r *http.Request) {
	s.register(w, r, r.PathValue("tag"))
}

func (s *server) registerHistory(w http.ResponseWriter, r *http.Request) {
	s.register(w, r, "")
}

func (s *server) register(w http.ResponseWriter, r *http.Request, tag string) {
	q := r.URL.Query()
	p, ae := page(q)
	if ae != nil {
		s.fail(w, r, ae)
		return
	}
	if tag == "" {
		tag = q.Get("asset")
	}
	f := registry.RegisterFilter{AssetTag: tag, Device: q.Get("device"), Kind: q.Get("kind")}
	if f.Since, f.Until, ae = timeRange(q); ae != nil {
		s.fail(w, r, ae)
		return
	}
	items, next, err := s.reg.RegisterHistory(r.Context(), f, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listOf(items, next, toRegisterEntry))
}

func (s *server) refreshFlags(w http.ResponseWriter, r *http.Request) {
	ch, err := s.reg.RefreshFlags(r.Context(), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toChanges(ch))
}

func (s *server) reconcile(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rule := s.hostnameRule
	if v := q.Get("hostname_rule"); v != "" {
		var err error
		if rule, err = registry.ParseHostnameRule(v); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	rep, err := s.reg.Reconcile(r.Context(), rule, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toReconciliation(rep))
}
