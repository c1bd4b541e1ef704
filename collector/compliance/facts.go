package compliance

import (
	"strings"
	"time"

	"github.com/rosterhq/roster/shared/wire"
)

// FactsVersion is the version of the Facts encoding; the registry stores it
// with the facts and rebuilds them from the snapshot when it is older.
//
// History:
//
//	1: first version.
const FactsVersion = 1

// Facts is the compact, JSON-serialisable part of a snapshot that policies
// read. The registry stores it per device so that re-evaluating the fleet
// never decodes full snapshots. A fact that was not reported is left at its
// zero value (nil for counts and times, "" for strings, Unknown for Tri) and
// Unknown explains why, keyed by the fact's CEL name (e.g.
// "os.last_update_at", or a whole area: "encryption", "software").
type Facts struct {
	V           int         `json:"v"`
	CollectedAt time.Time   `json:"collected_at,omitzero"`
	Device      DeviceFacts `json:"device"`
	OS          OSFacts     `json:"os"`
	// Encryption is nil when the snapshot had no encryption section.
	Encryption *EncryptionFacts `json:"encryption,omitempty"`
	// Packages is the number of installed packages, nil when the software
	// inventory was not reported (then software policies are unknown).
	Packages *int              `json:"packages,omitempty"`
	Unknown  map[string]string `json:"unknown,omitempty"`
}

// DeviceFacts is the hardware identity a policy or a reason may need.
type DeviceFacts struct {
	Platform   string   `json:"platform"`
	Hostname   string   `json:"hostname,omitempty"`
	Serial     string   `json:"serial,omitempty"`
	UUID       string   `json:"uuid,omitempty"`
	Vendor     string   `json:"vendor,omitempty"`
	Model      string   `json:"model,omitempty"`
	FormFactor string   `json:"form_factor,omitempty"`
	Virtual    wire.Tri `json:"virtual,omitempty"`
}

// OSFacts is the operating system and its patch level.
type OSFacts struct {
	Name                   string     `json:"name,omitempty"`
	ID                     string     `json:"id,omitempty"`
	Version                string     `json:"version,omitempty"`
	Build                  string     `json:"build,omitempty"`
	Edition                string     `json:"edition,omitempty"`
	Kernel                 string     `json:"kernel,omitempty"`
	LastUpdateAt           *time.Time `json:"last_update_at,omitempty"`
	PendingUpdates         *int       `json:"pending_updates,omitempty"`
	PendingSecurityUpdates *int       `json:"pending_security_updates,omitempty"`
	RebootRequired         wire.Tri   `json:"reboot_required,omitempty"`
}

// EncryptionFacts is the system-volume summary and every fixed volume.
type EncryptionFacts struct {
	System  VolumeFacts   `json:"system"`
	Volumes []VolumeFacts `json:"volumes,omitempty"`
}

// VolumeFacts is one volume's encryption state; Reason explains an unknown.
type VolumeFacts struct {
	Mount     string   `json:"mount,omitempty"`
	Device    string   `json:"device,omitempty"`
	Encrypted wire.Tri `json:"encrypted"`
	Scheme    string   `json:"scheme,omitempty"`
	Status    string   `json:"status,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	System    bool     `json:"system,omitempty"`
}

// AssetFacts is what the fixed-asset register says about the device's asset.
// Evaluation takes a nil *AssetFacts when the device is linked to no asset.
type AssetFacts struct {
	Tag string `json:"tag"`
	// Classification is confidential, internal or public ("" if not set).
	Classification string `json:"classification,omitempty"`
	// Type is laptop, desktop, server, vm or other ("" if not set).
	Type   string   `json:"type,omitempty"`
	Tags   []string `json:"tags,omitempty"`
	Status string   `json:"status,omitempty"`
	Owner  string   `json:"owner,omitempty"`
}

// FactsFromSnapshot extracts the facts policies read from a full snapshot.
// A section the snapshot lacks is recorded as unknown with the reason its
// probe gave, so "not reported" never reads as "compliant".
func FactsFromSnapshot(s *wire.Snapshot) Facts {
	f := Facts{V: FactsVersion, CollectedAt: s.CollectedAt, Device: DeviceFacts{Platform: s.Platform}}
	unknown := func(key, reason string) {
		if f.Unknown == nil {
			f.Unknown = map[string]string{}
		}
		f.Unknown[key] = reason
	}
	if h := s.Hardware; h != nil {
		f.Device.Hostname, f.Device.Serial, f.Device.UUID = h.Hostname, h.SystemSerial, h.SystemUUID
		f.Device.Vendor, f.Device.Model, f.Device.FormFactor = h.Vendor, h.Model, h.FormFactor
		f.Device.Virtual = h.Virtual
		for field, key := range map[string]string{"system_serial": "device.serial", "system_uuid": "device.uuid",
			"vendor": "device.vendor", "model": "device.model", "hostname": "device.hostname",
			"chassis_type": "device.form_factor", "virtual": "device.virtual"} {
			if r, ok := h.Unknown[field]; ok {
				unknown(key, r)
			}
		}
	} else {
		unknown("device", areaReason(s, wire.AreaHardware))
	}
	if o := s.OS; o != nil {
		f.OS = OSFacts{Name: o.Name, ID: o.ID, Version: o.Version, Build: o.Build, Edition: o.Edition,
			Kernel: o.Kernel, LastUpdateAt: o.LastUpdateAt, PendingUpdates: o.PendingUpdates,
			PendingSecurityUpdates: o.PendingSecurityUpdates, RebootRequired: o.RebootRequired}
		for field, r := range o.Unknown {
			unknown("os."+field, r)
		}
		// The security count comes from the same query as the total; when
		// only the total's reason was given, it explains both.
		if _, ok := o.Unknown["pending_security_updates"]; !ok && o.PendingSecurityUpdates == nil {
			if r, ok := o.Unknown["pending_updates"]; ok {
				unknown("os.pending_security_updates", r)
			}
		}
	} else {
		unknown("os", areaReason(s, wire.AreaOS))
	}
	if e := s.Encryption; e != nil {
		f.Encryption = &EncryptionFacts{System: VolumeFacts{Mount: e.System.MountPoint, Encrypted: e.System.Encrypted,
			Scheme: e.System.Scheme, Status: e.System.Status, Reason: e.System.Reason, System: true}}
		for _, v := range e.Volumes {
			vf := VolumeFacts{Mount: v.MountPoint, Device: v.Device, Encrypted: v.Encrypted,
				Scheme: v.Scheme, Status: v.Status, Reason: v.Reason, System: v.System}
			if v.System && f.Encryption.System.Device == "" {
				f.Encryption.System.Device = v.Device
			}
			f.Encryption.Volumes = append(f.Encryption.Volumes, vf)
		}
	} else {
		unknown("encryption", areaReason(s, wire.AreaEncryption))
	}
	if s.Software != nil {
		n := len(s.Software.Packages)
		f.Packages = &n
	} else {
		unknown("software", areaReason(s, wire.AreaSoftware))
	}
	return f
}

// areaReason explains a missing snapshot section from its probes' outcomes.
func areaReason(s *wire.Snapshot, area string) string {
	for _, p := range s.Probes {
		if p.Area == area && p.Status != wire.ProbeOK && p.Message != "" {
			return p.Name + ": " + p.Message
		}
	}
	return "the agent did not report " + area
}

// reason returns why a fact is unknown: its own entry, else its area's.
func (f *Facts) reason(key string) string {
	for k := key; k != ""; {
		if r, ok := f.Unknown[k]; ok {
			return r
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return "not reported"
}
