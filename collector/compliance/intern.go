package compliance

// Interned copies of facts and results, for a cache that keeps a whole
// fleet's in memory (the registry's fleet evaluation, evalcache.go). Most
// of their strings are the same on thousands of devices (OS name and
// version, kernel, vendor, model, encryption scheme, policy ids, statuses,
// reasons), and each device decoded its own copy: 4.3 KB of heap per
// device at 20,000 devices. An interned copy shares each such string with
// every other one (the unique package), so the cache holds it once.
// Strings that are nearly always the device's own (hostname, serial,
// UUID) are left as they are: interning them would only add entries to
// the unique map.

import (
	"slices"
	"unique"

	"github.com/rosterhq/roster/shared/wire"
)

// intern returns s backed by the one copy every interned equal string
// shares.
func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

func internTri(t wire.Tri) wire.Tri { return wire.Tri(intern(string(t))) }

// Interned returns a copy of f whose strings, but the device's own
// hostname, serial and UUID, are shared with every other interned copy;
// f is not modified and the copy shares no mutable part with it.
func (f Facts) Interned() Facts {
	d := &f.Device
	d.Platform, d.Vendor, d.Model, d.FormFactor = intern(d.Platform), intern(d.Vendor), intern(d.Model), intern(d.FormFactor)
	d.Virtual = internTri(d.Virtual)
	o := &f.OS
	o.Name, o.ID, o.Version, o.Build = intern(o.Name), intern(o.ID), intern(o.Version), intern(o.Build)
	o.Edition, o.Kernel, o.RebootRequired = intern(o.Edition), intern(o.Kernel), internTri(o.RebootRequired)
	if f.Encryption != nil {
		e := &EncryptionFacts{System: f.Encryption.System.interned()}
		if f.Encryption.Volumes != nil {
			e.Volumes = make([]VolumeFacts, len(f.Encryption.Volumes))
			for i, v := range f.Encryption.Volumes {
				e.Volumes[i] = v.interned()
			}
		}
		f.Encryption = e
	}
	if f.Unknown != nil {
		u := make(map[string]string, len(f.Unknown))
		for k, v := range f.Unknown {
			u[intern(k)] = intern(v)
		}
		f.Unknown = u
	}
	return f
}

func (v VolumeFacts) interned() VolumeFacts {
	v.Mount, v.Device, v.Scheme, v.Status, v.Reason = intern(v.Mount), intern(v.Device), intern(v.Scheme), intern(v.Status), intern(v.Reason)
	v.Encrypted = internTri(v.Encrypted)
	return v
}

// InternResults returns a copy of rs whose strings are shared with every
// other interned copy; rs is not modified.
func InternResults(rs []StoredResult) []StoredResult {
	if rs == nil {
		return nil
	}
	out := make([]StoredResult, len(rs))
	for i, r := range rs {
		out[i] = StoredResult{PolicyID: intern(r.PolicyID), Status: intern(r.Status), Reason: intern(r.Reason), ReasonID: r.ReasonID,
			ExceptionID: intern(r.ExceptionID), FailingSince: intern(r.FailingSince)}
	}
	return out
}

// ResultsInterner hands out interned results (InternResults) shared by
// every device whose results are the same: after a policy change most of
// a fleet's devices have one of a few hundred results documents, and an
// interned copy per device was a tenth of the CPU of a 100,000-device
// re-evaluation (its strings looked up one by one) and a third of the
// fleet evaluation cache's heap. The zero value is ready; one is not safe
// for concurrent use (a fleet evaluation's workers each hold one).
type ResultsInterner struct {
	byDoc map[string][]StoredResult
}

// maxInternedDocs bounds a ResultsInterner's documents: the documents of
// devices beyond it are interned on their own, so that a fleet whose
// documents are all different (reasons naming each device's own dates)
// does not keep each one's text for the evaluation's duration.
const maxInternedDocs = 4096

// Intern returns an interned copy of rs, which doc encodes (Diff.Doc; ""
// for none): the copy another device with the same document got, when
// its results are equal to rs (the first device with that document), or
// a new one. The copy is shared: neither it nor its elements may be
// modified.
func (ri *ResultsInterner) Intern(doc string, rs []StoredResult) []StoredResult {
	if doc == "" {
		return InternResults(rs)
	}
	// The document only finds the candidate; the results decide, so that
	// a document naming a reason by an id that changed meaning (the
	// dictionary swept and given again) cannot share another text.
	got, ok := ri.byDoc[doc]
	if ok && slices.Equal(got, rs) {
		return got
	}
	out := InternResults(rs)
	if ri.byDoc == nil {
		ri.byDoc = map[string][]StoredResult{}
	}
	if !ok && len(ri.byDoc) < maxInternedDocs {
		ri.byDoc[doc] = out
	}
	return out
}
