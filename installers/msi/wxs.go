package msi

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"

	"github.com/rosterhq/roster/agent/config"
)

// ServiceName is the SCM name roster-agent registers itself under
// (agent/service.Definition.Name); the MSI installs the same service so
// that `roster-agent status|stop|uninstall` drive it as well.
const ServiceName = "roster-agent"

// registryKey is where the agent reads its pre-seeded enrolment settings
// (config.RegistryKey, under HKLM in the 64-bit view), without the root
// the Registry table names separately.
func registryKey() string { return strings.TrimPrefix(config.RegistryKey, `HKLM\`) }

// Seed is one public MSI property copied to a REG_SZ value of the agent's registry key
// when it is given on the msiexec command line (or by a transform).
type Seed struct {
	Property string // public property: upper case, settable by msiexec
	Value    string // registry value name the agent reads
	Hidden   bool   // kept out of msiexec logs (MsiHiddenProperties)
}

// Seeds are the enrolment settings the MSI pre-seeds, in the order of the
// docs. Each becomes a component of its own whose condition is the
// property, so a value not given is never written (nor emptied).
var Seeds = []Seed{
	{Property: "ROSTER_URL", Value: config.RegCollectorURL},
	{Property: "ROSTER_CA_FINGERPRINT", Value: config.RegCAFingerprint},
	{Property: "ROSTER_SECRET", Value: config.RegSecret, Hidden: true},
	{Property: "ROSTER_SECRET_FILE", Value: config.RegSecretFile},
	{Property: "ROSTER_TAGS", Value: config.RegTags},
}

// InstallMethodValue is written to the agent's registry key by every MSI install, so
// the agent's snapshot says how it was installed.
const InstallMethodValue = "msi"

// Spec is what one package holds.
type Spec struct {
	// Arch is "x64" or "arm64" (the Template of the summary information).
	Arch string
	// Describe is the `git describe` the binary was built from; with
	// ExeSHA256 it names the ProductCode.
	Describe string
	// ProductVersion is major.minor.build[.n] (ProductVersion()).
	ProductVersion string
	// ExeSource is the (signed) roster-agent.exe to package, relative to
	// the .wxs (wixl refuses absolute sources).
	ExeSource string
	// ExeSHA256 is the hex SHA-256 of the agent as built (before
	// signing, so a rebuild of the same source reproduces the codes).
	ExeSHA256 string
	// Preset holds the ROSTER_* defaults of a configured package.
	Preset Preset
}

// ProductCode is new for every build: a version (or the same version with
// another binary, a dirty tree, or another preset) replaces the one
// installed through MajorUpgrade, and rebuilding the same binary gives the
// same code.
func (s Spec) ProductCode() string {
	return nameGUID("product", s.Arch, s.Describe, s.ProductVersion, s.ExeSHA256, s.Preset.digest())
}

// PackageCode identifies this .msi file; it differs whenever the package
// does.
func (s Spec) PackageCode() string {
	return nameGUID("package", s.Arch, s.Describe, s.ProductVersion, s.ExeSHA256, s.Preset.digest(), wxsRevision)
}

// wxsRevision changes whenever the template below or Fixups change what a
// package holds for the same binary, so the PackageCode follows.
const wxsRevision = "2"

// FileName is the package's name in bin/installers.
func (s Spec) FileName() string {
	return fmt.Sprintf("roster-agent-%s-%s.msi", s.ProductVersion, s.Arch)
}

// ServiceArguments are the arguments the SCM passes to roster-agent.exe,
// the same `run --state-dir DIR --config FILE` that `roster-agent install`
// registers, with the agent's defaults (agent/state.DefaultDir,
// agent/config.DefaultPath: %ProgramData%\Roster) resolved by Windows
// Installer at install time ([CommonAppDataFolder] ends in a backslash).
const ServiceArguments = `run --state-dir "[CommonAppDataFolder]Roster" --config "[CommonAppDataFolder]Roster\agent.yaml"`

func (s Spec) validate() error {
	var errs []string
	if s.Arch != "x64" && s.Arch != "arm64" {
		errs = append(errs, fmt.Sprintf("arch %q: want x64 or arm64", s.Arch))
	}
	if s.ProductVersion == "" || s.ExeSource == "" || s.ExeSHA256 == "" {
		errs = append(errs, "product version, agent executable and its SHA-256 are required")
	}
	if err := s.Preset.Validate(); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("msi spec: %s", strings.Join(errs, "; "))
	}
	return nil
}

// WXS renders the WiX source wixl compiles. What wixl 0.101 cannot express
// (component conditions, same-version upgrades, secure properties, the
// service's delayed start) is added to the database afterwards by
// Fixups, as SQL run through msibuild.
func (s Spec) WXS() ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err := wxsTemplate.Execute(&b, map[string]any{
		"S":                 s,
		"ProductCode":       s.ProductCode(),
		"UpgradeCode":       UpgradeCode,
		"ServiceName":       ServiceName,
		"ServiceArguments":  ServiceArguments,
		"RegistryKey":       registryKey(),
		"Seeds":             Seeds,
		"InstallMethod":     InstallMethodValue,
		"InstallMethodName": config.RegInstallMethod,
		"HiddenProperties":  hiddenProperties(),
	})
	if err != nil {
		return nil, fmt.Errorf("render wxs: %w", err)
	}
	return b.Bytes(), nil
}

func hiddenProperties() string {
	var hidden []string
	for _, s := range Seeds {
		if s.Hidden {
			hidden = append(hidden, s.Property)
		}
	}
	return strings.Join(hidden, ";")
}

// seedComponent is the component id of a pre-seeded registry value.
func seedComponent(s Seed) string { return "Reg" + s.Value }

var wxsTemplate = template.Must(template.New("wxs").Funcs(template.FuncMap{
	"x":         xmlEscape,
	"guid":      componentGUID,
	"component": seedComponent,
}).Parse(`<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="{{.ProductCode}}" Name="Roster agent" Language="1033" Version="{{x .S.ProductVersion}}" Manufacturer="Roster" UpgradeCode="{{.UpgradeCode}}">
    <Package InstallerVersion="500" Compressed="yes" InstallScope="perMachine" Description="Roster agent {{x .S.Describe}}" Comments="Reports this device's inventory to a Roster collector." Manufacturer="Roster"/>
    <Media Id="1" Cabinet="agent.cab" EmbedCab="yes"/>
    <MajorUpgrade DowngradeErrorMessage="A newer version of the Roster agent is already installed."/>
{{- range .Seeds}}
    <Property Id="{{.Property}}"/>
{{- end}}
    <Property Id="MsiHiddenProperties" Value="{{x .HiddenProperties}}"/>
    <Property Id="ARPNOMODIFY" Value="1"/>
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFiles64Folder">
        <Directory Id="INSTALLDIR" Name="Roster">
          <Component Id="Agent" Guid="{{guid "Agent"}}" Win64="yes">
            <File Id="AgentExe" Name="roster-agent.exe" Source="{{x .S.ExeSource}}" KeyPath="yes"/>
            <ServiceInstall Id="AgentService" Name="{{.ServiceName}}" DisplayName="Roster agent" Description="Reports this device's inventory to a Roster collector." Type="ownProcess" Start="auto" ErrorControl="normal" Account="LocalSystem" Arguments="{{x .ServiceArguments}}"/>
            <ServiceControl Id="AgentStart" Name="{{.ServiceName}}" Start="install" Wait="no"/>
            <ServiceControl Id="AgentStopRemove" Name="{{.ServiceName}}" Stop="both" Remove="both" Wait="yes"/>
          </Component>
          <Component Id="RegInstallMethod" Guid="{{guid "RegInstallMethod"}}" Win64="yes">
            <RegistryValue Root="HKLM" Key="{{x .RegistryKey}}" Name="{{x .InstallMethodName}}" Type="string" Value="{{x .InstallMethod}}" KeyPath="yes"/>
          </Component>
{{- range .Seeds}}
          <Component Id="{{component .}}" Guid="{{guid (component .)}}" Win64="yes">
            <RegistryValue Root="HKLM" Key="{{x $.RegistryKey}}" Name="{{.Value}}" Type="string" Value="[{{.Property}}]" KeyPath="yes"/>
          </Component>
{{- end}}
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Agent" Title="Roster agent" Level="1" Absent="disallow">
      <ComponentRef Id="Agent"/>
      <ComponentRef Id="RegInstallMethod"/>
{{- range .Seeds}}
      <ComponentRef Id="{{component .}}"/>
{{- end}}
    </Feature>
  </Product>
</Wix>
`))

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s)
}
