#!/bin/bash
# guest/kernel-defconfig.sh WORKDIR JOBS - build the distribution-sized kernel.
#
# Unpacks Debian's linux-source-6.1 into WORKDIR, configures it with the
# stock riscv `defconfig` (unchanged: the configuration a distribution starts
# from, with its drivers, SBI extensions, PMU driver and paging-mode probing)
# and builds arch/riscv/boot/Image.  Modules (=m) are not built: the guest
# boots the recipe's busybox initramfs, which needs none of them.
# Output: WORKDIR/out/Image and WORKDIR/out/kernel.config.
set -euo pipefail
work=$1 jobs=$2
export ARCH=riscv CROSS_COMPILE=riscv64-linux-gnu-

tar -C "$work" -xf /usr/src/linux-source-6.1.tar.xz
src=$work/linux-source-6.1
cd "$src"
make -s defconfig
make -j"$jobs" Image
mkdir -p "$work/out"
cp arch/riscv/boot/Image "$work/out/Image"
cp .config "$work/out/kernel.config"
rm -rf "$src"
