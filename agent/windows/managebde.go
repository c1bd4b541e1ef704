package windows

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/rosterhq/roster/shared/wire"
)

// BDEVolume is one volume block of `manage-bde -status`.
type BDEVolume struct {
	// Volume is the drive ("C:") or volume path as printed after "Volume".
	Volume string
	Label  string
	// OSVolume is true for the "[OS Volume]" block: the running system.
	OSVolume            bool
	VolumeType          string // "OS Volume", "Data Volume"
	Size                string
	BitLockerVersion    string
	ConversionStatus    string
	PercentageEncrypted *float64
	EncryptionMethod    string
	ProtectionStatus    string
	LockStatus          string
	KeyProtectors       []string
}

var bdeVolumeRe = regexp.MustCompile(`^Volume\s+(.*?)\s*\[(.*)\]\s*$`)

// ParseManageBDE parses `manage-bde -status` output (decoded). Only the
// English labels are known; fields with other labels are left empty and
// the mapping reports them as unknown.
func ParseManageBDE(text string) []BDEVolume {
	var out []BDEVolume
	var cur *BDEVolume
	inProtectors := false
	for _, raw := range splitLines(text) {
		l := strings.TrimSpace(raw)
		if l == "" {
			continue
		}
		if m := bdeVolumeRe.FindStringSubmatch(l); m != nil && !strings.HasPrefix(raw, " ") {
			out = append(out, BDEVolume{Volume: strings.Trim(m[1], `"`), Label: m[2]})
			cur = &out[len(out)-1]
			inProtectors = false
			continue
		}
		if cur == nil {
			continue
		}
		if strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") && !strings.HasPrefix(raw, " ") {
			cur.VolumeType = strings.Trim(l, "[]")
			cur.OSVolume = cur.VolumeType == "OS Volume"
			continue
		}
		key, val, ok := strings.Cut(l, ":")
		if inProtectors && (!ok || !knownBDEField(key)) {
			cur.KeyProtectors = append(cur.KeyProtectors, l)
			continue
		}
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		inProtectors = false
		switch strings.TrimSpace(key) {
		case "Size":
			cur.Size = val
		case "BitLocker Version":
			cur.BitLockerVersion = val
		case "Conversion Status":
			cur.ConversionStatus = val
		case "Percentage Encrypted":
			if f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(val, "%")), 64); err == nil {
				cur.PercentageEncrypted = &f
			}
		case "Encryption Method":
			cur.EncryptionMethod = val
		case "Protection Status":
			cur.ProtectionStatus = val
		case "Lock Status":
			cur.LockStatus = val
		case "Key Protectors":
			if val == "" {
				inProtectors = true
			} else if val != "None Found" {
				cur.KeyProtectors = append(cur.KeyProtectors, val)
			}
		}
	}
	return out
}

func knownBDEField(k string) bool {
	switch strings.TrimSpace(k) {
	case "Size", "BitLocker Version", "Conversion Status", "Percentage Encrypted", "Encryption Method",
		"Protection Status", "Lock Status", "Identification Field", "Automatic Unlock", "Key Protectors":
		return true
	}
	return false
}

// Wire maps a manage-bde block to the wire's volume. Fully encrypted with
// protection off means BitLocker is suspended: the key sits in the clear
// on the disk, so the data is readable by anyone holding the disk.
func (v BDEVolume) Wire() wire.Volume {
	w := wire.Volume{
		MountPoint:       v.Volume,
		Encrypted:        wire.Unknown,
		Status:           wire.StateUnknown,
		Cipher:           v.EncryptionMethod,
		PercentEncrypted: v.PercentageEncrypted,
		System:           v.OSVolume,
	}
	if w.Cipher == "None" {
		w.Cipher = ""
	}
	protOn := v.ProtectionStatus == "Protection On"
	protOff := strings.HasPrefix(v.ProtectionStatus, "Protection Off")
	locked := v.LockStatus == "Locked"
	switch v.ConversionStatus {
	case "Fully Decrypted":
		w.Encrypted, w.Status = wire.No, wire.StateOff
		w.PercentEncrypted = nil
		return w
	case "Fully Encrypted", "Used Space Only Encrypted":
		w.Scheme = wire.SchemeBitLocker
		switch {
		case protOn:
			w.Encrypted, w.Status = wire.Yes, wire.StateOn
		case protOff:
			w.Encrypted, w.Status = wire.Yes, wire.StateSuspended
			w.Reason = "BitLocker protection is off (suspended): the volume key is stored unprotected on the disk"
		case locked:
			w.Encrypted, w.Status = wire.Yes, wire.StateOn
			w.Reason = "volume is locked"
		default:
			w.Encrypted = wire.Yes
			w.Reason = "protection status " + quoteOrEmpty(v.ProtectionStatus)
		}
		if v.ConversionStatus == "Used Space Only Encrypted" && w.Reason == "" {
			w.Reason = "only used space is encrypted"
		}
		return w
	case "Encryption in Progress", "Encryption Paused":
		w.Scheme = wire.SchemeBitLocker
		w.Encrypted, w.Status = wire.No, wire.StateEncrypting
		w.Reason = strings.ToLower(v.ConversionStatus) + percentSuffix(v.PercentageEncrypted)
		return w
	case "Decryption in Progress", "Decryption Paused":
		w.Scheme = wire.SchemeBitLocker
		w.Encrypted, w.Status = wire.No, wire.StateDecrypting
		w.Reason = strings.ToLower(v.ConversionStatus) + percentSuffix(v.PercentageEncrypted)
		return w
	}
	if locked {
		w.Scheme = wire.SchemeBitLocker
		w.Encrypted, w.Status = wire.Yes, wire.StateOn
		w.Reason = "volume is locked: conversion status " + quoteOrEmpty(v.ConversionStatus)
		return w
	}
	w.Reason = "manage-bde conversion status " + quoteOrEmpty(v.ConversionStatus) + " not understood"
	return w
}

func quoteOrEmpty(s string) string {
	if s == "" {
		return "missing"
	}
	return strconv.Quote(s)
}

func percentSuffix(p *float64) string {
	if p == nil {
		return ""
	}
	return " (" + strconv.FormatFloat(*p, 'f', 1, 64) + "% encrypted)"
}
