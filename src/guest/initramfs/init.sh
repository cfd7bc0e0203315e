#!/bin/busybox sh
# PID 1 until the agent takes over: mount the basics, load the modules the Debian kernel keeps
# out of its image (listed in load order by the builder), configure the pod's network from the
# kernel command line (hedge.ip=ADDR/PREFIX hedge.gw=GATEWAY hedge.mtu=MTU, set by the host from
# the pod netns' CNI interface), then become the guest agent.
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
$B mkdir -p /run /tmp /dev/pts
$B mount -t tmpfs -o mode=0755 tmpfs /run
for m in $($B cat /etc/modules.order); do
  $B insmod "/lib/modules/$m" 2>/dev/null || echo "init: insmod $m failed"
done
# the .ko files live in the initramfs (guest RAM) and are never read again
$B rm -rf /lib/modules
# free page reporting: 6.1's page_reporting takes the balloon driver's order (2 MiB blocks) when the
# driver registers, whatever the command line said; apply the command line's order again here
read -r CMDLINE </proc/cmdline
for a in $CMDLINE; do
  case $a in
    page_reporting.page_reporting_order=*) echo "${a#*=}" >/sys/module/page_reporting/parameters/page_reporting_order || echo "init: page_reporting_order failed" ;;
  esac
done
$B ip link set lo up
IP= GW= MTU=1500
for a in $($B cat /proc/cmdline); do
  case $a in
    hedge.ip=*) IP=${a#hedge.ip=} ;;
    hedge.gw=*) GW=${a#hedge.gw=} ;;
    hedge.mtu=*) MTU=${a#hedge.mtu=} ;;
  esac
done
if [ -n "$IP" ]; then
  # virtio_net probes the device as it loads; give a slow (emulated) guest a moment anyway
  i=0
  while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 200 ]; do $B usleep 10000; i=$((i + 1)); done
  $B ip link set eth0 mtu "$MTU" up || echo "init: eth0 up failed"
  $B ip addr add "$IP" dev eth0 || echo "init: address $IP failed"
  if [ -n "$GW" ]; then $B ip route add default via "$GW" dev eth0 || echo "init: route via $GW failed"; fi
fi
exec /sbin/hedge-agent
