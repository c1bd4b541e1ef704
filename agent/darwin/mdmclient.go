package darwin

import (
	"bytes"
	"errors"
	"fmt"

	"howett.net/plist"
)

// mdmSecurityInfo is the part of `/usr/libexec/mdmclient QuerySecurityInfo`
// the agent uses: the same SecurityInfo an MDM server receives. Pointers are
// nil when the key is absent.
type mdmSecurityInfo struct {
	FDEEnabled                  *bool
	FDEHasPersonalRecoveryKey   *bool
	FDEHasInstitutionalRecovery *bool
	SIPEnabled                  *bool
}

// parseMDMClientSecurityInfo reads mdmclient's output: "Daemon response: {...}"
// followed by "Agent response: {...}", each an old-style (OpenStep) property
// list. Only the daemon's answer carries the FileVault keys.
func parseMDMClientSecurityInfo(b []byte) (mdmSecurityInfo, error) {
	const marker = "Daemon response:"
	i := bytes.Index(b, []byte(marker))
	if i < 0 {
		return mdmSecurityInfo{}, errors.New("no \"Daemon response:\" in mdmclient output")
	}
	body := b[i+len(marker):]
	// The daemon's dictionary ends where the agent's answer begins.
	if j := bytes.Index(body, []byte("Agent response:")); j >= 0 {
		body = body[:j]
	}
	var resp struct {
		SecurityInfo map[string]any `plist:"SecurityInfo"`
	}
	if _, err := plist.Unmarshal(bytes.TrimSpace(body), &resp); err != nil {
		return mdmSecurityInfo{}, fmt.Errorf("decode mdmclient daemon response: %w", err)
	}
	if resp.SecurityInfo == nil {
		return mdmSecurityInfo{}, errors.New("mdmclient daemon response has no SecurityInfo")
	}
	si := resp.SecurityInfo
	return mdmSecurityInfo{
		FDEEnabled:                  plistBool(si["FDE_Enabled"]),
		FDEHasPersonalRecoveryKey:   plistBool(si["FDE_HasPersonalRecoveryKey"]),
		FDEHasInstitutionalRecovery: plistBool(si["FDE_HasInstitutionalRecoveryKey"]),
		SIPEnabled:                  plistBool(si["SystemIntegrityProtectionEnabled"]),
	}, nil
}

// plistBool reads a boolean that an OpenStep plist spells as the string
// "1"/"0" (or a real boolean/integer from XML); nil when absent or unclear.
func plistBool(v any) *bool {
	var b bool
	switch x := v.(type) {
	case bool:
		b = x
	case string:
		switch x {
		case "1", "true", "YES", "Yes", "yes":
			b = true
		case "0", "false", "NO", "No", "no":
			b = false
		default:
			return nil
		}
	case int64:
		if x != 0 && x != 1 {
			return nil
		}
		b = x == 1
	case uint64:
		if x > 1 {
			return nil
		}
		b = x == 1
	default:
		return nil
	}
	return &b
}
