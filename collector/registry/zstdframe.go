package registry

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	ddzstd "github.com/DataDog/zstd"
	"github.com/cespare/xxhash/v2"
)

// dictPacker packs with libzstd (github.com/DataDog/zstd, cgo) and a
// prepared raw-content dictionary. For inputs of a few kilobytes libzstd
// references the prepared dictionary's match tables instead of copying
// them, so a frame costs what its input does: a stored delta's ~1.1 KB of
// probe statuses packs in ~10 µs at level 11, where klauspost/compress at
// its "better" level spent ~50 µs (and ~100 µs under load) putting its
// 4 MB long-match table back to the dictionary's before every frame.
// Level 11 also packs it smaller than that did (130 bytes instead of
// 146). On larger inputs level 11's binary-tree search costs more than
// its gain: a snapshot without its packages (~11 KB) took ~95 µs quiet
// and ~320 µs under a full-report load (about what klauspost took), a
// whole snapshot with its packages (~110 KB) 3.6 ms against klauspost's
// 2.1. So inputs from dictPackLargeInput on are packed at level 6: the
// 11 KB snapshot in ~55 µs to 1,176 bytes, the whole one in ~0.9 ms to
// 11,689, both smaller than klauspost's 1,214 and 12,203 (docs/fleet.md,
// "Stored frames through libzstd").
//
// libzstd leaves a frame packed with a raw-content dictionary unnamed (no
// dictionary id, RFC 8878 3.1.1.1.3) and, through this binding, without a
// content checksum. pack names the dictionary and appends the checksum,
// so the frames are those the registry's decoder (klauspost/compress)
// reads by id, as it reads the frames stored before, and a damaged row is
// still detected.
type dictPacker struct {
	small, large *ddzstd.BulkProcessor
	id           uint8
	bufs         sync.Pool
}

// libzstd's levels for stored frames below dictPackLargeInput bytes (a
// delta's probe statuses and small changes) and from it on (snapshots),
// see dictPacker.
const (
	dictPackLevel      = 11
	dictPackLargeLevel = 6
	dictPackLargeInput = 4 << 10
)

func newDictPacker(dict []byte, id uint8) (*dictPacker, error) {
	small, err := ddzstd.NewBulkProcessor(dict, dictPackLevel)
	if err != nil {
		return nil, fmt.Errorf("prepare zstd dictionary %d: %w", id, err)
	}
	large, err := ddzstd.NewBulkProcessor(dict, dictPackLargeLevel)
	if err != nil {
		return nil, fmt.Errorf("prepare zstd dictionary %d: %w", id, err)
	}
	return &dictPacker{small: small, large: large, id: id}, nil
}

// pack returns src's frame: the dictionary's id in its header, the
// content checksum at its end.
func (p *dictPacker) pack(src []byte) ([]byte, error) {
	bp, _ := p.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer p.bufs.Put(bp)
	if bound := ddzstd.CompressBound(len(src)); cap(*bp) < bound {
		*bp = make([]byte, bound)
	}
	bulk := p.small
	if len(src) >= dictPackLargeInput {
		bulk = p.large
	}
	frame, err := bulk.Compress(*bp, src)
	if err != nil {
		return nil, fmt.Errorf("pack %d bytes: %w", len(src), err)
	}
	return nameDictionary(frame, p.id, src)
}

// zstdMagic starts every zstd frame (RFC 8878 3.1.1).
const zstdMagic = 0xFD2FB528

// nameDictionary returns a copy of frame, a single zstd frame packed from
// content with an unnamed dictionary and without a checksum, whose header
// names dictionary id (a one-byte Dictionary_ID field) and which ends with
// content's checksum (the low 32 bits of XXH64, RFC 8878 3.1.1).
func nameDictionary(frame []byte, id uint8, content []byte) ([]byte, error) {
	if len(frame) < 6 || binary.LittleEndian.Uint32(frame) != zstdMagic {
		return nil, errors.New("name zstd dictionary: not a zstd frame")
	}
	const (
		dictIDFlags   = 0x03 // Dictionary_ID_flag: the field's size
		checksumFlag  = 0x04 // Content_Checksum_flag
		reservedBit   = 0x08
		singleSegment = 0x20 // no Window_Descriptor
	)
	fhd := frame[4]
	if fhd&(dictIDFlags|checksumFlag|reservedBit) != 0 {
		return nil, fmt.Errorf("name zstd dictionary: frame header %#02x already has a dictionary id or checksum", fhd)
	}
	at := 5 // the Dictionary_ID field comes after the Window_Descriptor
	if fhd&singleSegment == 0 {
		at++
	}
	out := make([]byte, 0, len(frame)+1+4)
	out = append(out, frame[:4]...)
	out = append(out, fhd|0x01|checksumFlag) // a one-byte id
	out = append(out, frame[5:at]...)
	out = append(out, id)
	out = append(out, frame[at:]...)
	return binary.LittleEndian.AppendUint32(out, uint32(xxhash.Sum64(content))), nil
}
