#!/bin/bash
# images/debian/finish.sh ROOTFS EPOCH - turn a fresh debootstrap tree into
# a container image tree.
#
# Removes what a container runtime provides or what records the build
# machine and day: the contents of /dev, /proc, /sys, /run and /tmp (the
# runtime mounts /dev, /proc, /sys and friends; OCI layers may carry device
# nodes, but the runtime spec makes the runtime create /dev/null & co., so
# the image carries none), the host's /etc/resolv.conf and /etc/hostname
# copied by debootstrap, apt's downloaded lists and package caches, logs,
# debconf/dpkg "-old" backups, the ldconfig aux cache and debootstrap's own
# files.  Dates that debootstrap writes into files (the "last password
# change" field of /etc/shadow) are set to EPOCH, so the tree depends only
# on the packages.
set -euo pipefail
root=$1 epoch=$2
[ -d "$root/var/lib/dpkg" ] || { echo "finish.sh: $root is not a Debian tree" >&2; exit 1; }

rm -rf "$root/debootstrap"
for d in dev proc sys run tmp; do
	find "$root/$d" -mindepth 1 -delete
done
chmod 1777 "$root/tmp"
rm -f "$root/etc/resolv.conf" "$root/etc/hostname"
rm -rf "$root/var/lib/apt/lists"/* "$root/var/cache/apt"/*.bin \
	"$root/var/cache/apt/archives"/*.deb "$root/var/cache/ldconfig/aux-cache"
mkdir -p "$root/var/lib/apt/lists/partial" "$root/var/cache/apt/archives/partial"
find "$root/var/log" -type f -delete
rm -f "$root/var/cache/debconf"/*-old "$root/var/lib/dpkg"/*-old \
	"$root/etc"/{passwd,group,shadow,gshadow,subuid,subgid}-

# /etc/shadow field 3: days since 1970 of the last password change.
days=$((epoch / 86400))
if [ -f "$root/etc/shadow" ]; then
	awk -F: -v OFS=: -v d="$days" '$3 != "" {$3 = d} {print}' "$root/etc/shadow" >"$root/etc/shadow.new"
	chmod --reference="$root/etc/shadow" "$root/etc/shadow.new"
	chown --reference="$root/etc/shadow" "$root/etc/shadow.new"
	mv "$root/etc/shadow.new" "$root/etc/shadow"
fi
echo "finish.sh: done"
