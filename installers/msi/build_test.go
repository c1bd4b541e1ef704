package msi

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The packages are built for real, from a freshly cross-compiled agent,
// and read back with msitools (msiinfo, msiextract) and osslsigncode; only
// msiexec is missing here, so what Windows Installer would do is checked
// through the tables it reads.

func requireTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"wixl", "msibuild", "msiinfo", "msiextract", "osslsigncode"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make deps)", tool)
		}
	}
}

// crossAgent builds roster-agent.exe for windows/goarch into dir.
func crossAgent(t *testing.T, dir, goarch string) string {
	t.Helper()
	out := filepath.Join(dir, "roster-agent-"+goarch+".exe")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=v1.4.2-7-gabcdef0", "-o", out, "github.com/rosterhq/roster/cmd/roster-agent")
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH="+goarch, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cross-compile agent for windows/%s: %v\n%s", goarch, err, b)
	}
	return out
}

// table is one exported MSI table: its rows keyed by column name.
type table []map[string]string

func exportTable(t *testing.T, msiPath, name string) table {
	t.Helper()
	out, err := exec.Command("msiinfo", "export", msiPath, name).Output()
	if err != nil {
		t.Fatalf("msiinfo export %s: %v", name, err)
	}
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(out), "\r\n", "\n"), "\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("msiinfo export %s: %d lines, want a header of 3", name, len(lines))
	}
	cols := strings.Split(lines[0], "\t")
	var rows table
	for _, l := range lines[3:] {
		f := strings.Split(l, "\t")
		row := map[string]string{}
		for i, c := range cols {
			if i < len(f) {
				row[c] = f[i]
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// find returns the rows whose column col is val.
func (tb table) find(col, val string) []map[string]string {
	var out []map[string]string
	for _, r := range tb {
		if r[col] == val {
			out = append(out, r)
		}
	}
	return out
}

func (tb table) one(t *testing.T, name, col, val string) map[string]string {
	t.Helper()
	rows := tb.find(col, val)
	if len(rows) != 1 {
		t.Fatalf("%s: %d rows with %s=%q, want 1: %v", name, len(rows), col, val, tb)
	}
	return rows[0]
}

func checkRow(t *testing.T, name string, row map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if row[k] != v {
			t.Errorf("%s %s = %q, want %q", name, k, row[k], v)
		}
	}
}

func TestBuild(t *testing.T) {
	requireTools(t)
	if testing.Short() {
		t.Skip("cross-compiles the agent")
	}
	ctx := t.Context()
	dir := t.TempDir()
	signer, err := NewThrowaway(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	exes := map[string]string{"x64": crossAgent(t, dir, "amd64"), "arm64": crossAgent(t, dir, "arm64")}
	const describe = "v1.4.2-7-gabcdef0"

	// The special characters users' secrets and URLs carry, baked into a
	// configured package: they must reach the Property table unchanged.
	preset := Preset{
		"ROSTER_URL":    "https://collector.example:8443/roster?site=a&b=[c]",
		"ROSTER_SECRET": `s3cr;t "q" 'a' [x] {y} %PATH% & $(var.z) !(loc.w) #1`,
		"ROSTER_TAGS":   "site=paris, laptops",
	}

	builds := []struct {
		name   string
		arch   string
		preset Preset
	}{
		{"x64", "x64", nil},
		{"arm64", "arm64", nil},
		{"x64 configured", "x64", preset},
	}
	for _, b := range builds {
		t.Run(b.name, func(t *testing.T) {
			work := t.TempDir()
			out := filepath.Join(t.TempDir(), "out")
			res, err := Build(ctx, ExecRunner{}, Options{
				Arch: b.arch, Describe: describe, Commits: 300, Exe: exes[b.arch],
				OutDir: out, Signer: signer.Signer, WorkDir: work, Preset: b.preset,
			})
			if err != nil {
				t.Fatal(err)
			}
			wantName := "roster-agent-1.4.2.7-" + b.arch + ".msi"
			if filepath.Base(res.MSI) != wantName {
				t.Errorf("package %s, want %s", filepath.Base(res.MSI), wantName)
			}
			st, err := os.Stat(res.MSI)
			if err != nil {
				t.Fatal(err)
			}
			exeSt, _ := os.Stat(exes[b.arch])
			t.Logf("figure: %s %d bytes (%.1f MiB; agent exe %.1f MiB)", wantName, st.Size(), float64(st.Size())/(1<<20), float64(exeSt.Size())/(1<<20))
			checkPackage(t, res, b.preset)
			checkSignatures(t, res, signer.CAFile, exes[b.arch])
		})
	}

	t.Run("reproducible codes", func(t *testing.T) {
		work := t.TempDir()
		res, err := Build(ctx, ExecRunner{}, Options{Arch: "x64", Describe: describe, Commits: 300, Exe: exes["x64"], OutDir: work, Signer: signer.Signer, WorkDir: work})
		if err != nil {
			t.Fatal(err)
		}
		again := exportTable(t, res.MSI, "Property").one(t, "Property", "Property", "ProductCode")["Value"]
		if want := res.Spec.ProductCode(); again != want {
			t.Errorf("rebuilt ProductCode %s, want %s", again, want)
		}
	})

	t.Run("SIGN_PFX", func(t *testing.T) {
		// A PKCS#12 file as a CA would issue it, with a password that a
		// command line would mangle; osslsigncode reads it from a file.
		if _, err := exec.LookPath("openssl"); err != nil {
			t.Skip("openssl not installed")
		}
		pfx := filepath.Join(t.TempDir(), "signing.pfx")
		const password = `p@ss 'w"rd % $x`
		cmd := exec.Command("openssl", "pkcs12", "-export", "-inkey", signer.Key, "-in", signer.CertChain, "-out", pfx, "-passout", "env:PFX_PASS")
		cmd.Env = append(os.Environ(), "PFX_PASS="+password)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl pkcs12: %v\n%s", err, out)
		}
		out := filepath.Join(t.TempDir(), "signed.exe")
		if err := (Signer{PFX: pfx, PFXPassword: password}).Sign(ctx, ExecRunner{}, exes["x64"], out); err != nil {
			t.Fatal(err)
		}
		if b, err := exec.Command("osslsigncode", "verify", "-CAfile", signer.CAFile, "-in", out).CombinedOutput(); err != nil || !bytes.Contains(b, []byte("Signature verification: ok")) {
			t.Errorf("osslsigncode verify: %v\n%s", err, b)
		}
		if err := (Signer{PFX: pfx, PFXPassword: "wrong"}).Sign(ctx, ExecRunner{}, exes["x64"], filepath.Join(t.TempDir(), "x.exe")); err == nil {
			t.Error("signing with a wrong PFX password succeeded")
		}
	})

	t.Run("wrong architecture refused", func(t *testing.T) {
		_, err := Build(ctx, ExecRunner{}, Options{Arch: "arm64", Describe: describe, Commits: 1, Exe: exes["x64"], OutDir: t.TempDir(), Signer: signer.Signer, WorkDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "PE machine") {
			t.Fatalf("arm64 package of an amd64 agent: error %v, want a PE machine mismatch", err)
		}
	})
}

func checkPackage(t *testing.T, res Result, preset Preset) {
	t.Helper()
	m := res.MSI
	spec := res.Spec

	prop := exportTable(t, m, "Property")
	propWant := map[string]string{
		"ProductVersion":         "1.4.2.7",
		"ProductCode":            spec.ProductCode(),
		"UpgradeCode":            UpgradeCode,
		"ProductName":            "Roster agent",
		"ALLUSERS":               "1",
		"MsiHiddenProperties":    "ROSTER_SECRET",
		"SecureCustomProperties": "WIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED;INSTALLDIR;ROSTER_URL;ROSTER_CA_FINGERPRINT;ROSTER_SECRET;ROSTER_SECRET_FILE;ROSTER_TAGS",
	}
	for k, v := range preset {
		propWant[k] = v
	}
	for k, v := range propWant {
		checkRow(t, "Property "+k, prop.one(t, "Property", "Property", k), map[string]string{"Value": v})
	}
	for _, s := range Seeds {
		if _, given := preset[s.Property]; !given && len(prop.find("Property", s.Property)) != 0 {
			t.Errorf("Property %s present without a preset: it would always be written", s.Property)
		}
	}

	dirs := exportTable(t, m, "Directory")
	checkRow(t, "Directory INSTALLDIR", dirs.one(t, "Directory", "Directory", "INSTALLDIR"), map[string]string{"Directory_Parent": "ProgramFiles64Folder", "DefaultDir": "Roster"})

	files := exportTable(t, m, "File")
	signedSt, err := os.Stat(res.SignedExe)
	if err != nil {
		t.Fatal(err)
	}
	checkRow(t, "File", files.one(t, "File", "File", "AgentExe"), map[string]string{
		"Component_": "Agent", "FileName": "roster-agent.exe", "FileSize": strconv.FormatInt(signedSt.Size(), 10),
	})

	comps := exportTable(t, m, "Component")
	checkRow(t, "Component Agent", comps.one(t, "Component", "Component", "Agent"), map[string]string{
		"Directory_": "INSTALLDIR", "KeyPath": "AgentExe", "Condition": "", "Attributes": "256", "ComponentId": componentGUID("Agent"),
	})
	checkRow(t, "Component RegInstallMethod", comps.one(t, "Component", "Component", "RegInstallMethod"), map[string]string{"Condition": "", "Attributes": "260"})

	reg := exportTable(t, m, "Registry")
	checkRow(t, "Registry InstallMethod", reg.one(t, "Registry", "Name", "InstallMethod"), map[string]string{
		"Root": "2", "Key": `SOFTWARE\Roster\Agent`, "Value": "msi", "Component_": "RegInstallMethod",
	})
	for _, s := range Seeds {
		c := comps.one(t, "Component", "Component", seedComponent(s))
		// 324: 64-bit, registry key path, transitive.
		checkRow(t, "Component "+c["Component"], c, map[string]string{"Condition": s.Property, "Attributes": "324", "ComponentId": componentGUID(seedComponent(s))})
		r := reg.one(t, "Registry", "Name", s.Value)
		checkRow(t, "Registry "+s.Value, r, map[string]string{
			"Root": "2", "Key": `SOFTWARE\Roster\Agent`, "Value": "[" + s.Property + "]", "Component_": seedComponent(s),
		})
		if r["Registry"] != c["KeyPath"] {
			t.Errorf("component %s key path %s, want its registry value %s", c["Component"], c["KeyPath"], r["Registry"])
		}
	}

	svc := exportTable(t, m, "ServiceInstall")
	checkRow(t, "ServiceInstall", svc.one(t, "ServiceInstall", "Name", "roster-agent"), map[string]string{
		"ServiceType":  "16",    // SERVICE_WIN32_OWN_PROCESS
		"StartType":    "2",     // SERVICE_AUTO_START
		"ErrorControl": "32769", // normal, vital
		"StartName":    "LocalSystem",
		"Password":     "",
		"Arguments":    `run --state-dir "[CommonAppDataFolder]Roster" --config "[CommonAppDataFolder]Roster\agent.yaml"`,
		"Component_":   "Agent",
	})

	ctl := exportTable(t, m, "ServiceControl")
	if len(ctl) != 2 {
		t.Errorf("ServiceControl: %d rows, want 2: %v", len(ctl), ctl)
	}
	// Start on install without waiting for the service to run (an agent
	// that cannot reach its collector yet must not roll the install back);
	// stop on install and uninstall, delete on install (a service
	// `roster-agent install` registered) and uninstall, waiting.
	checkRow(t, "ServiceControl AgentStart", ctl.one(t, "ServiceControl", "ServiceControl", "AgentStart"), map[string]string{"Name": "roster-agent", "Event": "1", "Wait": "0", "Component_": "Agent"})
	checkRow(t, "ServiceControl AgentStopRemove", ctl.one(t, "ServiceControl", "ServiceControl", "AgentStopRemove"), map[string]string{"Name": "roster-agent", "Event": strconv.Itoa(0x2 | 0x8 | 0x20 | 0x80), "Wait": "1", "Component_": "Agent"})

	cfg := exportTable(t, m, "MsiServiceConfig")
	checkRow(t, "MsiServiceConfig", cfg.one(t, "MsiServiceConfig", "Name", "roster-agent"), map[string]string{"Event": "5", "ConfigType": "3", "Argument": "1", "Component_": "Agent"})
	seq := exportTable(t, m, "InstallExecuteSequence")
	order := func(action string) int {
		n, _ := strconv.Atoi(seq.one(t, "InstallExecuteSequence", "Action", action)["Sequence"])
		return n
	}
	if !(order("InstallServices") < order("MsiConfigureServices") && order("MsiConfigureServices") < order("StartServices")) {
		t.Errorf("MsiConfigureServices at %d, want between InstallServices (%d) and StartServices (%d)", order("MsiConfigureServices"), order("InstallServices"), order("StartServices"))
	}
	if order("RemoveExistingProducts") > order("InstallInitialize") {
		t.Errorf("RemoveExistingProducts at %d, want before InstallInitialize (the old version removed first)", order("RemoveExistingProducts"))
	}

	up := exportTable(t, m, "Upgrade")
	if len(up) != 2 {
		t.Fatalf("Upgrade: %d rows, want 2: %v", len(up), up)
	}
	checkRow(t, "Upgrade (older or same)", up.one(t, "Upgrade", "ActionProperty", "WIX_UPGRADE_DETECTED"), map[string]string{
		"UpgradeCode": UpgradeCode, "VersionMin": "", "VersionMax": "1.4.2.7", "Attributes": "513",
	})
	checkRow(t, "Upgrade (newer)", up.one(t, "Upgrade", "ActionProperty", "WIX_DOWNGRADE_DETECTED"), map[string]string{
		"UpgradeCode": UpgradeCode, "VersionMin": "1.4.2.7", "VersionMax": "", "Attributes": "2",
	})
	lc := exportTable(t, m, "LaunchCondition")
	lc.one(t, "LaunchCondition", "Condition", "NOT WIX_DOWNGRADE_DETECTED")

	sum, err := exec.Command("msiinfo", "suminfo", m).Output()
	if err != nil {
		t.Fatalf("msiinfo suminfo: %v", err)
	}
	for _, want := range []string{"Template: " + spec.summaryTemplate(), "Revision number (UUID): " + spec.PackageCode(), "Version: 500 "} {
		if !bytes.Contains(sum, []byte(want)) {
			t.Errorf("summary information lacks %q:\n%s", want, sum)
		}
	}
}

func checkSignatures(t *testing.T, res Result, caFile, unsignedExe string) {
	t.Helper()
	verify := func(path string) {
		t.Helper()
		out, err := exec.Command("osslsigncode", "verify", "-CAfile", caFile, "-in", path).CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("Signature verification: ok")) {
			t.Errorf("osslsigncode verify %s: %v\n%s", filepath.Base(path), err, out)
		}
	}
	verify(res.MSI)
	verify(res.SignedExe)

	// The MSI's signature covers its streams: changing one byte of the
	// cabinet stream must break it. Checked on a copy with the signature
	// kept, the database rewritten by msibuild.
	tampered := filepath.Join(t.TempDir(), "tampered.msi")
	if b, err := os.ReadFile(res.MSI); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(tampered, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("msibuild", tampered, "-q", "UPDATE `Property` SET `Value` = 'x' WHERE `Property` = 'ProductName'").CombinedOutput(); err != nil {
		t.Fatalf("tamper: %v\n%s", err, out)
	}
	if out, err := exec.Command("osslsigncode", "verify", "-CAfile", caFile, "-in", tampered).CombinedOutput(); err == nil && bytes.Contains(out, []byte("Signature verification: ok")) {
		t.Errorf("a modified package still verifies:\n%s", out)
	}

	// What msiextract takes out is the signed exe, byte for byte, so
	// repackaging keeps a valid signature.
	dir := t.TempDir()
	if out, err := exec.Command("msiextract", "-C", dir, res.MSI).CombinedOutput(); err != nil {
		t.Fatalf("msiextract: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dir, "Roster", "roster-agent.exe"))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := os.ReadFile(res.SignedExe)
	if err != nil {
		t.Fatal(err)
	}
	unsigned, err := os.ReadFile(unsignedExe)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, signed) {
		t.Errorf("extracted roster-agent.exe (%d bytes) differs from the signed exe (%d bytes)", len(got), len(signed))
	}
	if bytes.Equal(signed, unsigned) {
		t.Error("the packaged exe is the unsigned one")
	}
	verify(filepath.Join(dir, "Roster", "roster-agent.exe"))
}

// TestWXSEscapes: the generated source is XML whatever the describe holds.
func TestWXSEscapes(t *testing.T) {
	t.Parallel()
	s := Spec{Arch: "x64", Describe: `v1 <"&'>`, ProductVersion: "1.0.0", ExeSource: "roster-agent.exe", ExeSHA256: "aa"}
	b, err := s.WXS()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`Roster agent v1 &lt;&quot;&amp;&apos;&gt;`)) {
		t.Errorf("describe not escaped:\n%s", b)
	}
	if _, err := (Spec{Arch: "ia64"}).WXS(); err == nil {
		t.Error("ia64 accepted")
	}
}

// TestWXSAttributesKnown: wixl ignores an attribute it does not know with
// only a GLib warning (AllowSameVersionUpgrades and Secure went that way),
// so the source must compile without one; what wixl lacks belongs in
// Fixups. (Vital it knows but does not apply: the ErrorControl check in
// TestBuild covers that.)
func TestWXSAttributesKnown(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("wixl"); err != nil {
		t.Skip("wixl not installed")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "roster-agent.exe"), []byte("MZ"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := Spec{Arch: "x64", Describe: "v1.0.0", ProductVersion: "1.0.0", ExeSource: "roster-agent.exe", ExeSHA256: "aa"}
	b, err := s.WXS()
	if err != nil {
		t.Fatal(err)
	}
	wxs := filepath.Join(dir, "a.wxs")
	if err := os.WriteFile(wxs, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("wixl", "--arch", "x64", "-o", filepath.Join(dir, "a.msi"), wxs).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("wixl: %v, output (want none):\n%s", err, out)
	}
}
