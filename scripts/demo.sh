#!/usr/bin/env bash
# The main job on its built-in default: write the Azure AI Foundry reference pack, check it, and ask it
# about the flows the reference architecture cares about.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
corral="$root/scripts/corral"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cd "$work"
"$corral" init --template azure-foundry -o corral.yaml >/dev/null
"$corral" check corral.yaml
ask() { printf '\n$ corral explain --src 10.20.1.5 --dst %s %s\n' "$1" "${*:2}"; "$corral" explain --src 10.20.1.5 --dst "$@" | tail -n 2; }
ask mcr.microsoft.com
ask mcp.contoso.com
ask attacker.example
ask mcp.contoso.com --resolved 10.30.0.7
ask 10.30.0.7 --port 5432
ask 169.254.169.254 --port 80
