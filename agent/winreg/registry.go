// Package winreg reads the Windows registry for the agent's Windows probes,
// either live (golang.org/x/sys/windows/registry, on Windows only) or from
// regedit exports (.reg files, UTF-16LE or UTF-8) of a captured host, so the
// same probe code runs on both.
package winreg

import "context"

// Registry is read-only access to registry keys. Key paths use the long or
// short root names with backslashes: `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion`
// or `HKEY_LOCAL_MACHINE\...`. A key that does not exist yields an error
// matching fs.ErrNotExist.
type Registry interface {
	// Subkeys lists the names of key's direct subkeys, sorted.
	Subkeys(ctx context.Context, key string) ([]string, error)
	// Values returns key's values by name ("" is the default value).
	Values(ctx context.Context, key string) (map[string]Value, error)
}

// Value types, as regedit names them.
const (
	TypeString       = "REG_SZ"
	TypeExpandString = "REG_EXPAND_SZ"
	TypeMultiString  = "REG_MULTI_SZ"
	TypeDWORD        = "REG_DWORD"
	TypeQWORD        = "REG_QWORD"
	TypeBinary       = "REG_BINARY"
	TypeNone         = "REG_NONE"
)

// Value is one registry value.
type Value struct {
	Type    string
	String  string   // REG_SZ, REG_EXPAND_SZ (not expanded)
	Strings []string // REG_MULTI_SZ
	Uint    uint64   // REG_DWORD, REG_QWORD
	Bytes   []byte   // REG_BINARY and anything else
}
