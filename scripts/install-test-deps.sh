#!/usr/bin/env bash
# Installs the system packages the tests use, only when missing.
set -euo pipefail
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v iptables >/dev/null || need+=(iptables)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
[ -x /usr/sbin/logrotate ] || command -v logrotate >/dev/null || need+=(logrotate)   # the flow log's rotation tests run logrotate itself   # the gateway's namespace test serves the stand-in internet with it
[ -x /usr/bin/chromium ] || need+=(chromium)        # the admin dashboard's browser test (headless, via Selenium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "install-test-deps: missing ${need[*]} (run as root to install); tests that need them will say they skipped" >&2
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
