package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var pin = "sha256:" + strings.Repeat("ab", 32)

func TestEnrollSection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		yaml    string
		want    *Enroll
		wantErr string
	}{
		{"full", "enroll:\n  collector: https://c.example:8443\n  ca_fingerprint: " + pin + "\n  secret_file: /etc/roster/enroll-secret\n  tags: [site-a]\n",
			&Enroll{Collector: "https://c.example:8443", CAFingerprint: pin, SecretFile: "/etc/roster/enroll-secret", Tags: []string{"site-a"}}, ""},
		{"several", "enroll:\n  collectors: [https://a.example:8443, https://b.example:8443]\n",
			&Enroll{Collectors: []string{"https://a.example:8443", "https://b.example:8443"}}, ""},
		{"absent", "transport: https\n", nil, ""},
		{"http", "enroll:\n  collector: http://c.example\n", nil, "enroll.collector: \"http://c.example\" must start with https://"},
		{"both", "enroll:\n  collector: https://a.example\n  collectors: [https://b.example]\n", nil, "enroll.collectors: give collector or collectors, not both"},
		{"bad pin", "enroll:\n  ca_fingerprint: abcd\n", nil, "enroll.ca_fingerprint:"},
		{"relative secret file", "enroll:\n  secret_file: secret\n", nil, "enroll.secret_file: \"secret\" is not an absolute path"},
		{"comma tag", "enroll:\n  tags: [\"a,b\"]\n", nil, "enroll.tags[0]"},
		{"secret in the file", "enroll:\n  secret: s3cret\n", nil, "field secret not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Defaults("linux")
			err := c.decode("agent.yaml", []byte(tt.yaml))
			if err == nil {
				err = c.Validate()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, c.Enroll); diff != "" {
				t.Errorf("enroll (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRegistry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		values  map[string]string
		want    RegistrySeed
		wantErr string
	}{
		{"msi with everything", map[string]string{"CollectorURL": "https://c.example:8443", "CAFingerprint": pin, "Secret": "s3cr:et&=%", "Tags": "site-a, lab ,", "InstallMethod": "MSI"},
			RegistrySeed{Enroll: Enroll{Collector: "https://c.example:8443", CAFingerprint: pin, Tags: []string{"site-a", "lab"}}, Secret: "s3cr:et&=%", InstallMethod: "msi"}, ""},
		{"several collectors", map[string]string{"CollectorURL": "https://a.example, https://b.example"},
			RegistrySeed{Enroll: Enroll{Collectors: []string{"https://a.example", "https://b.example"}}}, ""},
		{"secret file", map[string]string{"SecretFile": `C:\ProgramData\Roster\enroll-secret`, "InstallMethod": "msi"},
			RegistrySeed{Enroll: Enroll{SecretFile: `C:\ProgramData\Roster\enroll-secret`}, InstallMethod: "msi"}, ""},
		{"only the marker", map[string]string{"InstallMethod": "msi", "CollectorURL": " "}, RegistrySeed{InstallMethod: "msi"}, ""},
		{"bad url", map[string]string{"CollectorURL": "c.example"}, RegistrySeed{}, "must start with https://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRegistry(tt.values)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("seed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnrollMerge(t *testing.T) {
	t.Parallel()
	file := Enroll{CAFingerprint: pin, Tags: []string{"from-file"}}
	reg := Enroll{Collector: "https://r.example", CAFingerprint: "sha256:other", SecretFile: `C:\s`, Tags: []string{"from-reg"}}
	want := Enroll{Collector: "https://r.example", CAFingerprint: pin, SecretFile: `C:\s`, Tags: []string{"from-file"}}
	if diff := cmp.Diff(want, file.Merge(reg)); diff != "" {
		t.Errorf("merge (-want +got):\n%s", diff)
	}
}
