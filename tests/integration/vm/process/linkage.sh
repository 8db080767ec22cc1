#!/bin/sh
# linkage.sh - vessel-vmm maps no shared object at all in the release build
# (glibc too is linked from its static archive), and only libc and the
# sanitizer runtimes in the ASan build: its small libraries are linked from
# their static archives
# and libmicrohttpd without GnuTLS (cmd/vessel-vmm/meson.build, notls.c),
# and on x86-64 the FPU emulation does without libm (lib/vm/cpu/hostmath.h),
# which keeps the VMM's memory overhead and its start-up (the
# restore-to-running time) low.  A dependency that slips back in as a
# shared object, GnuTLS or libm above all, fails here.  libm is allowed
# where the sanitizer runtime needs it (ASan build) and on other
# architectures, where hostmath.h is libm's.  The control API, which is
# what libmicrohttpd serves, is exercised by the vm-api-* tests.
set -u
VMM=${VESSEL_VESSEL_VMM:?}
READELF=$(command -v readelf || command -v x86_64-linux-gnu-readelf) || {
	echo "SKIP: no readelf"
	exit 77
}
needed=$("$READELF" -d "$VMM" | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p')
echo "NEEDED: $(echo $needed)"
failures=0
libm_ok=0
case " $needed " in *" libasan.so"*) libm_ok=1 ;; esac
[ "$(uname -m)" = x86_64 ] || libm_ok=1
for lib in $needed; do
	case $lib in
	libm.so.*)
		if [ "$libm_ok" = 0 ]; then
			echo "FAIL: vessel-vmm needs libm (lib/vm/cpu/hostmath.h should replace it)"
			failures=$((failures + 1))
		fi
		;;
	libc.so.* | ld-linux*.so.* | libasan.so.* | libubsan.so.* | libgcc_s.so.*) ;;
	*)
		echo "FAIL: vessel-vmm needs the shared library $lib"
		failures=$((failures + 1))
		;;
	esac
done
# the release build is static: no dynamic loader, no shared object
sanitized=0
case " $needed " in *" libasan.so"* | *" libubsan.so"* | *" libtsan.so"*) sanitized=1 ;; esac
if [ "$sanitized" = 0 ]; then
	if [ -n "$needed" ] || "$READELF" -l "$VMM" | grep -q 'INTERP'; then
		echo "FAIL: the release vessel-vmm is not static (NEEDED: $(echo $needed))"
		failures=$((failures + 1))
	fi
fi
# and the dynamic loader agrees (no GnuTLS through some other object)
if command -v ldd >/dev/null && ldd "$VMM" 2>/dev/null | grep -q 'gnutls'; then
	echo "FAIL: vessel-vmm loads GnuTLS:"
	ldd "$VMM"
	failures=$((failures + 1))
fi
if [ "$libm_ok" = 0 ] && command -v ldd >/dev/null && ldd "$VMM" 2>/dev/null | grep -q 'libm\.so'; then
	echo "FAIL: vessel-vmm loads libm:"
	ldd "$VMM"
	failures=$((failures + 1))
fi
# the program starts
"$VMM" --help >/dev/null 2>&1 || {
	echo "FAIL: vessel-vmm --help"
	failures=$((failures + 1))
}
if [ "$failures" -eq 0 ]; then
	if [ "$sanitized" = 0 ]; then
		echo "ok: vessel-vmm is static"
	else
		echo "ok: vessel-vmm links only libc$([ "$libm_ok" = 1 ] && echo " and libm") and the sanitizer runtimes"
	fi
fi
exit $((failures > 0))
