#!/usr/bin/env bash
# Installs the system packages the tests use, only when missing.
set -euo pipefail
# Each package with the tests that need it, said before installing. Installed without the packages they only
# recommend: chromium and its driver are about 26 packages that way, about 130 with their recommendations (avahi-daemon,
# udev, cups helpers, ...), which a headless browser test never uses.
need=()
why=()
want() { need+=("$1"); why+=("  $1: $2"); }
command -v ip >/dev/null || want iproute2 "network namespaces for the lab's transparent mode and the README walk-through"
command -v iptables >/dev/null || want iptables "the transparent listener's REDIRECT rules"
command -v curl >/dev/null || want curl "the README walk-through's agent"
command -v python3 >/dev/null || want python3 "scripts/test.sh's summary and the DNS namespace test's name server"
[ -x /usr/sbin/logrotate ] || command -v logrotate >/dev/null || want logrotate "the flow log's rotation tests run logrotate itself"
[ -x /usr/bin/chromium ] || want chromium "the admin dashboard's browser test (headless, via Selenium)"
[ -x /usr/bin/chromedriver ] || want chromium-driver "the same test's WebDriver"
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "install-test-deps: installing with apt (--no-install-recommends), for the tests:" >&2
    printf '%s\n' "${why[@]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "install-test-deps: missing ${need[*]} (run as root to install); tests that need them will say they skipped:" >&2
    printf '%s\n' "${why[@]}" >&2
  fi
fi

# ---- HCL parser for the Terraform export's tests (tests/Corral.Terraform.Tests) --------------------------
# A real HCL parser (@cdktf/hcl2json: HashiCorp's hcl library compiled to WebAssembly), installed from the
# committed package-lock.json into tools/hcl/node_modules. Idempotent: skipped when already installed.
hcl_dir="$(cd "$(dirname "$0")/.." && pwd)/tools/hcl"
if [ ! -f "$hcl_dir/node_modules/@cdktf/hcl2json/package.json" ]; then
  if command -v npm >/dev/null; then
    (cd "$hcl_dir" && npm ci --no-audit --no-fund --silent)
  else
    echo "install-test-deps: npm is missing; the Terraform export's HCL parse tests will fail until Node.js and npm are installed" >&2
  fi
fi
