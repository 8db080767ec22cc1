#!/bin/sh
# jit-links.sh ELF CPUS: translated blocks link their same-page exits by
# patched direct jumps with the harts on their own host threads (parallel
# mode) as on one thread.  Runs a bare-metal SMP program with hot loops
# under vessel-vmm with VESSEL_JIT_STATS=1, once with hart threads and once
# without, and requires both to pass with a nonzero count of direct links.
# 77 = skipped (no ELF, no vessel-vmm, not x86-64).
. "$(dirname "$0")/jit-common.sh"
cpus=$2
err=$(mktemp)
trap 'rm -f "$err"' EXIT
unset VESSEL_NO_JIT VESSEL_JIT_THRESHOLD VESSEL_JIT_ARENA_KB VESSEL_BLOCK_ARENA_KB
for threads in 1 0; do
	if ! VESSEL_HART_THREADS=$threads VESSEL_JIT_STATS=1 "$vmm" --cpus "$cpus" --bios "$elf" \
		--timeout 60 </dev/null 2>"$err"; then
		cat "$err"
		echo "FAIL: the program failed (VESSEL_HART_THREADS=$threads)"
		exit 1
	fi
	cat "$err"
	n=$(sed -n 's/.*cpu: jit on: .* \([0-9]*\) direct links.*/\1/p' "$err")
	if [ -z "$n" ] || [ "$n" -eq 0 ]; then
		echo "FAIL: no direct link was patched (VESSEL_HART_THREADS=$threads)"
		exit 1
	fi
	echo "VESSEL_HART_THREADS=$threads: $n direct links"
done
