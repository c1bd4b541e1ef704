package encryption

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/shared/wire"
)

// node is one block device in the stack under a mount, read from sysfs.
type node struct {
	// Name is the kernel name: sda3, nvme0n1p2, dm-0, loop0.
	Name string
	// DMUUID and DMName come from /sys/block/<name>/dm/ (device-mapper only).
	DMUUID, DMName string
	// Disk is the whole disk a partition belongs to.
	Disk string
	// Backing is a loop device's backing file.
	Backing string
	// Group names a multi-device file system node (btrfs) that has no
	// block device of its own.
	Group  string
	Slaves []*node
	// Err says why part of this node could not be read.
	Err string
}

// maxDepth bounds the walk; real stacks are a handful of layers deep.
const maxDepth = 16

// walk reads the device named name and, recursively, the devices it sits on
// (/sys/class/block/<name>/slaves). Unreadable parts are recorded in Err
// rather than dropped, so the verdict can say "unknown" instead of "no".
func walk(ctx context.Context, h *host.Host, name string, depth int) *node {
	n := &node{Name: name}
	if ctx.Err() != nil {
		n.Err = ctx.Err().Error()
		return n
	}
	if depth > maxDepth {
		n.Err = "device stack too deep"
		return n
	}
	base := "/sys/class/block/" + name
	if !h.Exists(base) {
		n.Err = "not in /sys/class/block"
		return n
	}
	if h.Exists(base + "/partition") {
		// /sys/class/block/sda3 -> ../../devices/.../block/sda/sda3
		if l, err := h.ReadLink(base); err == nil {
			n.Disk = path.Base(path.Dir(l))
		}
	}
	if h.Exists(base + "/dm") {
		var err error
		if n.DMUUID, err = h.ReadString(base + "/dm/uuid"); err != nil {
			n.Err = fmt.Sprintf("read dm uuid: %v", err)
		}
		n.DMName, _ = h.ReadString(base + "/dm/name")
	}
	if h.Exists(base + "/loop/backing_file") {
		n.Backing, _ = h.ReadString(base + "/loop/backing_file")
	}
	ents, err := h.ReadDir(base + "/slaves")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		n.Err = fmt.Sprintf("read slaves: %v", err)
	}
	for _, e := range ents {
		n.Slaves = append(n.Slaves, walk(ctx, h, e.Name(), depth+1))
	}
	return n
}

// layer is what a device-mapper uuid says a device is.
type layer struct {
	// kind: crypt, lvm, mpath, dm-part, dm, or (for dm-crypt sub-devices
	// that do not encrypt: verity, integrity) passthrough.
	kind string
	// scheme is the wire scheme of a crypt layer.
	scheme string
}

// classify reads a dm uuid. cryptsetup names its devices
// CRYPT-<TYPE>-<uuid>-<name>, LVM uses LVM-<vg uuid><lv uuid>, multipath
// mpath-<wwid>, kpartx part<N>-<parent uuid>.
func classify(uuid string) layer {
	switch {
	case uuid == "":
		return layer{kind: "dm"}
	case strings.HasPrefix(uuid, "CRYPT-"):
		typ, _, _ := strings.Cut(strings.TrimPrefix(uuid, "CRYPT-"), "-")
		switch typ {
		case "LUKS1":
			return layer{kind: "crypt", scheme: wire.SchemeLUKS1}
		case "LUKS2":
			return layer{kind: "crypt", scheme: wire.SchemeLUKS2}
		case "PLAIN":
			return layer{kind: "crypt", scheme: wire.SchemePlain}
		case "BITLK":
			return layer{kind: "crypt", scheme: wire.SchemeBitLocker}
		case "VERITY", "INTEGRITY", "SUBDEV":
			// integrity/verity targets and LUKS2 helper devices protect
			// or move data; they do not encrypt it.
			return layer{kind: "passthrough"}
		}
		return layer{kind: "crypt", scheme: strings.ToLower(typ)}
	case strings.HasPrefix(uuid, "LVM-"):
		return layer{kind: "lvm"}
	case strings.HasPrefix(uuid, "mpath-"):
		return layer{kind: "mpath"}
	case strings.HasPrefix(uuid, "part"):
		return layer{kind: "dm-part"}
	}
	return layer{kind: "dm"}
}

// label is a node's entry in Volume.Chain: "dm-1 (lvm vg-root)",
// "dm-0 (crypt luks2 cryptroot)", "sda3 (partition of sda)", "sda (disk)",
// "loop0 (loop /var/lib/x.img)".
func (n *node) label() string {
	var d string
	switch {
	case n.Group != "":
		d = n.Group
	case n.DMUUID != "" || n.DMName != "":
		l := classify(n.DMUUID)
		d = l.kind
		if l.scheme != "" {
			d += " " + l.scheme
		}
		if n.DMName != "" {
			d += " " + n.DMName
		}
	case n.Disk != "":
		d = "partition of " + n.Disk
	case strings.HasPrefix(n.Name, "loop"):
		d = "loop"
		if n.Backing != "" {
			d += " " + n.Backing
		}
	default:
		d = "disk"
	}
	if n.Err != "" {
		d += "; " + n.Err
	}
	return n.Name + " (" + d + ")"
}

// chain lists the stack depth first, the mounted device first.
func (n *node) chain() []string {
	out := []string{n.label()}
	for _, s := range n.Slaves {
		out = append(out, s.chain()...)
	}
	return out
}

// verdict is the encryption answer for a stack.
type verdict struct {
	encrypted wire.Tri
	scheme    string
	// crypt is the (first) encryption layer found.
	crypt  *node
	reason string
}

// evaluate decides whether every path from n down to the disks passes
// through an encryption layer. One unencrypted path makes the whole volume
// unencrypted: its data partly lands in clear on that disk.
func evaluate(n *node) verdict {
	isDM := n.DMUUID != "" || n.DMName != ""
	if isDM {
		if l := classify(n.DMUUID); l.kind == "crypt" {
			return verdict{encrypted: wire.Yes, scheme: l.scheme, crypt: n}
		}
	}
	if len(n.Slaves) == 0 {
		if n.Err != "" {
			return verdict{encrypted: wire.Unknown, reason: fmt.Sprintf("%s: %s", n.Name, n.Err)}
		}
		return verdict{encrypted: wire.No}
	}
	var (
		all     []verdict
		unknown *verdict
	)
	for _, s := range n.Slaves {
		v := evaluate(s)
		switch v.encrypted {
		case wire.No:
			if len(n.Slaves) > 1 {
				v.reason = fmt.Sprintf("%s spans %d devices and the path through %s is not encrypted", n.Name, len(n.Slaves), s.Name)
			}
			return v
		case wire.Unknown:
			if unknown == nil {
				unknown = &v
			}
		}
		all = append(all, v)
	}
	if unknown != nil {
		return *unknown
	}
	out := all[0]
	for _, v := range all[1:] {
		if v.scheme != out.scheme {
			out.reason = fmt.Sprintf("paths use different schemes (%s, %s)", out.scheme, v.scheme)
		}
	}
	if n.Err != "" {
		// the slaves we saw are encrypted, but a slave list we could not
		// read may hide one that is not
		return verdict{encrypted: wire.Unknown, reason: fmt.Sprintf("%s: %s", n.Name, n.Err)}
	}
	return out
}

// luksUUIDFromDM recovers the LUKS UUID that cryptsetup puts, without
// dashes, in the dm uuid: CRYPT-LUKS2-<32 hex>-<name>.
func luksUUIDFromDM(uuid string) string {
	rest, ok := strings.CutPrefix(uuid, "CRYPT-LUKS")
	if !ok || len(rest) < 2 {
		return ""
	}
	hex, _, _ := strings.Cut(rest[2:], "-")
	if len(hex) != 32 {
		return ""
	}
	for _, c := range hex {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return ""
		}
	}
	return hex[0:8] + "-" + hex[8:12] + "-" + hex[12:16] + "-" + hex[16:20] + "-" + hex[20:32]
}
