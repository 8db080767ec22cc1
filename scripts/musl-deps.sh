#!/bin/bash
# scripts/musl-deps.sh - json-c, libseccomp and libcap as static musl
# libraries, for the musl build of vessel-runtime.
#
# Why: every program linked against glibc runs glibc's start-up code, which
# on x86 executes CPUID some 80 times to size the caches; on a virtual
# machine every CPUID traps to the hypervisor (about 7 us each on our CI
# hosts), so a static glibc program needs ~0.6 ms before main() - a fifth of
# a whole container `run`.  musl's start-up executes none.  The release
# build therefore links vessel-runtime with musl-gcc (Debian's musl-tools)
# against these three libraries, built here from Debian's own source
# packages at the versions of the installed -dev packages (so the musl and
# the glibc builds use the same library code).  The ASan build keeps glibc.
#
# The result is cached outside the tree in $MUSL_CACHE/<recipe hash>
# (default /var/cache/vessel/musl), keyed by this script and the three
# source versions; a warm machine skips the build.  Prints the prefix
# (include/, lib/, kernel-include/) on stdout; progress goes to stderr.
set -euo pipefail
MUSL_CACHE=${MUSL_CACHE:-/var/cache/vessel/musl}
die() { echo "musl-deps: $*" >&2; exit 1; }
for t in musl-gcc gperf cmake make dpkg-source apt-get; do
	command -v "$t" >/dev/null || die "$t not installed (see deps/ct.txt)"
done

# source package and version of each library, from the installed -dev package
src_of() { dpkg-query -W -f='${source:Package}=${source:Version}' "$1" 2>/dev/null; }
SRCS=()
for dev in libjson-c-dev libseccomp-dev libcap-dev; do
	s=$(src_of "$dev") || die "$dev not installed (see deps/ct.txt)"
	SRCS+=("$s")
done
HASH=$( (cat "$0"; printf '%s\n' "${SRCS[@]}"; musl-gcc -dumpversion) | sha256sum | cut -c1-16)
OUT=$MUSL_CACHE/$HASH
if [ -f "$OUT/.done" ]; then
	echo "$OUT"
	exit 0
fi

mkdir -p "$MUSL_CACHE"
exec 9>"$MUSL_CACHE/.lock"
flock 9
if [ -f "$OUT/.done" ]; then # built by another run while we waited
	echo "$OUT"
	exit 0
fi
rm -rf "$MUSL_CACHE"/tmp.*
WORK=$(mktemp -d "$MUSL_CACHE/tmp.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
PREFIX=$WORK/prefix
mkdir -p "$PREFIX/include/sys" "$PREFIX/lib" "$PREFIX/kernel-include" "$WORK/src"

# apt-get source needs deb-src entries: add them once, mirroring debian.sources
if ! apt-get source --print-uris -q "${SRCS[0]}" >/dev/null 2>&1; then
	list=/etc/apt/sources.list.d/vessel-src.sources
	if [ ! -f "$list" ]; then
		[ -f /etc/apt/sources.list.d/debian.sources ] ||
			die "no /etc/apt/sources.list.d/debian.sources to mirror for deb-src"
		sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$list"
		echo "musl-deps: added $list" >&2
	fi
	apt-get update -q >/dev/null || die "apt-get update failed"
fi
echo "musl-deps: building ${SRCS[*]} with musl-gcc" >&2
(cd "$WORK/src" && apt-get source -q "${SRCS[@]}" </dev/null >"$WORK/fetch.log" 2>&1) ||
	die "apt-get source ${SRCS[*]} failed: $(tail -3 "$WORK/fetch.log")"

# musl-gcc sees only musl's headers: give it the kernel's uapi headers
# (linux-libc-dev), which libseccomp and libcap include
triplet=$(gcc -print-multiarch)
ln -s /usr/include/linux "$PREFIX/kernel-include/linux"
ln -s /usr/include/asm-generic "$PREFIX/kernel-include/asm-generic"
ln -s "/usr/include/$triplet/asm" "$PREFIX/kernel-include/asm"
CC="musl-gcc -isystem $PREFIX/kernel-include"
log=$WORK/build.log
step() { # name, command...: run quietly, show the log's tail on failure
	local name=$1
	shift
	# stdin from /dev/null: CI runs us without one, and autoconf's
	# configure gives up at once on a closed fd 0
	"$@" </dev/null >>"$log" 2>&1 || die "$name failed: $(tail -15 "$log")"
}
srcdir() { find "$WORK/src" -maxdepth 1 -type d -name "$1-*" | head -1; }

d=$(srcdir json-c)
step "json-c cmake" cmake -S "$d" -B "$d/build" -DCMAKE_C_COMPILER=musl-gcc \
	-DCMAKE_C_FLAGS="-O2 -isystem $PREFIX/kernel-include" -DBUILD_SHARED_LIBS=OFF \
	-DBUILD_STATIC_LIBS=ON -DBUILD_TESTING=OFF -DDISABLE_WERROR=ON \
	-DCMAKE_INSTALL_PREFIX="$PREFIX" -DCMAKE_INSTALL_LIBDIR=lib
step "json-c build" make -C "$d/build" -j2 install

d=$(srcdir libseccomp)
(cd "$d" && step "libseccomp configure" env CC="$CC" CFLAGS=-O2 ./configure --prefix="$PREFIX" \
	--enable-static --disable-shared --disable-python)
step "libseccomp build" make -C "$d/src" -j2 libseccomp.la
step "libseccomp install" make -C "$d/include" install
step "libseccomp install" make -C "$d/src" install-libLTLIBRARIES

d=$(srcdir libcap2)
step "libcap build" make -C "$d/libcap" CC="$CC" BUILD_CC=gcc GOLANG=no PAM_CAP=no SHARED=no libcap.a
cp "$d/libcap/libcap.a" "$PREFIX/lib/"
cp "$d/libcap/include/sys/capability.h" "$PREFIX/include/sys/"

for a in libjson-c.a libseccomp.a libcap.a; do
	[ -s "$PREFIX/lib/$a" ] || die "$a was not built"
done
rm -rf "$OUT"
mv "$PREFIX" "$OUT"
# the kernel-include links are absolute: still valid after the move
touch "$OUT/.done"
echo "musl-deps: done, $OUT" >&2
echo "$OUT"
