package osinfo

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
)

func aptFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(aptFixture, "root", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseAptSources(t *testing.T) {
	t.Parallel()
	deb822, err := ParseDeb822Sources(bytes.NewReader(aptFile(t, "etc/apt/sources.list.d/debian.sources")))
	if err != nil {
		t.Fatal(err)
	}
	want := []AptSource{
		{URI: "http://deb.debian.org/debian", Suite: "bookworm", Components: []string{"main"}},
		{URI: "http://deb.debian.org/debian", Suite: "bookworm-updates", Components: []string{"main"}},
		{URI: "http://deb.debian.org/debian-security", Suite: "bookworm-security", Components: []string{"main"}},
	}
	if diff := gocmp.Diff(want, deb822); diff != "" {
		t.Errorf("debian.sources (-want +got):\n%s", diff)
	}
	node, err := ParseDeb822Sources(bytes.NewReader(aptFile(t, "etc/apt/sources.list.d/nodesource.sources.disabled-by-farm")))
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff([]AptSource{{URI: "https://deb.nodesource.com/node_20.x", Suite: "nodistro", Components: []string{"main"}, Archs: []string{"amd64"}}}, node); diff != "" {
		t.Errorf("nodesource.sources (-want +got):\n%s", diff)
	}
	line, err := ParseSourcesList(bytes.NewReader(aptFile(t, "etc/apt/sources.list.d/google-cloud-sdk.list.disabled-by-farm")))
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff([]AptSource{{URI: "https://packages.cloud.google.com/apt", Suite: "cloud-sdk-bookworm", Components: []string{"main"}}}, line); diff != "" {
		t.Errorf("google-cloud-sdk.list (-want +got):\n%s", diff)
	}
	opts, err := ParseSourcesList(strings.NewReader("deb [arch=amd64,arm64 signed-by=/k.gpg] http://ports.example/ubuntu jammy-security main universe # c\ndeb-src http://x/ y z\n"))
	if err != nil || len(opts) != 1 || strings.Join(opts[0].Archs, ",") != "amd64,arm64" || opts[0].Suite != "jammy-security" {
		t.Errorf("options: got %+v, %v", opts, err)
	}
	if _, err := ParseSourcesList(strings.NewReader("deb [arch+=i386] http://x/ y z\n")); err == nil {
		t.Error("arch+= accepted; it changes the indexes in a way the reader does not follow")
	}
}

// TestAptListNames: the names apt gave this machine's lists.
func TestAptListNames(t *testing.T) {
	t.Parallel()
	ents, err := os.ReadDir(filepath.Join(aptFixture, "root/var/lib/apt/lists"))
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, e := range ents {
		have[e.Name()] = true
	}
	for _, tc := range []struct {
		src  AptSource
		comp string
		arch string
		want string
	}{
		{AptSource{URI: "http://deb.debian.org/debian", Suite: "bookworm"}, "main", "amd64", "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4"},
		{AptSource{URI: "http://deb.debian.org/debian-security/", Suite: "bookworm-security"}, "main", "amd64", "deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages.lz4"},
		{AptSource{URI: "https://deb.nodesource.com/node_20.x", Suite: "nodistro"}, "main", "amd64", "deb.nodesource.com_node%5f20.x_dists_nodistro_main_binary-amd64_Packages.lz4"},
		{AptSource{URI: "https://user:secret@packages.cloud.google.com/apt", Suite: "cloud-sdk-bookworm"}, "main", "all", "packages.cloud.google.com_apt_dists_cloud-sdk-bookworm_main_binary-all_Packages.lz4"},
	} {
		got := tc.src.indexBase(tc.comp, tc.arch) + ".lz4"
		if got != tc.want || !have[got] {
			t.Errorf("%s %s: got %q (on disk: %v), want %q", tc.src.URI, tc.src.Suite, got, have[got], tc.want)
		}
	}
	if got := (AptSource{URI: "https://deb.nodesource.com/node_20.x"}).site(); got != "deb.nodesource.com" {
		t.Errorf("site: got %q", got)
	}
}

func TestParseAptRelease(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file                          string
		origin, label, suite, version string
	}{
		{"deb.debian.org_debian-security_dists_bookworm-security_InRelease", "Debian", "Debian-Security", "oldstable-security", "12"},
		{"deb.debian.org_debian_dists_bookworm_InRelease", "Debian", "Debian", "oldstable", "12.14"},
		{"packages.cloud.google.com_apt_dists_cloud-sdk-bookworm_InRelease", "cloud-sdk-bullseye", "cloud-sdk-bullseye", "cloud-sdk-bookworm", ""},
	} {
		r, err := ParseAptRelease(bytes.NewReader(aptFile(t, "var/lib/apt/lists/"+tc.file)))
		if err != nil {
			t.Fatal(err)
		}
		if r["Origin"] != tc.origin || r["Label"] != tc.label || r["Suite"] != tc.suite || r["Version"] != tc.version {
			t.Errorf("%s: got %v", tc.file, r)
		}
	}
	// An armour header is not the release's Version.
	r, err := ParseAptRelease(strings.NewReader("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: X\nSuite: s\n-----BEGIN PGP SIGNATURE-----\nVersion: GnuPG v1\n\nabc\n-----END PGP SIGNATURE-----\n"))
	if err != nil || r["Version"] != "" || r["Origin"] != "X" {
		t.Errorf("armour: got %v, %v", r, err)
	}
}

func TestParseAptPreferences(t *testing.T) {
	t.Parallel()
	pins, err := ParseAptPreferences(bytes.NewReader(aptFile(t, "etc/apt/preferences.d/nodejs")))
	if err != nil {
		t.Fatal(err)
	}
	want := []AptPin{{Packages: []string{"nodejs"}, Kind: "origin", Origin: "deb.nodesource.com", Priority: 600}}
	if diff := gocmp.Diff(want, pins); diff != "" {
		t.Errorf("nodejs (-want +got):\n%s", diff)
	}
	pins, err = ParseAptPreferences(strings.NewReader("Explanation: x\nPackage: *\nPin: release o=Debian,a=stable-backports\nPin-Priority: 100\n\nPackage: lib*\nPin: version 1.2*\nPin-Priority: 990\n"))
	if err != nil || len(pins) != 2 || pins[0].Packages != nil || pins[0].Release["a"] != "stable-backports" || !pins[1].matchesName("libfoo") {
		t.Errorf("general and glob pins: got %+v, %v", pins, err)
	}
	for _, bad := range []string{
		"Package: bash\nPin: version 1\nPin-Priority: -1\n",
		"Package: /ba.*/\nPin: version 1\nPin-Priority: 500\n",
		"Package: src:bash\nPin: version 1\nPin-Priority: 500\n",
		"Package: bash\nPin: release a=/sta.*/\nPin-Priority: 500\n",
		"Package: *\nPin: version 1\nPin-Priority: 500\n",
	} {
		if _, err := ParseAptPreferences(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %q, which the reader does not evaluate", bad)
		}
	}
}

func TestParseRelations(t *testing.T) {
	t.Parallel()
	got := parseRelations("libc6 (>= 2.34), perl-base (= 5.36.0-7+deb12u3) | perl:any, libfoo [amd64] <!nocheck>, bar (< 2), baz (>> 1.0~)")
	want := [][]aptRel{
		{{Name: "libc6", Op: ">=", Version: "2.34"}},
		{{Name: "perl-base", Op: "=", Version: "5.36.0-7+deb12u3"}, {Name: "perl", ArchQual: "any"}},
		{{Name: "libfoo"}},
		{{Name: "bar", Op: "<=", Version: "2"}},
		{{Name: "baz", Op: ">>", Version: "1.0~"}},
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestAptConfigText(t *testing.T) {
	t.Parallel()
	got := aptConfigText("// APT::Default-Release \"x\";\n# too\n/* and\nthis */ Acquire::x \"a//b#c\"; // tail\n")
	if strings.Contains(got, "Default-Release") || strings.Contains(got, "too") || strings.Contains(got, "tail") || !strings.Contains(got, `"a//b#c"`) {
		t.Errorf("got %q", got)
	}
}
