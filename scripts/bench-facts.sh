#!/usr/bin/env bash
# Issue 13's figure: per captured host (testdata/hosts), how many identity,
# encryption and patch facts the agent knows versus reports unknown, for a
# previous build (BASE, default the last commit before issue 13's work) and
# this tree, side by side. "unexplained" counts facts missing without a
# reason (should be 0). The facts counted are listed in scripts/factcount.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${BASE:-264a89e}
work=$(mktemp -d)
trap 'git worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

git worktree add --detach "$work/base" "$BASE" >/dev/null 2>&1
(cd "$work/base" && CGO_ENABLED=0 go build -o "$work/agent-before" ./cmd/roster-agent)
CGO_ENABLED=0 go build -o "$work/agent-after" ./cmd/roster-agent

args=()
for dir in testdata/hosts/*/*/; do
  dir=${dir%/}
  goos=$(basename "$(dirname "$dir")") host=$(basename "$dir") root=$dir
  if [ -f "$dir/root.tar.gz" ]; then
    root="$work/roots/$host"; mkdir -p "$root"; tar -xzf "$dir/root.tar.gz" -C "$root"
  fi
  for build in before after; do
    out="$work/$host-$build.json"
    # A build that fails on a host (the older one may not know a newer
    # capture's layout) counts as knowing nothing: say so.
    if ! "$work/agent-$build" inventory --os "$goos" --host-root "$root" > "$out" 2> "$work/$host-$build.err"; then
      echo "bench-facts: $build build failed on $host: $(tail -1 "$work/$host-$build.err")" >&2
      echo '{}' > "$out"
    fi
    args+=("$goos/$host:$build=$out")
  done
done
echo "== issue 13: facts known per captured host (known/counted), before ($BASE) and after (this tree) =="
go run ./scripts/factcount "${args[@]}"
