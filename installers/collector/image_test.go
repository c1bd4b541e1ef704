package collector

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestImageReadBack writes the image and reads it back as a registry
// client would: the layout tarball unpacked, the index, the manifest, the
// config (entrypoint, user) and the one layer holding the binary.
func TestImageReadBack(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "roster-collector")
	binary := []byte("\x7fELF not really, but these exact bytes")
	if err := os.WriteFile(bin, binary, 0o755); err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(certs, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	path, err := Image(out, ImageOptions{Collector: bin, CACerts: certs, Describe: "v1.4.0-rc.1", Arch: "amd64", Created: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := filepath.Base(path), "roster-collector-1.4.0~rc.1-oci.tar"; got != want {
		t.Errorf("image name %s, want %s", got, want)
	}

	unpacked := filepath.Join(dir, "layout")
	if err := untar(path, unpacked); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(unpacked)
	if err != nil {
		t.Fatalf("read OCI layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "1.4.0-rc.1" {
		t.Fatalf("index manifests %+v, want one tagged 1.4.0-rc.1 (a tag has no ~)", im.Manifests)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s", mt)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/usr/bin/roster-collector", "serve", "--data", "/var/lib/roster"}) {
		t.Errorf("entrypoint %q", cf.Config.Entrypoint)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (not root)", cf.Config.User)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	if _, ok := cf.Config.ExposedPorts["8443/udp"]; !ok {
		t.Errorf("HTTP/3 port not exposed: %v", cf.Config.ExposedPorts)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %d, %v; want 1", len(layers), err)
	}
	if mt, _ := layers[0].MediaType(); mt != types.OCILayer {
		t.Errorf("layer media type %s", mt)
	}
	// The flattened file system, as a runtime would see it.
	files := map[string]*tar.Header{}
	var gotBinary []byte
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h
		if h.Name == "usr/bin/roster-collector" {
			gotBinary, _ = io.ReadAll(tr)
		}
	}
	if !bytes.Equal(gotBinary, binary) {
		t.Errorf("usr/bin/roster-collector holds %q, want the binary given", gotBinary)
	}
	if h := files["usr/bin/roster-collector"]; h == nil || h.Mode&0o111 == 0 {
		t.Errorf("binary missing or not executable: %+v", h)
	}
	if h := files["var/lib/roster"]; h == nil || h.Uid != ImageUID || h.Mode&0o777 != 0o700 {
		t.Errorf("data directory %+v, want owned by %d, 0700", h, ImageUID)
	}
	for _, want := range []string{"etc/passwd", "etc/group", "tmp", "etc/ssl/certs/ca-certificates.crt"} {
		if files[want] == nil {
			t.Errorf("image lacks %s", want)
		}
	}
}

// TestImageTarball lists the tarball with bsdtar, a reader apart from Go's.
func TestImageTarball(t *testing.T) {
	t.Parallel()
	need(t, "bsdtar")
	dir := t.TempDir()
	bin := filepath.Join(dir, "roster-collector")
	if err := os.WriteFile(bin, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	path, err := Image(dir, ImageOptions{Collector: bin, Describe: "v1.4.0", Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	names := output(t, "bsdtar", "-tf", path)
	for _, want := range []string{"oci-layout\n", "index.json\n", "blobs/sha256/"} {
		if !bytes.Contains([]byte(names), []byte(want)) {
			t.Errorf("tarball lacks %q:\n%s", want, names)
		}
	}
}

func untar(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
}
