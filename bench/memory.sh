#!/usr/bin/env bash
# Peak memory (max RSS of the whole process) of `corral check` and `corral gateway` on the generated big policy
# (100,000 web-group domains, 1,000,000 threat-feed entries; bench/Corral.Benchmarks/BigPolicy.cs), against the
# 400 MB target of issue 19. The gateway is measured after start-up and again after one reload of the same-sized
# policy, where the new policy compiles beside the one in force.
#
# Usage: bench/memory.sh [rounds]          (default 3; prints each round and the median)
#        CORRAL_CLI=/dir/with/corral.dll bench/memory.sh   to measure another build (default: scripts/corral's)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rounds="${1:-3}"
target_mb=400
big="${TMPDIR:-/tmp}/corral-bench-big-20261125-100000-1000000"

if [ ! -f "$big/corral.yaml" ] || [ ! -f "$big/feeds/threat-ips.txt" ]; then
  echo "generating the big policy into $big" >&2
  dotnet run -c Release --project "$root/bench/Corral.Benchmarks" -- cold-compile >/dev/null
fi
if [ -z "${CORRAL_CLI:-}" ]; then
  bash "$root/scripts/corral" --help >/dev/null   # publishes artifacts/corral-cli when the sources changed
  CORRAL_CLI="$root/artifacts/corral-cli"
fi
dll="$CORRAL_CLI/corral.dll"

work="$(mktemp -d)"
gateway=
cleanup() { [ -n "$gateway" ] && kill "$gateway" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

kib_of() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
wait_for() { # wait_for FILE PATTERN SECONDS PID: until a line matches, the process ends, or time runs out
  local deadline=$((SECONDS + $3))
  until grep -q "$2" "$1" 2>/dev/null; do
    if ! kill -0 "$4" 2>/dev/null || [ $SECONDS -ge $deadline ]; then echo "gave up waiting for '$2' in $1" >&2; cat "$1" >&2; return 1; fi
    sleep 0.2
  done
}

check_kb=(); start_kb=(); reload_kb=()
for round in $(seq 1 "$rounds"); do
  # corral check: /usr/bin/time's maximum resident set size of the process
  /usr/bin/time -f '%M' -o "$work/time" dotnet "$dll" check "$big/corral.yaml" >/dev/null
  check_kb+=("$(tail -1 "$work/time")")

  # corral gateway on a private copy (the reload edits the policy file), an ephemeral port
  rm -rf "$work/policy" && cp -r "$big" "$work/policy"
  port=$((20000 + RANDOM % 20000))
  dotnet "$dll" gateway "$work/policy/corral.yaml" --listen "127.0.0.1:$port" >"$work/gateway.log" 2>&1 &
  gateway=$!
  wait_for "$work/gateway.log" "listening on" 120 "$gateway"
  sleep 2   # let start-up work that follows the listener (warm-up, watcher) finish
  start_kb+=("$(kib_of "$gateway" VmHWM)")
  # One reload: a changed policy text (a comment) makes the watcher load and compile the whole policy again.
  before=$(grep -c " in force, from " "$work/gateway.log" || true)
  # The change is made again if no reload follows within 30 s (seen once in ~10 runs on a loaded machine: the
  # watcher missed the first write); each attempt reloads the same policy, so the peak is the same.
  for attempt in 1 2 3 4; do
    [ "$attempt" -gt 1 ] && echo "round $round: no reload 30 s after the change; changing the file again" >&2
    printf '# reload %s.%s\n' "$round" "$attempt" >>"$work/policy/corral.yaml"
    deadline=$((SECONDS + 30))
    until [ "$(grep -c " in force, from " "$work/gateway.log" || true)" -gt "$before" ] || [ $SECONDS -ge $deadline ]; do
      kill -0 "$gateway" 2>/dev/null || { echo "the gateway ended" >&2; cat "$work/gateway.log" >&2; exit 1; }
      sleep 0.2
    done
    [ "$(grep -c " in force, from " "$work/gateway.log" || true)" -gt "$before" ] && break
  done
  [ "$(grep -c " in force, from " "$work/gateway.log" || true)" -gt "$before" ] || { echo "no reload seen" >&2; cat "$work/gateway.log" >&2; exit 1; }
  sleep 1
  reload_kb+=("$(kib_of "$gateway" VmHWM)")
  kill "$gateway"; wait "$gateway" 2>/dev/null || true; gateway=

  printf 'round %d: check %d MB, gateway after start-up %d MB, after one reload %d MB (max RSS)\n' "$round" \
    $((check_kb[-1] / 1024)) $((start_kb[-1] / 1024)) $((reload_kb[-1] / 1024))
done

median_mb() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print int(v[int((NR + 1) / 2)] / 1024) }'; }
verdict() { [ "$1" -le "$target_mb" ] && echo "met" || echo "MISSED"; }
c=$(median_mb "${check_kb[@]}"); s=$(median_mb "${start_kb[@]}"); r=$(median_mb "${reload_kb[@]}")
echo
echo "median of $rounds, max RSS of the whole process (target <= $target_mb MB):"
printf '  corral check                    %4d MB  %s\n' "$c" "$(verdict "$c")"
printf '  corral gateway, after start-up  %4d MB  %s\n' "$s" "$(verdict "$s")"
printf '  corral gateway, after a reload  %4d MB  %s\n' "$r" "$(verdict "$r")"
