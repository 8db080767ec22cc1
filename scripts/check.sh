#!/bin/bash
# Run every test: the format check, the whole meson suite on the release
# build and again on the ASan+UBSan build, then the hart-thread tests on the
# ThreadSanitizer build (build-tsan/, TSAN_TESTS below).  Prints one closing
# line "N passed, N failed, N skipped" that counts all of them.
set -u
cd "$(dirname "$0")/.."
export VESSEL_GUEST_DIR=${VESSEL_GUEST_DIR:-$(guest/build.sh --print-dir 2>/dev/null || true)}
export VESSEL_DEBIAN_IMAGE=${VESSEL_DEBIAN_IMAGE:-$(images/debian/build.sh --print-dir 2>/dev/null || true)}
passed=0 failed=0 skipped=0
# python3 may be a shim (pyenv's: a shell script that looks up the version at
# every start, 0.2-1.5 s each on a loaded 2-core machine): the tests' python3
# (#!/usr/bin/env python3 scripts, python3 in shell tests) is the interpreter
# it stands for.  tests/meson.build does the same for the python3 SCRIPT tests.
py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
if [ -n "$py" ] && [ "$(command -v python3)" != "$py" ]; then
	pybin=$(mktemp -d)
	trap 'rm -rf "$pybin"' EXIT
	ln -s "$py" "$pybin/python3"
	export PATH=$pybin:$PATH
fi

# 1. formatting
if scripts/check-format.sh; then
	passed=$((passed + 1))
	echo "ok: clang-format"
else
	failed=$((failed + 1))
	echo "FAIL: clang-format (run 'make format')"
fi

# 2. the meson suites, in both builds, then the hart-thread tests on the
# ThreadSanitizer build (build-tsan/, TSAN_TESTS below), all on two lanes
# (scripts/check-suites.py): the tests that must run one at a time
# (is_parallel: false) on one lane, beside the rest.
#
# The sanitizer build runs the same suites; the timeout multiplier absorbs
# ASan's slowdown.
#
# ThreadSanitizer (-Db_sanitize=thread, build-tsan/): harts on host
# threads (--hart-threads) - the ISA and litmus tests (every engine: JIT,
# interpreter, translate-at-once, small arena), atomics and LR/SC, WFI
# parking; Linux on 2 harts: SMP boot, virtio-blk, pause/resume, the GDB
# stub, snapshots and live migration.  Any report fails the test that ran
# it (the VMM exits with status 66).  A subset of `make check-tsan`, chosen
# to stay within a few minutes: the 4-hart defconfig boot and the
# remaining engine variants are left to it.
TSAN_TESTS="isa-threads-smp isa-threads-smp4 isa-threads-flush-smp-vm
	isa-threads-litmus isa-threads-jit1-litmus isa-threads-flush-litmus
	isa-threads-nojit-litmus2 isa-threads-atomics isa-threads-jit1-atomics
	isa-threads-nojit-atomics2 isa-threads-flush-atomics2 isa-threads-idle
	isa-threads-satp-switch isa-threads-jit1-satp-switch isa-threads-fwcall
	vm-boot-threads-smp vm-boot-threads-disk vm-api-threads-pause
	vm-boot-threads-gdb vm-threads-snapshot"
suites=()
# meson test would build them first: the two builds are built here
for dir in build build-asan; do
	if ninja -C "$dir"; then
		case $dir in
		build) suites+=(build) ;;
		build-asan) suites+=("build-asan --timeout-multiplier 4") ;;
		esac
	else
		failed=$((failed + 1))
		echo "FAIL: the build in $dir/"
	fi
done
# Only what they run is built in build-tsan/ (meson test would build
# everything): vessel-vmm and the ISA programs (isa-threads-ENGINE-NAME
# runs isa-NAME.elf).
tsan_targets="cmd/vessel-vmm/vessel-vmm"
for t in $TSAN_TESTS; do
	case $t in
	isa-threads-*)
		t=${t#isa-threads-}
		t=${t#nojit-} t=${t#jit1-} t=${t#flush-}
		tsan_targets="$tsan_targets tests/isa/isa-$t.elf"
		;;
	esac
done
# shellcheck disable=SC2086 # word splitting of the lists is wanted
if ninja -C build-tsan $tsan_targets; then
	# shellcheck disable=SC2116 # the list on one line
	suites+=("TSAN_OPTIONS='halt_on_error=1 exitcode=66 ${TSAN_OPTIONS:-}'
		build-tsan --timeout-multiplier 6 -- $(echo $TSAN_TESTS)")
else
	failed=$((failed + 1))
	echo "FAIL: the ThreadSanitizer build (build-tsan/)"
fi
out=$(mktemp)
python3 scripts/check-suites.py --jobs 2 "${suites[@]}" | tee "$out"
if [[ $(tail -1 "$out") =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
	passed=$((passed + BASH_REMATCH[1])) failed=$((failed + BASH_REMATCH[2]))
	skipped=$((skipped + BASH_REMATCH[3]))
else
	failed=$((failed + 1))
	echo "FAIL: scripts/check-suites.py"
fi
rm -f "$out"

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
