#!/usr/bin/env bash
# The main job on its built-in default: replay the Azure AI Foundry attack scenarios through Corral's gateway on this
# machine, explicit proxy and transparent mode, and print the report (also written to artifacts/lab-report.json and
# .md). Run as root: it binds loopback port 443 and, for transparent mode, makes network namespaces, veth pairs and
# iptables rules, all removed when it ends (docs/lab.md). Extra arguments go to `corral lab` (e.g. --mode explicit).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$root/artifacts"
# The transparent pass needs ip and iptables: install them when missing and root (a fresh Debian lacks iptables).
if [ "$(id -u)" -eq 0 ] && { ! command -v iptables >/dev/null || ! command -v ip >/dev/null; }; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 iptables >/dev/null
fi
exec "$root/scripts/corral" lab --json "$root/artifacts/lab-report.json" --markdown "$root/artifacts/lab-report.md" "$@"
