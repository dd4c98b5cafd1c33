#!/usr/bin/env python3
"""Fault harnesses for `corral gateway` (docs/gateway.md, "Operating limits and failure modes").

Loopback only and bounded in time; each starts its own gateway (scripts/corral, or --corral CMD) in a temp folder
and stops it, with its stand-in upstream, on exit.

  python3 bench/faults.py slowloris [--slow 200] [--seconds 20]   slow clients beside normal ones
  python3 bench/faults.py exhaust   [--ulimit 1024] [--tunnels 600] tunnels under a low open-file limit
  python3 bench/faults.py sigkill   [--rounds 10] [--seconds 2]     SIGKILL under load, then check the flow log
  python3 bench/faults.py all

Prints one summary line per harness and exits 1 if a check failed.
"""
import argparse, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POLICY = """version: 1
name: faults
defaultAction: deny
smartGroups:
  agents: { cidrs: [127.0.0.0/8] }
  sink: { cidrs: [127.0.0.0/8] }
rules:
  - { name: allow-sink, priority: 1, source: [agents], destination: [sink], action: permit }
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Echo:
    """A loopback upstream that echoes what it gets, one thread per connection."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4096)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _serve(c):
        with c:
            try:
                while (data := c.recv(65536)):
                    c.sendall(data)
            except OSError:
                pass

    def close(self):
        self.sock.close()


class Gateway:
    def __init__(self, corral, folder, extra, ulimit=None):
        self.port = free_port()
        self.folder = folder
        with open(os.path.join(folder, "p.yaml"), "w") as f:
            f.write(POLICY)
        cmd = corral + ["gateway", "p.yaml", "--listen", f"127.0.0.1:{self.port}", "--flow-log", "flows.jsonl"] + extra
        if ulimit:
            cmd = ["bash", "-c", f"ulimit -n {ulimit} && exec \"$@\"", "bash"] + cmd
        self.log = open(os.path.join(folder, "gateway.log"), "w")
        self.proc = subprocess.Popen(cmd, cwd=folder, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited {self.proc.returncode}: {self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("gateway did not listen")

    def output(self):
        with open(os.path.join(self.folder, "gateway.log")) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def records(self):
        path = os.path.join(self.folder, "flows.jsonl")
        good, bad = [], []
        with open(path, "rb") as f:
            for line in f.read().split(b"\n"):
                if not line:
                    continue
                try:
                    good.append(json.loads(line))
                except ValueError:
                    bad.append(line)
        return good, bad


def connect(port, target, timeout=10):
    """CONNECT through the gateway; returns (socket or None, status)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            s.close()
            return None, 0
        head += chunk
    status = int(head.split(b" ", 2)[1])
    if status != 200:
        s.close()
        return None, status
    return s, status


def slowloris(corral, args):
    echo = Echo()
    folder = tempfile.mkdtemp(prefix="corral-faults-")
    gw = Gateway(corral, folder, [])
    slow, stop = [], time.time() + args.seconds
    try:
        for _ in range(args.slow):
            s = socket.create_connection(("127.0.0.1", gw.port))
            s.sendall(b"C")
            slow.append(s)
        ok = failed = 0
        latencies = []
        while time.time() < stop:
            for s in slow:  # one more byte each, never a whole head
                try:
                    s.sendall(b"O")
                except OSError:
                    pass
            for _ in range(20):
                t = time.perf_counter()
                try:
                    s, status = connect(gw.port, f"127.0.0.1:{echo.port}")
                    s.sendall(b"x")
                    assert s.recv(1) == b"x"
                    s.close()
                    ok += 1
                    latencies.append(time.perf_counter() - t)
                except (OSError, AssertionError, AttributeError):
                    failed += 1
            time.sleep(0.5)
        latencies.sort()
        p50 = latencies[len(latencies) // 2] * 1000 if latencies else 0
        p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0
        passed = failed == 0 and ok > 0
        print(f"slowloris: {args.slow} slow clients for {args.seconds} s; normal clients {ok} ok, {failed} failed; "
              f"new tunnel p50 {p50:.1f} ms, p99 {p99:.1f} ms -> {'pass' if passed else 'FAIL'}")
        return passed
    finally:
        for s in slow:
            s.close()
        gw.stop()
        echo.close()
        shutil.rmtree(folder, ignore_errors=True)


def exhaust(corral, args):
    echo = Echo()
    folder = tempfile.mkdtemp(prefix="corral-faults-")
    gw = Gateway(corral, folder, [], ulimit=args.ulimit)
    tunnels, refused, other = [], 0, 0
    try:
        for _ in range(args.tunnels):
            try:
                s, status = connect(gw.port, f"127.0.0.1:{echo.port}")
            except OSError:
                s, status = None, -1
            if s:
                try:
                    s.sendall(b"x")
                    if s.recv(1) == b"x":
                        tunnels.append(s)
                        continue
                except OSError:
                    pass
                s.close()
                other += 1
            elif status == 503:
                refused += 1
            else:
                other += 1
            if other >= 20:  # a gateway that hangs or resets: stop asking (bounded run)
                break
        alive = gw.proc.poll() is None
        working = 0
        for s in tunnels:
            try:
                s.sendall(b"y")
                working += s.recv(1) == b"y"
            except OSError:
                pass
        for s in tunnels:
            s.close()
        lines = len(gw.output().splitlines())
        code = gw.stop()
        good, bad = gw.records()
        closes = sum(1 for r in good if r.get("event") == "close" and "reason" not in r)
        room = re.search(r"room for (\d+) connections", gw.output())
        passed = alive and code == 0 and other == 0 and working == len(tunnels) and closes >= len(tunnels) and not bad and lines < 200
        print(f"exhaust: ulimit -n {args.ulimit}, {args.tunnels} tunnels asked; limit {room.group(1) if room else '?'}; "
              f"{len(tunnels)} open ({working} still working), {refused} refused with 503, {other} other failures; "
              f"gateway {'alive' if alive else 'DIED'}, exit {code}, {lines} log lines, {closes} close records -> {'pass' if passed else 'FAIL'}")
        return passed
    finally:
        for s in tunnels:
            s.close()
        if gw.proc.poll() is None:
            gw.stop(signal.SIGKILL)
        echo.close()
        shutil.rmtree(folder, ignore_errors=True)


def sigkill(corral, args):
    echo = Echo()
    torn_total = lines_total = 0
    passed = True
    for round_ in range(args.rounds):
        folder = tempfile.mkdtemp(prefix="corral-faults-")
        gw = Gateway(corral, folder, [])
        stop = threading.Event()

        def load():
            while not stop.is_set():
                try:
                    s, _ = connect(gw.port, f"127.0.0.1:{echo.port}", timeout=2)
                    if s:
                        s.sendall(b"x")
                        s.recv(1)
                        s.close()
                except OSError:
                    pass
        workers = [threading.Thread(target=load, daemon=True) for _ in range(4)]
        for w in workers:
            w.start()
        time.sleep(args.seconds * (0.5 + (round_ % 5) / 10))
        gw.stop(signal.SIGKILL)
        stop.set()
        for w in workers:
            w.join()
        good, bad = gw.records()
        # Only a last line cut in the middle of a write(2) may be partial (docs/gateway.md).
        torn_total += len(bad)
        lines_total += len(good)
        with open(os.path.join(folder, "flows.jsonl"), "rb") as f:
            data = f.read()
        if len(bad) > 1 or (bad and not data.rstrip(b"\n").endswith(bad[-1])):
            passed = False
        shutil.rmtree(folder, ignore_errors=True)
    echo.close()
    print(f"sigkill: {args.rounds} SIGKILLs under load; {lines_total} whole records, {torn_total} partial last line(s) "
          f"-> {'pass' if passed else 'FAIL'}")
    return passed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("harness", choices=["slowloris", "exhaust", "sigkill", "all"])
    parser.add_argument("--corral", default=os.path.join(ROOT, "scripts", "corral"), help="command that runs corral")
    parser.add_argument("--slow", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--ulimit", type=int, default=1024)
    parser.add_argument("--tunnels", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    corral = args.corral.split()
    runs = {"slowloris": slowloris, "exhaust": exhaust, "sigkill": sigkill}
    chosen = list(runs) if args.harness == "all" else [args.harness]
    results = []
    for name in chosen:
        if name == "sigkill" and args.harness == "all":
            args.seconds = 2
        results.append(runs[name](corral, args))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
