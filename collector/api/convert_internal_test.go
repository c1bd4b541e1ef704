package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/apitypes"
	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/registry"
)

// fill sets every exported field of v (a pointer) to a value of its own,
// non-zero, so a field a conversion drops or moves shows in the JSON.
func fill(v reflect.Value, name string) {
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC).Add(time.Duration(len(name)) * time.Hour)))
		return
	case v.Type() == reflect.TypeFor[json.RawMessage]():
		v.Set(reflect.ValueOf(json.RawMessage(`{"` + name + `":1}`)))
		return
	case v.Type() == reflect.TypeFor[time.Duration]():
		v.SetInt(int64(time.Minute))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("v-" + name)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(len(name)))
	case reflect.Uint64:
		v.SetUint(uint64(len(name)))
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), name)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		fill(s.Index(0), name+"0")
		fill(s.Index(1), name+"1")
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, name+"k")
		fill(e, name+"e")
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				fill(v.Field(i), name+"."+f.Name)
			}
		}
	}
}

func filled[T any]() T {
	var v T
	fill(reflect.ValueOf(&v).Elem(), reflect.TypeFor[T]().Name())
	return v
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestConvertKeepsJSON: every conversion from a registry value to its API
// type writes the same JSON, key for key and in order, as encoding the
// registry value did, with every field set, and with the nil slices that
// encode as null left nil.
func TestConvertKeepsJSON(t *testing.T) {
	t.Parallel()
	for name, pair := range map[string]func() (any, any){
		"Device":            func() (any, any) { v := filled[registry.Device](); return v, toDevice(v) },
		"Device zero":       func() (any, any) { return registry.Device{}, toDevice(registry.Device{}) },
		"MergeResult":       func() (any, any) { v := filled[registry.MergeResult](); return v, toMergeResult(v) },
		"Package":           func() (any, any) { v := filled[registry.Package](); return v, toPackage(v) },
		"HistoryEntry":      func() (any, any) { v := filled[registry.HistoryEntry](); return v, toHistoryEntry(v) },
		"SoftwareHit":       func() (any, any) { v := filled[registry.SoftwareHit](); return v, toSoftwareHit(v) },
		"Secret":            func() (any, any) { v := filled[registry.Secret](); return v, toSecret(v) },
		"Asset":             func() (any, any) { v := filled[registry.Asset](); return v, toAsset(v) },
		"Asset zero":        func() (any, any) { return registry.Asset{}, toAsset(registry.Asset{}) },
		"ImportResult":      func() (any, any) { v := filled[registry.ImportResult](); return v, toImportResult(v) },
		"RegisterEntry":     func() (any, any) { v := filled[registry.RegisterEntry](); return v, toRegisterEntry(v) },
		"Changes":           func() (any, any) { v := filled[registry.Changes](); return v, toChanges(v) },
		"Reconciliation":    func() (any, any) { v := filled[registry.Reconciliation](); return v, toReconciliation(v) },
		"Policy":            func() (any, any) { v := filled[compliance.Policy](); return v, toPolicy(v) },
		"Policy zero":       func() (any, any) { return compliance.Policy{}, toPolicy(compliance.Policy{}) },
		"PolicySetRecord":   func() (any, any) { v := filled[registry.PolicySetRecord](); return v, toPolicySetRecord(v) },
		"EvalStats":         func() (any, any) { v := filled[registry.EvalStats](); return v, toEvalStats(v) },
		"DeviceCompliance":  func() (any, any) { v := filled[registry.DeviceCompliance](); return v, toDeviceCompliance(v) },
		"ExceptionRecord":   func() (any, any) { v := filled[registry.ExceptionRecord](); return v, toException(v) },
		"ComplianceSummary": func() (any, any) { v := filled[registry.ComplianceSummary](); return v, toComplianceSummary(v) },
		"EventRecord":       func() (any, any) { v := filled[registry.EventRecord](); return v, toEvent(v) },
		"Wipe":              func() (any, any) { v := filled[registry.Wipe](); return v, toWipe(v) },
		"Principal":         func() (any, any) { v := filled[access.Principal](); return v, toPrincipal(v) },
		"Principal no role": func() (any, any) { v := access.Principal{ID: "p"}; return v, toPrincipal(v) },
		"TokenRecord":       func() (any, any) { v := filled[registry.TokenRecord](); return v, toToken(v) },
		"PrincipalRecord":   func() (any, any) { v := filled[registry.PrincipalRecord](); return v, toPrincipalRecord(v) },
		"AuditEntry":        func() (any, any) { v := filled[audit.Entry](); return v, toAuditEntry(v) },
		"AuditCheckpoint":   func() (any, any) { v := filled[audit.Checkpoint](); return v, toCheckpoint(v) },
		"AuditResult":       func() (any, any) { v := filled[audit.Result](); return v, toAuditResult(v) },
		"AuditResult ok":    func() (any, any) { v := audit.Result{OK: true}; return v, toAuditResult(v) },
		"RowError":          func() (any, any) { v := filled[registry.RowError](); return v, toRowError(v) },
	} {
		reg, api := pair()
		if d := cmp.Diff(jsonOf(t, reg), jsonOf(t, api)); d != "" {
			t.Errorf("%s: the API type writes other JSON than the registry's (-registry +api):\n%s", name, d)
		}
	}
	in := filled[apitypes.AssetInput]()
	if d := cmp.Diff(jsonOf(t, in), jsonOf(t, fromAssetInput(in))); d != "" {
		t.Errorf("AssetInput: the registry reads other fields than the API takes (-api +registry):\n%s", d)
	}
}
