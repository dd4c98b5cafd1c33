#!/usr/bin/env bash
# The Terraform export at scale (issue 15): a policy with a 1,000,000-line threat feed (950,000 addresses, 50,000
# domains) and a 100,000-domain web group, exported by `corral terraform` as users run it (scripts/corral, the
# ReadyToRun build). Target: under 5 s and a module under 5 MB, every omission a warning and in the module's README.
# Prints the wall time of each run (and the CPU time of a second run, which a busy machine does not inflate), the
# module's size and the warnings; with `terraform` on PATH also times
# `terraform fmt -check` on the module.
#
#   bash bench/terraform-scale.sh [--runs N]     (default 3 runs; the first includes the build when sources changed)
#
# Everything is written to a temp folder that is removed on exit.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="${2:?--runs needs a number}"; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "bench/terraform-scale.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
work="$(mktemp -d -t corral-tf-scale-XXXXXX)"
trap 'rm -rf "$work"' EXIT

# The feed: 950,000 distinct IPv4 hosts in 11.0.0.0/8 and 50,000 domains, one a line; the web group: 100,000 domains.
awk 'BEGIN { print "# scale feed"; for (i = 0; i < 950000; i++) printf "11.%d.%d.%d\n", int(i / 65536), int(i / 256) % 256, i % 256;
             for (i = 0; i < 50000; i++) printf "c2-%06d.bad-example.net\n", i }' > "$work/feed.txt"
{
  echo "version: 1"
  echo "name: scale"
  echo "smartGroups:"
  echo "  agents: { cidrs: [10.20.1.0/24] }"
  echo "webGroups:"
  echo "  allowed:"
  echo "    domains:"
  awk 'BEGIN { for (i = 0; i < 100000; i++) printf "      - svc-%06d.allowed-example.com\n", i }'
  echo "threatGroups:"
  echo "  feed: { feeds: [feed.txt] }"
  echo "rules:"
  echo "  - { name: deny-feed, priority: 1, source: [agents], destination: [feed], action: deny }"
  echo "  - { name: allow-web, priority: 2, source: [agents], webGroups: [allowed], ports: [443], action: permit }"
  echo "  - { name: deny-rest, priority: 3, source: [agents], destination: [public-internet], action: deny }"
} > "$work/corral.yaml"
echo "policy: $(wc -l < "$work/feed.txt") feed lines, 100000 web-group domains" >&2

bash "$root/scripts/corral" --version >/dev/null 2>&1 || true   # build first, so the runs time the export alone
for run in $(seq 1 "$runs"); do
  rm -rf "$work/infra"
  start=$(date +%s.%N)
  bash "$root/scripts/corral" terraform "$work/corral.yaml" -o "$work/infra" > "$work/stdout" 2> "$work/stderr"
  end=$(date +%s.%N)
  # CPU time too: on a shared machine the wall time says more about the neighbours than about the export.
  cpu=$( { /usr/bin/time -f '%U %S' dotnet "$root/artifacts/corral-cli/corral.dll" terraform "$work/corral.yaml" -o "$work/infra-cpu" >/dev/null 2>"$work/time.err"; } 2>&1; tail -1 "$work/time.err")
  rm -rf "$work/infra-cpu"
  printf 'run %d: corral terraform %.2f s wall; a second run %s s user+sys CPU; load average %s\n' "$run" "$(echo "$end - $start" | bc)" \
    "$(echo "$cpu" | awk '{ printf "%.2f", $1 + $2 }')" "$(cut -d' ' -f1 /proc/loadavg)"
done
bytes=$(cat "$work"/infra/* | wc -c)
printf 'module: %d bytes (%.2f MB) in %d files\n' "$bytes" "$(echo "$bytes / 1048576" | bc -l)" "$(ls "$work/infra" | wc -l)"
ls -l "$work/infra" | awk 'NR > 1 { printf "  %-16s %10d\n", $9, $5 }'
echo "warnings (stderr):"; grep -o '\[[a-z-]*\]$' "$work/stderr" | sort | uniq -c
if command -v terraform >/dev/null; then
  start=$(date +%s.%N)
  CHECKPOINT_DISABLE=1 terraform fmt -check -recursive "$work/infra" >/dev/null 2>&1 && fmt=clean || fmt=DIRTY
  end=$(date +%s.%N)
  printf 'terraform fmt -check: %s, %.2f s\n' "$fmt" "$(echo "$end - $start" | bc)"
fi
