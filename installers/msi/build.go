// Package msi builds the Windows installer of roster-agent: a per-machine
// MSI, compiled from generated WiX source by wixl (msitools), completed by
// SQL through msibuild where wixl falls short (Fixups), with the agent
// executable and the package Authenticode-signed by osslsigncode. The
// package installs roster-agent.exe to Program Files\Roster, registers and
// starts the roster-agent service exactly as `roster-agent install` would,
// and copies the ROSTER_* msiexec properties into
// HKLM\SOFTWARE\Roster\Agent, where the agent finds its enrolment
// settings. docs/installers-windows.md is the administrator's side.
package msi

import (
	"context"
	"crypto/sha256"
	"debug/pe"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Options is one package to build.
type Options struct {
	Arch     string // x64 or arm64
	Describe string // git describe of the build
	Commits  int    // git rev-list --count HEAD, for untagged builds
	Exe      string // the cross-compiled roster-agent.exe for Arch
	Preset   Preset // defaults of a configured package; nil for the plain one
	OutDir   string
	Signer   Signer
	// WorkDir holds the intermediate files (signed exe, .wxs, unsigned
	// .msi); the caller removes it.
	WorkDir string
}

// Result is what Build made.
type Result struct {
	Spec      Spec
	MSI       string // the signed package in OutDir
	SignedExe string // the signed roster-agent.exe packaged (in WorkDir)
}

// peMachine is the PE machine type each package architecture takes.
var peMachine = map[string]uint16{"x64": pe.IMAGE_FILE_MACHINE_AMD64, "arm64": pe.IMAGE_FILE_MACHINE_ARM64}

// Build makes one signed package.
func Build(ctx context.Context, r Runner, o Options) (Result, error) {
	version, err := ProductVersion(o.Describe, o.Commits)
	if err != nil {
		return Result{}, err
	}
	sum, err := checkExe(o.Exe, o.Arch)
	if err != nil {
		return Result{}, err
	}
	signedExe := filepath.Join(o.WorkDir, "roster-agent.exe")
	// wixl takes only relative sources, resolved against the .wxs's
	// directory, where the signed exe is.
	spec := Spec{Arch: o.Arch, Describe: o.Describe, ProductVersion: version, ExeSource: filepath.Base(signedExe), ExeSHA256: sum, Preset: o.Preset}
	wxs, err := spec.WXS()
	if err != nil {
		return Result{}, err
	}
	// The exe is signed before packaging so that whoever extracts or
	// repackages it (an SCCM or Intune wrapper) keeps a signed binary.
	if err := o.Signer.Sign(ctx, r, o.Exe, signedExe); err != nil {
		return Result{}, err
	}
	wxsPath := filepath.Join(o.WorkDir, "roster-agent-"+o.Arch+".wxs")
	if err := os.WriteFile(wxsPath, wxs, 0o644); err != nil {
		return Result{}, fmt.Errorf("write wxs: %w", err)
	}
	unsigned := filepath.Join(o.WorkDir, "unsigned-"+spec.FileName())
	// wixl knows x86 and x64 only; arm64 is x64 with another Template.
	if _, err := r.Run(ctx, "wixl", "--arch", "x64", "-o", unsigned, wxsPath); err != nil {
		return Result{}, fmt.Errorf("compile %s: %w", wxsPath, err)
	}
	args := []string{unsigned}
	for _, q := range spec.Fixups() {
		args = append(args, "-q", q)
	}
	// The summary: title, author, platform template and the PackageCode
	// (wixl would draw a random one).
	args = append(args, "-s", "Roster agent", "Roster", spec.summaryTemplate(), spec.PackageCode())
	if _, err := r.Run(ctx, "msibuild", args...); err != nil {
		return Result{}, fmt.Errorf("complete %s: %w", unsigned, err)
	}
	if err := spec.Preset.apply(ctx, r, unsigned, o.WorkDir); err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return Result{}, fmt.Errorf("create output directory: %w", err)
	}
	out := filepath.Join(o.OutDir, spec.FileName())
	if err := o.Signer.Sign(ctx, r, unsigned, out); err != nil {
		return Result{}, err
	}
	return Result{Spec: spec, MSI: out, SignedExe: signedExe}, nil
}

// checkExe refuses a binary for another architecture (an amd64 agent in
// the arm64 package) and returns its SHA-256.
func checkExe(path, arch string) (string, error) {
	want, ok := peMachine[arch]
	if !ok {
		return "", fmt.Errorf("agent executable: arch %q: want x64 or arm64", arch)
	}
	f, err := pe.Open(path)
	if err != nil {
		return "", fmt.Errorf("agent executable %s: %w", path, err)
	}
	machine := f.Machine
	f.Close()
	if machine != want {
		return "", fmt.Errorf("agent executable %s: PE machine %#x, want %#x for %s", path, machine, want, arch)
	}
	raw, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("agent executable: %w", err)
	}
	defer raw.Close()
	h := sha256.New()
	if _, err := io.Copy(h, raw); err != nil {
		return "", fmt.Errorf("agent executable %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
