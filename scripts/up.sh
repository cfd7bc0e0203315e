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
# the node speaks cgroup v1 (a hybrid host is fine): said before the installs, as `hedge node` says it at its start
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
  echo "scripts/up.sh: /sys/fs/cgroup is the cgroup v2 unified hierarchy alone; hedge's node needs the cgroup v1 hierarchies (a hybrid host is fine): boot with systemd.unified_cgroup_hierarchy=0 on the kernel command line (systemd 256 and 257 also want SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1; Debian: add them to GRUB_CMDLINE_LINUX in /etc/default/grub, run update-grub, reboot)" >&2
  exit 2
fi
# the tailored microVM guest kernel builds in the background; new sandboxes switch to it when it lands
HEDGE_GUEST_KERNEL_BUILD=${HEDGE_GUEST_KERNEL_BUILD:-background} bash scripts/setup.sh
exec node bin/hedge.js up "$@"
