#!/usr/bin/env bash
# make fuzz: runs every Fuzz target in the module for FUZZTIME (default 20s)
# each, one after another. The seed corpora (from testdata) also run as
# plain tests in make test.
#
# make fuzz-long (scripts/fuzz.sh --long 10m): the campaign. Every target
# runs for the given time whatever the others found; a failing target's
# input is kept by go test under its package's testdata/fuzz/ (commit it
# with the fix, so make test replays it for ever). At the end a table
# gives each target's executions, new interesting inputs and result, and
# the totals; the exit status is 1 when any target failed. Set
# FUZZPARALLEL to bound the workers per target (default: all cores) and
# FUZZLOG to keep each target's output (default: a temporary directory);
# FUZZMATCH (a regular expression over "package target") picks targets.
set -euo pipefail
cd "$(dirname "$0")/.."
long=
if [ "${1:-}" = --long ]; then
  long=1
  shift
fi
t=${1:-20s}

targets() {
  for pkg in $(go list ./...); do
    dir=$(go list -f '{{.Dir}}' "$pkg")
    for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/func //' | sort -u); do
      echo "$pkg $f"
    done
  done
}

if [ -z "$long" ]; then
  targets | while read -r pkg f; do
    echo "== $pkg $f ($t)"
    go test "$pkg" -run '^$' -fuzz "^$f\$" -fuzztime "$t"
  done
  exit 0
fi

logs=${FUZZLOG:-$(mktemp -d)}
mkdir -p "$logs"
par=()
[ -n "${FUZZPARALLEL:-}" ] && par=(-parallel "$FUZZPARALLEL")
list=$(targets | grep -E -- "${FUZZMATCH:-.}" || true)
[ -n "$list" ] || { echo "fuzz-long: no fuzz target matches ${FUZZMATCH:-.}" >&2; exit 2; }
n=$(echo "$list" | wc -l)
echo "== fuzz-long: $n targets, $t each, logs in $logs (started $(date -u +%FT%TZ))"
summary=$logs/summary.tsv
: > "$summary"
i=0
while read -r pkg f; do
  i=$((i + 1))
  log=$logs/$(echo "$pkg" | tr / _).$f.log
  start=$(date +%s)
  if go test "$pkg" -run '^$' -fuzz "^$f\$" -fuzztime "$t" "${par[@]}" < /dev/null > "$log" 2>&1; then
    result=ok
  else
    result=FAIL
  fi
  secs=$(( $(date +%s) - start ))
  # The last progress line: "fuzz: elapsed: 10m0s, execs: N (R/sec), new interesting: K (total: T)".
  last=$(grep -E '^fuzz: elapsed: .*execs: ' "$log" | tail -1 || true)
  execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<< "$last")
  newi=$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<< "$last")
  corpus=$(sed -nE 's/.*\(total: ([0-9]+)\).*/\1/p' <<< "$last")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$pkg" "$f" "${execs:-0}" "${newi:-0}" "${corpus:-0}" "$secs" "$result" >> "$summary"
  printf '[%d/%d] %-8s %s %s execs=%s new=%s\n' "$i" "$n" "$result" "${pkg#github.com/rosterhq/roster/}" "$f" "${execs:-0}" "${newi:-0}"
  if [ "$result" = FAIL ]; then
    grep -E -A3 -- '--- FAIL|Failing input written to|panic:' "$log" | head -20 | sed 's/^/    /'
  fi
done <<< "$list"

echo
echo "== fuzz-long totals ($t per target, finished $(date -u +%FT%TZ))"
printf "%-48s %-36s %14s %6s %7s %7s %s\n" package target executions new corpus time result
awk -F'\t' '{ printf "%-48s %-36s %14s %6s %7s %6ss %s\n", substr($1, 28), $2, $3, $4, $5, $6, $7;
             e += $3; k += $4; s += $6; if ($7 != "ok") bad++ }
  END { printf "targets %d, executions %d, new interesting inputs %d, %.1f hours, failing targets %d\n", NR, e, k, s/3600, bad+0
        exit (bad > 0) }' "$summary"
