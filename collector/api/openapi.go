package api

// The OpenAPI 3.1 document served at GET /api/v1/openapi.json, built from
// the routes this server serves (routes) and their contracts
// (contract.go): schemas are reflected from the Go types the handlers
// decode and encode (JSON Schema 2020-12, OpenAPI 3.1's dialect), so the
// document cannot say something the code does not do.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"unicode"

	"github.com/invopop/jsonschema"
	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/apitypes"
	"github.com/rosterhq/roster/shared/wire"
)

func (s *server) openAPI(w http.ResponseWriter, r *http.Request) {
	if s.openapi == nil {
		s.fail(w, r, errf(http.StatusInternalServerError, "internal", "the API description could not be built"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(s.openapi)
}

// openAPIDocument builds the document of every route s serves.
func (s *server) openAPIDocument() ([]byte, error) {
	doc, err := buildOpenAPI(s.routes(), contracts())
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(doc, "", "  ")
}

// Security scheme names.
const (
	bearerScheme = "bearerToken"
	deviceScheme = "deviceCertificate"
)

func buildOpenAPI(routes []route, cs map[string]contract) (map[string]any, error) {
	sc := newSchemas()
	paths := map[string]any{}
	ids := map[string]string{}
	for _, rt := range routes {
		item := map[string]any{}
		for m, e := range rt.methods {
			key := m + " " + rt.path
			c, ok := cs[key]
			if !ok {
				return nil, fmt.Errorf("%s has no contract in contracts()", key)
			}
			if other, dup := ids[c.id]; dup {
				return nil, fmt.Errorf("%s and %s share operation id %q", other, key, c.id)
			}
			ids[c.id] = key
			o, err := operation(sc, rt.path, e.perm, c)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			item[strings.ToLower(m)] = o
		}
		paths[rt.path] = item
	}
	schemas, rewrite, err := sc.components()
	if err != nil {
		return nil, err
	}
	walkRefs(paths, rewrite)
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "Roster collector API",
			"version": fmt.Sprintf("v1 (agent protocol %d)", wire.ProtocolVersion),
			"description": "Agents enrol and report over mutual TLS; people and automation use bearer tokens, " +
				"each operation needing the permission in x-roster-permission. Every error is " +
				`{"error": {"code", "message"}} with a stable code (docs/api.md).`,
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": schemas,
			"securitySchemes": map[string]any{
				bearerScheme: map[string]any{"type": "http", "scheme": "bearer", "description": "an API token of a principal (rst_…)"},
				deviceScheme: map[string]any{"type": "mutualTLS", "description": "the device certificate the collector CA issued at enrolment"},
			},
		},
	}, nil
}

// operation is one OpenAPI operation object.
func operation(sc *schemas, path string, perm access.Permission, c contract) (map[string]any, error) {
	o := map[string]any{"operationId": c.id, "summary": c.summary, "x-roster-permission": string(perm)}
	switch perm {
	case access.Public:
		o["security"] = []any{}
	case access.Agent:
		o["security"] = []any{map[string]any{deviceScheme: []string{}}}
	default:
		o["security"] = []any{map[string]any{bearerScheme: []string{}}}
	}
	var ps []any
	for _, name := range pathParams(path) {
		ps = append(ps, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	for _, p := range c.params {
		s := map[string]any{"type": p.kind}
		if p.kind == "date-time" {
			s = map[string]any{"type": "string", "format": "date-time"}
		}
		if p.enum != nil {
			s["enum"] = p.enum
		}
		q := map[string]any{"name": p.name, "in": p.in, "schema": s}
		if p.desc != "" {
			q["description"] = p.desc
		}
		if p.required {
			q["required"] = true
		}
		ps = append(ps, q)
	}
	if ps != nil {
		o["parameters"] = ps
	}
	if len(c.body) > 0 {
		body, err := contentOf(sc, c.body, true)
		if err != nil {
			return nil, err
		}
		o["requestBody"] = map[string]any{"required": !c.bodyOptional, "content": body}
	}
	if len(c.answers) == 0 {
		return nil, fmt.Errorf("no success response declared")
	}
	body, err := contentOf(sc, c.answers, false)
	if err != nil {
		return nil, err
	}
	responses := map[string]any{fmt.Sprint(c.status): map[string]any{"description": http.StatusText(c.status), "content": body}}
	fails := map[int]string{}
	if len(c.body) > 0 || len(c.params) > 0 || len(pathParams(path)) > 0 {
		fails[http.StatusBadRequest] = "bad_request, malformed_json, unknown_field, bad_parameter, …"
	}
	if perm != access.Public {
		fails[http.StatusUnauthorized] = "unauthenticated: no or a refused credential"
		fails[http.StatusForbidden] = "forbidden: the role lacks the permission"
		fails[http.StatusTooManyRequests] = "too_many_failures: this address failed authentication too often"
	}
	if len(pathParams(path)) > 0 {
		fails[http.StatusNotFound] = "not_found"
	}
	if len(c.body) > 0 {
		fails[http.StatusRequestEntityTooLarge] = "too_large"
		fails[http.StatusUnsupportedMediaType] = "unsupported_media_type"
	}
	for status, what := range fails {
		v := any(wire.ErrorBody{})
		if e, ok := c.errs[status]; ok {
			v = e
		}
		s, err := sc.ref(v, false)
		if err != nil {
			return nil, err
		}
		if e, ok := c.errs[status]; ok && e != nil {
			// A particular error body, or the usual one.
			common, err := sc.ref(wire.ErrorBody{}, false)
			if err != nil {
				return nil, err
			}
			s = map[string]any{"anyOf": []any{s, common}}
		}
		responses[fmt.Sprint(status)] = map[string]any{"description": what, "content": map[string]any{"application/json": map[string]any{"schema": s}}}
	}
	s, err := sc.ref(wire.ErrorBody{}, false)
	if err != nil {
		return nil, err
	}
	responses["default"] = map[string]any{"description": "any other error (405, 409, 500, 503, …)", "content": map[string]any{"application/json": map[string]any{"schema": s}}}
	o["responses"] = responses
	return o, nil
}

// contentOf is a content map: the schema of each body's type, or an
// opaque string for a body declared without one.
func contentOf(sc *schemas, cs []content, input bool) (map[string]any, error) {
	out := map[string]any{}
	for _, c := range cs {
		s := map[string]any{"type": "string"}
		if c.v != nil {
			var err error
			if s, err = sc.ref(c.v, input); err != nil {
				return nil, err
			}
		}
		out[c.media] = map[string]any{"schema": s}
	}
	return out, nil
}

// pathParams are the {names} in a route pattern.
func pathParams(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			out = append(out, strings.TrimSuffix(strings.TrimSuffix(name, "}"), "..."))
		}
	}
	return out
}

// schemas reflects Go types into JSON Schemas and collects the named ones
// as components, each type once under one name. A type is reflected
// apart as a request body (strict: additional properties refused, as the
// decoder refuses unknown fields; nothing required) and as a response
// (additional properties allowed, so a field the API adds later breaks no
// strict client); a type in both places gets two components, the
// request's named ...Input.
type schemas struct {
	out, in *jsonschema.Reflector
	// defs are the reflected definitions by type key (see key); types the
	// Go type of each key.
	defs  map[string]*jsonschema.Schema
	types map[string]reflect.Type
}

// inputKey marks the keys of types reflected as request bodies.
const inputKey = "in|"

func newSchemas() *schemas {
	sc := &schemas{defs: map[string]*jsonschema.Schema{}, types: map[string]reflect.Type{}}
	sc.out = &jsonschema.Reflector{Anonymous: true, AllowAdditionalProperties: true, Namer: sc.key}
	sc.in = &jsonschema.Reflector{Anonymous: true, Namer: func(t reflect.Type) string {
		if k := sc.key(t); k != "" {
			return inputKey + k
		}
		return ""
	}}
	return sc
}

// key names a type in definitions before components get their final
// names: its package path and name, "" for unnamed types.
func (sc *schemas) key(t reflect.Type) string {
	if t.Name() == "" {
		return ""
	}
	k := t.PkgPath() + ":" + t.Name()
	sc.types[k] = t
	return k
}

// typeOf is the Go type of a definition's key.
func (sc *schemas) typeOf(k string) reflect.Type {
	return sc.types[strings.TrimPrefix(k, inputKey)]
}

// shortName is a type's component name: its name capitalised, and a
// generic type named after its arguments (list[registry.Device] is
// DeviceList).
func shortName(t reflect.Type) string {
	name := t.Name()
	base, args, ok := strings.Cut(name, "[")
	if ok {
		var b strings.Builder
		for _, a := range strings.Split(strings.TrimSuffix(args, "]"), ",") {
			b.WriteString(upperFirst(a[strings.LastIndex(a, ".")+1:]))
		}
		return b.String() + upperFirst(base)
	}
	return upperFirst(name)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// ref reflects v's type and answers its schema (a $ref for a named type);
// input marks the types reached as ones a client sends.
func (sc *schemas) ref(v any, input bool) (map[string]any, error) {
	r := sc.out
	if input {
		r = sc.in
	}
	root := r.Reflect(v)
	for k, d := range root.Definitions {
		if _, ok := sc.defs[k]; !ok {
			sc.defs[k] = d
		}
	}
	root.Definitions = nil
	root.Version = ""
	return toJSON(root)
}

// components answers the named schemas under their final names, with
// every $ref pointing to them. A short name two packages share is
// prefixed with the package's name (WirePackage), except in apitypes.
func (sc *schemas) components() (map[string]any, func(string) string, error) {
	apiTypes := reflect.TypeFor[apitypes.Status]().PkgPath()
	final := map[string]string{}
	count := map[string]int{}
	for k := range sc.defs {
		if !strings.HasPrefix(k, inputKey) {
			count[shortName(sc.typeOf(k))]++
		}
	}
	for k := range sc.defs {
		if in, ok := strings.CutPrefix(k, inputKey); ok {
			if _, both := sc.defs[in]; !both {
				count[shortName(sc.typeOf(k))]++
			}
		}
	}
	taken := map[string]string{}
	for k := range sc.defs {
		in, input := strings.CutPrefix(k, inputKey)
		pkg, _, _ := strings.Cut(in, ":")
		short := shortName(sc.typeOf(k))
		name := short
		if count[short] > 1 && pkg != apiTypes {
			// The API's own types keep the plain name.
			name = upperFirst(pkg[strings.LastIndex(pkg, "/")+1:]) + short
		}
		if _, both := sc.defs[in]; input && both {
			name += "Input"
		}
		if other, ok := taken[name]; ok {
			return nil, nil, fmt.Errorf("types %s and %s both get the schema name %s", other, k, name)
		}
		taken[name], final[k] = k, name
	}
	out := map[string]any{}
	for k, d := range sc.defs {
		nullable(d, sc.typeOf(k))
		if strings.HasPrefix(k, inputKey) {
			// A client may leave out any field: strict decoding refuses
			// unknown fields, never missing ones (handlers say which
			// they need).
			d.Required = nil
		}
		m, err := toJSON(d)
		if err != nil {
			return nil, nil, err
		}
		out[final[k]] = m
	}
	rewrite := func(ref string) string {
		if k, ok := strings.CutPrefix(ref, "#/$defs/"); ok {
			return "#/components/schemas/" + final[k]
		}
		return ref
	}
	walkRefs(out, rewrite)
	return out, rewrite, nil
}

// nullable lets a property be null where encoding/json writes null: a nil
// pointer, slice or map in a field without omitempty.
func nullable(d *jsonschema.Schema, t reflect.Type) {
	if t == nil || t.Kind() != reflect.Struct || d.Properties == nil {
		return
	}
	for _, f := range jsonFields(t) {
		switch f.Type.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
		default:
			continue
		}
		if f.Type == reflect.TypeFor[json.RawMessage]() {
			continue // any JSON value, null included
		}
		opts := strings.Split(f.Tag.Get("json"), ",")[1:]
		if slices.Contains(opts, "omitempty") || slices.Contains(opts, "omitzero") {
			continue
		}
		name := jsonName(f)
		if p, ok := d.Properties.Get(name); ok && p != nil {
			d.Properties.Set(name, &jsonschema.Schema{AnyOf: []*jsonschema.Schema{p, {Type: "null"}}})
		}
	}
}

// jsonFields are the fields encoding/json writes for struct t, embedded
// structs' fields included.
func jsonFields(t reflect.Type) []reflect.StructField {
	var out []reflect.StructField
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		if f.Anonymous && strings.Split(tag, ",")[0] == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				out = append(out, jsonFields(et)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		out = append(out, f)
	}
	return out
}

func jsonName(f reflect.StructField) string {
	if n := strings.Split(f.Tag.Get("json"), ",")[0]; n != "" {
		return n
	}
	return f.Name
}

func toJSON(s *jsonschema.Schema) (map[string]any, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode schema: %w", err)
	}
	var m any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode schema: %w", err)
	}
	if mm, ok := m.(map[string]any); ok {
		return mm, nil
	}
	// true: any value.
	return map[string]any{}, nil
}

// walkRefs rewrites every "$ref" in v.
func walkRefs(v any, rewrite func(string) string) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok && k == "$ref" {
				v[k] = rewrite(s)
				continue
			}
			walkRefs(e, rewrite)
		}
	case []any:
		for _, e := range v {
			walkRefs(e, rewrite)
		}
	}
}
