#!/bin/busybox sh
# /init of the host VM's initramfs (test/vm/host-vm.ts): the host's / read-only over 9p (tag
# hostroot) under a tmpfs overlay, cgroup v2 only, slirp networking, then switch_root into it and run
# the command script the host left in its work share (tag hvmwork, mounted at the same path as on
# the host). Kernel command line: hvm.dir=<host work dir>.
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
for m in $($B cat /etc/modules.order); do
  $B insmod "/lib/modules/$m" 2>/dev/null || echo "hvm-init: insmod $m failed"
done
DIR=
for a in $($B cat /proc/cmdline); do
  case $a in hvm.dir=*) DIR=${a#hvm.dir=} ;; esac
done
fail() { echo "hvm-init: $*"; echo "HVM-FAIL $*"; $B poweroff -f; }
[ -n "$DIR" ] || fail "no hvm.dir= on the kernel command line"
$B mkdir -p /lower /rw /newroot
# cache=loose: the host tree does not change under a test, and every uncached 9p read is a round trip
$B mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose hostroot /lower || fail "mounting the host root over 9p"
$B mount -t tmpfs -o mode=0755 tmpfs /rw
$B mkdir -p /rw/upper /rw/work
$B mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || fail "mounting the overlay"
# slirp: the guest is 10.0.2.15, the host's loopback is 10.0.2.2, its DNS forwarder 10.0.2.3
$B ip link set lo up
if [ -e /sys/class/net/eth0 ]; then
  $B ip link set eth0 up
  $B ip addr add 10.0.2.15/24 dev eth0
  $B ip route add default via 10.0.2.2 dev eth0
fi
$B mount --move /dev /newroot/dev
$B mkdir -p /newroot/dev/pts /newroot/dev/shm
$B mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /newroot/dev/pts
$B mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm
$B mount -t tmpfs -o mode=0755 tmpfs /newroot/run
# /tmp stays the host's, writable through the overlay: a checkout under it (CI clones into /tmp) is the guest's tree too
$B mount --move /proc /newroot/proc
$B mount --move /sys /newroot/sys
# cgroup v2 alone (cgroup_no_v1=all on the command line), with the controllers a kubelet uses
$B mount -t cgroup2 -o nsdelegate cgroup2 /newroot/sys/fs/cgroup || fail "mounting cgroup2"
for c in cpu memory pids io cpuset; do
  echo "+$c" >/newroot/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || echo "hvm-init: controller $c not enabled"
done
$B mkdir -p "/newroot$DIR"
$B mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none hvmwork "/newroot$DIR" || fail "mounting the work share"
[ -e /newroot/sys/class/net/eth0 ] && echo "nameserver 10.0.2.3" >/newroot/etc/resolv.conf
$B hostname hedge-vm
exec $B switch_root /newroot /bin/sh "$DIR/guest.sh"
