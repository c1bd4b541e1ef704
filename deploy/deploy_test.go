package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/rosterhq/roster/collector/config"
)

// documents decodes every YAML document in path.
func documents(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var d map[string]any
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, d)
	}
	return docs
}

func dig(t *testing.T, v any, keys ...any) any {
	t.Helper()
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a mapping at %q", keys, k)
			}
			v = m[k]
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				t.Fatalf("%v: no item %d", keys, k)
			}
			v = s[k]
		}
	}
	return v
}

// checkCollectorConfig runs the collector's own loading and validation on
// a configuration an example carries.
func checkCollectorConfig(t *testing.T, name, text string) config.Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	if err := config.LoadFile(p, &c); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if c.DataDir == "" {
		c.DataDir = "/var/lib/roster" // given by the image's entrypoint
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if c.Store.Engine != config.StorePostgres || c.Store.KeyFile == "" {
		t.Errorf("%s: store %+v, want postgres with a shared key file", name, c.Store)
	}
	return c
}

func TestCompose(t *testing.T) {
	t.Parallel()
	docs := documents(t, "compose.yaml")
	if len(docs) != 1 {
		t.Fatalf("compose.yaml: %d documents", len(docs))
	}
	services, _ := dig(t, docs[0], "services").(map[string]any)
	for _, name := range []string{"postgres", "collector-a", "collector-b"} {
		if services[name] == nil {
			t.Errorf("no service %s", name)
		}
	}
	for _, name := range []string{"collector-a", "collector-b"} {
		if got := dig(t, services, name, "secrets", 0, "source"); got != "store_key" {
			t.Errorf("%s: key file secret %v, want store_key (shared)", name, got)
		}
		if got := dig(t, services, name, "configs", 0, "source"); got != "collector" {
			t.Errorf("%s: config %v, want the shared collector config", name, got)
		}
		if got := dig(t, services, name, "volumes", 0); got != name+":/var/lib/roster" {
			t.Errorf("%s: volume %v, want its own data directory", name, got)
		}
	}
	text, _ := dig(t, docs[0], "configs", "collector", "content").(string)
	c := checkCollectorConfig(t, "compose.yaml configs.collector", text)
	if got := dig(t, docs[0], "secrets", "store_key", "file"); got != "./secrets/store.key" || c.Store.KeyFile != "/run/secrets/store.key" {
		t.Errorf("key file %v mounted, config reads %s", got, c.Store.KeyFile)
	}
}

func TestKubernetes(t *testing.T) {
	t.Parallel()
	kinds := map[string]map[string]any{}
	for _, f := range documents(t, "kubernetes/kustomization.yaml")[0]["resources"].([]any) {
		for _, d := range documents(t, filepath.Join("kubernetes", f.(string))) {
			kinds[d["kind"].(string)] = d
		}
	}
	for _, k := range []string{"Namespace", "Secret", "Deployment", "Service"} {
		if kinds[k] == nil {
			t.Fatalf("no %s in kustomization.yaml's resources", k)
		}
	}
	d := kinds["Deployment"]
	if got := dig(t, d, "spec", "replicas"); got != 2 {
		t.Errorf("replicas %v, want 2", got)
	}
	pod := dig(t, d, "spec", "template", "spec")
	if got := dig(t, pod, "securityContext", "runAsUser"); got != 65532 {
		t.Errorf("runAsUser %v, want the image's 65532", got)
	}
	ctr := dig(t, pod, "containers", 0)
	if got := dig(t, ctr, "securityContext", "readOnlyRootFilesystem"); got != true {
		t.Errorf("readOnlyRootFilesystem %v", got)
	}
	secret := kinds["Secret"]
	text, _ := dig(t, secret, "stringData", "collector.yaml").(string)
	c := checkCollectorConfig(t, "secret.yaml collector.yaml", text)
	if dig(t, secret, "stringData", "store.key") == nil {
		t.Error("the Secret has no store.key")
	}
	// The key file the config names is where the init container copies it.
	initArgs, _ := dig(t, pod, "initContainers", 0, "command").([]any)
	if len(initArgs) == 0 || initArgs[len(initArgs)-1] != c.Store.KeyFile {
		t.Errorf("init container writes %v, config reads %s", initArgs, c.Store.KeyFile)
	}
	var protocols []string
	for _, p := range dig(t, kinds["Service"], "spec", "ports").([]any) {
		protocols = append(protocols, dig(t, p, "protocol").(string))
	}
	if !slices.Equal(protocols, []string{"TCP", "UDP"}) {
		t.Errorf("service protocols %v, want TCP and UDP (HTTP/3)", protocols)
	}
}
