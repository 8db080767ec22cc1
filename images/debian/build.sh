#!/bin/bash
# images/debian/build.sh - build (or find cached) the Debian 12 container
# image, an OCI image layout made with debootstrap from Debian's archive.
#
# Produces, in ${IMAGE_CACHE:-/var/cache/vessel/images}/<hash>/:
#   oci/        the OCI image layout (oci-layout, index.json, blobs/sha256/):
#               one gzip layer, a config with Env PATH and Cmd ["/bin/bash"];
#               the index names the manifest "bookworm" (oci:DIR:bookworm)
#   packages    "name version" of every package in the image (dpkg's view)
#   manifest    recipe hash, mirror, suite, build time, blob digests
#   build.log   the debootstrap log
#
# The rootfs: `debootstrap --variant=minbase bookworm` from the mirror apt is
# configured with on this machine (apt-get indextargets: the bookworm main
# index of /etc/apt/sources.list{,.d}), then finish.sh (logs, caches, apt
# lists, /dev contents and host files removed, dates fixed).  The layer:
# GNU tar with sorted names, one fixed mtime, numeric owners and no
# atime/ctime, compressed with `gzip -n`: the same tree always gives the same
# digests.
#
# Cache key (<hash>): sha256 of the recipe (images/debian/*, images/mklayer.sh,
# images/oci-layout.py)
# and of the "name version" list of the packages debootstrap installs,
# resolved by packages.py from apt's local copy of the mirror's index (no
# network, no date).  A complete directory is only ever created by a
# rename(2) of a finished temporary directory, so an interrupted build never
# leaves a half cache.  If the mirror has moved on since the last
# `apt-get update` the image holds the newer versions: the build says so and
# records them in `packages`.
#
# Usage: images/debian/build.sh            build if needed, print the directory
#                                           (the only line on stdout; progress on stderr)
#        images/debian/build.sh --print-dir print the directory, exit 1 if not built
#        images/debian/build.sh --force     rebuild even when cached
set -euo pipefail
trap 'echo "images/debian: error: command failed at build.sh line $LINENO" >&2' ERR

SRC=$(cd "$(dirname "$0")" && pwd)
IMAGES=$(dirname "$SRC")
IMAGE_CACHE=${IMAGE_CACHE:-/var/cache/vessel/images}
SUITE=bookworm
# Every file's mtime in the layer: 2023-06-10T00:00:00Z, Debian 12.0's release.
EPOCH=1686355200
export LC_ALL=C SOURCE_DATE_EPOCH=$EPOCH

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
	echo "images/debian: error: $*" >&2
	exit 1
}

ARCH=$(dpkg --print-architecture)
case "$ARCH" in
amd64 | arm64 | riscv64 | ppc64el | s390x) OCI_ARCH=$ARCH ;;
i386) OCI_ARCH=386 ;;
armhf) OCI_ARCH=arm ;;
*) die "architecture $ARCH has no OCI name here" ;;
esac

# The mirror and apt's local copy of its bookworm main index.
read -r MIRROR INDEX < <(apt-get indextargets --format '$(REPO_URI) $(FILENAME)' \
	'Created-By: Packages' "Release: $SUITE" 'Component: main' "Architecture: $ARCH" |
	head -n 1) || true
[ -n "${MIRROR:-}" ] ||
	die "no '$SUITE main' entry for $ARCH in apt's sources (/etc/apt/sources.list{,.d}); add Debian's archive there"
[ -r "$INDEX" ] || die "apt has no index for $MIRROR $SUITE (run apt-get update)"

# debootstrap adds ca-certificates for an https mirror
EXTRA=
case "$MIRROR" in https://*) EXTRA=ca-certificates ;; esac
VERSIONS=$(/usr/lib/apt/apt-helper cat-file "$INDEX" | python3 "$SRC/packages.py" $EXTRA)

RECIPE_FILES=(debian/build.sh debian/packages.py debian/finish.sh debian/config.json
	mklayer.sh oci-layout.py)
RECIPE_HASH=$( (
	cd "$IMAGES"
	sha256sum "${RECIPE_FILES[@]}"
	echo "suite $SUITE arch $ARCH"
	echo "$VERSIONS"
) | sha256sum | cut -c1-16)
OUT=$IMAGE_CACHE/$RECIPE_HASH

done_already() { [ -f "$OUT/manifest" ] && [ -f "$OUT/oci/index.json" ]; }

if [ "$mode" = print ]; then
	done_already && echo "$OUT" && exit 0
	exit 1
fi
if [ "$mode" = build ] && done_already; then
	echo "$OUT"
	exit 0
fi

# ---------------------------------------------------------------- build ---
[ "$(id -u)" = 0 ] || die "debootstrap needs root (run make as root)"
command -v debootstrap >/dev/null || die "debootstrap is not installed (see deps/images.txt)"
mkdir -p "$IMAGE_CACHE"
exec 9>"$IMAGE_CACHE/.lock"
flock 9
if [ "$mode" = build ] && done_already; then # built while we waited
	echo "$OUT"
	exit 0
fi
# Holding the lock, any tmp.* directory is left over from a killed build.
rm -rf "$IMAGE_CACHE"/tmp.*

WORK=$(mktemp -d "$IMAGE_CACHE/tmp.XXXXXX")
cleanup() {
	# debootstrap may leave /proc or /sys mounted in the target when killed
	local m
	for m in $(awk -v w="$WORK/" 'index($2, w) == 1 {print $2}' /proc/self/mounts | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
LOG=$WORK/build.log
: >"$LOG"

# The archive must answer before debootstrap starts (its own failure is a
# long log); apt's helper uses apt's proxy settings, like apt does.
echo "images/debian: $SUITE from $MIRROR, key $RECIPE_HASH" >&2
if ! /usr/lib/apt/apt-helper -o APT::Sandbox::User=root download-file "${MIRROR%/}/dists/$SUITE/InRelease" \
	"$WORK/InRelease" >>"$LOG" 2>&1; then
	tail -n 5 "$LOG" >&2
	die "cannot reach Debian's archive at $MIRROR (needed once to build the Debian 12 image; it is cached afterwards)"
fi

t0=$(date +%s)
printf 'images/debian: debootstrap --variant=minbase (a few minutes, once) ... ' >&2
if ! debootstrap --variant=minbase --arch="$ARCH" "$SUITE" "$WORK/rootfs" "$MIRROR" \
	>>"$LOG" 2>&1; then
	echo "FAILED" >&2
	tail -n 30 "$LOG" >&2
	[ -f "$WORK/rootfs/debootstrap/debootstrap.log" ] &&
		tail -n 30 "$WORK/rootfs/debootstrap/debootstrap.log" >&2
	die "debootstrap failed (is $MIRROR reachable?)"
fi
t1=$(date +%s)
echo "$((t1 - t0)) s" >&2

# What was installed, against what the key promised.
chroot "$WORK/rootfs" dpkg-query -W -f='${Package} ${Version}\n' | sort >"$WORK/packages"
if ! diff -u <(echo "$VERSIONS") "$WORK/packages" >"$WORK/packages.diff"; then
	echo "images/debian: warning: the installed packages differ from apt's index on this machine" >&2
	echo "  (the mirror moved on since the last apt-get update?); recorded in packages.diff:" >&2
	grep '^[-+][^-+]' "$WORK/packages.diff" | head -n 20 >&2 || true
fi

"$SRC/finish.sh" "$WORK/rootfs" "$EPOCH" >>"$LOG" 2>&1 || die "finish.sh failed (log: $LOG)"

# The layer (mklayer.sh): names sorted, fixed mtime, numeric owners, no
# atime/ctime; hard links stay links, modes and owners as dpkg left them.
printf 'images/debian: layer ... ' >&2
"$IMAGES/mklayer.sh" "$WORK/rootfs" "$EPOCH" "$WORK/layer.tar"
gzip -n -c "$WORK/layer.tar" >"$WORK/layer.tar.gz"
echo "$(($(stat -c %s "$WORK/layer.tar.gz") / 1048576)) MiB" >&2

sed "s/@OCI_ARCH@/$OCI_ARCH/" "$SRC/config.json" >"$WORK/config.json"
mkdir -p "$WORK/result"
python3 "$IMAGES/oci-layout.py" "$WORK/result/oci" "$WORK/layer.tar" "$WORK/layer.tar.gz" \
	"$WORK/config.json" "$SUITE"
cp "$WORK/packages" "$WORK/result/packages"
[ -s "$WORK/packages.diff" ] && cp "$WORK/packages.diff" "$WORK/result/packages.diff"
{
	echo "recipe $RECIPE_HASH"
	echo "image debian-12 $SUITE $ARCH"
	echo "mirror $MIRROR"
	echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "debootstrap $((t1 - t0))s"
	echo "layer $(sha256sum "$WORK/layer.tar.gz" | cut -d' ' -f1)"
	echo "diff_id $(sha256sum "$WORK/layer.tar" | cut -d' ' -f1)"
} >"$WORK/result/manifest"
cp "$LOG" "$WORK/result/build.log"

rm -rf "$OUT.old"
[ -e "$OUT" ] && mv "$OUT" "$OUT.old"
mv "$WORK/result" "$OUT"
rm -rf "$OUT.old"

# Keep the 3 newest Debian builds (other checkouts may use older recipes);
# other images in the cache are not ours to prune.
grep -l '^image debian-12 ' "$IMAGE_CACHE"/*/manifest 2>/dev/null | xargs -r -n1 dirname |
	xargs -r stat -c '%Y %n' | sort -rn | tail -n +4 | cut -d' ' -f2- | xargs -r rm -rf
echo "$OUT"
