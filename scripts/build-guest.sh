#!/usr/bin/env bash
# Builds the microVM guest: an uncompressed vmlinux and an initramfs (busybox-static, the guest
# agent, and for Debian's kernel the needed modules). Output is cached under
#   $OUT_ROOT/<kernel-version>-<hash of inputs>/{vmlinux,initrd.gz,hedge-agent,manifest.json}
# and $OUT_ROOT/current.json points at the latest build. Prints the build directory.
#   HEDGE_GUEST_DIR     output root (default /var/lib/hedge/guest)
#   HEDGE_GUEST_KERNEL  debian | tailored | auto (default): which guest kernel
#     debian    Debian's linux-image (vmlinux extracted from /boot/vmlinuz-*, modules in the initramfs)
#     tailored  the kernel scripts/build-guest-kernel.sh built from linux-source (all built in);
#               fails if it is not built: this script never compiles a kernel
#     auto      tailored when built (for the current fragment and source), else debian
#   HEDGE_GUEST_KVER    Debian kernel version (default: newest generic one in /usr/lib/modules with a /boot/vmlinuz)
#   HEDGE_KERNEL_CACHE  where build-guest-kernel.sh keeps the tailored kernel
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_ROOT=${HEDGE_GUEST_DIR:-/var/lib/hedge/guest}
GUEST_SRC=src/guest
KERNEL=${HEDGE_GUEST_KERNEL:-auto}

die() { echo "build-guest: $*" >&2; exit 1; }

TAILORED=
case $KERNEL in
  debian) ;;
  tailored|auto)
    TAILORED=$(scripts/build-guest-kernel.sh --cached) || TAILORED=
    if [[ -n $TAILORED ]]; then KERNEL=tailored
    elif [[ $KERNEL == tailored ]]; then die "the tailored kernel is not built (or is stale): run scripts/build-guest-kernel.sh"
    else KERNEL=debian; fi ;;
  *) die "HEDGE_GUEST_KERNEL must be debian, tailored or auto, not '$KERNEL'" ;;
esac

if [[ $KERNEL == tailored ]]; then
  KVER=$(sed -n 's/.*"kernelVersion":"\([^"]*\)".*/\1/p' "$TAILORED/manifest.json")
  [[ -n $KVER && -f $TAILORED/vmlinux ]] || die "bad tailored kernel build in $TAILORED"
  KERNEL_INPUTS=("$TAILORED/vmlinux")
  MODDIR=-
else
  KVER=${HEDGE_GUEST_KVER:-}
  if [[ -z $KVER ]]; then
    # the generic flavour only: linux-image-cloud-amd64 has no 9p (the pod volume share), no MP
    # table parsing and an LZ4 image, and its name sorts after the generic one (src/guest/README.md)
    for d in $(ls -1 /usr/lib/modules 2>/dev/null | grep -Ev -- '-(cloud|rt)-' | sort -V -r); do
      [[ -f /boot/vmlinuz-$d ]] && { KVER=$d; break; }
    done
  fi
  [[ -n $KVER ]] || die "no kernel found: install Debian's linux-image-amd64 (apt-get install --no-install-recommends linux-image-amd64)"
  VMLINUZ=/boot/vmlinuz-$KVER
  MODDIR=/usr/lib/modules/$KVER
  [[ -f $VMLINUZ && -f $MODDIR/modules.dep ]] || die "missing $VMLINUZ or $MODDIR/modules.dep"
  KERNEL_INPUTS=("$VMLINUZ" "$MODDIR/modules.dep")
fi
BUSYBOX=$(command -v busybox || true)
[[ -n $BUSYBOX ]] || die "busybox-static is needed"
ldd "$BUSYBOX" >/dev/null 2>&1 && die "$BUSYBOX is dynamically linked; install busybox-static"
if command -v musl-gcc >/dev/null; then CC=(musl-gcc -static -Os -s); else CC=(gcc -static -Os -s); fi

# The key covers every input, so a changed kernel, agent or builder gives a new directory.
HASH=$( {
  echo "${CC[*]} $KERNEL"
  sha256sum "${KERNEL_INPUTS[@]}" "$BUSYBOX" \
    "$GUEST_SRC"/agent/*.c "$GUEST_SRC"/initramfs/*.ts "$GUEST_SRC"/initramfs/init.sh "$0" | cut -d' ' -f1
} | sha256sum | cut -c1-12)
DIR=$OUT_ROOT/$KVER-$HASH
# a name of its own per call: concurrent builds (parallel test files) each rename theirs into place
current() { local t="$OUT_ROOT/.current.json.$$"; printf '{"dir":"%s"}\n' "$DIR" > "$t" && mv -f "$t" "$OUT_ROOT/current.json"; }
if [[ -f $DIR/manifest.json ]]; then
  current; echo "$DIR"; exit 0
fi
mkdir -p "$OUT_ROOT"; TMP=$(mktemp -d "$OUT_ROOT/.tmp.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

"${CC[@]}" -Wall -o "$TMP/hedge-agent" "$GUEST_SRC/agent/hedge-agent.c"

# vmlinux: find the compressed payload inside the bzImage and decompress it (what the kernel's
# scripts/extract-vmlinux does; Debian does not ship it without linux-headers).
extract() { # magic-regex decompress-cmd...
  local magic=$1; shift
  for off in $(LC_ALL=C grep -obUaP "$magic" "$VMLINUZ" | cut -d: -f1); do
    tail -c +$((off + 1)) "$VMLINUZ" | "$@" > "$TMP/vmlinux" 2>/dev/null || true
    [[ $(head -c 4 "$TMP/vmlinux" | od -An -tx1 | tr -d ' ') == 7f454c46 ]] && return 0
  done
  return 1
}
if [[ $KERNEL == tailored ]]; then
  cp "$TAILORED/vmlinux" "$TMP/vmlinux"
else
  extract '\xFD7zXZ\x00' xz -dc || extract '\x28\xb5\x2f\xfd' zstd -dc || extract '\x1f\x8b\x08' gzip -dc \
    || { command -v lz4 >/dev/null && extract '\x02\x21\x4c\x18' lz4 -dc; } \
    || die "could not extract vmlinux from $VMLINUZ"
fi

node --import tsx "$GUEST_SRC/initramfs/build-initramfs.ts" "$MODDIR" "$TMP/hedge-agent" "$BUSYBOX" \
  "$GUEST_SRC/initramfs/init.sh" "$TMP/initrd.gz" > "$TMP/initramfs.json"

cat > "$TMP/manifest.json" <<JSON
{"kernelVersion":"$KVER","kernel":"$KERNEL","hash":"$HASH","vmlinux":"vmlinux","initrd":"initrd.gz","agent":"hedge-agent","initramfs":$(cat "$TMP/initramfs.json")}
JSON
rm -f "$TMP/initramfs.json"
chmod 755 "$TMP"
mkdir -p "$OUT_ROOT"
# a concurrent build of the same inputs may have won: keep its (identical) directory, which a
# running VM may already use, rather than replacing it under it
if ! mv -T "$TMP" "$DIR" 2>/dev/null; then rm -rf "$TMP"; fi
[[ -f $DIR/manifest.json ]] || die "build did not produce $DIR"
trap - EXIT
current
echo "$DIR"
