#!/usr/bin/env bash
# Issue 13's agreement figure: on every real SMBIOS dump in the repository
# (agent/smbios/testdata, sources there), the Linux probe's identity from
# the table against dmidecode's text of the same machine, fact by fact;
# and for every real dmidecode capture (any layout, 2.x included), how many
# identity facts the probe gets from it alone. The test fails on any
# disagreement or on a fact missing without a reason. Per captured host
# known/unknown counts are bench-facts.sh's.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== issue 13: SMBIOS table vs dmidecode identity agreement, and identity facts per dmidecode capture =="
go test -count=1 -run '^TestIdentityAgreement$' -v ./agent/linux/hardware |
  sed -n '/identity agreement/,/^--- /p' | sed -e 's/^    agreement_test.go:[0-9]*: //' -e '/^--- /d'
