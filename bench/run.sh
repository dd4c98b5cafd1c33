#!/usr/bin/env bash
# Corral side by side with Squid (issues 8, 34): the same native upstream (nginx, P-256 certificate), the same
# allowlist, the same clients against `corral gateway`, Squid (squid-openssl, ssl_bump) and the upstream directly,
# interleaved per round. New connections are made by a lean C/OpenSSL client (bench/lean-client/agent.c), so that
# the figure is the proxy's: the report gives direct's rate and p50/p99 beside each proxy, each proxy's time added
# over direct in the same round, and says when direct is too slow for the run to say much about the proxies.
# Writes artifacts/bench/proxy-compare.{md,json} (--quick: proxy-compare-quick.*; --only: …-only.*).
#
#   bash bench/run.sh               full run: 5 rounds, 1 GiB tunnels, 10,000 idle tunnels (fewer when the open-files
#                                   limit is under ~21,500); ~30 min on a busy 2-core machine
#   bash bench/run.sh --quick       CI smoke run: tiny sizes, 1 s warm-up, 1 round (keeps the harness working; figures not judged)
#   bash bench/run.sh --rounds N    full sizes, N rounds
#   bash bench/run.sh --only A,B    only these measures (e.g. splice_agent_1,bump_agent_1,bump_agent_8,tunnel_1)
#   bash bench/run.sh --serve       start everything, write the addresses to artifacts/bench/serve.env and wait (for
#                                   A/B gateways beside it, bench/splice_ab.py, and profiling); Ctrl-C stops it all
#
# Installs squid-openssl, nginx-light, gcc and libssl-dev with apt when missing (root). Traffic stays on 127.0.0.1.
# Every process it starts is stopped and its temp folder removed on exit, also on failure or Ctrl-C.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

mode=full rounds=5 only=""
command_line="bash bench/run.sh${*:+ $*}"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick; rounds=1 ;;
    --rounds) rounds="${2:?--rounds needs a number}"; shift ;;
    --only) only="${2:?--only needs measure names}"; shift ;;
    --serve) mode=serve ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "bench/run.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$rounds" in ''|*[!0-9]*|0) echo "bench/run.sh: --rounds must be a positive number" >&2; exit 2 ;; esac
log() { echo "[bench $(date -u +%H:%M:%S)] $*" >&2; }

# ---- what it needs: squid-openssl (ssl_bump, security_file_certgen), python3 for the driver ---------------------
certgen=/usr/lib/squid/security_file_certgen
if ! command -v squid >/dev/null || [ ! -x "$certgen" ] || ! squid -v 2>/dev/null | grep -q -- '--with-openssl'; then
  [ "$(id -u)" -eq 0 ] || { echo "bench/run.sh: squid-openssl is missing; run as root to install it" >&2; exit 1; }
  log "installing squid-openssl"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq squid-openssl python3 >/dev/null
fi
# nginx as the upstream, and a C compiler with OpenSSL's headers for the lean client (bench/lean-client/agent.c)
need=()
command -v python3 >/dev/null || need+=(python3)
command -v nginx >/dev/null || need+=(nginx-light)
command -v cc >/dev/null || need+=(gcc libc6-dev)
[ -f /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "bench/run.sh: missing ${need[*]}; run as root to install" >&2; exit 1; }
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# ---- build Corral's CLI and the bench client in Release ---------------------------------------------------------
log "building (Release)"
dotnet build src/Corral.Cli -c Release -v q -nologo >/dev/null
dotnet build bench/Corral.ProxyBench -c Release -v q -nologo >/dev/null
corral_dll="$root/src/Corral.Cli/bin/Release/net10.0/corral.dll"
bench_dll="$root/bench/Corral.ProxyBench/bin/Release/net10.0/Corral.ProxyBench.dll"

# ---- temp folder, and the trap that stops everything this script started --------------------------------------
tmp="$(mktemp -d /tmp/corral-squid-bench.XXXXXX)"
pids=()
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$status" -ne 0 ] && [ -d "$tmp" ]; then
    for f in "$tmp"/squid/cache.log "$tmp"/squid/access.log "$tmp"/corral.err "$tmp"/nginx/error.log; do
      [ -s "$f" ] && { echo "--- last lines of ${f#"$tmp"/}" >&2; tail -n 15 "$f" >&2; }
    done
  fi
  if [ -n "${BENCH_KEEP_TMP:-}" ]; then echo "kept $tmp (BENCH_KEEP_TMP)" >&2; else rm -rf "$tmp"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The lean client of the per-connection measures: C and OpenSSL, so the client is not what is measured.
cc -O2 -Wall -o "$tmp/agent" bench/lean-client/agent.c -lssl -lcrypto -lpthread -lm

# 10,000 idle tunnels are 20,000+ descriptors in a proxy (client side + upstream side), and the gateway keeps room
# for 60,000; the children inherit this limit. Where the hard limit is lower (raising it needs CAP_SYS_RESOURCE),
# fewer idle tunnels are opened and the report says how many.
hard="$(ulimit -Hn)"
if [ "$hard" != unlimited ] && [ "$hard" -lt 65536 ]; then ulimit -Hn 65536 2>/dev/null || true; fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
nofile="$(ulimit -n)"
# The gateway serves at most (limit - 64 - open at start) / 6 connections at once (it budgets for a busy tunnel's two
# sockets and two kernel pipes, src/Corral.Gateway/Hosting/DescriptorBudget.cs) and answers 503 beyond: stay inside.
idle_count=$(( (nofile - 1500) / 6 / 1000 * 1000 ))
[ "$idle_count" -gt 10000 ] && idle_count=10000
[ "$idle_count" -lt 1000 ] && idle_count=1000

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # wait_port PORT PID NAME: until something listens on 127.0.0.1:PORT, or the process died
  for _ in $(seq 300); do
    kill -0 "$2" 2>/dev/null || { echo "bench/run.sh: $3 exited during start-up" >&2; return 1; }
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench/run.sh: $3 is not listening on 127.0.0.1:$1 after 30 s" >&2; return 1
}

# ---- upstream: nginx (native, so the far end is not what is measured), HTTPS + plain HTTP on loopback ------------
# Its certificate: a P-256 leaf for the bench names from a P-256 CA minted here, which both proxies trust.
ng="$tmp/nginx"
mkdir -p "$ng/bytes"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=Corral Bench Upstream CA" \
  -keyout "$ng/ca.key" -out "$tmp/upstream-ca.crt" -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=splice.bench.example" \
  -keyout "$ng/leaf.key" -out "$ng/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:tool.bench.example,DNS:splice.bench.example,DNS:plain.bench.example,DNS:denied.bench.example\nextendedKeyUsage=serverAuth\n' >"$ng/leaf.ext"
openssl x509 -req -in "$ng/leaf.csr" -CA "$tmp/upstream-ca.crt" -CAkey "$ng/ca.key" -CAcreateserial -days 2 -extfile "$ng/leaf.ext" -out "$ng/leaf.crt" 2>/dev/null
# GET /bytes/N for the throughput measures: sparse files of the sizes the client asks for (page cache, no disk).
for size in 4194304 16777216 33554432 1073741824; do truncate -s "$size" "$ng/bytes/$size"; done
tls_port="$(free_port)" http_port="$(free_port)"
cat >"$ng/nginx.conf" <<EOF
worker_processes auto;
worker_rlimit_nofile 65536;
pid $ng/nginx.pid;
error_log $ng/error.log warn;
events { worker_connections 65536; }
http {
  access_log off;
  client_body_temp_path $ng/body; proxy_temp_path $ng/proxy; fastcgi_temp_path $ng/fastcgi; uwsgi_temp_path $ng/uwsgi; scgi_temp_path $ng/scgi;
  keepalive_timeout 600s; keepalive_requests 1000000; client_header_timeout 600s;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$tls_port ssl;
    listen 127.0.0.1:$http_port;
    ssl_certificate $ng/leaf.crt; ssl_certificate_key $ng/leaf.key;
    ssl_protocols TLSv1.2 TLSv1.3; ssl_session_tickets off; ssl_session_cache off;
    location = / { default_type text/plain; return 200 "ok"; }
    location /bytes/ { alias $ng/bytes/; }
  }
}
EOF
chmod 755 "$tmp" "$ng" "$ng/bytes"
nginx -t -q -e "$ng/error.log" -c "$ng/nginx.conf" || { cat "$ng/error.log" >&2; exit 1; }
nginx -e "$ng/error.log" -c "$ng/nginx.conf" -g 'daemon off;' >"$ng/stdout.log" 2>&1 &
pids+=($!); nginx_pid=$!
wait_port "$tls_port" "$nginx_pid" "nginx"
log "upstream nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') https 127.0.0.1:$tls_port, http 127.0.0.1:$http_port"

cat >"$tmp/hosts" <<EOF
127.0.0.1 tool.bench.example splice.bench.example plain.bench.example denied.bench.example
EOF

# ---- Corral: interception CA from `corral ca init`, the allowlist as a policy, the real CLI with its flow log ----
dotnet "$corral_dll" ca init --out "$tmp/corral-ca" >/dev/null
cat >"$tmp/bench.yaml" <<'EOF'
version: 1
name: proxy-bench
defaultAction: deny
webGroups:
  tools: { domains: [tool.bench.example] }       # decrypted (Squid: bump)
  spliced: { domains: [splice.bench.example] }   # allowed, not decrypted (Squid: splice)
  plain: { domains: [plain.bench.example] }      # plain HTTP through the explicit proxy
rules:
  - { name: intercept, priority: 1, webGroups: [tools], action: permit, decrypt: allowed }
  - { name: splice, priority: 2, webGroups: [spliced], action: permit }
  - { name: plain, priority: 3, webGroups: [plain], action: permit }
credentials:                                     # bump_keepalive_credential: the placeholder becomes this value
  bench-key: { source: { env: CORRAL_BENCH_KEY }, destinations: [tools], header: Authorization }
EOF
corral_port="$(free_port)"
CORRAL_BENCH_KEY="sk-bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')" \
  dotnet "$corral_dll" gateway "$tmp/bench.yaml" --listen "127.0.0.1:$corral_port" --flow-log "$tmp/corral-flows.jsonl" \
  --hosts "$tmp/hosts" --public-standin 127.0.0.1/32 --max-connections 30000 --flow-log-max-bytes 8589934592 \
  --ca-cert "$tmp/corral-ca/corral-ca.crt" --ca-key "$tmp/corral-ca/corral-ca.key" --upstream-ca "$tmp/upstream-ca.crt" \
  >"$tmp/corral.out" 2>"$tmp/corral.err" &
pids+=($!); corral_pid=$!
wait_port "$corral_port" "$corral_pid" "corral gateway"
log "corral gateway pid $corral_pid on 127.0.0.1:$corral_port"

# ---- Squid: its own CA (also from `corral ca init`: ECDSA P-256, as Corral's), the same allowlist --------------
# peek at step 1 (learn the SNI), bump the decrypt-allowed name, splice the allowed one, terminate the rest; no
# response caching; access log to a file as Corral's flow log; upstream trust = the upstream's CA only.
sq="$tmp/squid"
mkdir -p "$sq"
dotnet "$corral_dll" ca init --out "$sq/ca" >/dev/null
"$certgen" -c -s "$sq/ssl_db" -M 16MB >/dev/null
squid_port="$(free_port)"
cat >"$sq/squid.conf" <<EOF
http_port 127.0.0.1:$squid_port ssl-bump tls-cert=$sq/ca/corral-ca.crt tls-key=$sq/ca/corral-ca.key generate-host-certificates=on dynamic_cert_mem_cache_size=16MB
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
EOF
chmod 755 "$tmp"
chown -R proxy:proxy "$sq"
squid -k parse -f "$sq/squid.conf" 2>"$sq/parse.log" || { cat "$sq/parse.log" >&2; exit 1; }
squid -N -f "$sq/squid.conf" >"$sq/stdout.log" 2>&1 &
pids+=($!); squid_pid=$!
wait_port "$squid_port" "$squid_pid" "squid"
log "squid $(squid -v | head -1 | awk '{print $4}') pid $squid_pid on 127.0.0.1:$squid_port"

if [ "$mode" = serve ]; then
  mkdir -p artifacts/bench
  printf 'TLS_PORT=%s\nCORRAL=127.0.0.1:%s\nCORRAL_PID=%s\nSQUID=127.0.0.1:%s\nSQUID_PID=%s\nAGENT=%s\nBENCH_TMP=%s\n' \
    "$tls_port" "$corral_port" "$corral_pid" "$squid_port" "$squid_pid" "$tmp/agent" "$tmp" >artifacts/bench/serve.env
  log "serving; addresses in artifacts/bench/serve.env (Ctrl-C stops everything)"
  sleep infinity &
  pids+=($!)
  wait $!
fi

# ---- measure, interleaved per round, and write the report -------------------------------------------------------
mkdir -p artifacts/bench
python3 bench/proxy_compare.py --mode "$mode" --idle-count "$idle_count" --nofile "$nofile" --rounds "$rounds" --bench "$bench_dll" --agent "$tmp/agent" \
  --tls-port "$tls_port" --http-port "$http_port" \
  --corral "127.0.0.1:$corral_port" --corral-pid "$corral_pid" \
  --squid "127.0.0.1:$squid_port" --squid-pid "$squid_pid" \
  --squid-version "$(squid -v | head -1)" --upstream-version "$(nginx -v 2>&1)" --command "$command_line" \
  --corral-flows "$tmp/corral-flows.jsonl" --squid-log "$sq/access.log" --corral-err "$tmp/corral.err" \
  --only "$only" --out "artifacts/bench/proxy-compare$([ "$mode" = quick ] && echo -quick)$([ -n "$only" ] && echo -only)" &
# In the background and waited for, so a Ctrl-C or SIGTERM reaches the trap at once (the driver stops its client).
pids+=($!)
wait $!
