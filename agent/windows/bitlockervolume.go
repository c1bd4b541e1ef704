package windows

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/rosterhq/roster/agent/host"
)

// psBitLocker is the PowerShell pipeline the encryption probe runs. It
// selects only the state fields (KeyProtector reduced to its types: the
// full objects carry recovery passwords, which the agent must never read)
// and lets ConvertTo-Json write enums as numbers, which no locale
// translates, unlike manage-bde's text.
const psBitLocker = "Get-BitLockerVolume|select MountPoint,VolumeType,VolumeStatus,ProtectionStatus,LockStatus," +
	"EncryptionMethod,EncryptionPercentage,@{n='KeyProtector';e={@($_.KeyProtector.KeyProtectorType)}}|ConvertTo-Json -Depth 3"

// BitLockerVolume is one object of `Get-BitLockerVolume | ConvertTo-Json`.
// Enum fields hold the .NET enum's name whether the JSON had a number
// (Windows PowerShell 5.1, PowerShell 7 by default) or a name
// (-EnumsAsStrings).
type BitLockerVolume struct {
	MountPoint           string
	VolumeType           string // OperatingSystem, Data, Removable
	VolumeStatus         string // FullyDecrypted, FullyEncrypted, EncryptionInProgress, ...
	ProtectionStatus     string // Off, On, Unknown
	LockStatus           string // Unlocked, Locked
	EncryptionMethod     string // None, XtsAes128, ...
	EncryptionPercentage *float64
	KeyProtectors        []string // Tpm, RecoveryPassword, ...
}

// Enum names of the BitLocker PowerShell module
// (Microsoft.BitLocker.Structures), by value; they match
// Win32_EncryptableVolume's numbering.
var (
	blVolumeType       = []string{"OperatingSystem", "Data", "Removable"}
	blVolumeStatus     = []string{"FullyDecrypted", "FullyEncrypted", "EncryptionInProgress", "DecryptionInProgress", "EncryptionSuspended", "DecryptionSuspended"}
	blProtectionStatus = []string{"Off", "On", "Unknown"}
	blLockStatus       = []string{"Unlocked", "Locked"}
	blMethod           = []string{"None", "Aes128Diffuser", "Aes256Diffuser", "Aes128", "Aes256", "Hardware", "XtsAes128", "XtsAes256"}
	blProtectorType    = []string{"Unknown", "Tpm", "ExternalKey", "NumericalPassword", "TpmPin", "TpmStartupKey", "TpmPinStartupKey", "PublicKey", "Password", "TpmNetworkKey", "AdAccountOrGroup"}
)

// ParseBitLockerVolumes parses the JSON of Get-BitLockerVolume, which is
// one object for one volume and an array for several.
func ParseBitLockerVolumes(b []byte) ([]BitLockerVolume, error) {
	b = bytes.TrimSpace(bytes.TrimPrefix(b, []byte("\ufeff")))
	if len(b) == 0 {
		return nil, nil
	}
	var raws []map[string]json.RawMessage
	if b[0] == '{' {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(b, &one); err != nil {
			return nil, fmt.Errorf("decode Get-BitLockerVolume JSON: %w", err)
		}
		raws = append(raws, one)
	} else if err := json.Unmarshal(b, &raws); err != nil {
		return nil, fmt.Errorf("decode Get-BitLockerVolume JSON: %w", err)
	}
	out := make([]BitLockerVolume, 0, len(raws))
	for i, r := range raws {
		var v BitLockerVolume
		var err error
		field := func(name string, names []string) string {
			if err != nil {
				return ""
			}
			var s string
			s, err = enumName(r[name], names)
			if err != nil {
				err = fmt.Errorf("volume %d %s: %w", i, name, err)
			}
			return s
		}
		if m, ok := r["MountPoint"]; ok {
			if e := json.Unmarshal(m, &v.MountPoint); e != nil {
				return nil, fmt.Errorf("volume %d MountPoint: %w", i, e)
			}
		}
		v.VolumeType = field("VolumeType", blVolumeType)
		v.VolumeStatus = field("VolumeStatus", blVolumeStatus)
		v.ProtectionStatus = field("ProtectionStatus", blProtectionStatus)
		v.LockStatus = field("LockStatus", blLockStatus)
		v.EncryptionMethod = field("EncryptionMethod", blMethod)
		if err != nil {
			return nil, err
		}
		if p, ok := r["EncryptionPercentage"]; ok && string(p) != "null" {
			var f float64
			if e := json.Unmarshal(p, &f); e != nil {
				return nil, fmt.Errorf("volume %d EncryptionPercentage: %w", i, e)
			}
			v.EncryptionPercentage = &f
		}
		kps, e := protectorTypes(r["KeyProtector"])
		if e != nil {
			return nil, fmt.Errorf("volume %d KeyProtector: %w", i, e)
		}
		v.KeyProtectors = kps
		out = append(out, v)
	}
	return out, nil
}

// enumName turns a JSON enum (number or name) into its name; absent or
// null gives "".
func enumName(m json.RawMessage, names []string) (string, error) {
	if len(m) == 0 || string(m) == "null" {
		return "", nil
	}
	var n int
	if err := json.Unmarshal(m, &n); err == nil {
		if n >= 0 && n < len(names) {
			return names[n], nil
		}
		return strconv.Itoa(n), nil
	}
	var s string
	if err := json.Unmarshal(m, &s); err != nil {
		return "", fmt.Errorf("neither a number nor a name: %s", m)
	}
	return s, nil
}

// protectorTypes reads KeyProtector as the agent selects it (an array of
// type numbers) or as the cmdlet writes it whole (an array of objects with
// KeyProtectorType); other members, recovery passwords included, are
// ignored.
func protectorTypes(m json.RawMessage) ([]string, error) {
	if len(m) == 0 || string(m) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(m, &items); err != nil {
		items = []json.RawMessage{m} // a single protector is not wrapped in an array
	}
	var out []string
	for _, it := range items {
		var obj struct{ KeyProtectorType json.RawMessage }
		if bytes.HasPrefix(bytes.TrimSpace(it), []byte("{")) {
			if err := json.Unmarshal(it, &obj); err != nil {
				return nil, err
			}
			it = obj.KeyProtectorType
		}
		s, err := enumName(it, blProtectorType)
		if err != nil {
			return nil, err
		}
		if s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// BDE restates the volume in manage-bde's terms, so one mapping
// (BDEVolume.Wire) judges both sources.
func (v BitLockerVolume) BDE() BDEVolume {
	b := BDEVolume{
		Volume:              strings.TrimRight(v.MountPoint, `\`),
		OSVolume:            v.VolumeType == "OperatingSystem",
		PercentageEncrypted: v.EncryptionPercentage,
		KeyProtectors:       v.KeyProtectors,
	}
	switch v.VolumeType {
	case "OperatingSystem":
		b.VolumeType = "OS Volume"
	case "Data":
		b.VolumeType = "Data Volume"
	default:
		b.VolumeType = v.VolumeType
	}
	b.ConversionStatus = map[string]string{
		"FullyDecrypted":       "Fully Decrypted",
		"FullyEncrypted":       "Fully Encrypted",
		"EncryptionInProgress": "Encryption in Progress",
		"DecryptionInProgress": "Decryption in Progress",
		"EncryptionSuspended":  "Encryption Paused",
		"DecryptionSuspended":  "Decryption Paused",
	}[v.VolumeStatus]
	if b.ConversionStatus == "" {
		b.ConversionStatus = v.VolumeStatus
	}
	switch v.ProtectionStatus {
	case "On":
		b.ProtectionStatus = "Protection On"
	case "Off":
		b.ProtectionStatus = "Protection Off"
	default:
		b.ProtectionStatus = v.ProtectionStatus
	}
	b.LockStatus = v.LockStatus
	b.EncryptionMethod = map[string]string{
		"None": "None", "Aes128Diffuser": "AES 128 with Diffuser", "Aes256Diffuser": "AES 256 with Diffuser",
		"Aes128": "AES 128", "Aes256": "AES 256", "Hardware": "Hardware Encryption",
		"XtsAes128": "XTS-AES 128", "XtsAes256": "XTS-AES 256",
	}[v.EncryptionMethod]
	if b.EncryptionMethod == "" {
		b.EncryptionMethod = v.EncryptionMethod
	}
	return b
}

// psArgs runs one PowerShell command without the user's profile. (No
// -NonInteractive: the captured output's file name, the command line's
// slug, must stay under 255 bytes; the agent gives PowerShell no console
// to prompt on anyway.)
func psArgs(command string) []string {
	return []string{"-NoProfile", "-Command", command}
}

// bitLockerFromPowerShell reads every fixed volume's BitLocker state from
// Get-BitLockerVolume. It returns no volumes and the reason when the
// cmdlet is missing (no PowerShell, an edition without BitLocker), needs
// rights the agent lacks, or answers with nothing usable; the caller then
// asks manage-bde.
func bitLockerFromPowerShell(ctx context.Context, h *host.Host) ([]BDEVolume, error) {
	out, err := h.Run(ctx, "powershell", psArgs(psBitLocker)...)
	if err != nil {
		return nil, fmt.Errorf("run Get-BitLockerVolume: %w", err)
	}
	vs, err := ParseBitLockerVolumes([]byte(DecodeOutput(out, oemCodePage(ctx, h))))
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, errors.New("Get-BitLockerVolume printed nothing")
	}
	var bde []BDEVolume
	for _, v := range vs {
		if v.VolumeType == "Removable" {
			continue
		}
		bde = append(bde, v.BDE())
	}
	if len(bde) == 0 {
		return nil, errors.New("Get-BitLockerVolume listed no fixed volume")
	}
	return bde, nil
}
