package darwin

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"howett.net/plist"
)

// spReport is one data type of `system_profiler -xml`: the output is an
// array of these, one per requested data type.
type spReport[T any] struct {
	DataType string `plist:"_dataType"`
	Items    []T    `plist:"_items"`
}

// parseSPReport decodes `system_profiler -xml <type>` and returns the items
// of the named data type.
func parseSPReport[T any](b []byte, dataType string) ([]T, error) {
	var reports []spReport[T]
	if _, err := plist.Unmarshal(b, &reports); err != nil {
		return nil, fmt.Errorf("decode system_profiler %s plist: %w", dataType, err)
	}
	for _, r := range reports {
		if r.DataType == dataType {
			return r.Items, nil
		}
	}
	return nil, fmt.Errorf("system_profiler output has no %s report", dataType)
}

// spHardware is the "Hardware Overview" of system_profiler SPHardwareDataType.
type spHardware struct {
	ModelName  string // "MacBook Pro"
	ModelID    string // "MacBookPro10,1"
	CPU        string // "Intel Core i7", or the chip ("Apple M1") on Apple silicon
	CPUMHz     int    // the rated processor speed; 0 when not reported
	Packages   int    // "Number of Processors"; 0 when not reported
	Cores      int    // "Total Number of Cores"; 0 when not reported
	Memory     uint64 // bytes; 0 when not reported
	Serial     string // raw, not yet normalised
	UUID       string // "Hardware UUID", raw
	BootROM    string // "Boot ROM Version" / "System Firmware Version"
	MemoryText string // as printed ("16 GB"), for error messages
}

// spHardwareXMLItem holds the keys of an SPHardwareDataType item that we use.
// The counts are `any` because Intel Macs report integers while Apple
// silicon reports number_processors as a string ("proc 8:4:4").
type spHardwareXMLItem struct {
	MachineName      string `plist:"machine_name"`
	MachineModel     string `plist:"machine_model"`
	CPUType          string `plist:"cpu_type"`
	ChipType         string `plist:"chip_type"`
	ProcessorSpeed   string `plist:"current_processor_speed"`
	Packages         any    `plist:"packages"`
	NumberProcessors any    `plist:"number_processors"`
	PhysicalMemory   string `plist:"physical_memory"`
	SerialNumber     string `plist:"serial_number"`
	PlatformUUID     string `plist:"platform_UUID"`
	BootROMVersion   string `plist:"boot_rom_version"`
}

// parseSPHardwareXML parses `system_profiler -xml SPHardwareDataType`.
func parseSPHardwareXML(b []byte) (spHardware, error) {
	items, err := parseSPReport[spHardwareXMLItem](b, "SPHardwareDataType")
	if err != nil {
		return spHardware{}, err
	}
	if len(items) == 0 {
		return spHardware{}, errors.New("SPHardwareDataType report has no items")
	}
	it := items[0]
	hw := spHardware{
		ModelName:  it.MachineName,
		ModelID:    it.MachineModel,
		CPU:        firstNonEmpty(it.ChipType, it.CPUType),
		CPUMHz:     parseMHz(it.ProcessorSpeed),
		Packages:   countOf(it.Packages),
		Cores:      countOf(it.NumberProcessors),
		Memory:     parseSize(it.PhysicalMemory),
		MemoryText: it.PhysicalMemory,
		Serial:     it.SerialNumber,
		UUID:       it.PlatformUUID,
		BootROM:    it.BootROMVersion,
	}
	return hw, nil
}

// parseSPHardwareText parses the text form, `system_profiler SPHardwareDataType`.
func parseSPHardwareText(b []byte) (spHardware, error) {
	kv := spTextFields(b)
	if len(kv) == 0 {
		return spHardware{}, errors.New("no \"key: value\" lines in system_profiler SPHardwareDataType output")
	}
	hw := spHardware{
		ModelName:  kv["Model Name"],
		ModelID:    kv["Model Identifier"],
		CPU:        firstNonEmpty(kv["Chip"], kv["Processor Name"]),
		CPUMHz:     parseMHz(kv["Processor Speed"]),
		Packages:   countOf(kv["Number of Processors"]),
		Cores:      countOf(kv["Total Number of Cores"]),
		Memory:     parseSize(kv["Memory"]),
		MemoryText: kv["Memory"],
		Serial:     kv["Serial Number (system)"],
		UUID:       kv["Hardware UUID"],
		BootROM:    firstNonEmpty(kv["System Firmware Version"], kv["Boot ROM Version"]),
	}
	if hw.ModelID == "" && hw.Serial == "" && hw.UUID == "" {
		return spHardware{}, errors.New("system_profiler SPHardwareDataType output names no model, serial or UUID")
	}
	return hw, nil
}

// spSoftware is the "System Software Overview" of SPSoftwareDataType.
type spSoftware struct {
	Name    string // "macOS"
	Version string // "10.15.2"
	Build   string // "19C57"
	Kernel  string // "Darwin 19.2.0"
}

// parseSPSoftwareText parses `system_profiler SPSoftwareDataType`, whose
// "System Version" line reads "macOS 10.15.2 (19C57)".
func parseSPSoftwareText(b []byte) (spSoftware, error) {
	kv := spTextFields(b)
	sv := kv["System Version"]
	if sv == "" {
		return spSoftware{}, errors.New("no \"System Version\" line in system_profiler SPSoftwareDataType output")
	}
	sw := spSoftware{Kernel: kv["Kernel Version"]}
	if open := strings.LastIndex(sv, "("); open > 0 && strings.HasSuffix(sv, ")") {
		sw.Build = strings.TrimSpace(sv[open+1 : len(sv)-1])
		sv = strings.TrimSpace(sv[:open])
	}
	if i := strings.LastIndex(sv, " "); i > 0 {
		sw.Name, sw.Version = sv[:i], sv[i+1:]
	} else {
		sw.Version = sv
	}
	return sw, nil
}

// spTextFields collects the "Key: Value" lines of system_profiler's text
// output. Section headings ("Hardware Overview:") have no value and are
// skipped; the first occurrence of a key wins.
func spTextFields(b []byte) map[string]string {
	kv := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ": ")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if _, seen := kv[k]; !seen && k != "" && v != "" {
			kv[k] = v
		}
	}
	return kv
}

// spApp is one entry of SPApplicationsDataType.
type spApp struct {
	Name         string   `plist:"_name"`
	Version      string   `plist:"version"`
	Path         string   `plist:"path"`
	ObtainedFrom string   `plist:"obtained_from"` // apple, mac_app_store, identified_developer, unknown
	SignedBy     []string `plist:"signed_by"`     // leaf certificate first
	Runtime      string   `plist:"runtime_environment"`
	Has64BitIntl string   `plist:"has64BitIntelCode"`
}

// parseSPApplicationsXML parses `system_profiler -xml SPApplicationsDataType`.
func parseSPApplicationsXML(b []byte) ([]spApp, error) {
	return parseSPReport[spApp](b, "SPApplicationsDataType")
}

// countOf reads a processor or core count: an integer, a decimal string,
// "8 (4 performance and 4 efficiency)", or Apple silicon's "proc 8:4:4"
// (total:performance:efficiency). 0 means not reported.
func countOf(v any) int {
	switch n := v.(type) {
	case int64:
		return int(max(n, 0))
	case uint64:
		return int(min(n, 1<<31-1))
	case string:
		s := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(n), "proc "))
		end := 0
		for end < len(s) && s[end] >= '0' && s[end] <= '9' {
			end++
		}
		c, err := strconv.Atoi(s[:end])
		if err != nil {
			return 0
		}
		return c
	}
	return 0
}

// parseMHz turns "2.3 GHz" or "800 MHz" into MHz; 0 when unreadable.
func parseMHz(s string) int {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		return 0
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(num, ",", "."), 64)
	if err != nil || f <= 0 || f > 1e6 {
		return 0
	}
	switch strings.TrimSpace(unit) {
	case "GHz":
		return int(f*1000 + 0.5)
	case "MHz":
		return int(f + 0.5)
	}
	return 0
}

// parseSize turns system_profiler's memory size ("16 GB", "512 MB") into
// bytes. Memory is sold and reported in binary units, so GB means GiB.
func parseSize(s string) uint64 {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		return 0
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n == 0 || n > 1<<20 {
		return 0
	}
	switch strings.TrimSpace(unit) {
	case "TB":
		return n << 40
	case "GB":
		return n << 30
	case "MB":
		return n << 20
	}
	return 0
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}
