package macpkg

import (
	"bytes"
	"fmt"
	"io/fs"
)

// cpioODC writes entries as a POSIX.1 "odc" cpio archive (magic 070707,
// octal ASCII fields), the format pkgbuild writes for Payload and Scripts
// and macOS Installer reads. Names are written as "./path" with the root
// as ".", like pkgbuild's payloads.
func cpioODC(entries []Entry, uid, gid int, mtime int64) ([]byte, error) {
	var b bytes.Buffer
	for i, e := range entries {
		mode, err := unixMode(e.Mode)
		if err != nil {
			return nil, fmt.Errorf("cpio %s: %w", e.Name, err)
		}
		nlink := 1
		if e.Mode.IsDir() {
			nlink = 2
		}
		if err := cpioHeader(&b, i+1, mode, uid, gid, nlink, mtime, archiveName(e.Name), int64(len(e.Data))); err != nil {
			return nil, err
		}
		b.Write(e.Data)
	}
	if err := cpioHeader(&b, 0, 0, 0, 0, 1, 0, "TRAILER!!!", 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func cpioHeader(b *bytes.Buffer, ino int, mode uint32, uid, gid, nlink int, mtime int64, name string, size int64) error {
	const max6, max11 = 0o777777, 0o77777777777
	if ino > max6 || uid > max6 || gid > max6 || len(name)+1 > max6 || size > max11 || mtime > max11 || mtime < 0 {
		return fmt.Errorf("cpio %s: a field does not fit the odc header", name)
	}
	fmt.Fprintf(b, "070707%06o%06o%06o%06o%06o%06o%06o%011o%06o%011o%s\x00",
		0, ino, mode, uid, gid, nlink, 0, mtime, len(name)+1, size, name)
	return nil
}

// unixMode is the st_mode of a directory or regular file.
func unixMode(m fs.FileMode) (uint32, error) {
	perm := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 || m&fs.ModeSetgid != 0 {
		return 0, fmt.Errorf("setuid/setgid bits are not packaged")
	}
	if m&fs.ModeSticky != 0 {
		perm |= 0o1000
	}
	switch {
	case m.IsDir():
		return 0o040000 | perm, nil
	case m.IsRegular():
		return 0o100000 | perm, nil
	}
	return 0, fmt.Errorf("only directories and regular files are packaged, not %v", m.Type())
}

// archiveName is the name of an entry inside Payload and the Bom: "." for
// the root, "./a/b" below it.
func archiveName(name string) string {
	if name == "" {
		return "."
	}
	return "./" + name
}
