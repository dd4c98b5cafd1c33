#!/usr/bin/env bash
# Installs the system packages the tests use, only when missing.
set -euo pipefail
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v iptables >/dev/null || need+=(iptables)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)   # the gateway's namespace test serves the stand-in internet with it
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "install-test-deps: missing ${need[*]} (run as root to install); tests that need them will say they skipped" >&2
  fi
fi
