#!/usr/bin/env bash
# Builds the tailored microVM guest kernel: Debian's linux-source-6.1, `make allnoconfig` plus the
# checked-in fragment src/guest/kernel/hedge-guest.config (everything built in, no modules) and the
# patches in src/guest/kernel/patches/*.patch (applied in name order with patch -p1), as an
# uncompressed vmlinux for qemu's PVH boot. Output is cached under
#   $CACHE/<source version>-<hash>/{vmlinux,config,manifest.json}
# keyed by the source package version, the fragment, the patches, RECIPE and the compiler/linker versions (not
# this file: editing a comment must not cost a ~17 min rebuild; bump RECIPE when the build steps
# change); $CACHE/current.json names the last build. Prints the build directory.
# scripts/build-guest.sh picks it up (HEDGE_GUEST_KERNEL=tailored, or auto when it is built).
# Takes ~17 min on 2 busy cores (-j2, nice 10); once per machine and linux-source version.
#   HEDGE_KERNEL_CACHE  cache root (default /var/cache/hedge/guest-kernel as root, so every checkout
#                       on the machine, CI's fresh clone included, shares one build; else
#                       <repo>/.cache/guest-kernel, which git-ignores itself)
#   HEDGE_KERNEL_JOBS   make -j (default: the number of CPUs); the compile runs under nice -n 10
#   HEDGE_KERNEL_KEEP=1 keep the unpacked source and object tree (~1.5 GB) after the build; the next
#                       build with HEDGE_KERNEL_KEEP=1 reuses them (an incremental make: minutes, not
#                       ~17 min, for a fragment or patch change); a build without it starts clean
#   --cached            only print the build directory if it is built (exit 3 if not); installs
#                       and builds nothing (build-guest.sh uses this)
# Reproducible: fixed KBUILD_BUILD_{TIMESTAMP,USER,HOST,VERSION}, no modules (so no signing key),
# no debug info, source paths stripped by the kernel's own -fmacro-prefix-map.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
if [[ -n ${HEDGE_KERNEL_CACHE:-} ]]; then CACHE=$HEDGE_KERNEL_CACHE
elif [[ $(id -u) == 0 ]]; then CACHE=/var/cache/hedge/guest-kernel
else CACHE=$REPO/.cache/guest-kernel; fi
JOBS=${HEDGE_KERNEL_JOBS:-$(nproc)}
FRAGMENT=$REPO/src/guest/kernel/hedge-guest.config
SRCPKG=linux-source-6.1
TARBALL=/usr/src/$SRCPKG.tar.xz
PATCHES=("$REPO"/src/guest/kernel/patches/*.patch)
[[ -e ${PATCHES[0]} ]] || PATCHES=()
RECIPE=2
CACHED_ONLY=0
[[ ${1:-} == --cached ]] && CACHED_ONLY=1

die() { echo "build-guest-kernel: $*" >&2; exit 1; }

srcver() { dpkg-query -W -f '${Version}' "$SRCPKG" 2>/dev/null || true; }

key() { # <source version>-<hash of every input>
  local v=$1
  echo "$v-$( {
    echo "$v recipe $RECIPE"
    sha256sum "$FRAGMENT" | cut -d' ' -f1
    ((${#PATCHES[@]} == 0)) || sha256sum "${PATCHES[@]}" | cut -d' ' -f1
    gcc --version | head -1
    ld --version | head -1
  } | sha256sum | cut -c1-12)"
}

if ((CACHED_ONLY)); then
  v=$(srcver)
  [[ -n $v && -f $FRAGMENT ]] || exit 3
  DIR=$CACHE/$(key "$v")
  [[ -f $DIR/manifest.json ]] || exit 3
  echo "$DIR"; exit 0
fi

# what the build needs (and only that): the source, a compiler, the kconfig lexer/parser, bc for
# the timeconst header, libelf for objtool (x86_64 ORC unwinder), xz to unpack
need=()
dpkg-query -W -f '${Status}' "$SRCPKG" 2>/dev/null | grep -q 'install ok installed' || need+=("$SRCPKG")
for p in build-essential bc flex bison libelf-dev xz-utils patch; do
  dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if ((${#need[@]})); then
  [[ $(id -u) == 0 ]] || die "needs ${need[*]}: run as root or apt-get install them"
  echo "build-guest-kernel: installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2 \
    || die "apt-get install ${need[*]} failed"
fi
[[ -f $TARBALL ]] || die "$TARBALL missing after installing $SRCPKG"

V=$(srcver)
KEY=$(key "$V")
DIR=$CACHE/$KEY
# a name of its own per call: concurrent builds (parallel test files) each rename theirs into place
current() { local t="$CACHE/.current.json.$$"; printf '{"dir":"%s"}\n' "$DIR" > "$t" && mv -f "$t" "$CACHE/current.json"; }
mkdir -p "$CACHE"
[[ -f $CACHE/.gitignore ]] || echo '*' > "$CACHE/.gitignore"
# one build at a time per cache (a second caller waits, then finds the result)
exec 9>"$CACHE/.lock"
flock 9
if [[ -f $DIR/manifest.json ]]; then
  current; echo "$DIR"; exit 0
fi

start=$(date +%s)
SRC=$CACHE/src/$SRCPKG-$V
if [[ ! -f $SRC/.unpacked ]]; then
  rm -rf "$SRC" "$SRC.tmp"; mkdir -p "$SRC.tmp"
  echo "build-guest-kernel: unpacking $TARBALL" >&2
  tar -xJf "$TARBALL" -C "$SRC.tmp" --strip-components=1
  touch "$SRC.tmp/.unpacked"; mv -T "$SRC.tmp" "$SRC"
fi
# the patches: a kept source tree carries the ones applied last time in .hedge-patches/; take those
# out (in reverse) and put the current ones in, which also gives the patched files a new mtime, so
# an incremental make rebuilds exactly what they touch
APPLIED=$SRC/.hedge-patches
if [[ -d $APPLIED ]]; then
  want=$(for p in "${PATCHES[@]}"; do sha256sum "$p" | cut -d' ' -f1; done)
  have=$(for p in "$APPLIED"/*.patch; do [[ -e $p ]] && sha256sum "$p" | cut -d' ' -f1; done)
  if [[ $want != "$have" ]]; then
    for p in $(ls -r "$APPLIED"/*.patch 2>/dev/null); do
      patch -s -f -R -p1 -d "$SRC" -i "$p" </dev/null || { rm -rf "$SRC"; die "reverting $(basename "$p") failed (the next run unpacks afresh)"; }
    done
    rm -rf "$APPLIED"
  fi
fi
if [[ ! -d $APPLIED ]]; then
  rm -rf "$APPLIED.tmp"; mkdir -p "$APPLIED.tmp"
  for p in "${PATCHES[@]}"; do
    echo "build-guest-kernel: applying $(basename "$p")" >&2
    patch -s -f -p1 -d "$SRC" -i "$p" </dev/null || { rm -rf "$SRC"; die "$(basename "$p") does not apply to $SRCPKG $V"; }
    cp "$p" "$APPLIED.tmp/"
  done
  mv -T "$APPLIED.tmp" "$APPLIED"
fi
unpacked=$(date +%s)

# one object tree at a fixed path, whatever the key: objtool is built with absolute paths, so a
# moved tree rebuilds objtool and with it every object (measured: a renamed tree started over)
OBJ=$CACHE/obj/tree
if [[ ${HEDGE_KERNEL_KEEP:-0} == 1 && -d $OBJ ]]; then
  echo "build-guest-kernel: reusing the kept object tree (make rebuilds what changed)" >&2
else
  rm -rf "$CACHE/obj"
fi
mkdir -p "$OBJ"
export KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 1970' KBUILD_BUILD_USER=hedge KBUILD_BUILD_HOST=hedge KBUILD_BUILD_VERSION=1
MK=(make -s -C "$SRC" O="$OBJ" ARCH=x86_64)
"${MK[@]}" KCONFIG_ALLCONFIG="$FRAGMENT" allnoconfig >&2
# a fragment line whose dependencies are not met is dropped by kconfig without a word: refuse that
missing=$(grep -E '^CONFIG_' "$FRAGMENT" | while IFS= read -r l; do grep -qxF "$l" "$OBJ/.config" || echo "$l"; done)
[[ -z $missing ]] || die "kconfig did not keep: $missing"
echo "build-guest-kernel: compiling ($JOBS jobs, nice 10)" >&2
nice -n 10 "${MK[@]}" -j"$JOBS" vmlinux >&2
KREL=$("${MK[@]}" kernelrelease)
end=$(date +%s)

TMP=$(mktemp -d "$CACHE/.tmp.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
cp "$OBJ/vmlinux" "$TMP/vmlinux"
cp "$OBJ/.config" "$TMP/config"
cat > "$TMP/manifest.json" <<JSON
{"kernelVersion":"$KREL","source":"$SRCPKG $V","key":"$KEY","vmlinux":"vmlinux","sha256":"$(sha256sum "$TMP/vmlinux" | cut -d' ' -f1)","unpackSeconds":$((unpacked - start)),"buildSeconds":$((end - unpacked)),"jobs":$JOBS}
JSON
chmod 755 "$TMP"
if ! mv -T "$TMP" "$DIR" 2>/dev/null; then rm -rf "$TMP"; fi
trap - EXIT
[[ -f $DIR/manifest.json ]] || die "build did not produce $DIR"
[[ ${HEDGE_KERNEL_KEEP:-0} == 1 ]] || rm -rf "$CACHE/obj" "$SRC"
current
echo "build-guest-kernel: $KREL in $((end - start)) s (unpack $((unpacked - start)) s)" >&2
echo "$DIR"
