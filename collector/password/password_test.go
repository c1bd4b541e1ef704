package password_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/rosterhq/roster/collector/password"
)

// cheap keeps the table's real argon2id round trips fast; Default is
// checked once on its own.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashVerify(t *testing.T) {
	t.Parallel()
	h, err := password.Hash("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q, want the PHC string of the default parameters", h)
	}
	p, salt, key, err := password.Parse(h)
	if err != nil {
		t.Fatal(err)
	}
	if p != password.Default() || len(salt) != 16 || len(key) != 32 {
		t.Errorf("parsed %+v, salt %d, key %d; want %+v, 16, 32", p, len(salt), len(key), password.Default())
	}
	for _, tt := range []struct {
		pw   string
		want bool
	}{
		{"correct horse battery", true},
		{"correct horse batterY", false},
		{"correct horse battery ", false},
		{"", false},
	} {
		ok, err := password.Verify(h, tt.pw)
		if err != nil || ok != tt.want {
			t.Errorf("Verify(%q): got %v, %v, want %v", tt.pw, ok, err, tt.want)
		}
	}
	if password.NeedsRehash(h) {
		t.Error("a default hash needs rehashing")
	}
	h2, _ := password.Hash("correct horse battery")
	if h2 == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func TestParseAndRehash(t *testing.T) {
	t.Parallel()
	salt := bytes.Repeat([]byte{7}, 16)
	h, err := password.HashWith(cheap, "a long passphrase", bytes.NewReader(salt))
	if err != nil {
		t.Fatal(err)
	}
	if want := "$argon2id$v=19$m=64,t=1,p=1$BwcHBwcHBwcHBwcHBwcHBw$"; !strings.HasPrefix(h, want) {
		t.Errorf("hash %q, want prefix %q", h, want)
	}
	p, _, _, err := password.Parse(h)
	if err != nil || p != cheap {
		t.Errorf("Parse: %+v, %v; want %+v", p, err, cheap)
	}
	if !password.NeedsRehash(h) {
		t.Error("a hash with weaker parameters does not need rehashing")
	}
	if ok, err := password.Verify(h, "a long passphrase"); !ok || err != nil {
		t.Errorf("Verify: %v, %v", ok, err)
	}
	parts := strings.Split(h, "$")
	// A tampered hash is either malformed or does not match; never a match.
	flip := func(s string) string {
		b := []byte(s)
		if b[0] == 'A' {
			b[0] = 'B'
		} else {
			b[0] = 'A'
		}
		return string(b)
	}
	for name, bad := range map[string]string{
		"empty":          "",
		"bcrypt":         "$2b$12$abcdefghijklmnopqrstuuKkZ0vZxXz2e8S2l7u5i1wM2Ywq8pG9i",
		"argon2i":        strings.Replace(h, "argon2id", "argon2i", 1),
		"version 16":     strings.Replace(h, "v=19", "v=16", 1),
		"no version":     strings.Replace(h, "$v=19", "", 1),
		"param order":    strings.Replace(h, "m=64,t=1,p=1", "t=1,m=64,p=1", 1),
		"zero time":      strings.Replace(h, "t=1", "t=0", 1),
		"leading zero":   strings.Replace(h, "m=64", "m=064", 1),
		"huge memory":    strings.Replace(h, "m=64", "m=4194304", 1),
		"huge time":      strings.Replace(h, "t=1", "t=1000", 1),
		"p over 255":     strings.Replace(h, "p=1", "p=256", 1),
		"padded salt":    strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4] + "==", parts[5]}, "$"),
		"short salt":     strings.Join([]string{"", parts[1], parts[2], parts[3], "BwcH", parts[5]}, "$"),
		"bad base64":     strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], "!!" + parts[5][2:]}, "$"),
		"short hash":     strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], parts[5][:10]}, "$"),
		"trailing field": h + "$x",
	} {
		ok, err := password.Verify(bad, "a long passphrase")
		if ok || !errors.Is(err, password.ErrMalformed) {
			t.Errorf("%s: Verify(%q) = %v, %v; want ErrMalformed", name, bad, ok, err)
		}
		if !password.NeedsRehash(bad) {
			t.Errorf("%s: a malformed hash does not need rehashing", name)
		}
	}
	for name, bad := range map[string]string{
		"other salt": strings.Join([]string{"", parts[1], parts[2], parts[3], flip(parts[4]), parts[5]}, "$"),
		"other hash": strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], flip(parts[5])}, "$"),
		"other cost": strings.Replace(h, "t=1", "t=2", 1),
	} {
		if ok, err := password.Verify(bad, "a long passphrase"); ok || err != nil {
			t.Errorf("%s: Verify = %v, %v; want no match", name, ok, err)
		}
	}
}

// TestDummy: the hash unknown names are checked against costs what a
// real one does.
func TestDummy(t *testing.T) {
	t.Parallel()
	p, _, _, err := password.Parse(password.Dummy)
	if err != nil || p != password.Default() {
		t.Fatalf("Dummy: %+v, %v; want the default parameters (regenerate it when Default changes)", p, err)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		user, pw, want string
	}{
		{"alice", "correct horse battery", ""},
		{"alice", "twelve chars", ""},
		{"alice", "eleven char", "too short"},
		{"alice", "", "too short"},
		{"alice", "ÅÅÅÅÅÅÅÅÅÅÅÅ", ""}, // 12 characters, 24 bytes
		{"alice", "ÅÅÅÅÅÅÅÅÅÅÅ", "too short"},
		{"alice.longname", "Alice.LongName", "user name"},
		{"alice", strings.Repeat("x", password.MaxLength+1), "too long"},
		{"alice", "\xff" + strings.Repeat("x", 20), "UTF-8"},
	} {
		err := password.Check(tt.user, tt.pw)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Check(%q, %q): %v, want nil", tt.user, tt.pw, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Check(%q, %q): %v, want an error saying %q", tt.user, tt.pw, err, tt.want)
		case err != nil && len(tt.pw) > 0 && strings.Contains(err.Error(), tt.pw):
			t.Errorf("Check's error %q holds the password", err)
		}
	}
	g, err := password.Generate()
	if err != nil || password.Check("alice", g) != nil {
		t.Errorf("Generate: %q, %v: does not pass the rule", g, err)
	}
}

func TestTOTP(t *testing.T) {
	t.Parallel()
	secret, url, err := password.NewTOTP("Roster", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(url, "otpauth://totp/Roster:alice?") || !strings.Contains(url, "secret="+secret) {
		t.Errorf("otpauth URL %q", url)
	}
	now := time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)
	step := password.TOTPStep(now)
	code := func(at time.Time) string {
		c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: 6})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tt := range []struct {
		name     string
		at       time.Time
		lastUsed int64
		want     bool
		wantStep int64
	}{
		{"now", now, 0, true, step},
		{"one step early", now.Add(-30 * time.Second), 0, true, step - 1},
		{"one step late", now.Add(30 * time.Second), 0, true, step + 1},
		{"two steps early", now.Add(-60 * time.Second), 0, false, 0},
		{"two steps late", now.Add(60 * time.Second), 0, false, 0},
		{"reused", now, step, false, 0},
		{"older than the last used", now.Add(-30 * time.Second), step, false, 0},
		{"newer than the last used", now.Add(30 * time.Second), step, true, step + 1},
	} {
		got, ok := password.ValidateTOTP(secret, code(tt.at), now, tt.lastUsed)
		if ok != tt.want || got != tt.wantStep {
			t.Errorf("%s: got step %d ok %v, want %d %v", tt.name, got, ok, tt.wantStep, tt.want)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := password.ValidateTOTP(secret, bad, now, 0); ok {
			t.Errorf("code %q accepted", bad)
		}
	}
	if c, _ := password.TOTPCode(secret, now); c != code(now) {
		t.Errorf("TOTPCode %q, want %q", c, code(now))
	}
}

// FuzzVerify: a stored hash read from the database never panics Verify,
// and only a well-formed one may match.
func FuzzVerify(f *testing.F) {
	f.Add(password.Dummy, "x")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$BwcHBwcHBwcHBwcHBwcHBw$R96DURKpkW8b25RXCJoZBLAHGtr/+9oCCQhtYjOpkQU", "")
	f.Fuzz(func(t *testing.T, phc, pw string) {
		if p, _, _, err := password.Parse(phc); err != nil || p.Memory > 4096 || p.Time > 4 {
			return // keep each run cheap
		}
		password.Verify(phc, pw)
	})
}
