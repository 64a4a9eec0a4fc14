#!/usr/bin/env bash
# Builds the root every node of the boot tests (tests/boot.rs) starts from: Debian trixie
# (systemd 257, with systemd-sysext and systemd-sysupdate) posing as Flatcar, and beside it
# the etcd binaries of trixie's etcd 3.5 that the tests pack into a sysext image with
# `kindling sysext build`. The root itself carries no etcd: a node can only run the image's.
#
#   make-root.sh OUT [MIRROR]      writes OUT/root and OUT/etcd, or nothing on failure
#
# MIRROR defaults to the Debian mirror the host's apt already uses.
#
# The tests key their cache on this file's bytes: any change here builds a new root.
set -euo pipefail
out=$1
host_mirror() {
  sed -n 's/^URIs: *\([^ ]*debian\/*\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1
  sed -n 's/^deb  *\(http[^ ]*debian\/*\) .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n 1
  true
}
mirror=${2:-$(host_mirror | head -n 1)}
mirror=${mirror:-http://deb.debian.org/debian}
work="$out.partial"
rm -rf "$work"
mkdir -p "$work"
root="$work/root"

# curl: Flatcar ships it, and the backup script's S3 uploads use it. polkitd: Flatcar ships
# polkit (with logind, which it needs), whose rule (systemd's) lets networkd set the
# hostname DHCP gives.
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,systemd-container,iproute2,iptables,curl,libpam-systemd,polkitd \
  trixie "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

# etcd 3.5 from trixie's packages, unpacked beside the root, never installed into it.
chroot "$root" apt-get update -qq
(cd "$root/tmp" && chroot "$root" sh -c 'cd /tmp && apt-get download -qq etcd-server etcd-client')
mkdir "$work/etcd" "$work/debs"
for deb in "$root"/tmp/etcd-*.deb; do dpkg-deb -x "$deb" "$work/debs"; done
cp "$work"/debs/usr/bin/{etcd,etcdctl,etcdutl} "$work/etcd/"
rm -rf "$work/debs" "$root"/tmp/*.deb "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin

# What Flatcar's own root has and Debian's lacks.
cat >"$root/usr/lib/os-release" <<'RELEASE'
NAME="Debian posing as Flatcar Container Linux (kindling boot test)"
ID=flatcar
ID_LIKE=coreos
VERSION=4230.2.3
VERSION_ID=4230.2.3
PRETTY_NAME="Debian trixie posing as Flatcar 4230.2.3"
SYSEXT_LEVEL=1.0
RELEASE
# Flatcar's etcd user and group are 232; its core user is 500.
echo 'etcd:x:232:232:etcd user:/dev/null:/sbin/nologin' >>"$root/etc/passwd"
echo 'etcd:x:232:' >>"$root/etc/group"
echo 'etcd:!*:20000::::::' >>"$root/etc/shadow"
echo 'etcd:!::' >>"$root/etc/gshadow"
chroot "$root" useradd -K UID_MIN=500 --uid 500 --user-group --create-home --shell /bin/bash core
# Debian's Ignition relabels for SELinux after writing and reads this file to know how.
mkdir -p "$root/etc/selinux"
printf 'SELINUX=disabled\nSELINUXTYPE=targeted\n' >"$root/etc/selinux/config"

# First boot: systemd applies presets (Ignition enables units by writing one) when the
# machine id is "uninitialized"; each node gets its own id then.
echo uninitialized >"$root/etc/machine-id"
ln -sf /etc/machine-id "$root/var/lib/dbus/machine-id"
# It would prompt on a console the container does not have.
ln -sf /dev/null "$root/etc/systemd/system/systemd-firstboot.service"

# Flatcar ships iptables (the nf_tables backend) with Gentoo's restore units, which Gentoo
# dropped and Flatcar keeps (coreos-overlay's net-firewall/iptables ebuild): they load
# /var/lib/iptables/rules-save and /var/lib/ip6tables/rules-save early at boot, and a config
# enables them. Debian's iptables has no such units: these are modeled on Gentoo's.
for family in iptables ip6tables; do
  cat >"$root/usr/lib/systemd/system/$family-restore.service" <<UNIT
[Unit]
Description=Restore $family firewall rules
# if both are queued for some reason, don't store before restoring :)
Before=$family-store.service
# sounds reasonable to have firewall up before any of the services go up
Before=network-pre.target
Wants=network-pre.target
Conflicts=shutdown.target

[Service]
Type=oneshot
ExecStart=/sbin/$family-restore /var/lib/$family/rules-save

[Install]
WantedBy=basic.target
UNIT
  mkdir -p "$root/var/lib/$family"
done
# Off unless a config enables them, as on Flatcar (Debian's presets would enable them at first
# boot). The name sorts after Ignition's 20-ignition.preset, whose `enable` then wins.
mkdir -p "$root/usr/lib/systemd/system-preset"
printf 'disable iptables-restore.service\ndisable ip6tables-restore.service\n' \
  >"$root/usr/lib/systemd/system-preset/90-kindling-boot-test-firewall.preset"

# Flatcar merges sysexts at boot; Debian does not enable the service.
mkdir -p "$root/etc/systemd/system-preset"
printf 'enable systemd-sysext.service\nenable kindling-boot-test-loop-devices.service\n' \
  >"$root/etc/systemd/system-preset/10-flatcar.preset"

# Only in the test: a container's /dev has no loop devices. The nodes get /dev/loop-control
# bound in, and this creates the nodes systemd-sysext attaches images to.
cat >"$root/etc/systemd/system/kindling-boot-test-loop-devices.service" <<'UNIT'
[Unit]
Description=Loop device nodes for systemd-sysext (kindling boot test: nspawn's /dev has none)
DefaultDependencies=no
Before=systemd-sysext.service
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'for i in $(seq 0 255); do [ -e /dev/loop$i ] || mknod -m 0660 /dev/loop$i b 7 $i; done'

[Install]
WantedBy=sysinit.target
UNIT
# Only in the test: systemd's default start timeout is 20 s instead of 90, so that a test can
# show a member waiting for its peers past it without waiting a minute and a half.
mkdir -p "$root/etc/systemd/system.conf.d"
printf '[Manager]\nDefaultTimeoutStartSec=20s\n' >"$root/etc/systemd/system.conf.d/kindling-boot-test.conf"
# Only in the test: stands in for Flatcar's zz-default.network (DHCP on every link). The lab
# sets a node's address from outside, as a DHCP server would, and networkd keeps it; a
# config's own .network file (static addressing) sorts first and wins.
cat >"$root/etc/systemd/network/zz-kindling-boot-test.network" <<'NETWORK'
[Match]
Name=eth0

[Network]
KeepConfiguration=yes
LinkLocalAddressing=no
IPv6AcceptRA=no
NETWORK
# Only in the test: sysupdate's units skip containers; a Flatcar VM runs them.
for unit in systemd-sysupdate.service systemd-sysupdate.timer; do
  mkdir -p "$root/etc/systemd/system/$unit.d"
  printf '[Unit]\nConditionVirtualization=\n' >"$root/etc/systemd/system/$unit.d/00-kindling-boot-test.conf"
done

mv "$work" "$out.done"
rm -rf "$out"
mv "$out.done" "$out"
