// Package installers carries the service definitions roster-agent registers
// with the platform's service manager: the systemd unit and the launchd
// plist, as templates with @NAME@ placeholders. They live here, beside the
// rest of the packaging, so packagers read the same text the agent installs;
// agent/service fills the placeholders and hands the finished text to
// kardianos/service. Placeholders instead of text/template keep the
// reflection-heavy template engine out of the agent binary, as
// kardianos/service itself chose.
package installers

import _ "embed"

// SystemdUnit is the systemd unit template. Placeholders: @EXECUTABLE@
// (ConditionFileIsExecutable), @EXEC_START@ (the whole ExecStart command
// line, already quoted), @STATE_DIR@ (the only path the agent writes).
//
//go:embed systemd/roster-agent.service.in
var SystemdUnit string

// LaunchdPlist is the launchd daemon template. Placeholders: @LABEL@ and
// @PROGRAM_ARGUMENTS@ (one <string> line per argument, already escaped).
//
//go:embed launchd/com.rosterhq.roster-agent.plist.in
var LaunchdPlist string
