package api

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/rosterhq/roster/collector/registry"
)

// TestClassify checks the one mapping from a failure to what a person is
// shown: the most particular registry error's code and message, none of
// the "what was being done" prefixes, and nothing of an internal error.
func TestClassify(t *testing.T) {
	t.Parallel()
	s := &server{}
	for _, tc := range []struct {
		name      string
		err       error
		status    int
		code, msg string
	}{
		{"refined and wrapped", fmt.Errorf("start wipe: %w", registry.ErrInvalid.Errorf("method %q: want agent or manual", "x")),
			http.StatusBadRequest, "bad_parameter", `method "x": want agent or manual`},
		{"not found", fmt.Errorf("read: %w", registry.ErrNotFound.Errorf("no asset %q", "LAP-1")), http.StatusNotFound, "not_found", `no asset "LAP-1"`},
		{"bare sentinel", registry.ErrNotFound, http.StatusNotFound, "not_found", "not found"},
		{"details kept for the log", fmt.Errorf("certificate 0a of device d-1: %w", registry.ErrCertificateRevoked),
			http.StatusForbidden, "certificate_revoked", "client certificate is revoked or unknown"},
		{"separation", registry.ErrSeparation.Errorf("you (bob) requested this exception"), http.StatusForbidden, "separation_of_duties", "you (bob) requested this exception"},
		{"merge conflict", registry.ErrMergeConflict.Errorf("one of the devices was already merged"), http.StatusConflict, "conflict", "one of the devices was already merged"},
		{"token", registry.ErrUnauthenticated.Errorf("API token refused: token revoked"), http.StatusUnauthorized, "unauthenticated", "API token refused: token revoked"},
		{"api error", errf(http.StatusTeapot, "teapot", "short and stout"), http.StatusTeapot, "teapot", "short and stout"},
		{"internal", fmt.Errorf("read device: %w", errors.New("database is locked")), http.StatusInternalServerError, "internal", "internal error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ae := s.classify(tc.err)
			if ae.status != tc.status || ae.code != tc.code || ae.message != tc.msg {
				t.Errorf("got %d %s %q, want %d %s %q", ae.status, ae.code, ae.message, tc.status, tc.code, tc.msg)
			}
		})
	}
}
