package windows

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rosterhq/roster/shared/wire"
)

// WindowsUpdateFile is where a captured host keeps what the live agent
// read from the Windows Update Agent API, as JSON.
const WindowsUpdateFile = "api/WindowsUpdate.json"

// wuaCriteria is the read-only search the agent runs: updates that are
// applicable, not installed and not hidden by an administrator.
const wuaCriteria = "IsInstalled=0 and IsHidden=0"

// WUAResult is the captured form of one Windows Update Agent query:
// IUpdateSearcher.Search(wuaCriteria) and IUpdateSearcher.QueryHistory.
// SearchError/HistoryError hold the failure of either part, so a machine
// whose update service is disabled still records what it could read.
type WUAResult struct {
	Criteria     string            `json:"criteria"`
	Pending      []WUAUpdate       `json:"pending"`
	SearchError  string            `json:"search_error,omitempty"`
	History      []WUAHistoryEntry `json:"history"`
	HistoryError string            `json:"history_error,omitempty"`
}

// WUAUpdate is one IUpdate of the search result.
type WUAUpdate struct {
	Title        string   `json:"title"`
	KBArticleIDs []string `json:"kb_article_ids,omitempty"`
	// MsrcSeverity is "Critical", "Important", "Moderate", "Low" or ""
	// (set only on security updates).
	MsrcSeverity string `json:"msrc_severity,omitempty"`
	// CategoryIDs are the update's ICategory.CategoryID GUIDs; names are
	// translated, IDs are not.
	CategoryIDs   []string `json:"category_ids,omitempty"`
	CategoryNames []string `json:"category_names,omitempty"`
}

// WUAHistoryEntry is one IUpdateHistoryEntry.
type WUAHistoryEntry struct {
	Date  time.Time `json:"date"`
	Title string    `json:"title"`
	// Operation is UpdateOperation: 1 installation, 2 uninstallation.
	Operation int `json:"operation"`
	// ResultCode is OperationResultCode: 0 not started, 1 in progress,
	// 2 succeeded, 3 succeeded with errors, 4 failed, 5 aborted.
	ResultCode int `json:"result_code"`
}

// securityUpdatesCategory is the CategoryID of the "Security Updates"
// classification in Windows Update (the same on every locale).
const securityUpdatesCategory = "0fa1201d-4330-4fa8-8ae9-b877473b6441"

// ParseWUAResult reads the captured form.
func ParseWUAResult(b []byte) (*WUAResult, error) {
	var r WUAResult
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode Windows Update result: %w", err)
	}
	return &r, nil
}

// IsSecurity reports whether an update fixes a security issue: it is
// classified as a Security Update, or Microsoft's Security Response Center
// rated it.
func (u WUAUpdate) IsSecurity() bool {
	if u.MsrcSeverity != "" {
		return true
	}
	for _, id := range u.CategoryIDs {
		if strings.EqualFold(strings.Trim(id, "{}"), securityUpdatesCategory) {
			return true
		}
	}
	return false
}

// WUAFacts fills the OS patch facts from a WUA result: pending counts and
// the list when the search worked, the newest successful installation
// from the history. What could not be read goes to unknown with the
// reason.
func WUAFacts(r *WUAResult) (o wire.OS, unknown map[string]string) {
	unknown = map[string]string{}
	if r.SearchError != "" {
		reason := "Windows Update search failed: " + r.SearchError
		unknown["pending_updates"], unknown["pending_security_updates"] = reason, reason
	} else {
		total, sec := len(r.Pending), 0
		o.Pending = []wire.PendingUpdate{}
		for _, u := range r.Pending {
			p := wire.PendingUpdate{Name: u.Title, Security: u.IsSecurity()}
			if p.Security {
				sec++
			}
			o.Pending = append(o.Pending, p)
		}
		o.PendingUpdates, o.PendingSecurityUpdates = &total, &sec
		o.PendingSource = "windows-update-agent"
	}
	var last *time.Time
	for _, h := range r.History {
		if h.Operation != 1 || (h.ResultCode != 2 && h.ResultCode != 3) || h.Date.IsZero() {
			continue
		}
		if last == nil || h.Date.After(*last) {
			t := h.Date.UTC()
			last = &t
		}
	}
	switch {
	case last != nil:
		o.LastUpdateAt = last
		o.LastUpdateSource = "windows-update-history"
	case r.HistoryError != "":
		unknown["last_update_at"] = "Windows Update history could not be read: " + r.HistoryError
	default:
		unknown["last_update_at"] = fmt.Sprintf("Windows Update history has no successful installation (%d entries)", len(r.History))
	}
	return o, unknown
}
