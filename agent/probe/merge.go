package probe

import (
	"reflect"
	"strings"

	"github.com/rosterhq/roster/shared/wire"
)

// mergeStruct merges *src into *dst (both pointers to the same struct
// type): zero fields of dst take src's value, slices are appended, maps are
// merged with dst's keys winning.
func mergeStruct(dst, src any) {
	dv := reflect.ValueOf(dst).Elem()
	sv := reflect.ValueOf(src).Elem()
	for i := 0; i < dv.NumField(); i++ {
		df, sf := dv.Field(i), sv.Field(i)
		if !df.CanSet() || sf.IsZero() {
			continue
		}
		switch df.Kind() {
		case reflect.Slice:
			df.Set(reflect.AppendSlice(df, sf))
		case reflect.Map:
			if df.IsNil() {
				df.Set(reflect.MakeMap(df.Type()))
			}
			for _, k := range sf.MapKeys() {
				if !df.MapIndex(k).IsValid() {
					df.SetMapIndex(k, sf.MapIndex(k))
				}
			}
		default:
			if df.IsZero() {
				df.Set(sf)
			}
		}
	}
}

// pruneUnknown deletes entries of unknown whose field (by JSON name) in the
// struct *v is set after all: one probe could not read it, another did. A
// tri-state field holding wire.Unknown is not set: its reason stays.
func pruneUnknown(v any, unknown map[string]string) {
	if len(unknown) == 0 {
		return
	}
	rv := reflect.ValueOf(v).Elem()
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		f := rv.Field(i)
		if f.Type() == reflect.TypeFor[wire.Tri]() && f.Interface() == wire.Unknown {
			continue
		}
		if _, ok := unknown[name]; ok && !f.IsZero() {
			delete(unknown, name)
		}
	}
}
