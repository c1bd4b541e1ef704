package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/rosterhq/roster/shared/wire"
)

// Files of the check-in loop.
const (
	// SpooledFile is the snapshot the newest spooled report describes.
	SpooledFile = "spooled.json"
	// LastAckFile is the collector's last acknowledgement.
	LastAckFile = "last_ack.json"
	// SpoolDir is the subdirectory holding reports not yet acknowledged.
	SpoolDir = "spool"
)

// Spooled is the snapshot the newest spooled report brings the collector
// to. Reports wait in the spool in order, so the next delta is taken
// against this, not against what the collector acknowledged last.
type Spooled struct {
	Seq      uint64         `json:"seq"`
	Hash     string         `json:"hash"`
	Snapshot *wire.Snapshot `json:"snapshot"`
	// LastFullAt is when the last full report was spooled; deltas stop
	// once full_every has passed since.
	LastFullAt time.Time `json:"last_full_at"`
}

// SaveSpooled records the newest spooled snapshot.
func (d *Dir) SaveSpooled(s Spooled) error {
	return d.saveJSON(SpooledFile, "spooled snapshot", s)
}

// LoadSpooled returns the newest spooled snapshot, or nil when there is
// none or it cannot be decoded (the next report is then full).
func (d *Dir) LoadSpooled() (*Spooled, error) {
	b, err := d.ReadFile(SpooledFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read spooled snapshot: %w", err)
	}
	var s Spooled
	if err := json.Unmarshal(b, &s); err != nil || s.Snapshot == nil || s.Hash == "" {
		return nil, nil
	}
	return &s, nil
}

// ForgetSpooled drops the spooled snapshot so the next report is full.
func (d *Dir) ForgetSpooled() error {
	if err := os.Remove(filepath.Join(d.path, SpooledFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("forget spooled snapshot: %w", err)
	}
	return nil
}

// LastAck is the collector's last acknowledgement of a report: what a
// heartbeat names as the agent's last acknowledged state.
type LastAck struct {
	Seq       uint64    `json:"seq"`
	Hash      string    `json:"hash"`
	Status    string    `json:"status"`
	At        time.Time `json:"at"`
	Transport string    `json:"transport,omitempty"`
	// Protocol is the highest protocol version the collector said it
	// speaks (wire.Ack.ProtocolVersion; 0 from a collector that speaks
	// only version 1): the version of the agent's next reports.
	Protocol int `json:"protocol,omitempty"`
}

// SaveLastAck records an acknowledgement.
func (d *Dir) SaveLastAck(a LastAck) error {
	return d.saveJSON(LastAckFile, "acknowledgement", a)
}

// LoadLastAck returns the last acknowledgement; the zero value when there
// is none or it cannot be decoded.
func (d *Dir) LoadLastAck() (LastAck, error) {
	var a LastAck
	b, err := d.ReadFile(LastAckFile)
	if errors.Is(err, fs.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return a, fmt.Errorf("read acknowledgement: %w", err)
	}
	if json.Unmarshal(b, &a) != nil {
		return LastAck{}, nil
	}
	return a, nil
}
