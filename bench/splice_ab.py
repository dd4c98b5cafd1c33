#!/usr/bin/env python3
"""A/B of gateway variants on new connections, beside a running `bash bench/run.sh --serve` (issue 34).

    python3 bench/splice_ab.py ROUNDS SECONDS HOST CONCURRENCY LABEL=CORRAL_DLL[,ENV=VALUE...] ...

Starts one `corral gateway` per LABEL, configured as run.sh configures its own (same policy, hosts, CAs, flow log),
optionally with environment variables (e.g. base=/tmp/a/corral.dll  one-engine=/tmp/a/corral.dll,DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT=1),
warms each, then runs ROUNDS rounds of the lean client (bench/lean-client/agent.c) against every variant, run.sh's
Corral and Squid, and direct, the order rotating each round. Prints per target the medians over rounds: conn/s,
p50/p99, p50/p99 added over direct in the same round, CPU and context switches (all, voluntary) per connection.
HOST: splice.bench.example (spliced) or tool.bench.example (intercepted). Stops the gateways it started on exit.
"""
import json, os, signal, socket, statistics, subprocess, sys, time

def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    rounds, seconds, host, concurrency = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    env = dict(l.strip().split("=", 1) for l in open("artifacts/bench/serve.env") if "=" in l)
    tmp = env["BENCH_TMP"]
    targets = {"corral": (env["CORRAL"], env["CORRAL_PID"]), "squid": (env["SQUID"], env["SQUID_PID"]), "direct": (None, None)}
    started = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        for spec in sys.argv[5:]:
            label, rest = spec.split("=", 1)
            dll, *extra = rest.split(",")
            s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
            child_env = dict(os.environ, **dict(e.split("=", 1) for e in extra))
            p = subprocess.Popen(["dotnet", dll, "gateway", f"{tmp}/bench.yaml", "--listen", f"127.0.0.1:{port}",
                                  "--flow-log", f"{tmp}/ab-{label}-flows.jsonl", "--hosts", f"{tmp}/hosts", "--public-standin", "127.0.0.1/32",
                                  "--max-connections", "30000", "--flow-log-max-bytes", "8589934592",
                                  "--ca-cert", f"{tmp}/corral-ca/corral-ca.crt", "--ca-key", f"{tmp}/corral-ca/corral-ca.key", "--upstream-ca", f"{tmp}/upstream-ca.crt"],
                                 env=child_env, stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/ab-{label}.err", "w"))
            started.append(p)
            for _ in range(300):
                try: socket.create_connection(("127.0.0.1", port), 0.2).close(); break
                except OSError: time.sleep(0.1)
            targets[label] = (f"127.0.0.1:{port}", str(p.pid))
        names = [n for n in targets if n not in ("corral", "squid", "direct")] + ["corral", "squid", "direct"]

        def run(name, secs, warm):
            addr, pid = targets[name]
            cmd = [env["AGENT"], "--port", env["TLS_PORT"], "--host", host, "--concurrency", concurrency, "--seconds", secs, "--warmup", warm]
            cmd += ["--direct", "127.0.0.1"] if addr is None else ["--proxy", addr, "--pid", pid]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode:
                print(f"{name}: FAILED {p.stderr.strip()[-200:]}", file=sys.stderr)
                return None
            return json.loads(p.stdout)

        for n in names:  # tiered JIT settles over thousands of connections
            if n != "direct": run(n, "4", "0")
        results = {n: {} for n in names}
        for r in range(rounds):
            for n in names[r % len(names):] + names[:r % len(names)]:
                x = run(n, seconds, "0.5")
                if x: results[n][r] = x
            print(f"round {r + 1}: " + "  ".join(f"{n} {results[n][r]['value']:.0f}/s" for n in names if r in results[n]), file=sys.stderr)
        med = lambda xs: statistics.median(xs) if xs else float("nan")
        direct = results["direct"]
        print(f"load average at end: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print(f"{'target':12} {'conn/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'+p50':>8} {'+p99':>8} {'cpu ms':>7} {'switch':>7} {'volunt':>7}")
        for n in names:
            xs = results[n]
            v = lambda k: med([x[k] for x in xs.values() if k in x])
            added = lambda k: med([xs[r][k] - direct[r][k] for r in xs if r in direct])
            print(f"{n:12} {v('value'):8.1f} {v('p50_ms'):8.3f} {v('p99_ms'):8.3f} {added('p50_ms'):+8.3f} {added('p99_ms'):+8.3f} "
                  f"{v('proxy_cpu_ms_per_op'):7.3f} {v('proxy_switches_per_op'):7.1f} {v('proxy_voluntary_switches_per_op'):7.1f}")
    finally:
        for p in started:
            p.terminate()
        for p in started:
            try: p.wait(10)
            except subprocess.TimeoutExpired: p.kill()

if __name__ == "__main__":
    main()
