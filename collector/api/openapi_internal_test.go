package api

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/metrics"
)

// routeServer is a server with every route (the test clock's included),
// enough to list routes and build the document.
func routeServer(metricsPublic bool) *server {
	s := &server{testClock: stubClock{}, metricsPerm: access.MetricsRead, metrics: metrics.New()}
	if metricsPublic {
		s.metricsPerm = access.Public
	}
	return s
}

type stubClock struct{}

func (stubClock) SetOffset(time.Duration) {}
func (stubClock) Offset() time.Duration   { return 0 }

// document is the built document as JSON would read it back.
func document(t *testing.T, s *server) map[string]any {
	t.Helper()
	b, err := s.openAPIDocument()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }

// TestOpenAPIRoutes: the document has exactly the routes the server
// serves, each with its methods and the permission it declares, and every
// contract names a route.
func TestOpenAPIRoutes(t *testing.T) {
	t.Parallel()
	for _, public := range []bool{false, true} {
		s := routeServer(public)
		paths := obj(document(t, s)["paths"])
		served := map[string]bool{}
		for _, rt := range s.routes() {
			item := obj(paths[rt.path])
			if item == nil {
				t.Errorf("%s is served but not in the document", rt.path)
				continue
			}
			for m, e := range rt.methods {
				key := m + " " + rt.path
				served[key] = true
				o := obj(item[strings.ToLower(m)])
				if o == nil {
					t.Errorf("%s is served but not in the document", key)
					continue
				}
				if got := o["x-roster-permission"]; got != string(e.perm) {
					t.Errorf("%s: x-roster-permission %v, want %s", key, got, e.perm)
				}
				sec, _ := o["security"].([]any)
				switch {
				case e.perm == access.Public && len(sec) != 0:
					t.Errorf("%s is public but the document asks for %v", key, sec)
				case e.perm == access.Agent && (len(sec) != 1 || obj(sec[0])[deviceScheme] == nil):
					t.Errorf("%s: security %v, want the device certificate", key, sec)
				case e.perm != access.Public && e.perm != access.Agent && (len(sec) != 1 || obj(sec[0])[bearerScheme] == nil):
					t.Errorf("%s: security %v, want a bearer token", key, sec)
				}
			}
		}
		for p, item := range paths {
			for m := range obj(item) {
				if key := strings.ToUpper(m) + " " + p; !served[key] {
					t.Errorf("the document has %s, which no route serves", key)
				}
			}
		}
		for key := range contracts() {
			if !served[key] {
				t.Errorf("contracts() has %s, which no route serves", key)
			}
		}
	}
}

// TestOpenAPITypes: every type a contract declares gives a schema, named
// types a component, and every $ref in the document resolves.
func TestOpenAPITypes(t *testing.T) {
	t.Parallel()
	doc := document(t, routeServer(false))
	comps := obj(obj(doc["components"])["schemas"])
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if s, ok := e.(string); ok && k == "$ref" {
					refs = append(refs, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
	for _, r := range refs {
		name, ok := strings.CutPrefix(r, "#/components/schemas/")
		if !ok || comps[name] == nil {
			t.Errorf("$ref %s resolves to nothing", r)
		}
	}
	for key, c := range contracts() {
		m, path, _ := strings.Cut(key, " ")
		o := obj(obj(obj(doc["paths"])[path])[strings.ToLower(m)])
		if o == nil {
			continue // the route test reports it
		}
		check := func(where string, content map[string]any, cs []content) {
			for _, ct := range cs {
				s := obj(obj(content[ct.media])["schema"])
				switch {
				case s == nil:
					t.Errorf("%s %s: no schema for %s", key, where, ct.media)
				case ct.v == nil:
				case reflect.TypeOf(ct.v).Name() != "":
					if ref, _ := s["$ref"].(string); !strings.HasPrefix(ref, "#/components/schemas/") {
						t.Errorf("%s %s: %T gives %v, want a component", key, where, ct.v, s)
					}
				case s["type"] == nil:
					t.Errorf("%s %s: %T gives the schema %v", key, where, ct.v, s)
				}
			}
		}
		if len(c.body) > 0 {
			check("request", obj(obj(o["requestBody"])["content"]), c.body)
		}
		responses := obj(o["responses"])
		check("response", obj(obj(responses[jsonNumber(c.status)])["content"]), c.answers)
		for _, status := range []string{"401", "403", "429"} {
			if (c.id == "healthz" || c.id == "enroll") && responses[status] != nil {
				t.Errorf("%s is public but documents %s", key, status)
			}
		}
	}
	if _, ok := comps["ErrorBody"]; !ok {
		t.Error("no ErrorBody component")
	}
}

func jsonNumber(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestOpenAPIValid: kin-openapi loads the document as OpenAPI 3.1 and
// finds nothing wrong with it.
func TestOpenAPIValid(t *testing.T) {
	t.Parallel()
	b, err := routeServer(false).openAPIDocument()
	if err != nil {
		t.Fatal(err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(b)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi %q, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("validate: %v", err)
	}
	var ids []string
	for _, item := range doc.Paths.Map() {
		for _, o := range item.Operations() {
			ids = append(ids, o.OperationID)
		}
	}
	if len(ids) != len(contracts()) {
		t.Errorf("%d operations, %d contracts", len(ids), len(contracts()))
	}
	slices.Sort(ids)
	if c := slices.Compact(slices.Clone(ids)); len(c) != len(ids) {
		t.Errorf("operation ids repeat: %v", ids)
	}
}

// TestOpenAPINullable: fields encoding/json may write as null are
// nullable, the rest are not, and a type a client sends requires nothing.
func TestOpenAPINullable(t *testing.T) {
	t.Parallel()
	comps := obj(obj(document(t, routeServer(false))["components"])["schemas"])
	rec := obj(comps["TokenRecord"])
	props := obj(rec["properties"])
	if _, ok := obj(props["revoked_at"])["anyOf"]; !ok {
		t.Errorf("TokenRecord.revoked_at (a *time.Time) is not nullable: %v", props["revoked_at"])
	}
	if _, ok := obj(props["id"])["anyOf"]; ok {
		t.Errorf("TokenRecord.id is nullable: %v", props["id"])
	}
	if req, _ := rec["required"].([]any); !slices.Contains(req, any("id")) {
		t.Errorf("TokenRecord requires %v, want id among them", req)
	}
	if req := obj(comps["TokenRequest"])["required"]; req != nil {
		t.Errorf("TokenRequest requires %v: a client may leave any field out", req)
	}
	if ap := obj(comps["TokenRequest"])["additionalProperties"]; ap != false {
		t.Errorf("TokenRequest additionalProperties %v, want false (unknown fields are refused)", ap)
	}
}

// TestOpenAPIStrictInAdditiveOut: request bodies refuse fields they do not
// declare, as the decoder does; responses allow them, so a field the API
// adds later breaks no client that validates against the document; and a
// type in both places (a policy) gets a component for each.
func TestOpenAPIStrictInAdditiveOut(t *testing.T) {
	t.Parallel()
	comps := obj(obj(document(t, routeServer(false))["components"])["schemas"])
	for _, name := range []string{"TokenRequest", "AssetInput", "PolicyFile", "PolicyInput", "PolicyScopeInput", "ExceptionRequest", "WipeStartRequest", "SnapshotInput"} {
		if ap, ok := obj(comps[name])["additionalProperties"]; !ok || ap != false {
			t.Errorf("request schema %s: additionalProperties %v, want false", name, ap)
		}
	}
	for _, name := range []string{"Device", "DeviceDetail", "Policy", "PolicyScope", "PolicySet", "Wipe", "TokenRecord", "TokenCreated", "AuditVerify", "Snapshot", "Ack"} {
		if comps[name] == nil {
			t.Errorf("no component %s", name)
		}
		if ap, ok := obj(comps[name])["additionalProperties"]; ok {
			t.Errorf("response schema %s: additionalProperties %v, want it left out", name, ap)
		}
	}
	items := obj(obj(obj(comps["PolicyFile"])["properties"])["policies"])
	if s, _ := json.Marshal(items); !strings.Contains(string(s), `"#/components/schemas/PolicyInput"`) {
		t.Errorf("PolicyFile.policies is %s, want PolicyInput items", s)
	}
}
