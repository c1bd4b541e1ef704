package fault

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestErrorf(t *testing.T) {
	t.Parallel()
	notFound := New(NotFound, "not_found", "not found")
	other := New(NotFound, "not_found", "not found")
	err := fmt.Errorf("start wipe: %w", notFound.Errorf("no asset %q: %w", "LAP-1", fs.ErrNotExist))

	if got, want := err.Error(), `start wipe: no asset "LAP-1": file does not exist`; got != want {
		t.Errorf("got %v, want %v", got, want)
	}
	if !errors.Is(err, notFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is lost the sentinel or the cause: %v", err)
	}
	if errors.Is(err, other) {
		t.Errorf("errors.Is matched another sentinel of the same kind and code")
	}
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("errors.As found no *Error in %v", err)
	}
	if fe.Kind != NotFound || fe.Code != "not_found" || fe.Message != `no asset "LAP-1": file does not exist` {
		t.Errorf("got %+v, want the particular error, not the sentinel", fe)
	}
}
