// Package macpkg builds roster-agent's macOS flat installer package on any
// platform, without Apple's pkgbuild and productbuild. bom.go writes and
// reads the component's Bom, the BOMStore Installer records as the
// package's receipt.
package macpkg
