package config

import "testing"

func TestOffboardingSinglePerson(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml string
		want       bool
	}{
		{"off by default", "", false},
		{"allowed", "offboarding:\n  allow_single_person: true\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			if err := Decode([]byte(tt.yaml), &c); err != nil {
				t.Fatal(err)
			}
			if c.Offboarding.AllowSinglePerson != tt.want {
				t.Errorf("got %v, want %v", c.Offboarding.AllowSinglePerson, tt.want)
			}
		})
	}
	c := Default()
	if err := Decode([]byte("offboarding:\n  allow_single_persons: true\n"), &c); err == nil {
		t.Error("a misspelt key was accepted")
	}
}
