package collector

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/rosterhq/roster/installers/linuxpkg"
)

// The image's user: not root, and no name the host is likely to give
// another account (distroless's nonroot id).
const (
	ImageUID     = 65532
	ImageDataDir = "/var/lib/roster"
)

// imageEntrypoint is the image's entrypoint; arguments given to the
// container (e.g. --hostname, --config) follow it.
func imageEntrypoint() []string {
	return []string{"/usr/bin/roster-collector", "serve", "--data", ImageDataDir}
}

// ImageOptions say what goes into the image.
type ImageOptions struct {
	// Collector is a statically linked linux binary: the image has no libc.
	Collector string
	// CACerts is a PEM bundle installed as /etc/ssl/certs/ca-certificates.crt
	// (PostgreSQL, OIDC and webhooks over TLS); empty leaves it out.
	CACerts  string
	Describe string
	Arch     string
	// Created stamps the image and its files; zero means now.
	Created time.Time
}

// ImageTag is the image's tag: the Debian version with ~ and + (not
// allowed in a tag) as -, e.g. 1.2.0, 1.2.0-rc.1, 1.2.0-git4.1a2b3c4,
// 0.0.0-git1a2b3c4.
func ImageTag(v linuxpkg.Versions) string {
	return strings.NewReplacer("~", "-", "+", "-").Replace(v.Deb)
}

// ImageName is the OCI layout tarball's name: roster-collector-<ver>-oci.tar.
func ImageName(v linuxpkg.Versions) string { return fmt.Sprintf("%s-%s-oci.tar", name, v.Deb) }

// Image writes the image as an OCI image layout, tarred, into dir and
// returns its path. Load it with `skopeo copy oci-archive:FILE docker://…`
// or `podman load -i FILE`.
func Image(dir string, o ImageOptions) (string, error) {
	v, err := linuxpkg.ParseVersion(o.Describe)
	if err != nil {
		return "", err
	}
	if o.Created.IsZero() {
		o.Created = time.Now().UTC().Truncate(time.Second)
	}
	layerTar, err := imageLayer(o)
	if err != nil {
		return "", err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return "", fmt.Errorf("image layer: %w", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return "", fmt.Errorf("image layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = o.Arch, "linux"
	cf.Created = v1.Time{Time: o.Created}
	cf.Config = v1.Config{
		Entrypoint:   imageEntrypoint(),
		User:         strconv.Itoa(ImageUID) + ":" + strconv.Itoa(ImageUID),
		WorkingDir:   ImageDataDir,
		ExposedPorts: map[string]struct{}{"8443/tcp": {}, "8443/udp": {}},
		Volumes:      map[string]struct{}{ImageDataDir: {}},
		Env:          []string{"PATH=/usr/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		StopSignal:   "SIGTERM",
		Labels: map[string]string{
			"org.opencontainers.image.title":       name,
			"org.opencontainers.image.description": summary,
			"org.opencontainers.image.version":     v.Deb,
			"org.opencontainers.image.source":      homepage,
			"org.opencontainers.image.licenses":    license,
		},
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", fmt.Errorf("image config: %w", err)
	}

	staging, err := os.MkdirTemp("", "roster-collector-oci-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(staging)
	lp, err := layout.Write(staging, empty.Index)
	if err != nil {
		return "", fmt.Errorf("write OCI layout: %w", err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": ImageTag(v),
	})); err != nil {
		return "", fmt.Errorf("write OCI layout: %w", err)
	}
	out := filepath.Join(dir, ImageName(v))
	if err := tarDir(out, staging, o.Created); err != nil {
		return "", err
	}
	return out, nil
}

// imageLayer is the one layer: the binary, the accounts the user needs,
// the data directory owned by it, /tmp, and the CA bundle.
func imageLayer(o ImageOptions) ([]byte, error) {
	bin, err := os.ReadFile(o.Collector)
	if err != nil {
		return nil, fmt.Errorf("read collector binary: %w", err)
	}
	uid := strconv.Itoa(ImageUID)
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	dir := func(p string, mode int64, owner int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: mode, Uid: owner, Gid: owner, ModTime: o.Created, Format: tar.FormatPAX})
	}
	file := func(p string, mode int64, body []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: mode, Size: int64(len(body)), ModTime: o.Created, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	steps := []func() error{
		func() error { return dir("etc", 0o755, 0) },
		func() error {
			return file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nroster:x:"+uid+":"+uid+":Roster collector:"+ImageDataDir+":/sbin/nologin\n"))
		},
		func() error { return file("etc/group", 0o644, []byte("root:x:0:\nroster:x:"+uid+":\n")) },
		func() error { return dir("tmp", 0o1777, 0) },
		func() error { return dir("usr", 0o755, 0) },
		func() error { return dir("usr/bin", 0o755, 0) },
		func() error { return file("usr/bin/roster-collector", 0o755, bin) },
		func() error { return dir("var", 0o755, 0) },
		func() error { return dir("var/lib", 0o755, 0) },
		// 0700: serve refuses a data directory others can enter.
		func() error { return dir("var/lib/roster", 0o700, ImageUID) },
	}
	if o.CACerts != "" {
		certs, err := os.ReadFile(o.CACerts)
		if err != nil {
			return nil, fmt.Errorf("read CA bundle: %w", err)
		}
		steps = append(steps,
			func() error { return dir("etc/ssl", 0o755, 0) },
			func() error { return dir("etc/ssl/certs", 0o755, 0) },
			func() error { return file("etc/ssl/certs/ca-certificates.crt", 0o644, certs) })
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, fmt.Errorf("image layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	return b.Bytes(), nil
}

// tarDir writes the files under root into the tar file out, in walk order
// (lexical, so the archive is reproducible).
func tarDir(out, root string, mtime time.Time) (err error) {
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("create %s: %w", out, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write %s: %w", out, cerr)
		}
	}()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: filepath.ToSlash(rel) + "/", Mode: 0o755, ModTime: mtime})
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(body)), ModTime: mtime}); err != nil {
			return err
		}
		_, err = tw.Write(body)
		return err
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return tw.Close()
}
