package macpkg

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"time"
)

// A flat package is a xar archive (the format of Apple's xar tool, see
// https://github.com/apple-oss-distributions/xar, xar/include/xar.h.in):
// a 28-byte big-endian header, a zlib-compressed XML table of contents,
// then the heap. The heap starts with the SHA-1 of the compressed TOC;
// each file's bytes follow with SHA-1 checksums of the stored and the
// extracted bytes in the TOC. SHA-1 is what pkgbuild writes and what
// every xar reader (Installer, pkgutil, libarchive's bsdtar) accepts.

const (
	xarMagic      = 0x78617221 // "xar!"
	xarHeaderSize = 28
	xarCksumSHA1  = 1

	encodingZlib = "application/x-gzip" // xar's name for a zlib stream
	encodingNone = "application/octet-stream"
)

// xarEntry is a file or directory to archive.
type xarEntry struct {
	Name     string
	Dir      bool
	Data     []byte
	Compress bool // zlib in the heap; false stores the bytes (already-gzipped Payload)
	Children []*xarEntry
}

type xarDoc struct {
	XMLName xml.Name `xml:"xar"`
	TOC     xarTOC   `xml:"toc"`
}

type xarTOC struct {
	Checksum     xarTOCChecksum `xml:"checksum"`
	CreationTime string         `xml:"creation-time"`
	Files        []xarFile      `xml:"file"`
}

type xarTOCChecksum struct {
	Style  string `xml:"style,attr"`
	Offset int64  `xml:"offset"`
	Size   int64  `xml:"size"`
}

type xarFile struct {
	ID    int       `xml:"id,attr"`
	Data  *xarData  `xml:"data,omitempty"`
	Ctime string    `xml:"ctime"`
	Mtime string    `xml:"mtime"`
	Atime string    `xml:"atime"`
	Group string    `xml:"group"`
	GID   int       `xml:"gid"`
	User  string    `xml:"user"`
	UID   int       `xml:"uid"`
	Mode  string    `xml:"mode"`
	Type  string    `xml:"type"`
	Name  string    `xml:"name"`
	Files []xarFile `xml:"file"`
}

type xarData struct {
	Length            int64       `xml:"length"`
	Offset            int64       `xml:"offset"`
	Size              int64       `xml:"size"`
	Encoding          xarEncoding `xml:"encoding"`
	ArchivedChecksum  xarHash     `xml:"archived-checksum"`
	ExtractedChecksum xarHash     `xml:"extracted-checksum"`
}

type xarEncoding struct {
	Style string `xml:"style,attr"`
}

type xarHash struct {
	Style string `xml:"style,attr"`
	Value string `xml:",chardata"`
}

func sha1hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

func zlibBytes(b []byte) ([]byte, error) {
	var out bytes.Buffer
	z, err := zlib.NewWriterLevel(&out, zlib.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := z.Write(b); err != nil {
		return nil, err
	}
	if err := z.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// writeXar writes entries as a xar archive, owned by root:wheel, with
// mtime as every time stamp.
func writeXar(w io.Writer, entries []*xarEntry, mtime time.Time) error {
	stamp := mtime.UTC().Format("2006-01-02T15:04:05Z")
	heap := [][]byte{nil} // the TOC checksum, filled in last
	offset := int64(sha1.Size)
	id := 0
	var walk func([]*xarEntry) ([]xarFile, error)
	walk = func(es []*xarEntry) ([]xarFile, error) {
		var out []xarFile
		for _, e := range es {
			id++
			f := xarFile{ID: id, Ctime: stamp, Mtime: stamp, Atime: stamp,
				Group: "wheel", User: "root", Name: e.Name, Mode: "0644", Type: "file"}
			if e.Dir {
				f.Mode, f.Type = "0755", "directory"
				children, err := walk(e.Children)
				if err != nil {
					return nil, err
				}
				f.Files = children
			} else {
				stored, enc := e.Data, encodingNone
				if e.Compress {
					z, err := zlibBytes(e.Data)
					if err != nil {
						return nil, fmt.Errorf("compress %s: %w", e.Name, err)
					}
					stored, enc = z, encodingZlib
				}
				f.Data = &xarData{
					Length:            int64(len(stored)),
					Offset:            offset,
					Size:              int64(len(e.Data)),
					Encoding:          xarEncoding{enc},
					ArchivedChecksum:  xarHash{"sha1", sha1hex(stored)},
					ExtractedChecksum: xarHash{"sha1", sha1hex(e.Data)},
				}
				heap = append(heap, stored)
				offset += int64(len(stored))
			}
			out = append(out, f)
		}
		return out, nil
	}
	files, err := walk(entries)
	if err != nil {
		return err
	}
	doc := xarDoc{TOC: xarTOC{
		Checksum:     xarTOCChecksum{Style: "sha1", Offset: 0, Size: sha1.Size},
		CreationTime: stamp,
		Files:        files,
	}}
	toc, err := xml.MarshalIndent(doc, "", " ")
	if err != nil {
		return fmt.Errorf("xar toc: %w", err)
	}
	toc = append([]byte(xml.Header), toc...)
	ztoc, err := zlibBytes(toc)
	if err != nil {
		return fmt.Errorf("compress xar toc: %w", err)
	}
	sum := sha1.Sum(ztoc)
	heap[0] = sum[:]

	hdr := make([]byte, 0, xarHeaderSize)
	hdr = binary.BigEndian.AppendUint32(hdr, xarMagic)
	hdr = binary.BigEndian.AppendUint16(hdr, xarHeaderSize)
	hdr = binary.BigEndian.AppendUint16(hdr, 1)
	hdr = binary.BigEndian.AppendUint64(hdr, uint64(len(ztoc)))
	hdr = binary.BigEndian.AppendUint64(hdr, uint64(len(toc)))
	hdr = binary.BigEndian.AppendUint32(hdr, xarCksumSHA1)
	for _, b := range append([][]byte{hdr, ztoc}, heap...) {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("write xar: %w", err)
		}
	}
	return nil
}

// ReadXar reads a xar archive written with SHA-1 checksums, checks the
// TOC checksum and every file's archived and extracted checksums, and
// returns the files by path ("dir/name"); directories map to nil.
func ReadXar(b []byte) (map[string][]byte, error) {
	if len(b) < xarHeaderSize || binary.BigEndian.Uint32(b) != xarMagic {
		return nil, errors.New("xar: bad magic")
	}
	hsize := int(binary.BigEndian.Uint16(b[4:]))
	zlen := binary.BigEndian.Uint64(b[8:])
	tlen := binary.BigEndian.Uint64(b[16:])
	if alg := binary.BigEndian.Uint32(b[24:]); alg != xarCksumSHA1 {
		return nil, fmt.Errorf("xar: checksum algorithm %d, want sha1", alg)
	}
	if hsize < xarHeaderSize || uint64(hsize)+zlen > uint64(len(b)) || tlen > 64<<20 {
		return nil, errors.New("xar: toc outside the file")
	}
	ztoc := b[hsize : uint64(hsize)+zlen]
	heap := b[uint64(hsize)+zlen:]
	z, err := zlib.NewReader(bytes.NewReader(ztoc))
	if err != nil {
		return nil, fmt.Errorf("xar toc: %w", err)
	}
	toc, err := io.ReadAll(io.LimitReader(z, int64(tlen)+1))
	if err != nil {
		return nil, fmt.Errorf("xar toc: %w", err)
	}
	if uint64(len(toc)) != tlen {
		return nil, fmt.Errorf("xar toc: %d bytes, header says %d", len(toc), tlen)
	}
	var doc xarDoc
	if err := xml.Unmarshal(toc, &doc); err != nil {
		return nil, fmt.Errorf("xar toc: %w", err)
	}
	heapSlice := func(off, n int64) ([]byte, error) {
		if off < 0 || n < 0 || off > int64(len(heap)) || n > int64(len(heap))-off {
			return nil, errors.New("xar: data outside the heap")
		}
		return heap[off : off+n], nil
	}
	c := doc.TOC.Checksum
	if c.Style != "sha1" || c.Size != sha1.Size {
		return nil, fmt.Errorf("xar: toc checksum %q size %d", c.Style, c.Size)
	}
	stored, err := heapSlice(c.Offset, c.Size)
	if err != nil {
		return nil, err
	}
	if sum := sha1.Sum(ztoc); !bytes.Equal(sum[:], stored) {
		return nil, errors.New("xar: toc checksum mismatch")
	}
	out := map[string][]byte{}
	var walk func(dir string, fs []xarFile, depth int) error
	walk = func(dir string, fs []xarFile, depth int) error {
		if depth > 64 {
			return errors.New("xar: directories too deep")
		}
		for _, f := range fs {
			p := dir + f.Name
			if f.Type == "directory" {
				out[p] = nil
				if err := walk(p+"/", f.Files, depth+1); err != nil {
					return err
				}
				continue
			}
			d := f.Data
			if d == nil {
				out[p] = []byte{}
				continue
			}
			raw, err := heapSlice(d.Offset, d.Length)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			if d.ArchivedChecksum.Style != "sha1" || sha1hex(raw) != d.ArchivedChecksum.Value {
				return fmt.Errorf("xar: %s archived checksum mismatch", p)
			}
			data := raw
			switch d.Encoding.Style {
			case encodingNone, "":
			case encodingZlib:
				z, err := zlib.NewReader(bytes.NewReader(raw))
				if err != nil {
					return fmt.Errorf("xar: %s: %w", p, err)
				}
				if data, err = io.ReadAll(io.LimitReader(z, d.Size+1)); err != nil {
					return fmt.Errorf("xar: %s: %w", p, err)
				}
			default:
				return fmt.Errorf("xar: %s: encoding %q", p, d.Encoding.Style)
			}
			if int64(len(data)) != d.Size {
				return fmt.Errorf("xar: %s is %d bytes, toc says %d", p, len(data), d.Size)
			}
			if d.ExtractedChecksum.Style != "sha1" || sha1hex(data) != d.ExtractedChecksum.Value {
				return fmt.Errorf("xar: %s extracted checksum mismatch", p)
			}
			out[p] = data
		}
		return nil
	}
	return out, walk("", doc.TOC.Files, 0)
}
