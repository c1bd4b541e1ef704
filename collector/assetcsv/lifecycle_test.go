package assetcsv_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rosterhq/roster/collector/assetcsv"
)

func TestValidTransition(t *testing.T) {
	t.Parallel()
	// The whole table: each from status with every status it may go to.
	allowed := map[string]string{
		"ordered":        "in_stock in_service",
		"in_stock":       "in_service in_repair decommissioned",
		"in_service":     "in_repair offboarding",
		"in_repair":      "in_service in_stock offboarding decommissioned",
		"offboarding":    "in_stock in_service decommissioned",
		"decommissioned": "disposed",
		"disposed":       "",
	}
	for _, from := range assetcsv.Statuses() {
		for _, to := range assetcsv.Statuses() {
			want := from == to || strings.Contains(" "+allowed[from]+" ", " "+to+" ")
			t.Run(from+"->"+to, func(t *testing.T) {
				t.Parallel()
				err := assetcsv.ValidTransition(from, to)
				if (err == nil) != want {
					t.Errorf("got %v, want allowed=%v", err, want)
				}
			})
		}
		t.Run("new->"+from, func(t *testing.T) {
			t.Parallel()
			if err := assetcsv.ValidTransition("", from); err != nil {
				t.Errorf("a new asset in %s: got %v, want nil", from, err)
			}
		})
	}

	messages := []struct{ from, to, want string }{
		{"disposed", "in_service", "status cannot change from disposed to in_service: disposed is final"},
		{"decommissioned", "in_stock", "status cannot change from decommissioned to in_stock (from decommissioned: disposed)"},
		{"in_service", "in_stock", "status cannot change from in_service to in_stock (from in_service: in_repair, offboarding)"},
		{"in_service", "In Service", `status "In Service": want one of ordered, in_stock, in_service, in_repair, offboarding, decommissioned, disposed`},
		{"", "", `status "": want one of`},
		{"lost", "in_stock", `current status "lost" is not a known status`},
	}
	for _, m := range messages {
		t.Run("message "+m.from+"->"+m.to, func(t *testing.T) {
			t.Parallel()
			err := assetcsv.ValidTransition(m.from, m.to)
			if err == nil || !strings.Contains(err.Error(), m.want) {
				t.Errorf("got %v, want %q", err, m.want)
			}
		})
	}
}

func TestFieldParsers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		parse   func(string) (string, error)
		in      string
		want    string
		wantErr string
	}{
		{"type", assetcsv.ParseType, " VM ", "vm", ""},
		{"type empty", assetcsv.ParseType, "", "", ""},
		{"classification", assetcsv.ParseClassification, "INTERNAL", "internal", ""},
		{"status hyphen", assetcsv.ParseStatus, "in-repair", "in_repair", ""},
		{"status spaces", assetcsv.ParseStatus, "In  Stock", "in_stock", ""},
		{"status bad", assetcsv.ParseStatus, "instock", "", `status "instock": want one of`},
		{"date", assetcsv.ParseDate, "2024-02-29", "2024-02-29", ""},
		{"date with time", assetcsv.ParseDate, "2024-02-29T23:30:00+01:00", "2024-02-29", ""},
		{"date with minutes", assetcsv.ParseDate, "2024-02-29 08:15", "2024-02-29", ""},
		{"date not leap", assetcsv.ParseDate, "2023-02-29", "", "not a date"},
		{"date US", assetcsv.ParseDate, "12/31/2023", "", "YYYY-MM-DD (day and month order is ambiguous)"},
		{"date words", assetcsv.ParseDate, "March 2024", "", "not a date, want YYYY-MM-DD"},
		{"email", assetcsv.ParseEmail, "first.last+it@Sub.Example.CO.UK", "first.last+it@sub.example.co.uk", ""},
		{"email two at", assetcsv.ParseEmail, "a@b@example.com", "", "not a valid email address"},
		{"email space", assetcsv.ParseEmail, "a b@example.com", "", "not a valid email address"},
		{"email dot domain", assetcsv.ParseEmail, "a@example..com", "", "not a valid email address"},
		{"email trailing dot", assetcsv.ParseEmail, "a@example.com.", "", "not a valid email address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v, want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v, want %q", got, err, tt.want)
			}
		})
	}
}

func TestSplitTags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"dev", []string{"dev"}},
		{"dev; mac |dev||  ;finance team", []string{"dev", "mac", "finance team"}},
		{";|;", nil},
		{"Dev;dev", []string{"Dev", "dev"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, assetcsv.SplitTags(tt.in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
