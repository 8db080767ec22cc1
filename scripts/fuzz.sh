#!/bin/bash
# make fuzz: the seeded hostile-guest campaign (tests/integration/vm/hostile/
# campaign.py) over many seeds against vessel-vmm.  `make check` runs seeds
# 1-3; this runs FUZZ_COUNT seeds (default 200) from FUZZ_START (default 1)
# against the FUZZ_BUILD build directory (default build-asan: sanitizers
# turn silent memory errors into failures); FUZZ_SANDBOX=1 runs the VMM with
# --sandbox (seccomp: a call outside its allow-list kills the VMM, so any
# device path the list misses shows up).  Each seed takes ~4 s.  A failing
# seed is printed with the command line that reproduces it; its files are
# kept under /tmp/vessel-campaign-*.
set -u
cd "$(dirname "$0")/.."
build=${FUZZ_BUILD:-build-asan}
vmm=$PWD/$build/cmd/vessel-vmm/vessel-vmm
[ -x "$vmm" ] || { echo "fuzz: $vmm not built (make build)"; exit 1; }
export VESSEL_SOURCE_ROOT=$PWD VESSEL_VESSEL_VMM=$vmm
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
sandbox=
[ "${FUZZ_SANDBOX:-0}" = 1 ] && sandbox=--sandbox
exec python3 tests/integration/vm/hostile/campaign.py --start "${FUZZ_START:-1}" \
	--count "${FUZZ_COUNT:-200}" $sandbox
