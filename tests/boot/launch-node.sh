#!/bin/sh
# Boots one node of the boot tests (tests/boot/lab.rs) and boots it again whenever it reboots
# (systemd-nspawn exits 133), as systemd-nspawn@.service does; stops when DIR/stop exists.
#
#   launch-node.sh NAME NETNS CGROUP ROOT DIR HOSTNAME
#
# HOSTNAME is the one the node boots with: its name, or `localhost` for a node that takes its
# hostname from DHCP (as a Flatcar machine without /etc/hostname does). The root's own
# /etc/resolv.conf is the node's (--resolv-conf=off): nspawn would otherwise put the host's
# there, whose servers are not reachable from the lab.
# The node gets a cgroup of its own (NAME's systemd would otherwise share the host's), its
# network namespace, and /dev/loop-control for systemd-sysext (tests/boot/make-root.sh adds
# the unit that creates the loop device nodes inside). --register=no and --keep-unit: the
# host has no systemd for nspawn to register with. CAP_NET_ADMIN: the namespace is the
# node's own, and its systemd-networkd configures the link there, as on a machine.
set -u
name=$1 netns=$2 cgroup=$3 root=$4 dir=$5 hostname=$6
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
  hierarchies=/sys/fs/cgroup # the unified hierarchy alone
else
  hierarchies="/sys/fs/cgroup/systemd /sys/fs/cgroup/unified" # hybrid, as on this machine kind
fi
for hierarchy in $hierarchies; do
  if [ -d "$hierarchy" ]; then
    mkdir -p "$hierarchy/$cgroup"
    echo $$ >"$hierarchy/$cgroup/cgroup.procs"
  fi
done
while :; do
  systemd-nspawn --quiet -D "$root" -M "$name" --hostname="$hostname" --resolv-conf=off --register=no --keep-unit --console=pipe \
    --capability=CAP_NET_ADMIN --network-namespace-path="/run/netns/$netns" --bind=/dev/loop-control -b
  status=$?
  if [ "$status" -ne 133 ] || [ -e "$dir/stop" ]; then
    exit "$status"
  fi
  echo "$(date +%s) rebooted" >>"$dir/reboots"
done
