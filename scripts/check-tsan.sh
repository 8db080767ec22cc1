#!/bin/bash
# ThreadSanitizer check of the hart threads (make check-tsan): the build in
# build-tsan/ (-Db_sanitize=thread) runs the hart-thread ISA and litmus tests
# and the SMP, 4-hart and pause guest tests (suite hart-threads), then the
# SMP ISA tests and the snapshot and live-migration tests with
# VESSEL_HART_THREADS=1 (vessel-vmm --hart-threads).  Any ThreadSanitizer report fails the test
# that ran it (halt_on_error, exit status 66).  `make check` runs a
# subset of these (scripts/check.sh, TSAN_TESTS).
set -u
cd "$(dirname "$0")/.."
export VESSEL_GUEST_DIR=${VESSEL_GUEST_DIR:-$(guest/build.sh --print-dir 2>/dev/null || true)}
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 ${TSAN_OPTIONS:-}"
rc=0
meson test -C build-tsan --print-errorlogs --num-processes 2 --timeout-multiplier 6 \
	--suite hart-threads || rc=1
VESSEL_HART_THREADS=1 meson test -C build-tsan --print-errorlogs --num-processes 2 \
	--timeout-multiplier 6 isa-smp isa-smp4 vm-snapshot vm-migrate vm-migrate-switch || rc=1
exit $rc
