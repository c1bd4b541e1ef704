package windows

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/agent/winreg"
	"github.com/rosterhq/roster/shared/wire"
)

// TestWUAFacts runs the summary over results in the captured form. No
// real capture of a Windows Update Agent query exists with a compatible
// licence; the values are the API's documented ones (OperationResultCode,
// UpdateOperation, the Security Updates classification GUID, MSRC
// ratings) with real update titles, not captured.
func TestWUAFacts(t *testing.T) {
	t.Parallel()
	d := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	r := &WUAResult{
		Criteria: wuaCriteria,
		Pending: []WUAUpdate{
			{Title: "2024-01 Cumulative Update for Windows 11 Version 23H2 for x64-based Systems (KB5034123)", KBArticleIDs: []string{"5034123"},
				MsrcSeverity: "Critical", CategoryIDs: []string{"0FA1201D-4330-4FA8-8AE9-B877473B6441"}, CategoryNames: []string{"Security Updates"}},
			{Title: "Security Intelligence Update for Microsoft Defender Antivirus - KB2267602", KBArticleIDs: []string{"2267602"},
				CategoryIDs: []string{"e0789628-ce08-4437-be74-2495b842f43b"}, CategoryNames: []string{"Definition Updates"}},
			// Localised name, security by its GUID alone.
			{Title: "Mise à jour de sécurité", CategoryIDs: []string{"{0fa1201d-4330-4fa8-8ae9-b877473b6441}"}, CategoryNames: []string{"Mises à jour de la sécurité"}},
		},
		History: []WUAHistoryEntry{
			{Date: d("2024-01-10T03:00:00Z"), Title: "failed", Operation: 1, ResultCode: 4},
			{Date: d("2023-12-13T02:00:00Z"), Title: "KB5033375", Operation: 1, ResultCode: 2},
			{Date: d("2023-12-20T02:00:00Z"), Title: "with errors", Operation: 1, ResultCode: 3},
			{Date: d("2024-01-11T02:00:00Z"), Title: "uninstall", Operation: 2, ResultCode: 2},
		},
	}
	o, unknown := WUAFacts(r)
	if o.PendingUpdates == nil || *o.PendingUpdates != 3 || o.PendingSecurityUpdates == nil || *o.PendingSecurityUpdates != 2 {
		t.Fatalf("pending %v security %v, want 3 and 2", o.PendingUpdates, o.PendingSecurityUpdates)
	}
	wantPending := []wire.PendingUpdate{
		{Name: r.Pending[0].Title, Security: true},
		{Name: r.Pending[1].Title},
		{Name: r.Pending[2].Title, Security: true},
	}
	if diff := cmp.Diff(wantPending, o.Pending); diff != "" {
		t.Errorf("pending (-want +got):\n%s", diff)
	}
	if o.LastUpdateAt == nil || !o.LastUpdateAt.Equal(d("2023-12-20T02:00:00Z")) || o.LastUpdateSource != "windows-update-history" {
		t.Errorf("last update %v from %q, want 2023-12-20T02:00:00Z from windows-update-history", o.LastUpdateAt, o.LastUpdateSource)
	}
	if len(unknown) != 0 {
		t.Errorf("unknown = %v, want none", unknown)
	}

	// A failed search is unknown, never "0 pending".
	o, unknown = WUAFacts(&WUAResult{SearchError: "IUpdateSearcher.Search: 0x8024402C", HistoryError: "access denied"})
	if o.PendingUpdates != nil || unknown["pending_updates"] == "" || unknown["pending_security_updates"] == "" || unknown["last_update_at"] == "" {
		t.Errorf("failed query gave %+v with unknown %v", o, unknown)
	}
	// Nothing pending is a known zero.
	o, _ = WUAFacts(&WUAResult{Pending: []WUAUpdate{}})
	if o.PendingUpdates == nil || *o.PendingUpdates != 0 || *o.PendingSecurityUpdates != 0 {
		t.Errorf("empty search gave %v/%v, want 0/0", o.PendingUpdates, o.PendingSecurityUpdates)
	}
}

func TestParseWUAResultRoundTrip(t *testing.T) {
	t.Parallel()
	in := []byte(`{"criteria":"IsInstalled=0 and IsHidden=0","pending":[{"title":"x","msrc_severity":"Important"}],"history":[{"date":"2024-01-09T18:00:00Z","title":"y","operation":1,"result_code":2}]}`)
	r, err := ParseWUAResult(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Pending) != 1 || !r.Pending[0].IsSecurity() || len(r.History) != 1 || r.History[0].ResultCode != 2 {
		t.Errorf("got %+v", r)
	}
	if _, err := ParseWUAResult([]byte(`{"pending":3}`)); err == nil {
		t.Error("a malformed result parsed without error")
	}
}

func FuzzParseWUAResult(f *testing.F) {
	seedFiles(f, "testdata/hosts/*/api/WindowsUpdate.json")
	f.Add([]byte(`{"criteria":"IsInstalled=0 and IsHidden=0","pending":[{"title":"x","category_ids":["0fa1201d-4330-4fa8-8ae9-b877473b6441"]}],"history":[{"date":"2024-01-09T18:00:00Z","operation":1,"result_code":2}]}`))
	f.Add([]byte(`{"search_error":"0x8024402C","history_error":"denied"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseWUAResult(b)
		if err != nil {
			return
		}
		o, unknown := WUAFacts(r)
		if (o.PendingUpdates == nil) != (unknown["pending_updates"] != "") {
			t.Errorf("pending %v with unknown reason %q", o.PendingUpdates, unknown["pending_updates"])
		}
	})
}

// TestRebootRequired checks the three documented signals on registry
// trees built in memory (not exports of a real machine).
func TestRebootRequired(t *testing.T) {
	t.Parallel()
	sec := func(key string, entries ...winreg.Entry) winreg.Section {
		return winreg.Section{Key: key, Entries: entries}
	}
	base := []winreg.Section{sec(keyAutoUpdate), sec(keyCBS), sec(keySessionManager)}
	tests := []struct {
		name   string
		extra  []winreg.Section
		only   []winreg.Section
		want   wire.Tri
		reason bool
	}{
		{name: "nothing pending", want: wire.No},
		{name: "Windows Update", extra: []winreg.Section{sec(keyAutoUpdate + `\RebootRequired`)}, want: wire.Yes},
		{name: "servicing", extra: []winreg.Section{sec(keyCBS + `\RebootPending`)}, want: wire.Yes},
		{name: "file renames", extra: []winreg.Section{sec(keySessionManager, winreg.Entry{Name: "PendingFileRenameOperations",
			Value: winreg.Value{Type: winreg.TypeMultiString, Strings: []string{`\??\C:\Windows\Temp\a.tmp`, ""}}})}, want: wire.Yes},
		{name: "empty file renames", extra: []winreg.Section{sec(keySessionManager, winreg.Entry{Name: "PendingFileRenameOperations",
			Value: winreg.Value{Type: winreg.TypeMultiString}})}, want: wire.No},
		{name: "keys not readable", only: []winreg.Section{sec(keySessionManager)}, want: wire.Unknown, reason: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			secs := append(append([]winreg.Section{}, base...), tt.extra...)
			if tt.only != nil {
				secs = tt.only
			}
			reg := winreg.NewTree()
			reg.Apply(&winreg.RegFile{Sections: secs})
			got, reason := rebootRequired(context.Background(), reg)
			if got != tt.want || (reason != "") != tt.reason {
				t.Errorf("got %s %q, want %s (reason %v)", got, reason, tt.want, tt.reason)
			}
		})
	}
}
