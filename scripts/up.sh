#!/usr/bin/env bash
# Newcomer entry point: install what hedge needs, then run `hedge up` (Ctrl-C stops it).
# Arguments go to `hedge up` (e.g. --listen 127.0.0.1:7443, --data-dir DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node bin/hedge.js up "$@"
