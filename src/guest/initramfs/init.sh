#!/bin/busybox sh
# PID 1 until the agent takes over: mount the basics, load the modules the Debian kernel keeps
# out of its image (listed in load order by the builder), configure the pod's network from the
# kernel command line (set by the host from the pod netns' interfaces, pod-network.ts), then
# become the guest agent:
#   hedge.nic=NAME,MAC,MTU[,ADDR/PREFIX]...  one per virtio-net NIC (eth0, net1, …); IPv4 and/or IPv6
#   hedge.route=NAME,DST[,GATEWAY]           DST a CIDR (either family) or `default`; IPv6's default is ::/0
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
# IPv6 duplicate address detection off: the host handed the guest its addresses (CNI's lease, which
# the pod netns already checked), and a tentative address cannot be a source for a second or more
for c in all default; do echo 0 >/proc/sys/net/ipv6/conf/$c/accept_dad 2>/dev/null; done
NICS= ROUTES=
for a in $($B cat /proc/cmdline); do
  case $a in
    hedge.nic=*) NICS="$NICS ${a#hedge.nic=}" ;;
    hedge.route=*) ROUTES="$ROUTES ${a#hedge.route=}" ;;
  esac
done
# the NIC with this MAC: virtio-net names them eth0, eth1, … in probe order, not the host's order
nic_of() {
  for d in /sys/class/net/*; do
    [ "$($B cat "$d/address" 2>/dev/null)" = "$1" ] && { echo "${d##*/}"; return; }
  done
}
# two rounds of renames: a wanted name (eth0) may be what another NIC is called now
n=0
for c in $NICS; do
  IFS=, read -r name mac mtu addr <<EOF
$c
EOF
  i=0
  dev=$(nic_of "$mac")
  # virtio_net probes the devices as it loads; give a slow (emulated) guest a moment anyway
  while [ -z "$dev" ] && [ $i -lt 200 ]; do $B usleep 10000; i=$((i + 1)); dev=$(nic_of "$mac"); done
  if [ -n "$dev" ]; then $B ip link set "$dev" name "hedgenic$n" || echo "init: renaming $dev failed"
  else echo "init: no NIC with MAC $mac for $name"; fi
  n=$((n + 1))
done
n=0
for c in $NICS; do
  IFS=, read -r name mac mtu addrs <<EOF
$c
EOF
  [ -e "/sys/class/net/hedgenic$n" ] && $B ip link set "hedgenic$n" name "$name"
  n=$((n + 1))
  # (the NIC existed before the `default` above: its own switch too, before it comes up)
  echo 0 >"/proc/sys/net/ipv6/conf/$name/accept_dad" 2>/dev/null
  $B ip link set "$name" mtu "$mtu" up || echo "init: $name up failed"
  for addr in ${addrs//,/ }; do
    $B ip addr add "$addr" dev "$name" || echo "init: address $addr on $name failed"
  done
done
for c in $ROUTES; do
  IFS=, read -r name dst gw <<EOF
$c
EOF
  if [ -n "$gw" ]; then $B ip route add "$dst" via "$gw" dev "$name" || echo "init: route $dst via $gw on $name failed"
  else $B ip route add "$dst" dev "$name" || echo "init: route $dst on $name failed"; fi
done
# busybox served only this script (the agent starts every process in a container's own root): its
# ~2 MiB in the initramfs are guest RAM, which free page reporting hands back once the file is gone
$B rm -f /bin/sh /bin/busybox
exec /sbin/hedge-agent
