#!/usr/bin/env bash
# Newcomer entry point: install what hedge needs, then run `hedge up` (control plane + one local
# node + a demo pod under runc and one under gVisor; Ctrl-C deletes the demo pods, stops every pod and
# removes the bridge, nftables tables, masquerade rules, netns and cgroups it made; twice: quickly).
# Arguments go to `hedge up` (e.g. --listen 127.0.0.1:7443, --data-dir DIR, --no-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/up.sh: hedge up runs containers (namespaces, cgroups, mounts): run it as root" >&2
  exit 2
fi
# the tailored microVM guest kernel builds in the background; new sandboxes switch to it when it lands
HEDGE_GUEST_KERNEL_BUILD=${HEDGE_GUEST_KERNEL_BUILD:-background} bash scripts/setup.sh
exec node bin/hedge.js up "$@"
