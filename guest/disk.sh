#!/bin/bash
# guest/disk.sh TREE RECIPE OUTDIR - make the guest ext4 disk as qcow2.
#
# The disk holds the same tree as the initramfs (so it can also be booted
# with root=/dev/vda init=/init) plus /vessel-disk, a marker file the tests
# read back.  mkfs.ext4 -d fills the file system from the host without
# mounting; qemu-img converts the raw image to OUTDIR/disk.qcow2.
set -euo pipefail
tree=$1 recipe=$2 outdir=$3
size=${GUEST_DISK_SIZE:-64M}

echo "vessel guest disk, recipe $recipe" >"$tree/vessel-disk"
raw=$outdir/disk.raw
rm -f "$raw"
# Fixed UUID, timestamps and hash seed keep the image reproducible.
uuid=$(echo "$recipe" | sha256sum | sed -E 's/^(.{8})(.{4}).(.{3}).(.{3})(.{12}).*/\1-\2-4\3-8\4-\5/')
E2FSPROGS_FAKE_TIME=1 SOURCE_DATE_EPOCH=1 mkfs.ext4 -q -F -L vessel -U "$uuid" \
	-E root_owner=0:0,hash_seed="$uuid" -d "$tree" "$raw" "$size"
e2fsck -fn "$raw"
qemu-img convert -f raw -O qcow2 "$raw" "$outdir/disk.qcow2"
qemu-img check "$outdir/disk.qcow2"
rm -f "$raw" "$tree/vessel-disk"
