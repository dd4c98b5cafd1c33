#!/usr/bin/env python3
"""Medians and Corral/Squid ratios from the output of bench/bump-ab.sh (labels before/after/squid): python3 bench/bump_ab_summary.py LOG"""
import sys, json, statistics, collections
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    p = line.split(' ', 3)
    if len(p) < 4 or not p[0].isdigit(): continue
    r = json.loads(p[3]); d[(p[1], p[2])].append((r["value"], r.get("proxy_cpu_ms_per_op"), r["errors"]))
for (t, v), xs in sorted(d.items()):
    print(f"{t:7} {v:9} n={len(xs)} median={statistics.median(x[0] for x in xs):9.1f} cpu_ms/op={statistics.median(x[1] for x in xs):.3f} errors={sum(x[2] for x in xs)} values={[round(x[0]) for x in xs]}")
m = {k: statistics.median(x[0] for x in xs) for k, xs in d.items()}
for v in ["connect", "keepalive"]:
    for t in ["before", "after"]:
        if (t, v) in m and ("squid", v) in m: print(f"{v} {t}/squid = {m[(t, v)] / m[('squid', v)]:.2f}")
rounds = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    p = line.split(' ', 3)
    if len(p) < 4 or not p[0].isdigit(): continue
    rounds[(p[0], p[2])][p[1]] = json.loads(p[3])["value"]
for v in ["connect", "keepalive"]:
    for t in ["before", "after"]:
        rs = [r[t] / r["squid"] for (n, vv), r in rounds.items() if vv == v and t in r and "squid" in r]
        if rs: print(f"per-round {v} {t}/squid: median {statistics.median(rs):.2f} range {min(rs):.2f}-{max(rs):.2f}")
    rs = [r["after"] / r["before"] for (n, vv), r in rounds.items() if vv == v and "after" in r and "before" in r]
    if rs: print(f"per-round {v} after/before: median {statistics.median(rs):.2f} range {min(rs):.2f}-{max(rs):.2f}")
