package compliance

// What a policy requires and what to do about a result, in words for the
// helpdesk and the device's user: the console shows them beside the
// reason (what was measured), so a non-passing row answers "why" and
// "what now" without opening the policy file. A policy's own `remedy:`
// text, when set, replaces the built-in advice.

import (
	"fmt"
	"sort"
	"strings"
)

// ReasonNoAsset ends the reason of a result that is unknown because the
// policy needs the device's asset (its classification, tags) and the
// device is linked to none.
const ReasonNoAsset = "the device is linked to no asset in the register"

// Requirement says what the policy asks of a device.
func Requirement(p Policy) string {
	switch p.Kind {
	case KindDiskEncryption:
		if p.Params.Scope == "all_fixed" {
			return "every fixed volume encrypted"
		}
		return "the system volume encrypted"
	case KindMaxDaysSinceUpdate:
		return fmt.Sprintf("OS updates installed within the last %d days", p.Params.Days)
	case KindMaxDaysSinceCheckin:
		return fmt.Sprintf("the agent checked in within the last %d days", p.Params.Days)
	case KindMaxPendingSecurityUpdates:
		if p.Params.Count != nil {
			return fmt.Sprintf("at most %d pending security updates", *p.Params.Count)
		}
	case KindMinOSVersion:
		keys := make([]string, 0, len(p.Params.Versions))
		for k := range p.Params.Versions {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			if v := p.Params.Versions[k]; v == "*" {
				parts = append(parts, k+" (any version)")
			} else {
				parts = append(parts, k+" ≥ "+v)
			}
		}
		return "a supported OS: " + strings.Join(parts, ", ")
	case KindRequiredSoftware:
		if p.Params.MinVersion != "" {
			return fmt.Sprintf("%s installed, version %s or later", p.Params.Name, p.Params.MinVersion)
		}
		return p.Params.Name + " installed"
	case KindBannedSoftware:
		if p.Params.Version != "" {
			return fmt.Sprintf("%s %s not installed", p.Params.Name, p.Params.Version)
		}
		return p.Params.Name + " not installed"
	case KindCEL:
		if p.Description != "" {
			return p.Description
		}
		return p.Expr
	}
	return p.Title
}

// Remedy says what the user or IT should do about a result with status
// and reason on a device of platform (linux, darwin, windows); "" when
// nothing is to be done (pass, not applicable).
func Remedy(p Policy, status, reason, platform string) string {
	if status == StatusUnknown && strings.HasSuffix(reason, ReasonNoAsset) {
		return "Register the device: import its asset (rosterctl assets import) or link it by hand (rosterctl assets link TAG DEVICE); it is evaluated again at once."
	}
	switch status {
	case StatusPass, StatusNotApplicable, "":
		return ""
	case StatusExempt:
		return "Nothing while the exception lasts; the device must comply before it expires."
	case StatusStale:
		return "The device has not reported recently: start it, check that the roster-agent service runs and can reach the collector (roster-agent status)."
	case StatusUnknown:
		return "The agent could not read this fact (the reason says why): fix the probe's cause on the device — often a missing tool or permission — then run roster-agent report --once."
	}
	if p.Remedy != "" {
		return p.Remedy
	}
	prefix := ""
	if status == StatusInGrace {
		prefix = "Before the grace period ends: "
	}
	return prefix + kindRemedy(p, platform)
}

func kindRemedy(p Policy, platform string) string {
	switch p.Kind {
	case KindDiskEncryption:
		switch platform {
		case "darwin":
			return "Turn on FileVault (System Settings → Privacy & Security → FileVault) and escrow the recovery key."
		case "windows":
			return "Turn on BitLocker for the drive (manage-bde -on C: or Settings → Device encryption) and escrow the recovery key."
		default:
			return "Reinstall with LUKS full-disk encryption (data volumes: cryptsetup luksFormat then restore), or reimage the device."
		}
	case KindMaxDaysSinceUpdate, KindMaxPendingSecurityUpdates:
		switch platform {
		case "darwin":
			return "Install the pending updates (System Settings → General → Software Update) and restart."
		case "windows":
			return "Install the pending updates (Settings → Windows Update) and restart."
		default:
			return "Install the pending updates (apt upgrade / dnf upgrade) and restart if asked."
		}
	case KindMinOSVersion:
		return "Upgrade the operating system to a supported release, or retire the device."
	case KindRequiredSoftware:
		return "Install " + p.Params.Name + " (IT's software catalogue or deployment tool)."
	case KindBannedSoftware:
		return "Remove " + p.Params.Name + " from the device."
	case KindMaxDaysSinceCheckin:
		return "Start the device and check that the roster-agent service runs and reaches the collector."
	}
	return "Bring the device in line with the policy's description, or request an exception."
}
