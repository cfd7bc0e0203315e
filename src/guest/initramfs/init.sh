#!/bin/busybox sh
# PID 1 until the agent takes over: mount the basics, load the modules the Debian kernel keeps
# out of its image (listed in load order by the builder), then become the guest agent.
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
$B mkdir -p /run /tmp /dev/pts
$B mount -t tmpfs -o mode=0755 tmpfs /run
for m in $($B cat /etc/modules.order); do
  $B insmod "/lib/modules/$m" 2>/dev/null || echo "init: insmod $m failed"
done
exec /sbin/hedge-agent
