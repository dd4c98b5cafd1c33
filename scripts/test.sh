#!/usr/bin/env bash
# Runs every test. Installs what the tests need first (idempotent; needs root for apt on a fresh machine),
# then prints one closing line: "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh || exit 1
results=artifacts/test-results
rm -rf "$results"
# Locked: a package graph that differs from the committed packages.lock.json files fails here (docs/dependencies.md).
dotnet restore Corral.slnx --locked-mode -v q || exit 1
dotnet test Corral.slnx -c Release --no-restore --logger "console;verbosity=normal" --logger "trx;LogFilePrefix=corral" --results-directory "$results" "$@"
status=$?

# The Squid comparison harness in quick mode (bench/run.sh --quick, about a minute): counted as one test that
# passes when the harness runs end to end; its figures are not judged here. CORRAL_SKIP_BENCH=1 leaves it out.
bench="skipped"
if [ -z "${CORRAL_SKIP_BENCH:-}" ]; then
  mkdir -p artifacts/bench
  if bash bench/run.sh --quick >artifacts/bench/quick.log 2>&1; then
    bench="passed"; echo "bench/run.sh --quick: passed (figures in artifacts/bench/proxy-compare-quick.md)"
  else
    bench="failed"; status=1; echo "bench/run.sh --quick: FAILED; last lines of artifacts/bench/quick.log:"; tail -n 30 artifacts/bench/quick.log
  fi
fi
python3 - "$results" "$bench" <<'PY'
import glob, re, sys
passed = failed = skipped = 0
bench = sys.argv[2]
passed += bench == "passed"; failed += bench == "failed"; skipped += bench == "skipped"
for path in glob.glob(sys.argv[1] + "/*.trx"):
    text = open(path, encoding="utf-8").read()
    m = re.search(r"<Counters\b[^>]*>", text)
    if not m: continue
    attrs = dict(re.findall(r'(\w+)="(\d+)"', m.group(0)))
    passed += int(attrs.get("passed", 0)); failed += int(attrs.get("failed", 0)) + int(attrs.get("error", 0)) + int(attrs.get("timeout", 0)) + int(attrs.get("aborted", 0))
    skipped += int(attrs.get("notExecuted", 0))
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
