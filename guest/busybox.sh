#!/bin/bash
# guest/busybox.sh VERSION FRAGMENT WORKDIR JOBS - build a static busybox.
#
# Fetches Debian's busybox source package at exactly VERSION (apt-get source,
# Debian patches applied by dpkg-source), configures it with `make defconfig`
# plus FRAGMENT, checks the fragment's options survived, and cross-builds it
# with riscv64-linux-gnu-gcc.  Output: WORKDIR/out/busybox and
# WORKDIR/out/busybox.links (one applet path per line).
set -euo pipefail
version=$1 frag=$2 work=$3 jobs=$4
cross=riscv64-linux-gnu-

mkdir -p "$work/src" "$work/build"
cd "$work/src"
apt-get source -q "busybox=$version"
src=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'busybox-*' | head -n 1)
[ -n "$src" ] || { echo "busybox.sh: no source tree after apt-get source" >&2; exit 1; }

cd "$work/build"
make -C "$src" O="$work/build" CROSS_COMPILE=$cross defconfig
# Apply the fragment: drop existing lines for each named option, append ours.
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*) name=${line%%=*} ;;
	"# CONFIG_"*" is not set") name=${line#\# }; name=${name%% *} ;;
	*) continue ;;
	esac
	sed -i -e "/^$name=/d" -e "/^# $name is not set/d" .config
	echo "$line" >>.config
done <"$frag"
{ yes "" || true; } | make CROSS_COMPILE=$cross oldconfig >/dev/null
while IFS= read -r line; do
	grep -qxF "$line" .config || { echo "busybox.sh: option lost: $line" >&2; exit 1; }
done < <(grep -E '^CONFIG_[A-Za-z0-9_]+=' "$frag")

make -j"$jobs" CROSS_COMPILE=$cross busybox busybox.links
if ${cross}readelf -l busybox | grep -q INTERP; then
	echo "busybox.sh: busybox is not statically linked" >&2
	exit 1
fi
mkdir -p "$work/out"
cp busybox busybox.links "$work/out/"
