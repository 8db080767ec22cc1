#!/bin/bash
# guest/build-defconfig.sh - build (or find cached) the distribution-sized
# guest kernel: Linux 6.1 (linux-source-6.1) with the stock riscv `defconfig`.
#
# An optional artifact next to guest/build.sh's images: it boots the same
# busybox initramfs (guest/build.sh's directory) and is what the
# vm-boot-defconfig tests and bench/guest-cpu, bench/smp use.  It is cached
# on its own as $GUEST_CACHE/parts/defconfig-<hash>/{Image,
# kernel.config,build-time}, <hash> being the sha256 of kernel-defconfig.sh
# and of the toolchain/source package versions, so it never invalidates (or
# is invalidated by) the small recipe kernel.  Like build.sh, a part
# directory only appears by a rename(2) of a finished build; its own lock
# (.lock-defconfig) lets the small images build meanwhile.
#
# The build takes long (an hour of one core or more): `make guest` runs it
# after the small images; GUEST_DEFCONFIG=0 skips it there.
#
# Usage: guest/build-defconfig.sh            build if needed, print the directory
#        guest/build-defconfig.sh --print-dir print the directory, exit 1 if not built
#        guest/build-defconfig.sh --force     rebuild even when cached
set -euo pipefail
trap 'echo "guest-defconfig: error: command failed at line $LINENO" >&2' ERR

GUEST_SRC=$(cd "$(dirname "$0")" && pwd)
GUEST_CACHE=${GUEST_CACHE:-/var/cache/vessel/guest}
JOBS=${GUEST_JOBS:-2}
export LC_ALL=C

mode=build
case "${1:-}" in
--print-dir) mode=print ;;
--force) mode=force ;;
"") ;;
*)
	echo "usage: $0 [--print-dir|--force]" >&2
	exit 2
	;;
esac

die() {
	echo "guest-defconfig: error: $*" >&2
	exit 1
}

pkg_version() {
	dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true
}

VERSIONS=$(for p in linux-source-6.1 gcc-riscv64-linux-gnu gcc-12-riscv64-linux-gnu \
	binutils-riscv64-linux-gnu; do echo "$p $(pkg_version "$p")"; done)
HASH=$( (
	cd "$GUEST_SRC"
	sha256sum kernel-defconfig.sh
	echo "$VERSIONS"
) | sha256sum | cut -c1-16)
OUT=$GUEST_CACHE/parts/defconfig-$HASH

if [ "$mode" != force ] && [ -f "$OUT/Image" ]; then
	echo "$OUT"
	exit 0
fi
[ "$mode" = print ] && exit 1
for p in linux-source-6.1 gcc-riscv64-linux-gnu; do
	[ -n "$(pkg_version "$p")" ] || die "package $p not installed (see deps/guest.txt)"
done

mkdir -p "$GUEST_CACHE/parts"
exec 9>"$GUEST_CACHE/.lock-defconfig"
flock 9
if [ "$mode" = build ] && [ -f "$OUT/Image" ]; then # built while we waited
	echo "$OUT"
	exit 0
fi
rm -rf "$GUEST_CACHE"/tmp-defconfig.*
WORK=$(mktemp -d "$GUEST_CACHE/tmp-defconfig.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
LOG=$GUEST_CACHE/build-defconfig.log
echo "guest-defconfig: building defconfig-$HASH with $JOBS jobs (log: $LOG)" >&2
t0=$(date +%s)
if ! "$GUEST_SRC/kernel-defconfig.sh" "$WORK" "$JOBS" >"$LOG" 2>&1; then
	tail -n 30 "$LOG" >&2
	die "kernel build failed (full log: $LOG)"
fi
t1=$(date +%s)
echo "kernel-defconfig $((t1 - t0))s" >"$WORK/out/build-time"
echo "$VERSIONS" >"$WORK/out/versions"
rm -rf "$OUT.old"
[ -e "$OUT" ] && mv "$OUT" "$OUT.old"
mv "$WORK/out" "$OUT"
rm -rf "$OUT.old"
# Keep the 2 newest defconfig kernels.
find "$GUEST_CACHE/parts" -mindepth 1 -maxdepth 1 -type d -name 'defconfig-*' \
	-printf '%T@ %p\n' | sort -rn | tail -n +3 | cut -d' ' -f2- | xargs -r rm -rf
echo "guest-defconfig: built in $((t1 - t0)) s" >&2
echo "$OUT"
