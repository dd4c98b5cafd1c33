#!/usr/bin/env bash
# The main job on its built-in default: replay the Azure AI Foundry attack scenarios through Corral's gateway on this
# machine and print the report (also written to artifacts/lab-report.json and .md). Binds loopback port 443: run as root.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$root/artifacts"
exec "$root/scripts/corral" lab --json "$root/artifacts/lab-report.json" --markdown "$root/artifacts/lab-report.md" "$@"
