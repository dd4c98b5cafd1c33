#!/usr/bin/env python3
"""Medians and ratios from the output of bench/bump-ab.sh: python3 bench/bump_ab_summary.py LOG.
Per label and measure: median rate, median proxy CPU per operation, the values; then per-round ratios of every
Corral label to Squid and of each label to the first one (medians and min-max over rounds)."""
import sys, json, statistics, collections

values = collections.defaultdict(list)
rounds = collections.defaultdict(dict)
labels = []
for line in open(sys.argv[1]):
    if line.startswith("tmp=") and " targets=" in line:  # the order given on the command line
        labels = line.split(" targets=")[1].split(" pids:")[0].split()
    p = line.split(' ', 3)
    if len(p) < 4 or not p[0].isdigit(): continue
    r = json.loads(p[3])
    values[(p[1], p[2])].append((r["value"], r.get("proxy_cpu_ms_per_op"), r["errors"]))
    rounds[(p[0], p[2])][p[1]] = r["value"]
    if p[1] not in labels: labels.append(p[1])
for (t, v), xs in sorted(values.items()):
    print(f"{t:8} {v:9} n={len(xs)} median={statistics.median(x[0] for x in xs):9.1f} "
          f"cpu_ms/op={statistics.median(x[1] for x in xs):.3f} errors={sum(x[2] for x in xs)} values={[round(x[0]) for x in xs]}")
corral = [l for l in labels if l != "squid"]
def ratio(a, b, v):
    rs = [r[a] / r[b] for (_, vv), r in rounds.items() if vv == v and a in r and b in r]
    if rs: print(f"per-round {v:9} {a}/{b}: median {statistics.median(rs):.2f} range {min(rs):.2f}-{max(rs):.2f}")
for v in ["connect", "keepalive"]:
    for a in corral: ratio(a, "squid", v)
    for a in corral[1:]: ratio(a, corral[0], v)
