// Package wire holds the types that travel between roster-agent and
// roster-collector: the inventory snapshot and, later, the report envelope.
// Both sides import this package; it has no dependencies beyond the standard
// library so the agent stays small and cgo-free.
//
// Conventions: enums are lower-case string constants, times are UTC RFC 3339,
// absent facts are omitted, and a fact the agent tried to read but could not
// is listed in the section's Unknown map (field name -> reason). "Not
// encrypted" and "could not tell" are different answers, so tri-state facts
// use the Tri type rather than bool.
package wire

import "time"

// ProtocolVersion is the version of the snapshot and report format. Changes
// are additive; a collector accepts every version up to its own.
//
// History:
//
//	1: first snapshot: hardware, encryption, os, software, probe statuses.
//	   Additive since: report envelope with per-package deltas, heartbeats
//	   and collector-set schedules, signed commands in acks, command
//	   statuses and wipe evidence, the agent's install method and tags.
//	2: reports may carry hashes of the second form (PackageDigestHash,
//	   "sha256p:"), which a collector works out in proportion to a delta
//	   rather than to the whole snapshot. A collector names the highest
//	   version it speaks in its acks (Ack.ProtocolVersion); an agent sends
//	   version 2 reports and heartbeats only to one that said so. The
//	   snapshot's own format did not change (SnapshotVersion).
const ProtocolVersion = 2

// SpokenWith is the protocol version an agent speaks to a collector that
// said it speaks advertised (Ack.ProtocolVersion,
// EnrollResponse.ProtocolVersion; 0, from a collector that says nothing,
// is version 1): the highest both speak.
func SpokenWith(advertised int) int { return min(max(advertised, 1), ProtocolVersion) }

// SnapshotVersion is what Snapshot.ProtocolVersion says: the snapshot's
// format, unchanged since version 1.
const SnapshotVersion = 1

// Platform names, as Go's GOOS spells them.
const (
	PlatformLinux   = "linux"
	PlatformDarwin  = "darwin"
	PlatformWindows = "windows"
)

// Areas of the inventory; each probe belongs to one.
const (
	AreaHardware   = "hardware"
	AreaEncryption = "encryption"
	AreaOS         = "os"
	AreaSoftware   = "software"
)

// Areas lists every area in report order.
func Areas() []string {
	return []string{AreaHardware, AreaEncryption, AreaOS, AreaSoftware}
}

// Tri is a yes/no answer that may also be unknown.
type Tri string

const (
	Yes     Tri = "yes"
	No      Tri = "no"
	Unknown Tri = "unknown"
)

// TriOf turns a known boolean into a Tri.
func TriOf(b bool) Tri {
	if b {
		return Yes
	}
	return No
}

// Snapshot is everything one inventory run learned about a device.
type Snapshot struct {
	ProtocolVersion int       `json:"protocol_version"`
	CollectedAt     time.Time `json:"collected_at"`
	AgentVersion    string    `json:"agent_version"`
	// Platform is linux, darwin or windows: which probes ran.
	Platform string `json:"platform"`
	// Captured is true when the facts were read from a captured host tree
	// (--host-root) rather than the live machine.
	Captured bool `json:"captured,omitempty"`
	// Agent says how the agent itself was installed and tagged; absent
	// from agents older than the field and from hardware-only collections.
	// It stays ahead of Software: the collector's canonical encoding
	// splices the software section in just before probes.
	Agent      *AgentInfo  `json:"agent,omitempty"`
	Hardware   *Hardware   `json:"hardware,omitempty"`
	Encryption *Encryption `json:"encryption,omitempty"`
	OS         *OS         `json:"os,omitempty"`
	Software   *Software   `json:"software,omitempty"`
	// Probes records how each probe went, so a missing area is explained.
	Probes []ProbeStatus `json:"probes"`
}

// How the agent was installed (AgentInfo.InstallMethod): the package
// format, the collector's install script, or by hand (no marker).
const (
	InstallDeb    = "deb"
	InstallRPM    = "rpm"
	InstallMSI    = "msi"
	InstallPkg    = "pkg"
	InstallScript = "script"
	InstallManual = "manual"
)

// AgentInfo is what the agent reports about itself.
type AgentInfo struct {
	// InstallMethod is one of the Install constants; the packages leave a
	// marker (docs/agent.md, "Packages"), and no marker means manual.
	InstallMethod string `json:"install_method"`
	// Tags are the enrolment tags IT pre-seeded (enroll.tags).
	Tags []string `json:"tags,omitempty"`
}

// Probe outcomes.
const (
	ProbeOK            = "ok"
	ProbeError         = "error"
	ProbeNotApplicable = "not_applicable"
	ProbeSkipped       = "skipped"
)

// ProbeStatus is one probe's outcome.
type ProbeStatus struct {
	Name   string `json:"name"`
	Area   string `json:"area"`
	Status string `json:"status"`
	// Message explains an error or why the probe does not apply.
	Message    string  `json:"message,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

// Hardware is the device's identity and physical make-up. Identity strings
// are already normalised by shared/identity: placeholders are absent.
type Hardware struct {
	Hostname     string `json:"hostname,omitempty"`
	SystemSerial string `json:"system_serial,omitempty"`
	SystemUUID   string `json:"system_uuid,omitempty"`
	BoardSerial  string `json:"board_serial,omitempty"`
	AssetTag     string `json:"asset_tag,omitempty"`
	Vendor       string `json:"vendor,omitempty"`
	Model        string `json:"model,omitempty"`
	// ChassisType is the SMBIOS chassis type name ("Notebook", "Rack Mount
	// Chassis", ...); FormFactor is its coarse class: laptop, desktop,
	// server, vm or other.
	ChassisType string `json:"chassis_type,omitempty"`
	FormFactor  string `json:"form_factor,omitempty"`
	// Virtual says whether this is a virtual machine, with Hypervisor naming it.
	Virtual     Tri    `json:"virtual,omitempty"`
	Hypervisor  string `json:"hypervisor,omitempty"`
	BIOSVendor  string `json:"bios_vendor,omitempty"`
	BIOSVersion string `json:"bios_version,omitempty"`
	BIOSDate    string `json:"bios_date,omitempty"`
	CPU         *CPU   `json:"cpu,omitempty"`
	MemoryBytes uint64 `json:"memory_bytes,omitempty"`
	Disks       []Disk `json:"disks,omitempty"`
	NICs        []NIC  `json:"nics,omitempty"`
	// Unknown names fields that could not be read, with the reason.
	Unknown map[string]string `json:"unknown,omitempty"`
}

// CPU describes the processors.
type CPU struct {
	Model   string `json:"model,omitempty"`
	Vendor  string `json:"vendor,omitempty"`
	Sockets int    `json:"sockets,omitempty"`
	Cores   int    `json:"cores,omitempty"`
	Threads int    `json:"threads,omitempty"`
	Arch    string `json:"arch,omitempty"`
	MaxMHz  int    `json:"max_mhz,omitempty"`
}

// Disk media kinds.
const (
	MediaSSD     = "ssd"
	MediaHDD     = "hdd"
	MediaUnknown = "unknown"
)

// Disk is one fixed physical (or virtual) disk.
type Disk struct {
	Name      string `json:"name"`
	Model     string `json:"model,omitempty"`
	Serial    string `json:"serial,omitempty"`
	SizeBytes uint64 `json:"size_bytes,omitempty"`
	// Media is ssd, hdd or unknown.
	Media     string `json:"media,omitempty"`
	Bus       string `json:"bus,omitempty"`
	Removable bool   `json:"removable,omitempty"`
}

// NIC is one physical network interface.
type NIC struct {
	Name string `json:"name"`
	MAC  string `json:"mac"`
}

// Encryption schemes.
const (
	SchemeLUKS1     = "luks1"
	SchemeLUKS2     = "luks2"
	SchemePlain     = "dm-crypt-plain"
	SchemeZFS       = "zfs-native"
	SchemeFileVault = "filevault"
	SchemeBitLocker = "bitlocker"
	SchemeAPFS      = "apfs"
)

// Encryption states of a volume.
const (
	StateOn         = "on"
	StateOff        = "off"
	StateEncrypting = "encrypting"
	StateDecrypting = "decrypting"
	StateSuspended  = "suspended"
	StateUnknown    = "unknown"
)

// Encryption is the disk-encryption state of every mounted fixed volume and
// a summary for the system volume.
type Encryption struct {
	System  VolumeSummary `json:"system"`
	Volumes []Volume      `json:"volumes"`
}

// VolumeSummary answers "is the system volume encrypted?".
type VolumeSummary struct {
	MountPoint string `json:"mount_point,omitempty"`
	Encrypted  Tri    `json:"encrypted"`
	Scheme     string `json:"scheme,omitempty"`
	Status     string `json:"status"`
	Reason     string `json:"reason,omitempty"`
}

// Volume is one mounted fixed volume.
type Volume struct {
	MountPoint string `json:"mount_point"`
	Device     string `json:"device,omitempty"`
	FSType     string `json:"fs_type,omitempty"`
	Encrypted  Tri    `json:"encrypted"`
	Scheme     string `json:"scheme,omitempty"`
	Status     string `json:"status"`
	// Reason explains an unknown answer (or an unusual known one).
	Reason string `json:"reason,omitempty"`
	// Chain is the block-device path from the mounted device down to the
	// physical disk, e.g. [dm-1 (LVM) -> dm-0 (LUKS2) -> nvme0n1p3].
	Chain []string `json:"chain,omitempty"`
	// LUKSUUID is the UUID in the LUKS header, when there is one.
	LUKSUUID string `json:"luks_uuid,omitempty"`
	// Keyslots is the number of active LUKS keyslots (nil when not read).
	Keyslots *int `json:"keyslots,omitempty"`
	// Cipher as reported by the encryption layer (e.g. aes-xts-plain64).
	Cipher string `json:"cipher,omitempty"`
	// PercentEncrypted is reported while encrypting/decrypting (BitLocker, FileVault).
	PercentEncrypted *float64 `json:"percent_encrypted,omitempty"`
	System           bool     `json:"system,omitempty"`
}

// OS is the operating system and how current it is.
type OS struct {
	Name    string `json:"name,omitempty"`
	ID      string `json:"id,omitempty"`
	Version string `json:"version,omitempty"`
	// Build is the OS build: Windows "19045.4291" (build.UBR), macOS "22E261".
	Build    string `json:"build,omitempty"`
	Codename string `json:"codename,omitempty"`
	Edition  string `json:"edition,omitempty"`
	Kernel   string `json:"kernel,omitempty"`
	Arch     string `json:"arch,omitempty"`
	// InstallDate is when the OS was installed.
	InstallDate *time.Time `json:"install_date,omitempty"`
	// LastUpdateAt is when the last update (package upgrade, hotfix, macOS
	// update) was installed.
	LastUpdateAt *time.Time `json:"last_update_at,omitempty"`
	// LastUpdateSource says where LastUpdateAt was read (dpkg.log, hotfix, ...).
	LastUpdateSource string `json:"last_update_source,omitempty"`
	// PendingUpdates and PendingSecurityUpdates are nil when unknown.
	PendingUpdates         *int            `json:"pending_updates,omitempty"`
	PendingSecurityUpdates *int            `json:"pending_security_updates,omitempty"`
	PendingSource          string          `json:"pending_source,omitempty"`
	Pending                []PendingUpdate `json:"pending,omitempty"`
	RebootRequired         Tri             `json:"reboot_required,omitempty"`
	// Unknown names fields that could not be read, with the reason.
	Unknown map[string]string `json:"unknown,omitempty"`
}

// PendingUpdate is one update available but not installed.
type PendingUpdate struct {
	Name      string `json:"name"`
	Version   string `json:"version,omitempty"`
	Installed string `json:"installed,omitempty"`
	Security  bool   `json:"security,omitempty"`
}

// Software sources.
const (
	SourceDeb      = "deb"
	SourceRPM      = "rpm"
	SourceAPK      = "apk"
	SourcePacman   = "pacman"
	SourceSnap     = "snap"
	SourceFlatpak  = "flatpak"
	SourceApp      = "app"
	SourcePkgutil  = "pkgutil"
	SourceBrew     = "brew"
	SourceRegistry = "registry"
)

// Software is the installed-software inventory.
type Software struct {
	Packages []Package `json:"packages"`
}

// Package is one installed piece of software.
type Package struct {
	Name        string     `json:"name"`
	Version     string     `json:"version,omitempty"`
	Arch        string     `json:"arch,omitempty"`
	Source      string     `json:"source"`
	Publisher   string     `json:"publisher,omitempty"`
	InstallDate *time.Time `json:"install_date,omitempty"`
	// Location is the install path or bundle id where the source has one.
	Location string `json:"location,omitempty"`
}
