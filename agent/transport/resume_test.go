package transport_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/transport"
	"github.com/rosterhq/roster/agent/transport/transporttest"
)

// handshakes records, per request, the protocol, whether the session was
// resumed and the key exchange used.
type handshakes struct {
	mu   sync.Mutex
	seen []handshakeSeen
}

type handshakeSeen struct {
	proto   int
	resumed bool
	curve   tls.CurveID
}

func (h *handshakes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.seen = append(h.seen, handshakeSeen{r.ProtoMajor, r.TLS.DidResume, r.TLS.CurveID})
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{}`))
}

func (h *handshakes) last() handshakeSeen {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seen[len(h.seen)-1]
}

// TestResumeOnNewConnections: every check-in after the first comes on a
// new connection (both sides' idle timeouts are shorter than the 5-minute
// interval) that resumes the session, offering X25519 alone; the first
// uses the default post-quantum hybrid. In auto mode a Small request goes
// over HTTPS even though HTTP/3 works, and leaves the remembered choice
// alone; any other request goes over HTTP/3.
func TestResumeOnNewConnections(t *testing.T) {
	t.Parallel()
	ca := transporttest.NewCA(t, "collector CA")
	h := &handshakes{}
	base := transporttest.Servers(t, ca.ServerTLS(t), h, true)
	for _, tt := range []struct {
		name  string
		mode  string
		small bool
		proto int
	}{
		{"https", transport.ModeHTTPS, false, 1},
		{"http3", transport.ModeHTTP3, false, 3},
		{"auto heartbeat", transport.ModeAuto, true, 1},
		{"auto report", transport.ModeAuto, false, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mem := &memory{}
			c, err := transport.New(transport.Options{BaseURL: base, TLS: clientTLS(t, ca), Mode: tt.mode, QUICTimeout: 10 * time.Second, Memory: mem})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i := range 3 {
				resp, err := c.Do(context.Background(), transport.Request{Method: "POST", Path: "/api/v1/agent/heartbeat", Body: []byte(`{}`), Small: tt.small})
				if err != nil {
					t.Fatalf("request %d: %v", i+1, err)
				}
				if resp.StatusCode != 200 {
					t.Fatalf("request %d: status %d", i+1, resp.StatusCode)
				}
				got := h.last()
				want := handshakeSeen{tt.proto, i > 0, tls.X25519}
				if i == 0 {
					want.curve = tls.X25519MLKEM768
				}
				if got != want {
					t.Errorf("request %d: server saw %+v, want %+v", i+1, got, want)
				}
				c.CloseIdleConnections()
			}
			if tt.small && mem.saves != 0 {
				t.Errorf("small requests remembered a transport %d times", mem.saves)
			}
		})
	}
}
