package identity

import "testing"

func TestSerial(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"To Be Filled By O.E.M.", ""},
		{"  to be filled by o.e.m.  ", ""},
		{"Default string", ""},
		{"System Serial Number", ""},
		{"0123456789", ""},
		{"Not Specified", ""},
		{"00000000", ""},
		{"0000000000000000", ""},
		{"FFFFFFFF", ""},
		{"----", ""},
		{"", ""},
		{" \x00\x00", ""},
		// Real serials keep their shape, upper-cased and trimmed.
		{"VMware-56 4d 7a 3f 0c 2b 6e 8d-5e 4a 1b 9c 0d 7e 2f 13", "VMWARE-56 4D 7A 3F 0C 2B 6E 8D-5E 4A 1B 9C 0D 7E 2F 13"},
		{"c02nxxxxg3qh ", "C02NXXXXG3QH"},
		{"0", ""},
		{"CZC1234XYZ", "CZC1234XYZ"},
		{"ABC\ufffd123", "ABC123"},
	}
	for _, tt := range tests {
		if got := Serial(tt.in); got != tt.want {
			t.Errorf("Serial(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUUID(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"4C4C4544-0043-3510-8052-B2C04F4E4D32", "4c4c4544-0043-3510-8052-b2c04f4e4d32"},
		{"{4C4C4544-0043-3510-8052-B2C04F4E4D32}", "4c4c4544-0043-3510-8052-b2c04f4e4d32"},
		{"4C4C454400433510 8052B2C04F4E4D32", ""},
		{"4C4C4544004335108052B2C04F4E4D32", "4c4c4544-0043-3510-8052-b2c04f4e4d32"},
		{"00000000-0000-0000-0000-000000000000", ""},
		{"FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", ""},
		{"03000200-0400-0500-0006-000700080009", ""},
		{"Not Settable", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := UUID(tt.in); got != tt.want {
			t.Errorf("UUID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMAC(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"02:FC:00:00:00:01", "02:fc:00:00:00:01"},
		{"00-50-56-C0-00-08", "00:50:56:c0:00:08"},
		{"005056c00008", "00:50:56:c0:00:08"},
		{"00:00:00:00:00:00", ""},
		{"ff:ff:ff:ff:ff:ff", ""},
		{"00:00:00:00:00:00:00:00", ""},
		{"nonsense", ""},
	}
	for _, tt := range tests {
		if got := MAC(tt.in); got != tt.want {
			t.Errorf("MAC(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"Dell Inc.", "Dell Inc."},
		{"PowerEdge  R6515\n", "PowerEdge R6515"},
		{"System manufacturer", ""},
		{"Default string", ""},
		{"O.E.M.", ""},
	}
	for _, tt := range tests {
		if got := Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzSerial(f *testing.F) {
	for _, s := range []string{"To Be Filled By O.E.M.", "C02NXXXXG3QH", "\xff\xfe", "VMware-56 4d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Serial(s)
		if got != "" && Serial(got) != got {
			t.Errorf("Serial is not idempotent: %q -> %q -> %q", s, got, Serial(got))
		}
		if u := UUID(s); u != "" && UUID(u) != u {
			t.Errorf("UUID is not idempotent: %q -> %q", s, u)
		}
		if m := MAC(s); m != "" && MAC(m) != m {
			t.Errorf("MAC is not idempotent: %q -> %q", s, m)
		}
	})
}
