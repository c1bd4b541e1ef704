// Package downloads serves what `make installers` wrote (the agent's
// packages and their SHA256SUMS) at GET /downloads/{file}, and the install
// script at GET /install.sh, rendered for the collector the request
// reached. Both are public: packages and the CA certificate are not
// secret, and an agent being installed holds no credential yet. Only
// names of regular files directly inside the directory are served; there
// is no listing but SHA256SUMS.
package downloads

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"regexp"
	"strings"

	"github.com/rosterhq/roster/installers/installsh"
)

// Options configure the handlers.
type Options struct {
	// Dir is the downloads directory.
	Dir string
	// CACert is the collector CA's certificate (DER), baked into install.sh.
	CACert []byte
	// Listen is the collector's listen address; its port is used when the
	// request's Host carries none.
	Listen string
	// Hostnames are the names the server certificate covers. When set, a
	// request whose Host is not one of them gets the first name instead:
	// the script must name a host the certificate is valid for.
	Hostnames []string
	Logger    *slog.Logger
}

// Mount adds GET /install.sh and GET /downloads/{file} to mux.
func Mount(mux *http.ServeMux, o Options) error {
	root, err := os.OpenRoot(o.Dir)
	if err != nil {
		return err
	}
	h := &handler{o: o, root: root}
	mux.HandleFunc("GET /install.sh", h.installScript)
	mux.HandleFunc("GET /downloads/{file}", h.file)
	return nil
}

type handler struct {
	o    Options
	root *os.Root
}

// validName is a file name, never a path: letters, digits and . _ + ~ -,
// not starting with a dot.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~-]*$`)

// contentType by extension; anything else is application/octet-stream.
func contentType(name string) string {
	if name == "SHA256SUMS" {
		return "text/plain; charset=utf-8"
	}
	switch path.Ext(name) {
	case ".deb":
		return "application/vnd.debian.binary-package"
	case ".rpm":
		return "application/x-rpm"
	case ".msi":
		return "application/x-msi"
	case ".tar":
		return "application/x-tar"
	case ".sh":
		return "text/x-shellscript; charset=utf-8"
	case ".txt":
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}

func (h *handler) file(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if !validName.MatchString(name) {
		http.NotFound(w, r)
		return
	}
	f, err := h.root.Open(name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			h.o.Logger.Warn("open download", "file", name, "err", err)
		}
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", contentType(name))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// Package names carry their version, but a rebuild may reuse one:
	// caches revalidate (Last-Modified) after an hour, SHA256SUMS always.
	if name == "SHA256SUMS" {
		w.Header().Set("Cache-Control", "public, no-cache")
	} else {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	}
	http.ServeContent(w, r, name, st.ModTime(), f)
}

func (h *handler) installScript(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	if err := installsh.Render(&b, installsh.Params{URL: "https://" + h.host(r), CACert: h.o.CACert}); err != nil {
		h.o.Logger.Error("render install.sh", "err", err)
		http.Error(w, "cannot render install.sh", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/x-shellscript; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// The script names the host it was asked for: caches must not share it
	// across hosts, and a new CA or port must show at once.
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Vary", "Host")
	_, _ = w.Write(b.Bytes())
}

// validHost is a DNS name or an IP literal (IPv6 in brackets), with an
// optional port: nothing a shell or YAML could read as syntax.
var validHost = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`)

// host is the HOST[:PORT] the script names: the request's Host as this
// collector saw it when it is one the certificate covers (or no names are
// configured), else the first configured name with the listen port.
func (h *handler) host(r *http.Request) string {
	port := ""
	if _, p, err := net.SplitHostPort(h.o.Listen); err == nil {
		port = p
	}
	reqHost, reqPort := r.Host, ""
	if hh, p, err := net.SplitHostPort(r.Host); err == nil {
		reqHost, reqPort = hh, p
	}
	reqHost = strings.Trim(reqHost, "[]")
	if reqPort == "" {
		reqPort = "443"
	}
	ok := validHost.MatchString(r.Host) && reqHost != ""
	if ok && len(h.o.Hostnames) > 0 {
		ok = false
		for _, n := range h.o.Hostnames {
			if strings.EqualFold(n, reqHost) {
				ok = true
				break
			}
		}
	}
	if ok {
		return joinHostPort(reqHost, reqPort)
	}
	name := "localhost"
	if len(h.o.Hostnames) > 0 {
		name = h.o.Hostnames[0]
	}
	if port == "" {
		port = "443"
	}
	return joinHostPort(name, port)
}

func joinHostPort(host, port string) string {
	if port == "443" {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, port)
}
