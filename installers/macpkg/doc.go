// Package macpkg builds roster-agent's macOS flat installer package on any
// platform, without Apple's pkgbuild and productbuild: a product archive
// (xar.go) holding a Distribution and one component package,
// roster-agent.pkg, with its PackageInfo, Bom (bom.go), Payload (a
// gzip-compressed odc cpio archive of the install tree, cpio.go) and
// Scripts (the same format, holding preinstall and postinstall). The tests
// read every piece back with independent readers (bsdtar, cpio, cksum, and
// a Bom written by bomutils' mkbom) as well as with ReadXar and ReadBom.
// docs/installers-macos.md explains the layout and the scripts.
package macpkg
