package hardware

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/shared/identity"
	"github.com/rosterhq/roster/shared/wire"
)

// wire.Hardware JSON field names of the facts SMBIOS/DMI provides; they
// are also the keys of Hardware.Unknown.
const (
	fieldVendor       = "vendor"
	fieldModel        = "model"
	fieldSystemSerial = "system_serial"
	fieldSystemUUID   = "system_uuid"
	fieldBoardSerial  = "board_serial"
	fieldChassisType  = "chassis_type"
	fieldAssetTag     = "asset_tag"
	fieldBIOSVendor   = "bios_vendor"
	fieldBIOSVersion  = "bios_version"
	fieldBIOSDate     = "bios_date"
)

// Inputs of the vendor rules that are not reported themselves: Lenovo's
// marketing model is in System Version, and the chassis serial stands in
// for an empty system serial. Their names start with "_" so they never
// reach Hardware.Unknown.
const (
	fieldSystemVersion = "_system_version"
	fieldChassisSerial = "_chassis_serial"
)

// internal reports whether a field only feeds the vendor rules.
func internal(field string) bool { return strings.HasPrefix(field, "_") }

const dmiDir = "/sys/class/dmi/id"

// dmiField ties a wire field to its /sys/class/dmi/id attribute and the
// identity rule that normalises it.
type dmiField struct {
	Field string
	File  string
	Norm  func(string) string
}

// dmiFields lists every DMI-backed field in report order. product_serial,
// product_uuid and board_serial are mode 0400 in sysfs: only root reads them.
var dmiFields = []dmiField{
	{fieldVendor, "sys_vendor", identity.Text},
	{fieldModel, "product_name", identity.Text},
	{fieldSystemSerial, "product_serial", identity.Serial},
	{fieldSystemUUID, "product_uuid", identity.UUID},
	{fieldBoardSerial, "board_serial", identity.Serial},
	{fieldChassisType, "chassis_type", normChassis},
	{fieldAssetTag, "chassis_asset_tag", normAssetTag},
	{fieldBIOSVendor, "bios_vendor", identity.Text},
	{fieldBIOSVersion, "bios_version", identity.Text},
	{fieldBIOSDate, "bios_date", identity.Text},
	{fieldSystemVersion, "product_version", identity.Text},
	{fieldChassisSerial, "chassis_serial", identity.Serial},
}

// assetTagPlaceholders are asset-tag fillers that identity.Text does not
// (yet) know; "No Asset Tag" is what VMware ships.
var assetTagPlaceholders = map[string]bool{
	"no asset tag":     true,
	"asset-1234567890": true,
}

func normAssetTag(s string) string {
	t := identity.Text(s)
	if assetTagPlaceholders[strings.ToLower(t)] {
		return ""
	}
	return t
}

// normChassis turns a chassis code or dmidecode name into the DSP0134
// name; "" when unrecognised.
func normChassis(s string) string {
	c, ok := parseChassisType(s)
	if !ok {
		return ""
	}
	return c.Name
}

// dmiResult is what the DMI sources gave: normalised values by field, and
// for each field still empty, why.
type dmiResult struct {
	Values  map[string]string
	Reasons map[string]string
	// Raw keeps the raw text each value was read from, for hypervisor
	// detection, which must see values identity drops.
	Raw map[string]string
	// Placeholder marks fields the firmware itself left unset: another
	// reader of the same SMBIOS tables cannot do better.
	Placeholder map[string]bool
}

func newDMIResult() *dmiResult {
	return &dmiResult{
		Values:      map[string]string{},
		Reasons:     map[string]string{},
		Raw:         map[string]string{},
		Placeholder: map[string]bool{},
	}
}

// missing lists the fields without a value that another source might
// still provide.
func (d *dmiResult) missing() []string {
	var out []string
	for _, f := range dmiFields {
		if d.Values[f.Field] == "" && !d.Placeholder[f.Field] {
			out = append(out, f.Field)
		}
	}
	return out
}

// missingReported is missing without the vendor-rule inputs: only these
// are worth running another source for.
func (d *dmiResult) missingReported() []string {
	var out []string
	for _, f := range d.missing() {
		if !internal(f) {
			out = append(out, f)
		}
	}
	return out
}

// readTable takes what the kernel's SMBIOS table gives: the first source,
// complete and without a child process.
func readTable(h *host.Host, d *dmiResult) {
	t, err := readSMBIOSTable(h)
	if err != nil {
		for _, f := range d.missing() {
			d.addReason(f, err.Error())
		}
		return
	}
	d.apply(tableFields(t), func(dmiField) string { return "SMBIOS table" })
}

// applyVendorRules applies shared/identity's vendor rules once every
// source has had its turn.
func (d *dmiResult) applyVendorRules() {
	if m := identity.Model(d.Raw[fieldVendor], d.Raw[fieldModel], d.Raw[fieldSystemVersion]); m != "" {
		d.Values[fieldModel] = m
	}
	if d.Values[fieldSystemSerial] == "" {
		if s, src := identity.SystemSerial("", d.Raw[fieldChassisSerial]); src == "chassis" {
			d.Values[fieldSystemSerial] = s
			delete(d.Reasons, fieldSystemSerial)
		}
	}
}

// apply takes raw values from one source for the fields still empty;
// source names where a field came from, for reasons.
func (d *dmiResult) apply(raw map[string]string, source func(dmiField) string) {
	for _, f := range dmiFields {
		if d.Values[f.Field] != "" {
			continue
		}
		v, ok := raw[f.Field]
		if !ok {
			continue
		}
		if _, seen := d.Raw[f.Field]; !seen {
			d.Raw[f.Field] = v
		}
		if n := f.Norm(v); n != "" {
			d.Values[f.Field] = n
			delete(d.Reasons, f.Field)
			continue
		}
		d.Placeholder[f.Field] = true
		d.addReason(f.Field, placeholderReason(source(f), v))
	}
}

func (d *dmiResult) addReason(field, reason string) {
	if old := d.Reasons[field]; old != "" {
		d.Reasons[field] = old + "; " + reason
		return
	}
	d.Reasons[field] = reason
}

func placeholderReason(source, v string) string {
	c := identity.Clean(v)
	if c == "" {
		return source + " is empty"
	}
	return fmt.Sprintf("%s holds placeholder or unrecognised value %q", source, c)
}

// readSysfsDMI fills the fields still missing from /sys/class/dmi/id.
func readSysfsDMI(h *host.Host, d *dmiResult) {
	missing := map[string]bool{}
	for _, f := range d.missing() {
		missing[f] = true
	}
	if len(missing) == 0 {
		return
	}
	if !h.Exists(dmiDir) {
		for _, f := range dmiFields {
			if missing[f.Field] {
				d.addReason(f.Field, dmiDir+" is absent")
			}
		}
		return
	}
	raw := map[string]string{}
	for _, f := range dmiFields {
		if !missing[f.Field] {
			continue
		}
		p := dmiDir + "/" + f.File
		v, err := h.ReadString(p)
		switch {
		case err == nil:
			raw[f.Field] = v
		case errors.Is(err, fs.ErrPermission):
			d.addReason(f.Field, p+": permission denied (needs root)")
		case errors.Is(err, fs.ErrNotExist):
			d.addReason(f.Field, p+" is absent")
		default:
			d.addReason(f.Field, fmt.Sprintf("read %s: %v", p, err))
		}
	}
	d.apply(raw, func(f dmiField) string { return dmiDir + "/" + f.File })
}

// runDmidecode fills the fields sysfs left empty from `dmidecode`. It
// returns an error only for failures that are not the expected ones (not
// installed, not root, no SMBIOS tables); those go into the reasons.
func runDmidecode(ctx context.Context, h *host.Host, d *dmiResult) error {
	if len(d.missingReported()) == 0 {
		return nil
	}
	missing := d.missing()
	out, err := h.Run(ctx, "dmidecode")
	if err != nil {
		reason, expected := dmidecodeFailure(out, err)
		for _, f := range missing {
			d.addReason(f, reason)
		}
		if expected {
			return nil
		}
		return fmt.Errorf("run dmidecode: %w", err)
	}
	recs, err := parseDmidecode(strings.NewReader(string(out)))
	if err != nil {
		for _, f := range missing {
			d.addReason(f, "dmidecode: "+err.Error())
		}
		return fmt.Errorf("parse dmidecode: %w", err)
	}
	all := dmidecodeFields(recs)
	raw := map[string]string{}
	for _, f := range missing {
		v, ok := all[f]
		if !ok {
			d.addReason(f, "dmidecode: not in its output")
			continue
		}
		raw[f] = v
	}
	d.apply(raw, func(dmiField) string { return "dmidecode" })
	return nil
}

// dmidecodeFailure explains a failed dmidecode run, and says whether the
// failure is an expected one that should not mark the probe as failed.
func dmidecodeFailure(stdout []byte, err error) (reason string, expected bool) {
	if errors.Is(err, host.ErrNotFound) {
		return "dmidecode not installed", true
	}
	var ee *host.ExitError
	if !errors.As(err, &ee) {
		return "dmidecode: " + err.Error(), false
	}
	msg := strings.TrimSpace(string(ee.Stderr))
	all := msg + "\n" + string(stdout)
	switch {
	case strings.Contains(all, "Permission denied"):
		return "dmidecode: permission denied (needs root)", true
	case strings.Contains(all, "No SMBIOS nor DMI entry point found"),
		strings.Contains(all, "/dev/mem: No such file or directory"):
		return "dmidecode found no SMBIOS/DMI tables", true
	}
	if msg == "" {
		msg = fmt.Sprintf("exit status %d", ee.Code)
	}
	return "dmidecode failed: " + firstLine(msg), false
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// applyDMI copies the result into hw.
func applyDMI(hw *wire.Hardware, d *dmiResult) {
	hw.Vendor = d.Values[fieldVendor]
	hw.Model = d.Values[fieldModel]
	hw.SystemSerial = d.Values[fieldSystemSerial]
	hw.SystemUUID = d.Values[fieldSystemUUID]
	hw.BoardSerial = d.Values[fieldBoardSerial]
	hw.ChassisType = d.Values[fieldChassisType]
	hw.AssetTag = d.Values[fieldAssetTag]
	hw.BIOSVendor = d.Values[fieldBIOSVendor]
	hw.BIOSVersion = d.Values[fieldBIOSVersion]
	hw.BIOSDate = d.Values[fieldBIOSDate]
	for f, r := range d.Reasons {
		if d.Values[f] == "" && !internal(f) {
			hw.Unknown[f] = r
		}
	}
}
