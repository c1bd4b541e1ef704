package compliance

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unique"
	"unsafe"
)

// notInterned are the Facts strings Interned leaves as they are: the
// device's own.
var notInterned = map[string]bool{"Device.Hostname": true, "Device.Serial": true, "Device.UUID": true}

// TestFactsInternedEqual: the interned copy of every captured host's facts
// and results is equal to the original, and the original is untouched.
func TestFactsInternedEqual(t *testing.T) {
	set := mustSet(t, string(DefaultFile()))
	for _, host := range allHosts(t) {
		in := input(t, host)
		f := in.Facts
		before := FactsFromSnapshot(loadSnapshot(t, host))
		got := f.Interned()
		if !reflect.DeepEqual(got, f) || !reflect.DeepEqual(f, before) {
			t.Errorf("%s: interned facts differ from the original, or the original changed:\n got %+v\nwant %+v", host, got, before)
		}
		d, err := DiffStored("", nil, set.Evaluate(in), func(tm time.Time) string { return tm.UTC().Format(time.RFC3339) }, nil)
		if err != nil {
			t.Fatal(err)
		}
		stored := d.Results
		if len(stored) == 0 {
			t.Fatalf("%s: no results", host)
		}
		if ir := InternResults(stored); !reflect.DeepEqual(ir, stored) {
			t.Errorf("%s: interned results %+v, want %+v", host, ir, stored)
		}
	}
}

// TestFactsInternedCoversEveryString fills every string of a Facts (through
// pointers, slices and maps) with a value of its own and checks that each
// comes back interned, but the device's own: a string field added to
// Facts without being added to Interned fails here.
func TestFactsInternedCoversEveryString(t *testing.T) {
	var f Facts
	fill(t, reflect.ValueOf(&f).Elem(), "")
	got := f.Interned()
	seen := 0
	walk(reflect.ValueOf(got), "", func(path, s string) {
		seen++
		shared := unsafe.StringData(s) == unsafe.StringData(unique.Make(s).Value())
		if shared == notInterned[path] {
			t.Errorf("Facts.%s: interned %v, want %v", path, shared, !notInterned[path])
		}
	})
	if seen < 20 {
		t.Errorf("walked %d strings of Facts, want every one (at least 20)", seen)
	}
}

// fill sets every string under v to a fresh copy of its path.
func fill(t *testing.T, v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(strings.Clone("value of " + path))
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(t, v.Field(i), join(path, v.Type().Field(i).Name))
			}
		}
	case reflect.Pointer:
		if v.Type().Elem().Kind() == reflect.Struct && v.Type().Elem().PkgPath() != "time" {
			v.Set(reflect.New(v.Type().Elem()))
			fill(t, v.Elem(), path)
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(t, v.Index(i), path)
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String || v.Type().Elem().Kind() != reflect.String {
			t.Fatalf("Facts.%s: a map of %s; extend fill and Interned", path, v.Type())
		}
		v.Set(reflect.MakeMap(v.Type()))
		v.SetMapIndex(reflect.ValueOf(strings.Clone("key of "+path)), reflect.ValueOf(strings.Clone("value of "+path)))
	}
}

// walk calls fn with every string under v and its path.
func walk(v reflect.Value, path string, fn func(path, s string)) {
	switch v.Kind() {
	case reflect.String:
		fn(path, v.String())
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				walk(v.Field(i), join(path, v.Type().Field(i).Name), fn)
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			walk(v.Elem(), path, fn)
		}
	case reflect.Slice:
		for i := range v.Len() {
			walk(v.Index(i), path, fn)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			fn(path+"[key]", it.Key().String())
			fn(path+"[value]", it.Value().String())
		}
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// TestResultsInternerShares: devices with the same results document get
// one shared interned copy, equal to their results; a document that names
// other results (a reason id given again after a sweep) or none gets a
// copy of its own.
func TestResultsInternerShares(t *testing.T) {
	set := mustSet(t, string(DefaultFile()))
	stamp := func(tm time.Time) string { return tm.UTC().Format(time.RFC3339) }
	ids := func(string) (int64, bool) { return 7, true } // every reason one id: documents alone cannot tell results apart
	var ri ResultsInterner
	hosts := allHosts(t)
	firsts := map[string][]StoredResult{}
	for _, host := range hosts {
		for range 2 { // each host twice: the second must share the first's copy
			d, err := DiffStored("", nil, set.Evaluate(input(t, host)), stamp, ids)
			if err != nil || d.Doc == "" {
				t.Fatalf("%s: doc %q, %v", host, d.Doc, err)
			}
			got := ri.Intern(d.Doc, d.Results)
			if !reflect.DeepEqual(got, d.Results) {
				t.Fatalf("%s: interned %+v, want %+v", host, got, d.Results)
			}
			first, seen := firsts[d.Doc]
			switch {
			case !seen:
				firsts[d.Doc] = got
			case slices.Equal(first, d.Results) && unsafe.SliceData(first) != unsafe.SliceData(got):
				t.Errorf("%s: equal results under one document got a copy of their own", host)
			case !slices.Equal(first, d.Results) && unsafe.SliceData(first) == unsafe.SliceData(got):
				t.Errorf("%s: results %+v given another device's copy %+v", host, d.Results, first)
			}
		}
	}
	if len(firsts) >= 2*len(hosts) {
		t.Fatalf("%d documents for %d hosts evaluated twice: nothing was shared", len(firsts), len(hosts))
	}
	// The captured hosts' results differ in their reasons, which the one
	// id hides from the documents: some documents must have met results
	// other than their first's.
	clashes := 0
	for _, host := range hosts {
		d, _ := DiffStored("", nil, set.Evaluate(input(t, host)), stamp, ids)
		if !slices.Equal(firsts[d.Doc], d.Results) {
			clashes++
		}
	}
	if clashes == 0 {
		t.Fatal("no two hosts' results share a document; the test proves nothing about clashes")
	}
	rs := []StoredResult{{PolicyID: "p", Status: StatusPass}}
	if a, b := ri.Intern("", rs), ri.Intern("", rs); unsafe.SliceData(a) == unsafe.SliceData(b) || !reflect.DeepEqual(a, rs) {
		t.Errorf("results without a document: %p and %p, %+v", unsafe.SliceData(a), unsafe.SliceData(b), a)
	}
}
