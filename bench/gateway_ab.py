#!/usr/bin/env python3
"""Interleaved A/B of `corral gateway` builds with bench/Corral.Gateway.Load (throughput or parallel).

Usage: bench/gateway_ab.py throughput|parallel ROUNDS MIB NAME=CLI_DIR[:ENV=V,ENV=V] ...
  e.g. bench/gateway_ab.py throughput 9 1024 before=/tmp/cli-before after=artifacts/corral-cli
Starts one gateway per build (each on its own loopback port), discards one round per build, then runs ROUNDS rounds,
one harness run per build per round, reversing the order every other round; prints each round and the medians:
tunnel/direct ratio, the gateway's CPU per GiB and the harness's (client + sink) CPU per GiB. Build the harness first:
dotnet build -c Release bench/Corral.Gateway.Load. On a shared machine, compare builds only within one run.
"""
import os, re, socket, statistics, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
harness = os.path.join(root, "bench/Corral.Gateway.Load/bin/Release/net10.0/Corral.Gateway.Load")
only, rounds, mib = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if only not in ("throughput", "parallel"):
    sys.exit("measure must be throughput or parallel")
folder = tempfile.mkdtemp(prefix="corral-ab-")
policy = os.path.join(folder, "bench.yaml")
subprocess.run([harness, "--write-policy", policy], check=True, stdout=subprocess.DEVNULL)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


builds = []
try:
    for spec in sys.argv[4:]:
        name, rest = spec.split("=", 1)
        cli, _, envs = rest.partition(":")
        env = dict(os.environ)
        for kv in filter(None, envs.split(",")):
            k, v = kv.split("=", 1)
            env[k] = v
        port = free_port()
        gw = subprocess.Popen(["dotnet", os.path.join(cli, "corral.dll"), "gateway", policy, "--listen", f"127.0.0.1:{port}",
                               "--max-connections", "20000"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        builds.append((name, port, gw))
    for name, port, gw in builds:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)

    def one(port, pid):
        out = subprocess.run([harness, "--proxy", f"127.0.0.1:{port}", "--gateway-pid", str(pid), "--only", only, "--rounds", "1",
                              "--warmup", "20", "--mib", mib], capture_output=True, text=True, check=True).stdout
        kind = r"\(one" if only == "throughput" else r"\(\d+ streams"
        rate = re.search(r"throughput\s+direct (\d+) MiB/s, CONNECT tunnel (\d+) MiB/s, ratio ([\d.]+)x" if only == "throughput"
                         else r"\d+ streams\s+direct (\d+) MiB/s, \d+ tunnels (\d+) MiB/s, ratio ([\d.]+)x", out)
        cpu = re.search(r"gateway CPU\s+(\d+) ms per tunnelled GiB " + kind, out)
        own = re.search(r"client\+sink CPU\s+(\d+) ms per GiB direct, (\d+) ms tunnelled " + kind, out)
        return dict(direct=float(rate[1]), tunnel=float(rate[2]), ratio=float(rate[3]), gateway=float(cpu[1]),
                    harness_direct=float(own[1]), harness_tunnel=float(own[2]))

    results = {name: [] for name, _, _ in builds}
    for name, port, gw in builds:
        one(port, gw.pid)  # warm-up round, discarded
    for r in range(rounds):
        for name, port, gw in (builds if r % 2 == 0 else builds[::-1]):
            x = one(port, gw.pid)
            results[name].append(x)
            print(f"round {r + 1} {name:12s} direct {x['direct']:.0f} MiB/s, tunnel {x['tunnel']:.0f} MiB/s ({x['ratio']:.2f}x); "
                  f"gateway CPU {x['gateway']:.0f} ms/GiB; client+sink {x['harness_direct']:.0f} / {x['harness_tunnel']:.0f} ms/GiB",
                  flush=True)
finally:
    for _, _, gw in builds:
        gw.terminate()
        gw.wait()
    subprocess.run(["rm", "-rf", folder])

print("load average:", open("/proc/loadavg").read().split()[:3])
for name, xs in results.items():
    med = lambda k: statistics.median(x[k] for x in xs)
    print(f"{name}: ratio {med('ratio'):.2f}x (rounds {min(x['ratio'] for x in xs):.2f}-{max(x['ratio'] for x in xs):.2f}), "
          f"direct {med('direct'):.0f} MiB/s, tunnel {med('tunnel'):.0f} MiB/s, gateway CPU {med('gateway'):.0f} ms/GiB "
          f"({min(x['gateway'] for x in xs):.0f}-{max(x['gateway'] for x in xs):.0f}), client+sink {med('harness_direct'):.0f} direct / "
          f"{med('harness_tunnel'):.0f} tunnelled ms/GiB")
