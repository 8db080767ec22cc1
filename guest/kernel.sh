#!/bin/bash
# guest/kernel.sh FRAGMENT WORKDIR JOBS - build the guest Linux kernel.
#
# Unpacks Debian's linux-source-6.1 into WORKDIR, configures it with
# `tinyconfig` plus FRAGMENT (merged with scripts/kconfig/merge_config.sh,
# completed by `make olddefconfig`), checks that every option the fragment
# sets survived Kconfig, and builds arch/riscv/boot/Image.
# Output: WORKDIR/out/Image and WORKDIR/out/kernel.config.
set -euo pipefail
frag=$1 work=$2 jobs=$3
export ARCH=riscv CROSS_COMPILE=riscv64-linux-gnu-

tar -C "$work" -xf /usr/src/linux-source-6.1.tar.xz
src=$work/linux-source-6.1
cd "$src"
make -s tinyconfig
scripts/kconfig/merge_config.sh -m .config "$frag"
make -s olddefconfig

# Every "CONFIG_X=value" line of the fragment must be in the final config.
missing=0
while IFS= read -r line; do
	if ! grep -qxF "$line" .config; then
		name=${line%%=*}
		echo "kernel.sh: option lost by Kconfig: $line (final: $(grep -E "^$name=|^# $name is not set" .config || echo absent))" >&2
		missing=1
	fi
done < <(grep -E '^CONFIG_[A-Za-z0-9_]+=' "$frag")
# ... and every "# CONFIG_X is not set" line must not have come back.
while IFS= read -r name; do
	if grep -qE "^$name=" .config; then
		echo "kernel.sh: option forced on by Kconfig: $(grep -E "^$name=" .config)" >&2
		missing=1
	fi
done < <(sed -nE 's/^# (CONFIG_[A-Za-z0-9_]+) is not set$/\1/p' "$frag")
[ "$missing" = 0 ] || exit 1

make -j"$jobs" Image
mkdir -p "$work/out"
cp arch/riscv/boot/Image "$work/out/Image"
cp .config "$work/out/kernel.config"
rm -rf "$src"
