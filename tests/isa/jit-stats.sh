#!/bin/sh
# jit-stats.sh ELF: the baseline JIT really runs.  Runs a bare-metal program
# with hot loops under vessel-vmm with VESSEL_JIT_STATS=1 and requires a
# nonzero count of translated blocks (on x86-64 hosts; elsewhere the JIT does
# not exist and the test is skipped), then with --no-jit and requires zero;
# both runs must pass.  77 = skipped (no ELF, no vessel-vmm, not x86-64).
. "$(dirname "$0")/jit-common.sh"
err=$(mktemp)
trap 'rm -f "$err"' EXIT
unset VESSEL_NO_JIT VESSEL_JIT_THRESHOLD
if ! VESSEL_JIT_STATS=1 "$vmm" --bios "$elf" --timeout 60 </dev/null 2>"$err"; then
	cat "$err"
	echo "FAIL: the program failed with the JIT on"
	exit 1
fi
cat "$err"
n=$(sed -n 's/.*cpu: jit on: \([0-9]*\) blocks translated.*/\1/p' "$err")
if [ -z "$n" ] || [ "$n" -eq 0 ]; then
	echo "FAIL: no block was translated (expected the JIT to run)"
	exit 1
fi
if ! VESSEL_JIT_STATS=1 "$vmm" --no-jit --bios "$elf" --timeout 60 </dev/null 2>"$err"; then
	cat "$err"
	echo "FAIL: the program failed with --no-jit"
	exit 1
fi
cat "$err"
if ! grep -q 'cpu: jit off: 0 blocks translated' "$err"; then
	echo "FAIL: --no-jit did not turn the JIT off"
	exit 1
fi
echo "jit translated $n blocks; --no-jit translated none"
