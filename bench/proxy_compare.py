#!/usr/bin/env python3
"""Driver for bench/run.sh: runs each measurement of bench/Corral.ProxyBench against Corral, Squid and direct,
interleaved per round (the order rotates every round), then writes a Markdown table and JSON with medians, spread,
ratios to direct and to Squid, the issue's targets, and the machine. Started by run.sh, which owns the processes."""
import argparse, json, os, platform, signal, statistics, subprocess, sys, time
from datetime import datetime, timezone

UPSTREAM_CA = "Corral Bench Upstream CA"
TOOL, SPLICE = "tool.bench.example", "splice.bench.example"

# name -> (title, client arguments per mode, proxies only?, how a connection must look: 'bump' | 'splice' | None)
def measures(mode, idle_count):
    q = mode == "quick"
    secs, warm = ("0.5", "0.3") if q else ("5", "1")
    rate = ["--concurrency", "16", "--seconds", secs, "--warmup", warm]
    # How an agent calls a tool: a new connection per call (CONNECT, its 200, a full TLS handshake, one GET with
    # Connection: close, a 200, read to the close), one at a time and 8 at a time; rate and p50/p99 per call.
    agent = lambda host, n: ["agent", "--host", host, "--concurrency", str(n), "--seconds", secs, "--warmup", warm]
    return [
        # first in each round, so the baseline is least disturbed by the garbage of the other measurements
        ("idle", "memory per idle tunnel (RSS above baseline)", ["idle", "--count", "200" if q else str(idle_count), "--concurrency", "64", "--settle", "0.5" if q else "3"], True, None),
        ("tunnel_1", "CONNECT tunnel throughput, one tunnel (TLS download)", ["throughput", "--streams", "1", "--mib", "32" if q else "1024"], False, None),
        ("tunnel_64", "CONNECT tunnel throughput, 64 tunnels at once (aggregate)", ["throughput", "--streams", "8" if q else "64", "--mib", "32" if q else "1024"], False, None),
        ("splice_agent_1", "new spliced connections, one at a time", agent(SPLICE, 1), False, "splice"),
        ("splice_agent_8", "new spliced connections, 8 at a time", agent(SPLICE, 8), False, "splice"),
        ("bump_agent_1", "new intercepted connections, one at a time (warm certificate cache)", agent(TOOL, 1), False, "bump"),
        ("bump_agent_8", "new intercepted connections, 8 at a time (warm certificate cache)", agent(TOOL, 8), False, "bump"),
        ("http_keepalive", "plain HTTP requests/s, keep-alive (16 connections)", ["http"] + rate, False, None),
        ("bump_keepalive", "requests/s on kept-alive intercepted connections (16 connections)", ["keepalive", "--host", TOOL] + rate, False, "bump"),
        # The same with the placeholder of a credential in Authorization: Corral puts the value in (Squid and direct
        # carry the header as it is), so Corral's two rows differ by the cost of placing a credential.
        ("bump_keepalive_credential", "requests/s on kept-alive intercepted connections, placeholder in Authorization (16 connections)",
         ["keepalive", "--host", TOOL, "--header", "Authorization: Bearer corral-cred-bench-key"] + rate, False, "bump"),
    ]

AGENT = ("splice_agent_1", "splice_agent_8", "bump_agent_1", "bump_agent_8")

def sh(cmd):
    try: return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception: return ""

def machine():
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
    return {"nproc": os.cpu_count(), "cpu_model": model, "mem_gib": round(int(mem) / 1024 / 1024, 1),
            "kernel": platform.release(), "dotnet": sh(["dotnet", "--version"]), "load_average": os.getloadavg()}

def run_one(args, bench, name, argv, target, pid, timeout):
    if argv[0] == "agent":  # the lean client (bench/lean-client/agent.c): the per-connection measures
        cmd = [args.agent] + argv[1:] + ["--port", str(args.tls_port)]
        cmd += ["--direct", "127.0.0.1"] if target == "direct" else ["--proxy", getattr(args, target), "--pid", str(pid)]
    else:
        cmd = ["dotnet", bench] + argv + ["--tls-port", str(args.tls_port), "--http-port", str(args.http_port)]
        cmd += ["--direct"] if target == "direct" else ["--proxy", getattr(args, target), "--pid", str(pid)]
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s"
    if p.returncode != 0:
        return None, (p.stderr.strip() or p.stdout.strip())[-400:]
    try:
        r = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None, "no JSON line: " + p.stdout[-200:]
    r["wall_s"] = round(time.monotonic() - start, 2)
    return r, None

def check_path(kind, target, r):
    """A bumped measurement must see a minted leaf (not the upstream's), a spliced or direct one the upstream's own."""
    issuer = r.get("issuer") or ""
    if kind is None: return None
    upstream = UPSTREAM_CA in issuer
    if target == "direct" or kind == "splice":
        return None if upstream else f"expected the upstream's certificate, saw issuer '{issuer}'"
    return None if not upstream else f"expected a bumped connection, saw the upstream's certificate ('{issuer}')"

def med(xs): return statistics.median(xs) if xs else None

def summary(values):
    return {"median": med(values), "min": min(values) if values else None, "max": max(values) if values else None, "n": len(values)}

def render(path):
    """Recomputes the summary and the Markdown of a finished run from its JSON (after a change to the report)."""
    doc = json.load(open(path))
    info = doc["info"]
    idle = next((r["count"] for r in doc["raw"] if r["name"] == "idle"), 10000)
    ms = [m for m in measures(info["mode"], idle) if not info.get("only") or m[0] in info["only"].split(",")]
    doc["results"] = aggregate(doc["raw"], ms)
    doc["targets"] = judge(doc["results"])
    json.dump(doc, open(path, "w"), indent=1)
    md = markdown(doc)
    open(path[:-5] + ".md", "w").write(md)
    print(md)

def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--render": return render(sys.argv[2])
    ap = argparse.ArgumentParser()
    for a in ["--corral-err", "--mode", "--bench", "--agent", "--upstream-version", "--corral", "--squid", "--squid-version", "--command", "--out", "--corral-flows", "--squid-log"]: ap.add_argument(a, required=True)
    for a in ["--idle-count", "--nofile", "--rounds", "--tls-port", "--http-port", "--corral-pid", "--squid-pid"]: ap.add_argument(a, type=int, required=True)
    ap.add_argument("--only", default="", help="comma-separated measure names (default: all)")
    args = ap.parse_args()
    # SIGTERM from run.sh's trap: exit through SystemExit, which makes subprocess.run kill the running client
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    pids = {"corral": args.corral_pid, "squid": args.squid_pid, "direct": None}
    targets = ["corral", "squid", "direct"]
    info = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "command": args.command, "mode": args.mode,
            "rounds": args.rounds, "commit": sh(["git", "rev-parse", "--short", "HEAD"]) + ("-dirty" if sh(["git", "status", "--porcelain", "--untracked-files=no"]) else ""),
            "squid": args.squid_version, "upstream": args.upstream_version, "machine": machine(), "open_files_limit": args.nofile}
    ms = measures(args.mode, args.idle_count)
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {m[0] for m in ms}
        if unknown: sys.exit(f"bench/run.sh: unknown measure(s) {', '.join(sorted(unknown))}; known: {', '.join(m[0] for m in ms)}")
        ms = [m for m in ms if m[0] in wanted]
        info["only"] = args.only
    timeout = 90 if args.mode == "quick" else 600
    raw, failures = [], []
    started = time.monotonic()
    # Equivalent allowlists: a name outside them (that both proxies could reach) is refused by both, before measuring.
    for target in ["corral", "squid"]:
        r, err = run_one(args, args.bench, "denied", ["denied", "--host", "denied.bench.example"], target, pids[target], timeout)
        if err: failures.append({"round": 0, "measure": "denied", "target": target, "error": err})
        print(f"allowlist check {target:6} " + ("FAILED: " + err if err else "refused denied.bench.example: " + r.get("how", "")), file=sys.stderr)
    # Warm both proxies before round 1 (Corral's tiered JIT takes thousands of connections to settle on
    # a busy 2-core machine; Squid's certificate cache fills), results discarded. Idle memory is then measured on
    # warm processes, so JIT code and caches sit in the baseline rather than in the per-tunnel figure.
    # Quick mode warms for a second per kind too, so its one round does not time tier-0 code.
    warm_seconds = "8" if args.mode == "full" else "1"
    for target in ["corral", "squid"]:
        for verb, host in [("agent", SPLICE), ("agent", TOOL), ("http", None), ("keepalive", TOOL)]:
            argv = [verb, "--concurrency", "16", "--seconds", warm_seconds, "--warmup", "0"] + (["--host", host] if host else [])
            _, err = run_one(args, args.bench, "warm-up", argv, target, pids[target], timeout)
            print(f"warm-up {target:6} {verb} {host or ''}: {'ok' if not err else 'FAILED: ' + err}", file=sys.stderr)
    for rnd in range(args.rounds):
        order = targets[rnd % 3:] + targets[:rnd % 3]
        for name, title, argv, proxies_only, kind in ms:
            for target in order:
                if proxies_only and target == "direct": continue
                r, err = run_one(args, args.bench, name, argv, target, pids[target], timeout)
                if r is not None:
                    err = check_path(kind, target, r)
                if err:
                    failures.append({"round": rnd + 1, "measure": name, "target": target, "error": err})
                    print(f"round {rnd + 1} {name:15} {target:6} FAILED: {err}", file=sys.stderr)
                    continue
                r.update(round=rnd + 1, name=name, who=target)
                raw.append(r)
                extra = f" p99 {r['p99_ms']:.3f} ms" if "p99_ms" in r else ""
                print(f"round {rnd + 1} {name:15} {target:6} {r['value']:>12.3f} {r['unit']}{extra}", file=sys.stderr)
    info["measure_seconds"] = round(time.monotonic() - started, 1)
    info["load_average_end"] = os.getloadavg()
    info["log_lines"] = {"corral_flow_log": count_lines(args.corral_flows), "squid_access_log": count_lines(args.squid_log),
                         "corral_flow_log_dropped": dropped_records(args.corral_err)}

    # The credential measure means something only if Corral placed the value: its request records name the credential.
    if any(r["name"] == "bump_keepalive_credential" and r["who"] == "corral" for r in raw):
        placed = count_matching(args.corral_flows, b'"credential":"bench-key"')
        info["log_lines"]["corral_credential_placed"] = placed
        if not placed:
            failures.append({"round": 0, "measure": "bump_keepalive_credential", "target": "corral", "error": "no request record names the credential bench-key: nothing was placed"})

    results = aggregate(raw, ms)
    verdicts = judge(results)
    for line in client_check(results): print(line[2:].replace("**", ""), file=sys.stderr)
    doc = {"info": info, "results": results, "targets": verdicts, "failures": failures, "raw": raw}
    with open(args.out + ".json", "w") as f: json.dump(doc, f, indent=1)
    md = markdown(doc)
    with open(args.out + ".md", "w") as f: f.write(md)
    print(md)
    print(f"wrote {args.out}.md and {args.out}.json", file=sys.stderr)
    if failures:
        print(f"bench/run.sh: {len(failures)} measurement(s) failed (see above)", file=sys.stderr)
        sys.exit(1)

def aggregate(raw, ms):
    targets = ["corral", "squid", "direct"]
    results = {}
    for name, title, argv, proxies_only, kind in ms:
        rows = [r for r in raw if r["name"] == name]
        by = {t: {r["round"]: r for r in rows if r["who"] == t} for t in targets}
        entry = {"title": title, "unit": rows[0]["unit"] if rows else None, "client_args": " ".join(argv)}
        for t in targets:
            entry[t] = summary([r["value"] for r in by[t].values()])
            cpu_key = "proxy_cpu_s_per_gib" if name.startswith("tunnel") else "proxy_cpu_ms_per_op"
            cpus = [r[cpu_key] for r in by[t].values() if r.get(cpu_key) is not None]
            if cpus: entry[t]["cpu"] = {"key": cpu_key, "median": med(cpus)}
            switches = [r["proxy_switches_per_op"] for r in by[t].values() if r.get("proxy_switches_per_op") is not None]
            if switches: entry[t]["switches"] = med(switches)
            voluntary = [r["proxy_voluntary_switches_per_op"] for r in by[t].values() if r.get("proxy_voluntary_switches_per_op") is not None]
            if voluntary: entry[t]["voluntary_switches"] = med(voluntary)
        def ratio(a, b, f=lambda r: r["value"]):
            xs = [f(by[a][k]) / f(by[b][k]) for k in by[a] if k in by[b] and f(by[b][k])]
            return summary(xs)
        entry["corral_vs_direct"] = ratio("corral", "direct")
        entry["squid_vs_direct"] = ratio("squid", "direct")
        entry["corral_vs_squid"] = ratio("corral", "squid")
        if name in AGENT:
            for p in ["p50_ms", "p99_ms"]:
                for t in targets:
                    entry[t][p] = summary([r[p] for r in by[t].values() if r.get(p) is not None])
                entry[f"corral_vs_squid_{p}"] = ratio("corral", "squid", lambda r, p=p: r[p])
                entry[f"corral_vs_direct_{p}"] = ratio("corral", "direct", lambda r, p=p: r[p])
                entry[f"squid_vs_direct_{p}"] = ratio("squid", "direct", lambda r, p=p: r[p])
                # What the proxy adds to a call: its time minus direct's in the same round (interleaved, so both saw
                # the same machine), median over rounds. The measure the issue judges: it leaves the client out.
                for t in ["corral", "squid"]:
                    entry[t][f"added_{p}"] = summary([by[t][k][p] - by["direct"][k][p] for k in by[t]
                                                      if k in by["direct"] and by[t][k].get(p) is not None and by["direct"][k].get(p) is not None])
                # Corral's added time minus Squid's, per round (direct cancels out): negative when Corral adds less.
                entry[f"added_{p[:3]}_margin"] = summary([by["corral"][k][p] - by["squid"][k][p] for k in by["corral"]
                                                           if k in by["squid"] and by["corral"][k].get(p) is not None and by["squid"][k].get(p) is not None])
        if name == "idle":
            entry["count"] = rows[0]["count"] if rows else None
            # Round 1 fills the process for the first time; later rounds refill memory the first fill left committed (a GC heap
            # keeps it), so they read lower. The target is judged on the first fill.
            for t in ["corral", "squid"]:
                first = by[t].get(min(by[t])) if by[t] else None
                entry[t + "_first_fill"] = first["value"] if first else None
        results[name] = entry
    return results

def dropped_records(path):
    """The last 'N record(s) dropped' the gateway reported: flow records lost because the writer fell behind."""
    import re
    found = 0
    try:
        for line in open(path, errors="replace"):
            m = re.search(r"(\d+) record\(s\) dropped", line)
            if m: found = int(m.group(1))
    except OSError: return None
    return found

def count_matching(path, needle):
    try:
        with open(path, "rb") as f: return sum(1 for line in f if needle in line)
    except OSError: return None

def count_lines(path):
    try:
        with open(path, "rb") as f: return sum(1 for _ in f)
    except OSError: return None

def judge(res):
    """Each target against the median, and against every round: 'yes'/'no' only when all rounds agree with the
    median's verdict, otherwise 'inconclusive' (the rounds straddle the target: the machine was too noisy to tell)."""
    out = []
    def add(target, name, key, ok, shown):
        s = res.get(name, {}).get(key)
        value = s.get("median") if isinstance(s, dict) else s
        if value is None:
            out.append({"target": target, "value": None, "met": None, "shown": None}); return
        rounds = [s["min"], s["max"]] if isinstance(s, dict) and s.get("min") is not None else [value]
        verdict = ok(value)
        agree = all(ok(x) == verdict for x in rounds)
        out.append({"target": target, "value": value, "met": verdict, "conclusive": agree, "shown": shown(value)})
    x2 = lambda v: f"{v:.2f}x"
    ms_margin = lambda v: f"{v:+.3f} ms against Squid's"
    # Issue 19: the peer is the yardstick (on two shared cores no proxy matches a direct connection).
    add("new spliced connections one at a time: conn/s >= 1.0x Squid", "splice_agent_1", "corral_vs_squid", lambda x: x >= 1.0, x2)
    add("new spliced connections one at a time: p50 added over direct <= Squid's", "splice_agent_1", "added_p50_margin", lambda x: x <= 0, ms_margin)
    add("new spliced connections one at a time: p99 added over direct <= Squid's", "splice_agent_1", "added_p99_margin", lambda x: x <= 0, ms_margin)
    add("new intercepted connections one at a time: conn/s >= 3x Squid", "bump_agent_1", "corral_vs_squid", lambda x: x >= 3, x2)
    add("new intercepted connections 8 at a time: conn/s >= 3x Squid", "bump_agent_8", "corral_vs_squid", lambda x: x >= 3, x2)
    add("one tunnel's throughput >= 1.0x Squid", "tunnel_1", "corral_vs_squid", lambda x: x >= 1.0, x2)
    add("<= 32 KiB per idle tunnel (first fill)", "idle", "corral_first_fill", lambda x: x <= 32, lambda v: f"{v:.1f} KiB")
    return out

def fmt(s, digits=0):
    if not s or s.get("median") is None: return "—"
    f = lambda x: f"{x:,.{digits}f}"
    return f"{f(s['median'])} ({f(s['min'])}–{f(s['max'])})" if s["n"] > 1 else f(s["median"])

CLIENT_FLOOR = 500  # direct conn/s one at a time below which the client and upstream, not the proxies, set the figure

def client_check(res):
    """Whether the client and upstream left room to see the proxies: direct's rate one at a time against the floor."""
    d = res.get("splice_agent_1", {}).get("direct", {})
    if not d or d.get("median") is None: return []
    if d["median"] < CLIENT_FLOOR:
        return [f"- **direct managed only {d['median']:,.0f} connections/s one at a time (below {CLIENT_FLOOR}): the client and upstream took most of each call's time on this machine, so the run says little about the proxies.**"]
    return [f"- client check: direct managed {d['median']:,.0f} connections/s one at a time (p50 {d['p50_ms']['median']:.2f} ms), above the {CLIENT_FLOOR} floor: the client is not the bottleneck"]

def markdown(doc):
    i, m, res = doc["info"], doc["info"]["machine"], doc["results"]
    la = lambda t: " / ".join(f"{x:.2f}" for x in t)
    lines = [f"# Corral vs Squid vs direct — {i['mode']} run",
             "",
             f"- date: {i['date']}; commit `{i['commit']}`; command: `{i['command']}`",
             f"- machine: {m['nproc']} cores, {m['cpu_model']}, {m['mem_gib']} GiB, kernel {m['kernel']}, .NET SDK {m['dotnet']}; {i['squid']}",
             f"- load average (1/5/15 min) at start {la(m['load_average'])}, at end {la(i['load_average_end'])} — the machine is shared with other builds",
             f"- {i['rounds']} round(s), targets interleaved (order rotates per round); median (min–max over rounds); ratios are medians of per-round ratios",
             f"- upstream {i.get('upstream', '?')} (P-256 certificate); client, upstream and proxy share the machine; open-files limit {i.get('open_files_limit', '?')}",
             "- per-connection measures (new spliced/intercepted connections): the lean client bench/lean-client/agent.c (C, OpenSSL); the others: bench/Corral.ProxyBench (.NET)",
             f"- log lines written: Corral flow log {i['log_lines']['corral_flow_log']} (records it reported dropped: {i['log_lines'].get('corral_flow_log_dropped', '?')}), Squid access log {i['log_lines']['squid_access_log']}",
             "",
             "| measure | unit | Corral | Squid | direct | Corral / direct | Squid / direct | Corral / Squid |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    lines[len(lines) - 3:len(lines) - 3] = client_check(res)
    for name, e in res.items():
        d = 1 if e["unit"] in ("MiB/s",) else (3 if e["unit"] == "ms" else (1 if e["unit"] == "KiB/tunnel" else 0))
        if name in AGENT:
            lines.append(f"| {e['title']} | conn/s | {fmt(e['corral'])} | {fmt(e['squid'])} | {fmt(e['direct'])} | {fmt(e['corral_vs_direct'], 2)} | {fmt(e['squid_vs_direct'], 2)} | {fmt(e['corral_vs_squid'], 2)} |")
            for p in ["p50_ms", "p99_ms"]:
                lines.append(f"| … time per connection, {p[:3]} | ms | {fmt(e['corral'].get(p), 2)} | {fmt(e['squid'].get(p), 2)} | {fmt(e['direct'].get(p), 2)} | {fmt(e.get('corral_vs_direct_' + p), 2)} | {fmt(e.get('squid_vs_direct_' + p), 2)} | {fmt(e.get('corral_vs_squid_' + p), 2)} |")
            for p in ["p50_ms", "p99_ms"]:
                margin = e.get(f"added_{p[:3]}_margin")
                lines.append(f"| … **added over direct**, {p[:3]} (same round) | ms | {fmt(e['corral'].get('added_' + p), 3)} | {fmt(e['squid'].get('added_' + p), 3)} | — | — | — | Corral − Squid {fmt(margin, 3)} |")
            continue
        title = e['title'] + (f", {e['count']:,} tunnels, median of all rounds" if name == "idle" and e.get("count") else "")
        if name == "idle" and e.get("corral_first_fill") is not None:
            co, sq = e["corral_first_fill"], e.get("squid_first_fill")
            sq_text = "—" if sq is None else f"{sq:.1f}"
            ratio_text = f"{co / sq:.2f}" if sq else "—"
            lines.append(f"| memory per idle tunnel, first fill (round 1) | KiB/tunnel | {co:.1f} | {sq_text} | — | — | — | {ratio_text} |")
        lines.append(f"| {title} | {e['unit']} | {fmt(e['corral'], d)} | {fmt(e['squid'], d)} | {fmt(e['direct'], d)} | {fmt(e['corral_vs_direct'], 2)} | {fmt(e['squid_vs_direct'], 2)} | {fmt(e['corral_vs_squid'], 2)} |")
    lines += ["", "Proxy CPU (user + system, the proxy process and its children) and context switches (every thread's sleeps",
              "and wake-ups) per unit of work, median over rounds:", "",
              "| measure | Corral CPU | Squid CPU | Corral switches (voluntary) | Squid switches (voluntary) |", "|---|---:|---:|---:|---:|"]
    for name, e in res.items():
        c, s = e["corral"].get("cpu"), e["squid"].get("cpu")
        if not c and not s: continue
        unit = "CPU s per GiB" if (c or s)["key"] == "proxy_cpu_s_per_gib" else "CPU ms per connection/request"
        sw = lambda t: "—" if e[t].get("switches") is None else f"{e[t]['switches']:.1f}" + (f" ({e[t]['voluntary_switches']:.1f})" if e[t].get("voluntary_switches") is not None else "")
        lines.append(f"| {e['title']} ({unit}) | {c['median'] if c else '—'} | {s['median'] if s else '—'} | {sw('corral')} | {sw('squid')} |")
    lines += ["", "Against the issue's targets (median; 'yes'/'no' only when every round agrees):", "", "| target | Corral | met? |", "|---|---:|---|"]
    d = res.get("splice_agent_1", {}).get("direct", {})
    too_slow = d.get("median") is not None and d["median"] < CLIENT_FLOOR
    for t in doc["targets"]:
        met = "—" if t["met"] is None else ("yes" if t["met"] else "**no**")
        if t["met"] is not None and not t.get("conclusive", True): met = f"inconclusive (median says {met}; rounds straddle the target)"
        if t["met"] is not None and too_slow: met = f"not judged: direct below {CLIENT_FLOOR} conn/s one at a time (median says {met})"
        lines.append(f"| {t['target']} | {t['shown'] or '—'} | {met} |")
    if doc["failures"]:
        lines += ["", "Failed measurements:", ""] + [f"- round {f['round']} {f['measure']} {f['target']}: {f['error']}" for f in doc["failures"]]
    return "\n".join(lines) + "\n"

if __name__ == "__main__":
    main()
