package luks

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Real headers and luksDump outputs made on a Debian 12 machine with
// cryptsetup 2.6.1 (testdata/fixtures/linux/luks/SOURCES.md).
const (
	hdrDir  = "../../testdata/fixtures/linux/luks"
	dumpDir = "../../testdata/fixtures/linux/cryptsetup"
)

var fixtures = []struct {
	name   string
	want   Header
	active int
}{
	{"debian12-luks1-1slot", Header{Version: 1, UUID: "9be9295f-0455-4e01-b6d4-3a5faf66005e", Cipher: "aes-xts-plain64",
		Keyslots: []Keyslot{{0, "luks1"}}}, 1},
	{"debian12-luks1-slots02", Header{Version: 1, UUID: "bc0bed19-fcce-4d64-b066-8419612e73ba", Cipher: "aes-xts-plain64",
		Keyslots: []Keyslot{{0, "luks1"}, {2, "luks1"}}}, 2},
	{"debian12-luks1-erased", Header{Version: 1, UUID: "c1c84a08-4a81-402b-b2a1-98275e12fc09", Cipher: "aes-xts-plain64"}, 0},
	{"debian12-luks2-1slot", Header{Version: 2, UUID: "85c81352-909d-4e89-b111-aa5205faf334", Cipher: "aes-xts-plain64",
		Keyslots: []Keyslot{{0, "luks2"}}}, 1},
	{"debian12-luks2-slots02", Header{Version: 2, UUID: "4914bfc0-1619-4d4f-822b-bd993595289e", Cipher: "aes-xts-plain64",
		Keyslots: []Keyslot{{0, "luks2"}, {2, "luks2"}}}, 2},
	{"debian12-luks2-erased", Header{Version: 2, UUID: "11e8cfe8-d545-44b9-8362-0cf50016208c", Cipher: "aes-xts-plain64"}, 0},
	{"debian12-luks2-encrypting", Header{Version: 2, UUID: "eb11cf3b-e9e3-43c2-9668-3a017840410a", Cipher: "aes-xts-plain64",
		Keyslots:     []Keyslot{{0, "luks2"}, {1, "reencrypt"}},
		Requirements: []string{"online-reencrypt-v2"}, Reencrypt: "encrypt"}, 1},
	{"debian12-luks2-decrypting", Header{Version: 2, UUID: "35e447f1-5f81-49ed-8336-2f71e61f95dc", Cipher: "aes-xts-plain64",
		Keyslots:     []Keyslot{{0, "luks2"}, {1, "reencrypt"}},
		Requirements: []string{"online-reencrypt-v3"}, Reencrypt: "decrypt"}, 1},
}

func read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range fixtures {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := read(t, filepath.Join(hdrDir, tc.name+".hdr"))
			n, err := HeaderSize(b)
			if err != nil {
				t.Fatalf("HeaderSize: %v", err)
			}
			if n > len(b) {
				t.Fatalf("HeaderSize: got %d, want at most the %d-byte image", n, len(b))
			}
			got, err := ParseHeader(b)
			if err != nil {
				t.Fatalf("ParseHeader: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseHeader (-want +got):\n%s", diff)
			}
			if got.ActiveKeyslots() != tc.active {
				t.Errorf("ActiveKeyslots: got %d, want %d", got.ActiveKeyslots(), tc.active)
			}
			if want := tc.want.Reencrypt != ""; got.Reencrypting() != want {
				t.Errorf("Reencrypting: got %v, want %v", got.Reencrypting(), want)
			}
		})
	}
}

// The dump of the same volume must give the same Header as its binary
// header: two independent readings that agree.
func TestParseDump(t *testing.T) {
	t.Parallel()
	for _, tc := range fixtures {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseDump(read(t, filepath.Join(dumpDir, tc.name+"-luksDump.txt")))
			if err != nil {
				t.Fatalf("ParseDump: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseDump (-want +got):\n%s", diff)
			}
			if got.ActiveKeyslots() != tc.active {
				t.Errorf("ActiveKeyslots: got %d, want %d", got.ActiveKeyslots(), tc.active)
			}
		})
	}
}

func TestParseHeaderRejects(t *testing.T) {
	t.Parallel()
	luks1 := read(t, filepath.Join(hdrDir, "debian12-luks1-slots02.hdr"))
	luks2 := read(t, filepath.Join(hdrDir, "debian12-luks2-1slot.hdr"))
	dump2 := read(t, filepath.Join(dumpDir, "debian12-luks2-1slot-luksDump.txt"))
	mutate := func(b []byte, off int, v byte) []byte {
		c := append([]byte(nil), b...)
		c[off] = v
		return c
	}
	tests := []struct {
		name    string
		b       []byte
		notLUKS bool
	}{
		{"empty", nil, true},
		{"luksDump text is not a header", dump2, true},
		{"unsupported version", mutate(luks1, 7, 3), false},
		{"luks1 truncated", luks1[:300], false},
		// keyslot 1 state 0x0000DEAD -> 0x0000DEAE: neither active nor
		// disabled, so the slot count cannot be trusted
		{"luks1 corrupt keyslot state", mutate(luks1, 208+48+3, 0xAE), false},
		{"luks2 truncated", luks2[:8192], false},
		{"luks2 checksum mismatch", mutate(luks2, 4096+10, 'X'), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseHeader(tc.b)
			if err == nil {
				t.Fatal("got nil error, want one")
			}
			if errors.Is(err, ErrNotLUKS) != tc.notLUKS {
				t.Errorf("errors.Is(%v, ErrNotLUKS): got %v, want %v", err, !tc.notLUKS, tc.notLUKS)
			}
		})
	}
}

func TestParseDumpRejects(t *testing.T) {
	t.Parallel()
	luks1 := string(read(t, filepath.Join(dumpDir, "debian12-luks1-slots02-luksDump.txt")))
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"no version", "UUID: x\n"},
		// a LUKS1 dump cut short may hide enabled slots
		{"luks1 truncated", luks1[:len(luks1)-40]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if h, err := ParseDump([]byte(tc.in)); err == nil {
				t.Fatalf("got %+v, want an error", h)
			}
		})
	}
}

func seeds(f *testing.F, dir, suffix string) {
	for _, tc := range fixtures {
		f.Add(read(f, filepath.Join(dir, tc.name+suffix)))
	}
}

func FuzzParseHeader(f *testing.F) {
	seeds(f, hdrDir, ".hdr")
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		if h.ActiveKeyslots() > len(h.Keyslots) {
			t.Errorf("ActiveKeyslots %d > %d slots", h.ActiveKeyslots(), len(h.Keyslots))
		}
	})
}

func FuzzParseDump(f *testing.F) {
	seeds(f, dumpDir, "-luksDump.txt")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseDump(b)
	})
}
