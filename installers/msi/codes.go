package msi

import (
	"crypto/sha1"
	"fmt"
	"strings"
)

// UpgradeCode identifies the product family across every version and
// architecture: MajorUpgrade finds older (or equal) installations by it, so
// it never changes. Both architectures share it, so the arm64 package
// replaces an x64 one installed under emulation and vice versa.
const UpgradeCode = "{3BF6C378-542F-45BC-A990-C69853ABFE10}"

// codeNamespace seeds the name-based GUIDs below (a random v4 GUID made
// once for this purpose).
var codeNamespace = [16]byte{0x8f, 0x2d, 0x61, 0x0b, 0x4e, 0x93, 0x4c, 0x1a, 0xb5, 0x70, 0x2e, 0xd4, 0x19, 0x66, 0xa3, 0x0c}

// nameGUID is an RFC 9562 version 5 UUID of the parts, in the braced upper
// case form MSI tables use: the same inputs give the same code, so
// rebuilding a version reproduces its ProductCode and PackageCode.
func nameGUID(parts ...string) string {
	h := sha1.New()
	h.Write(codeNamespace[:])
	h.Write([]byte(strings.Join(parts, "\x00")))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return strings.ToUpper(fmt.Sprintf("{%x-%x-%x-%x-%x}", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]))
}

// componentGUID is a component's code. Windows Installer counts
// references per component code, so it depends only on what the component
// installs (its id), never on the version: the same file or registry value
// keeps the same code in every release, as the component rules require.
func componentGUID(id string) string {
	return nameGUID("component", id)
}
