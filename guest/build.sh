#!/bin/bash
# guest/build.sh - build (or find cached) RISC-V guest images for vessel.
#
# Produces, with Debian's riscv64 cross toolchain and Debian's sources only:
#   Image               Linux 6.1 (linux-source-6.1), tinyconfig + kernel.config
#   kernel.config       the full .config the Image was built from
#   initramfs.cpio.gz   static busybox (Debian busybox source) + guest/rootfs
#   disk.qcow2          ext4 file system of the same tree (+ /vessel-disk), qcow2
#   busybox             the static busybox binary
#   (both trees hold /sbin/vessel-agent, the guest agent from guest/agent/)
#   manifest            recipe hash, package versions, build times
#
# Cache: ${GUEST_CACHE:-/var/cache/vessel/guest}/<hash>/, where <hash> is the
# sha256 of the recipe files under guest/ (RECIPE_FILES) plus the versions
# of the Debian packages that go into the images.  A complete directory is
# only ever created by a rename(2) of a finished temporary directory, so an
# interrupted build never leaves a half cache.  The kernel and busybox are cached separately as well
# (parts/kernel-<h>, parts/busybox-<h>, keyed by their own recipe files) so
# that editing the init script does not rebuild the kernel.
#
# Usage: guest/build.sh            build if needed, print the directory
#                                   (the only line on stdout; progress on stderr)
#        guest/build.sh --print-dir print the directory, exit 1 if not built
#        guest/build.sh --force     rebuild even when cached
set -euo pipefail
trap 'echo "guest: error: command failed at build.sh line $LINENO" >&2' ERR

GUEST_SRC=$(cd "$(dirname "$0")" && pwd)
GUEST_CACHE=${GUEST_CACHE:-/var/cache/vessel/guest}
JOBS=${GUEST_JOBS:-2}
export ARCH=riscv CROSS_COMPILE=riscv64-linux-gnu-
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
	echo "guest: error: $*" >&2
	exit 1
}

pkg_version() {
	dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true
}

# The busybox source version apt-get source would fetch (highest listed).
busybox_src_version() {
	apt-cache showsrc busybox 2>/dev/null | awk '/^Version:/ {print $2}' |
		sort -V | tail -n 1
}

# Versions of every Debian input; an empty field means "not available".
versions() {
	local p
	for p in linux-source-6.1 gcc-riscv64-linux-gnu gcc-12-riscv64-linux-gnu \
		libc6-dev-riscv64-cross binutils-riscv64-linux-gnu; do
		echo "$p $(pkg_version "$p")"
	done
	echo "busybox-source $(busybox_src_version)"
}

# sha256 over the named files (relative to guest/) and extra text on stdin.
hash_of() {
	(
		cd "$GUEST_SRC"
		for f in "$@"; do
			find "$f" -type f -print0 | sort -z | xargs -0 sha256sum
		done
		cat
	) | sha256sum | cut -c1-16
}

# The recipe: every file that goes into the images (not run.sh, a helper).
RECIPE_FILES=(build.sh kernel.sh kernel.config busybox.sh busybox.config
	rootfs.sh rootfs agent mkcpio.py disk.sh)
VERSIONS=$(versions)
# Full recipe hash: the recipe files plus every package version.
RECIPE_HASH=$(echo "$VERSIONS" | hash_of "${RECIPE_FILES[@]}")
OUT=$GUEST_CACHE/$RECIPE_HASH

if [ "$mode" = print ]; then
	if [ -f "$OUT/manifest" ] && ! echo "$VERSIONS" | grep -q ' $'; then
		echo "$OUT"
		exit 0
	fi
	exit 1
fi

if [ "$mode" = build ] && [ -f "$OUT/manifest" ] &&
	! echo "$VERSIONS" | grep -q ' $'; then
	echo "$OUT"
	exit 0
fi

# ---------------------------------------------------------------- build ---
mkdir -p "$GUEST_CACHE/parts"
exec 9>"$GUEST_CACHE/.lock"
flock 9
# Holding the lock, any tmp.* directory is left over from a killed build.
rm -rf "$GUEST_CACHE"/tmp.*

# A busybox source needs a deb-src entry; add one mirroring debian.sources.
ensure_deb_src() {
	[ -n "$(busybox_src_version)" ] && return 0
	local src=/etc/apt/sources.list.d/vessel-src.sources
	if [ ! -f "$src" ]; then
		[ "$(id -u)" = 0 ] || die "need root to add $src (deb-src for busybox)"
		[ -f /etc/apt/sources.list.d/debian.sources ] ||
			die "no /etc/apt/sources.list.d/debian.sources to mirror for deb-src"
		sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$src"
		echo "guest: added $src" >&2
	fi
	echo "guest: apt-get update (deb-src lists)" >&2
	apt-get update -q >/dev/null || die "apt-get update failed"
	[ -n "$(busybox_src_version)" ] || die "no busybox source package in apt lists"
}
ensure_deb_src
for p in linux-source-6.1 gcc-riscv64-linux-gnu libc6-dev-riscv64-cross; do
	[ -n "$(pkg_version "$p")" ] || die "package $p not installed (see deps/guest.txt)"
done
VERSIONS=$(versions)
RECIPE_HASH=$(echo "$VERSIONS" | hash_of "${RECIPE_FILES[@]}")
OUT=$GUEST_CACHE/$RECIPE_HASH
if [ "$mode" = build ] && [ -f "$OUT/manifest" ]; then
	echo "$OUT"
	exit 0
fi

WORK=$(mktemp -d "$GUEST_CACHE/tmp.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
LOG=$GUEST_CACHE/build.log
: >"$LOG"
echo "guest: building $RECIPE_HASH (log: $LOG)" >&2

# step NAME CMD...: run with output to the log, print one line with timing.
TIMES=""
step() {
	local name=$1 t0 t1
	shift
	t0=$(date +%s)
	printf 'guest: %-10s ... ' "$name" >&2
	echo "=== $name: $*" >>"$LOG"
	if ! "$@" >>"$LOG" 2>&1; then
		echo "FAILED" >&2
		tail -n 30 "$LOG" >&2
		die "$name failed (full log: $LOG)"
	fi
	t1=$(date +%s)
	echo "$((t1 - t0)) s" >&2
	LAST_STEP_TIME="$((t1 - t0))s"
	TIMES="$TIMES$name $LAST_STEP_TIME"$'\n'
}

# Component caches: a part directory is also created by rename only.
part_dir() { echo "$GUEST_CACHE/parts/$1-$2"; }

KERNEL_HASH=$(grep -E '^(linux-source|gcc|libc6|binutils)' <<<"$VERSIONS" |
	hash_of kernel.sh kernel.config)
KDIR=$(part_dir kernel "$KERNEL_HASH")
if [ "$mode" = force ] || [ ! -f "$KDIR/Image" ]; then
	mkdir -p "$WORK/kernel"
	step kernel "$GUEST_SRC/kernel.sh" "$GUEST_SRC/kernel.config" "$WORK/kernel" "$JOBS"
	echo "kernel $LAST_STEP_TIME" >"$WORK/kernel/out/build-time"
	rm -rf "$KDIR"
	mv "$WORK/kernel/out" "$KDIR"
else
	echo "guest: kernel     cached ($KDIR)" >&2
	TIMES="${TIMES}kernel cached, built in $(cut -d' ' -f2 "$KDIR/build-time" 2>/dev/null || echo "?")"$'\n'
fi

BUSYBOX_HASH=$(grep -E '^(busybox|gcc|libc6|binutils)' <<<"$VERSIONS" |
	hash_of busybox.sh busybox.config)
BDIR=$(part_dir busybox "$BUSYBOX_HASH")
if [ "$mode" = force ] || [ ! -f "$BDIR/busybox" ]; then
	mkdir -p "$WORK/busybox"
	step busybox "$GUEST_SRC/busybox.sh" "$(busybox_src_version)" \
		"$GUEST_SRC/busybox.config" "$WORK/busybox" "$JOBS"
	echo "busybox $LAST_STEP_TIME" >"$WORK/busybox/out/build-time"
	rm -rf "$BDIR"
	mv "$WORK/busybox/out" "$BDIR"
else
	echo "guest: busybox    cached ($BDIR)" >&2
	TIMES="${TIMES}busybox cached, built in $(cut -d' ' -f2 "$BDIR/build-time" 2>/dev/null || echo "?")"$'\n'
fi

mkdir -p "$WORK/result"
cp "$KDIR/Image" "$KDIR/kernel.config" "$BDIR/busybox" "$WORK/result/"
step rootfs "$GUEST_SRC/rootfs.sh" "$GUEST_SRC" "$BDIR" "$WORK/tree"
step initramfs python3 "$GUEST_SRC/mkcpio.py" "$WORK/tree" "$WORK/result/initramfs.cpio.gz"
step disk "$GUEST_SRC/disk.sh" "$WORK/tree" "$RECIPE_HASH" "$WORK/result"

{
	echo "recipe $RECIPE_HASH"
	echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "$VERSIONS"
	printf '%s' "$TIMES"
	(cd "$WORK/result" && sha256sum Image initramfs.cpio.gz busybox)
} >"$WORK/result/manifest"
cp "$LOG" "$WORK/result/build.log"

rm -rf "$OUT.old"
[ -e "$OUT" ] && mv "$OUT" "$OUT.old"
mv "$WORK/result" "$OUT"
rm -rf "$OUT.old"

# Keep the 3 newest builds of each kind (other checkouts may use older
# recipes); drop the rest.
prune() {
	local dir=$1 pattern=$2
	find "$dir" -mindepth 1 -maxdepth 1 -type d -name "$pattern" -printf '%T@ %p\n' |
		sort -rn | tail -n +4 | cut -d' ' -f2- | xargs -r rm -rf
}
prune "$GUEST_CACHE" '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'
prune "$GUEST_CACHE/parts" 'kernel-*'
prune "$GUEST_CACHE/parts" 'busybox-*'
echo "$OUT"
