#!/bin/bash
# guest/run.sh - boot the cached guest interactively (for demos and by hand).
#
#   guest/run.sh [--qemu] [--cpus N] [--mem SIZE] [--disk] [--root-disk]
#
# Uses vessel-vmm (VESSEL_VMM, default build/cmd/vessel-vmm/vessel-vmm) or,
# with --qemu, qemu-system-riscv64 -M virt.  --disk attaches a scratch copy
# of disk.qcow2 as /dev/vda; --root-disk also boots from it
# (root=/dev/vda).  The copy is deleted on exit; the cache is never written.
# Quit: `poweroff` in the guest (or Ctrl-A x).  Not part of the image recipe.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
vmm=vessel cpus=2 mem=256M disk=no rootdisk=no
while [ $# -gt 0 ]; do
	case "$1" in
	--qemu) vmm=qemu ;;
	--cpus) cpus=$2; shift ;;
	--mem) mem=$2; shift ;;
	--disk) disk=yes ;;
	--root-disk) disk=yes rootdisk=yes ;;
	*) echo "usage: $0 [--qemu] [--cpus N] [--mem SIZE] [--disk] [--root-disk]" >&2; exit 2 ;;
	esac
	shift
done
G=$("$root/guest/build.sh" --print-dir) || { echo "guest images not built: run guest/build.sh" >&2; exit 1; }
append="console=ttyS0"
tmp=""
if [ "$disk" = yes ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	cp "$G/disk.qcow2" "$tmp/disk.qcow2"
	[ "$rootdisk" = yes ] && append="$append root=/dev/vda rw init=/init"
fi
if [ "$vmm" = qemu ]; then
	args=(-M virt -bios /usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin
		-kernel "$G/Image" -append "$append" -nographic -m "$mem" -smp "$cpus"
		-device virtio-rng-device)
	[ "$rootdisk" = yes ] || args+=(-initrd "$G/initramfs.cpio.gz")
	# shellcheck disable=SC2054 # commas belong to the QEMU option
	[ "$disk" = yes ] && args+=(-drive "if=none,id=d0,file=$tmp/disk.qcow2,format=qcow2"
		-device virtio-blk-device,drive=d0)
	qemu-system-riscv64 "${args[@]}"
else
	bin=${VESSEL_VMM:-$root/build/cmd/vessel-vmm/vessel-vmm}
	args=(--kernel "$G/Image" --append "$append" --mem "$mem" --cpus "$cpus")
	[ "$rootdisk" = yes ] || args+=(--initrd "$G/initramfs.cpio.gz")
	[ "$disk" = yes ] && args+=(--disk "$tmp/disk.qcow2,format=qcow2")
	"$bin" "${args[@]}"
fi
