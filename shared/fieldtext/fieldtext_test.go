package fieldtext

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, value string
		lines       bool
		want        string // "" when accepted
	}{
		{name: "plain", value: "Finance laptops 2024"},
		{name: "unicode letters", value: "Zoë Ångström, 東京 office"},
		{name: "empty", value: ""},
		{name: "backslash kept", value: `C:\Program Files`},
		{name: "ESC", value: "abc\x1b[31m", want: "label: control character U+001B at position 4 is not allowed"},
		{name: "NUL", value: "\x00", want: "label: control character U+0000 at position 1 is not allowed"},
		{name: "DEL", value: "a\x7f", want: "label: control character U+007F at position 2 is not allowed"},
		{name: "C1 CSI", value: "é\u009b2J", want: "label: control character U+009B at position 2 is not allowed"},
		{name: "LF one-line", value: "a\nb", want: "label: line break U+000A at position 2 is not allowed"},
		{name: "CR one-line", value: "a\rb", want: "label: line break U+000D at position 2 is not allowed"},
		{name: "TAB one-line", value: "a\tb", want: "label: tab U+0009 at position 2 is not allowed"},
		{name: "line separator", value: "a\u2028b", want: "label: line break U+2028 at position 2 is not allowed"},
		{name: "RLO", value: "invoice\u202efdp.exe", want: "label: bidirectional control U+202E at position 8 is not allowed"},
		{name: "LRE", value: "\u202a", want: "label: bidirectional control U+202A at position 1 is not allowed"},
		{name: "RLI", value: "x\u2067", want: "label: bidirectional control U+2067 at position 2 is not allowed"},
		{name: "PDI", value: "x\u2069", want: "label: bidirectional control U+2069 at position 2 is not allowed"},
		{name: "invalid UTF-8", value: "ab\xffc", want: "label: invalid UTF-8 (byte 0xFF) at position 3 is not allowed"},
		{name: "literal U+FFFD is fine", value: "a\ufffdb"},
		{name: "lines: LF and TAB", value: "line one\n\tline two", lines: true},
		{name: "lines: CR", value: "a\r\nb", lines: true, want: "label: line break U+000D at position 2 is not allowed"},
		{name: "lines: ESC", value: "a\n\x1b]0;title\x07", lines: true, want: "label: control character U+001B at position 3 is not allowed"},
		{name: "lines: RLO", value: "a\n\u202e", lines: true, want: "label: bidirectional control U+202E at position 3 is not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			check := Check
			if tc.lines {
				check = CheckLines
			}
			err := check("label", tc.value)
			got := ""
			if err != nil {
				got = err.Error()
				var fe *Error
				if !errors.As(err, &fe) || fe.Field != "label" {
					t.Errorf("error %v is not an *Error for label", err)
				}
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEscape(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"web-01", "web-01"},
		{"Zoë 東京", "Zoë 東京"},
		{"\x1b[2J\x1b]0;pwned\x07host", `\x1b[2J\x1b]0;pwned\x07host`},
		{"a\x00b", `a\x00b`},
		{"a\nb\tc\rd", `a\nb\tc\rd`},
		{"\x7f", `\x7f`},
		{"\u009b31m", `\u009b31m`},
		{"evil\u202egnp.exe", `evil\u202egnp.exe`},
		{"\u2066x\u2069", `\u2066x\u2069`},
		{"bad\xff\xfe", `bad\xff\xfe`},
		{`C:\x`, `C:\x`},
	} {
		if got := Escape(tc.in); got != tc.want {
			t.Errorf("Escape(%q): got %q, want %q", tc.in, got, tc.want)
		}
		// Whatever Escape returns passes Check: nothing refused is left.
		if err := Check("escaped", Escape(tc.in)); err != nil {
			t.Errorf("Escape(%q) still refused: %v", tc.in, err)
		}
	}
}

func TestEscapeJSON(t *testing.T) {
	t.Parallel()
	in := []byte("{\"hostname\": \"a\u009b2J\u202eb\x7fc\xff\", \"n\": 1, \"ok\": \"Zoë\\u001b\"}")
	got := EscapeJSON(in)
	want := `{"hostname": "a\u009b2J\u202eb\u007fc\ufffd", "n": 1, "ok": "Zoë\u001b"}`
	if string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	var before, after map[string]any
	if err := json.Unmarshal(in, &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &after); err != nil {
		t.Fatalf("escaped document is not JSON: %v", err)
	}
	if before["hostname"] != after["hostname"] || before["ok"] != after["ok"] {
		t.Errorf("meaning changed: got %q, want %q", after, before)
	}
	if clean := []byte(`{"a": "b"}`); &EscapeJSON(clean)[0] != &clean[0] {
		t.Errorf("a clean document was copied")
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"web-01", "\x1b[2J", "a\u202eb", "\xff", "\u009b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := Check("f", Escape(s)); err != nil {
			t.Errorf("Escape(%q) = %q still refused: %v", s, Escape(s), err)
		}
	})
}
