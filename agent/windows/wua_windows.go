//go:build windows

package windows

import (
	"context"
	"fmt"
	"runtime"
	"time"

	ole "github.com/go-ole/go-ole"
	"github.com/go-ole/go-ole/oleutil"
)

// maxHistory bounds how many history entries are read: the newest come
// first, and only the newest successful installation is needed.
const maxHistory = 200

// LiveWindowsUpdate asks the Windows Update Agent, read-only, for the
// applicable updates not installed and not hidden, and for the update
// history. COM calls cannot be cancelled, so on ctx's end the call is
// abandoned on its own locked thread and the probe returns.
func LiveWindowsUpdate(ctx context.Context) (*WUAResult, error) {
	type answer struct {
		r   *WUAResult
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		r, err := queryWUA()
		if err != nil {
			// The failure is the answer, and is recorded as such under
			// --capture, so a replay says what the live run said.
			msg := err.Error()
			r, err = &WUAResult{Criteria: wuaCriteria, SearchError: msg, HistoryError: msg}, nil
		}
		ch <- answer{r, err}
	}()
	select {
	case a := <-ch:
		return a.r, a.err
	case <-ctx.Done():
		return nil, fmt.Errorf("Windows Update Agent query: %w", ctx.Err())
	}
}

func queryWUA() (*WUAResult, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := ole.CoInitializeEx(0, ole.COINIT_MULTITHREADED); err != nil {
		// S_FALSE (already initialised on this thread) is not an error.
		if oe, ok := err.(*ole.OleError); !ok || oe.Code() != 1 {
			return nil, fmt.Errorf("initialise COM: %w", err)
		}
	}
	defer ole.CoUninitialize()
	unk, err := oleutil.CreateObject("Microsoft.Update.Session")
	if err != nil {
		return nil, fmt.Errorf("create Microsoft.Update.Session: %w", err)
	}
	defer unk.Release()
	session, err := unk.QueryInterface(ole.IID_IDispatch)
	if err != nil {
		return nil, fmt.Errorf("Microsoft.Update.Session IDispatch: %w", err)
	}
	defer session.Release()
	_, _ = oleutil.PutProperty(session, "ClientApplicationID", "roster-agent")
	searcherV, err := oleutil.CallMethod(session, "CreateUpdateSearcher")
	if err != nil {
		return nil, fmt.Errorf("CreateUpdateSearcher: %w", err)
	}
	searcher := searcherV.ToIDispatch()
	defer searcher.Release()

	r := &WUAResult{Criteria: wuaCriteria, Pending: []WUAUpdate{}, History: []WUAHistoryEntry{}}
	if pending, err := searchPending(searcher); err != nil {
		r.SearchError = err.Error()
	} else {
		r.Pending = pending
	}
	if hist, err := readHistory(searcher); err != nil {
		r.HistoryError = err.Error()
	} else {
		r.History = hist
	}
	return r, nil
}

func searchPending(searcher *ole.IDispatch) ([]WUAUpdate, error) {
	resV, err := oleutil.CallMethod(searcher, "Search", wuaCriteria)
	if err != nil {
		return nil, fmt.Errorf("IUpdateSearcher.Search(%q): %w", wuaCriteria, err)
	}
	res := resV.ToIDispatch()
	defer res.Release()
	updates, err := dispProp(res, "Updates")
	if err != nil {
		return nil, err
	}
	defer updates.Release()
	n, err := intProp(updates, "Count")
	if err != nil {
		return nil, err
	}
	out := make([]WUAUpdate, 0, n)
	for i := range n {
		itemV, err := oleutil.GetProperty(updates, "Item", i)
		if err != nil {
			return nil, fmt.Errorf("update %d: %w", i, err)
		}
		item := itemV.ToIDispatch()
		u := WUAUpdate{Title: strProp(item, "Title"), MsrcSeverity: strProp(item, "MsrcSeverity")}
		if kbs, err := dispProp(item, "KBArticleIDs"); err == nil {
			u.KBArticleIDs = eachItem(kbs, func(v *ole.VARIANT) string { return v.ToString() })
			kbs.Release()
		}
		if cats, err := dispProp(item, "Categories"); err == nil {
			eachItem(cats, func(v *ole.VARIANT) string {
				c := v.ToIDispatch()
				defer c.Release()
				u.CategoryIDs = append(u.CategoryIDs, strProp(c, "CategoryID"))
				u.CategoryNames = append(u.CategoryNames, strProp(c, "Name"))
				return ""
			})
			cats.Release()
		}
		item.Release()
		out = append(out, u)
	}
	return out, nil
}

func readHistory(searcher *ole.IDispatch) ([]WUAHistoryEntry, error) {
	totalV, err := oleutil.CallMethod(searcher, "GetTotalHistoryCount")
	if err != nil {
		return nil, fmt.Errorf("IUpdateSearcher.GetTotalHistoryCount: %w", err)
	}
	total := int(variantInt(totalV))
	if total == 0 {
		return []WUAHistoryEntry{}, nil
	}
	histV, err := oleutil.CallMethod(searcher, "QueryHistory", 0, min(total, maxHistory))
	if err != nil {
		return nil, fmt.Errorf("IUpdateSearcher.QueryHistory: %w", err)
	}
	hist := histV.ToIDispatch()
	defer hist.Release()
	n, err := intProp(hist, "Count")
	if err != nil {
		return nil, err
	}
	out := make([]WUAHistoryEntry, 0, n)
	for i := range n {
		eV, err := oleutil.GetProperty(hist, "Item", i)
		if err != nil {
			return nil, fmt.Errorf("history entry %d: %w", i, err)
		}
		e := eV.ToIDispatch()
		h := WUAHistoryEntry{Title: strProp(e, "Title")}
		if v, err := oleutil.GetProperty(e, "Date"); err == nil {
			if t, ok := v.Value().(time.Time); ok {
				// VT_DATE carries no zone; WUA's dates are UTC.
				h.Date = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
			}
		}
		if v, err := oleutil.GetProperty(e, "Operation"); err == nil {
			h.Operation = int(variantInt(v))
		}
		if v, err := oleutil.GetProperty(e, "ResultCode"); err == nil {
			h.ResultCode = int(variantInt(v))
		}
		e.Release()
		out = append(out, h)
	}
	return out, nil
}

func dispProp(d *ole.IDispatch, name string) (*ole.IDispatch, error) {
	v, err := oleutil.GetProperty(d, name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return v.ToIDispatch(), nil
}

func intProp(d *ole.IDispatch, name string) (int, error) {
	v, err := oleutil.GetProperty(d, name)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", name, err)
	}
	return int(variantInt(v)), nil
}

func strProp(d *ole.IDispatch, name string) string {
	v, err := oleutil.GetProperty(d, name)
	if err != nil {
		return ""
	}
	s, _ := v.Value().(string)
	return s
}

// variantInt reads the integer kinds COM returns for Count, enums and
// history counts.
func variantInt(v *ole.VARIANT) int64 {
	switch x := v.Value().(type) {
	case int32:
		return int64(x)
	case int64:
		return x
	case int16:
		return int64(x)
	case uint32:
		return int64(x)
	case int:
		return int64(x)
	case uint8:
		return int64(x)
	}
	return 0
}

// eachItem maps a COM collection (Count, Item(i)) through f.
func eachItem(coll *ole.IDispatch, f func(*ole.VARIANT) string) []string {
	n, err := intProp(coll, "Count")
	if err != nil {
		return nil
	}
	var out []string
	for i := range n {
		v, err := oleutil.GetProperty(coll, "Item", i)
		if err != nil {
			continue
		}
		if s := f(v); s != "" {
			out = append(out, s)
		}
	}
	return out
}
