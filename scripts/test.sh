#!/usr/bin/env bash
# Runs every test. Installs what the tests need first (idempotent; needs root for apt on a fresh machine).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
dotnet test Corral.slnx -c Release --logger "console;verbosity=normal" "$@"
