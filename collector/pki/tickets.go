package pki

import (
	"bytes"
	"compress/flate"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Session tickets let an agent that comes back every five minutes on a new
// connection resume its TLS 1.3 session instead of sending both
// certificate chains again. They are sealed here rather than by crypto/tls
// for three reasons:
//   - every collector sharing the CA through the store holds the same
//     command key, so a ticket key derived from it opens on any of them and
//     on a restarted one (crypto/tls's own keys are random per process);
//   - the key is derived per UTC day and a ticket is accepted for the day it
//     was sealed and the next, so keys rotate daily on every instance at
//     once with no coordination;
//   - Go's ticket carries the client certificate and its verified chain
//     (our CA) in full, ~1 KB sent down in every NewSessionTicket and up in
//     every ClientHello; deflating it with the CA certificate as preset
//     dictionary shrinks it to about half.
//
// Resumption authenticates nothing by itself: crypto/tls restores the
// client certificate from the ticket into ConnectionState, and the API
// checks it against the CA and the registry (revocation) on every request,
// resumed or not.

// ticketLifetime is how long past its UTC day a ticket key is accepted.
const ticketLifetime = 24 * time.Hour

// maxTicketState bounds an inflated ticket; a session state with a client
// certificate is about 1 KB.
const maxTicketState = 16 << 10

// ticketHeader is the UTC day number the ticket's key is for (4 bytes)
// followed by the AES-GCM nonce.
const ticketHeader = 4 + 12

// tickets seals and opens session tickets with keys derived from the
// command key.
type tickets struct {
	command *CommandKey
	dict    []byte
	now     func() time.Time

	mu   sync.Mutex
	keys map[uint32]cipher.AEAD // by UTC day number; the last two days

	// writers keeps deflate writers primed with dict between handshakes:
	// each new one allocates about 1 MB of compressor state, which every
	// full handshake of a fleet turned into garbage (the 15,000-device
	// fleet run's heap profile: 16 MB live at any moment, and the GC work).
	// Reset keeps a writer's level and dictionary.
	writers sync.Pool
}

func newTickets(command *CommandKey, dict []byte, now func() time.Time) *tickets {
	return &tickets{command: command, dict: dict, now: now, keys: map[uint32]cipher.AEAD{}}
}

func dayOf(t time.Time) uint32 { return uint32(t.UTC().Unix() / 86400) }

// aead is the ticket cipher for day, derived on first use.
func (t *tickets) aead(day uint32) (cipher.AEAD, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a, ok := t.keys[day]; ok {
		return a, nil
	}
	key, err := t.command.DeriveKey(fmt.Sprintf("tls session ticket key day %d", day))
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("session ticket cipher: %w", err)
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("session ticket cipher: %w", err)
	}
	for d := range t.keys {
		if d+1 < day {
			delete(t.keys, d)
		}
	}
	t.keys[day] = a
	return a, nil
}

// wrap is tls.Config.WrapSession.
func (t *tickets) wrap(_ tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	state, err := ss.Bytes()
	if err != nil {
		return nil, fmt.Errorf("encode session state: %w", err)
	}
	var z bytes.Buffer
	zw, _ := t.writers.Get().(*flate.Writer)
	if zw == nil {
		if zw, err = flate.NewWriterDict(&z, flate.BestCompression, t.dict); err != nil {
			return nil, fmt.Errorf("compress session state: %w", err)
		}
	} else {
		zw.Reset(&z)
	}
	if _, err := zw.Write(state); err != nil {
		return nil, fmt.Errorf("compress session state: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress session state: %w", err)
	}
	zw.Reset(io.Discard) // drop the reference to z before pooling
	t.writers.Put(zw)
	day := dayOf(t.now())
	a, err := t.aead(day)
	if err != nil {
		return nil, err
	}
	out := make([]byte, ticketHeader, ticketHeader+z.Len()+a.Overhead())
	binary.BigEndian.PutUint32(out, day)
	if _, err := rand.Read(out[4:ticketHeader]); err != nil {
		return nil, fmt.Errorf("session ticket nonce: %w", err)
	}
	return a.Seal(out, out[4:ticketHeader], z.Bytes(), out[:4]), nil
}

// unwrap is tls.Config.UnwrapSession: a ticket it cannot open (foreign,
// corrupt, from a day whose key is retired) means a full handshake, not an
// error.
func (t *tickets) unwrap(ticket []byte, _ tls.ConnectionState) (*tls.SessionState, error) {
	ss, err := t.open(ticket)
	if err != nil {
		return nil, nil
	}
	return ss, nil
}

var errTicket = errors.New("session ticket not accepted")

func (t *tickets) open(ticket []byte) (*tls.SessionState, error) {
	if len(ticket) < ticketHeader {
		return nil, errTicket
	}
	day, today := binary.BigEndian.Uint32(ticket), dayOf(t.now())
	if day > today || today-day > uint32(ticketLifetime/(24*time.Hour)) {
		return nil, errTicket
	}
	a, err := t.aead(day)
	if err != nil {
		return nil, err
	}
	z, err := a.Open(nil, ticket[4:ticketHeader], ticket[ticketHeader:], ticket[:4])
	if err != nil {
		return nil, errTicket
	}
	zr := flate.NewReaderDict(bytes.NewReader(z), t.dict)
	state, err := io.ReadAll(io.LimitReader(zr, maxTicketState+1))
	if err != nil || len(state) > maxTicketState {
		return nil, errTicket
	}
	ss, err := tls.ParseSessionState(state)
	if err != nil {
		return nil, errTicket
	}
	return ss, nil
}
