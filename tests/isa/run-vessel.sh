#!/bin/sh
# run-vessel.sh ELF [CPUS]: runs one bare-metal ISA test under vessel-vmm.
# Exit 0 = the test passed (finisher 0x5555 or HTIF pass); 77 = skipped
# because the cross compiler (no ELF) or vessel-vmm is missing.
elf=$1 cpus=${2:-1}
vmm=${VESSEL_VESSEL_VMM:-${VESSEL_BUILD_ROOT:-.}/cmd/vessel-vmm/vessel-vmm}
if [ ! -s "$elf" ] || grep -q '^SKIP' "$elf" 2>/dev/null; then
	echo "SKIP: no ELF (riscv64-linux-gnu-gcc missing?)"
	exit 77
fi
if [ ! -x "$vmm" ]; then
	echo "SKIP: vessel-vmm not built ($vmm)"
	exit 77
fi
"$vmm" --bios "$elf" --cpus "$cpus" --timeout 30 </dev/null
rc=$?
[ $rc -eq 77 ] && rc=1 # never let a vmm failure read as a skip
exit $rc
