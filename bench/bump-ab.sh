#!/usr/bin/env bash
# Bumped (intercepted) connections only, A/B: one upstream (`Corral.ProxyBench serve`), Squid with ssl_bump, and one
# `corral gateway` per LABEL=CORRAL_DLL argument (e.g. before/after builds), all configured as bench/run.sh configures
# them; then ROUNDS rounds of `connect` (new bumped connections/s) and `keepalive` (requests/s on 16 kept-alive bumped
# connections) per target, order rotating each round, after one warm-up pass. Prints one JSON line per measurement.
#
#   bash bench/bump-ab.sh ROUNDS SECONDS before=/tmp/x-before/corral.dll after=/tmp/x-after/corral.dll
#
# Needs squid-openssl (bench/run.sh installs it) and a built bench/Corral.ProxyBench (or BENCH_DLL). Stops everything
# it started on exit; KEEP=N keeps the processes N seconds after the last round (for perf).
set -euo pipefail
rounds=$1; secs=$2; shift 2
root="$(cd "$(dirname "$0")/.." && pwd)"
bench="${BENCH_DLL:-$root/bench/Corral.ProxyBench/bin/Release/net10.0/Corral.ProxyBench.dll}"
tmp="$(mktemp -d /tmp/corral-bump-ab.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
dotnet "$bench" serve --write-ca "$tmp/upstream-ca.crt" --ready "$tmp/upstream.ready" >"$tmp/upstream.out" 2>&1 &
pids+=($!)
for _ in $(seq 300); do [ -f "$tmp/upstream.ready" ] && break; sleep 0.1; done
read -r tls_port http_port <"$tmp/upstream.ready"
echo "127.0.0.1 tool.bench.example splice.bench.example plain.bench.example denied.bench.example" >"$tmp/hosts"
cat >"$tmp/bench.yaml" <<'Y'
version: 1
name: proxy-bench
defaultAction: deny
webGroups:
  tools: { domains: [tool.bench.example] }
  spliced: { domains: [splice.bench.example] }
  plain: { domains: [plain.bench.example] }
rules:
  - { name: intercept, priority: 1, webGroups: [tools], action: permit, decrypt: allowed }
  - { name: splice, priority: 2, webGroups: [spliced], action: permit }
  - { name: plain, priority: 3, webGroups: [plain], action: permit }
Y
first_dll="${1#*=}"
dotnet "$first_dll" ca init --out "$tmp/corral-ca" >/dev/null
declare -A port pid
targets=()
for spec in "$@"; do
  label="${spec%%=*}"; dll="${spec#*=}"
  p="$(free_port)"
  dotnet "$dll" gateway "$tmp/bench.yaml" --listen "127.0.0.1:$p" --flow-log "$tmp/flows-$label.jsonl" \
    --hosts "$tmp/hosts" --public-standin 127.0.0.1/32 --max-connections 30000 --flow-log-max-bytes 8589934592 \
    --ca-cert "$tmp/corral-ca/corral-ca.crt" --ca-key "$tmp/corral-ca/corral-ca.key" --upstream-ca "$tmp/upstream-ca.crt" \
    >"$tmp/$label.out" 2>"$tmp/$label.err" &
  pids+=($!); pid[$label]=$!; port[$label]=$p; targets+=("$label")
  wait_port "$p"
done
sq="$tmp/squid"; mkdir -p "$sq"
dotnet "$first_dll" ca init --out "$sq/ca" >/dev/null
certgen=/usr/lib/squid/security_file_certgen
"$certgen" -c -s "$sq/ssl_db" -M 16MB >/dev/null
sp="$(free_port)"
cat >"$sq/squid.conf" <<S
http_port 127.0.0.1:$sp ssl-bump tls-cert=$sq/ca/corral-ca.crt tls-key=$sq/ca/corral-ca.key generate-host-certificates=on dynamic_cert_mem_cache_size=16MB
sslcrtd_program $certgen -s $sq/ssl_db -M 16MB
sslcrtd_children 8 startup=1 idle=1
tls_outgoing_options cafile=$tmp/upstream-ca.crt
acl bench_tools ssl::server_name tool.bench.example
acl bench_spliced ssl::server_name splice.bench.example
acl bench_allowed dstdomain tool.bench.example splice.bench.example plain.bench.example
acl step1 at_step SslBump1
http_access allow bench_allowed
http_access deny all
ssl_bump peek step1
ssl_bump bump bench_tools
ssl_bump splice bench_spliced
ssl_bump terminate all
cache deny all
cache_mem 0 MB
access_log stdio:$sq/access.log
logfile_rotate 0
cache_log $sq/cache.log
pid_filename $sq/squid.pid
coredump_dir $sq
hosts_file $tmp/hosts
dns_nameservers 127.0.0.1
pinger_enable off
icp_port 0
htcp_port 0
max_filedescriptors 65536
client_persistent_connections on
server_persistent_connections on
visible_hostname corral-bench
shutdown_lifetime 1 seconds
S
chmod 755 "$tmp"; chown -R proxy:proxy "$sq"
squid -N -f "$sq/squid.conf" >"$sq/stdout.log" 2>&1 &
pids+=($!); pid[squid]=$!; port[squid]=$sp; targets+=(squid)
wait_port "$sp"
echo "tmp=$tmp targets=${targets[*]} pids: $(for t in "${targets[@]}"; do echo -n "$t=${pid[$t]} "; done)" >&2
run() { # run TARGET VERB
  dotnet "$bench" "$2" --host tool.bench.example --concurrency 16 --seconds "$secs" --warmup 1 --tls-port "$tls_port" --http-port "$http_port" \
    --proxy "127.0.0.1:${port[$1]}" --pid "${pid[$1]}" | tail -1
}
# warm-up
for t in "${targets[@]}"; do run "$t" connect >/dev/null; run "$t" keepalive >/dev/null; done
n=${#targets[@]}
for r in $(seq "$rounds"); do
  echo "# round $r load $(cut -d' ' -f1-3 /proc/loadavg)"
  for i in $(seq 0 $((n-1))); do
    t="${targets[$(( (i + r) % n ))]}"
    for verb in connect keepalive; do
      echo "$r $t $verb $(run "$t" "$verb")"
    done
  done
done
if [ -n "${KEEP:-}" ]; then echo "keeping; sleeping $KEEP s" >&2; sleep "$KEEP"; fi
