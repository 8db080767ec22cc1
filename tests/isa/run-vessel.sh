#!/bin/sh
# run-vessel.sh ELF [CPUS] [EXPECTED_STATUS] [TIMEOUT] [MEM] [OUTPUT_RE]:
# runs one bare-metal ISA test under vessel-vmm.  Passes when vessel-vmm
# exits with EXPECTED_STATUS (default 0: the program passed through the
# finisher or HTIF) and, if OUTPUT_RE is given, its output matches that
# extended regular expression.  77 = skipped because the cross compiler (no
# ELF) or vessel-vmm is missing.
elf=$1 cpus=${2:-1} want=${3:-0} tmo=${4:-30} mem=${5:-} want_out=${6:-}
vmm=${VESSEL_VESSEL_VMM:-${VESSEL_BUILD_ROOT:-.}/cmd/vessel-vmm/vessel-vmm}
if [ ! -s "$elf" ]; then
	echo "SKIP: no ELF (riscv64-linux-gnu-gcc missing?)"
	exit 77
fi
if [ ! -x "$vmm" ]; then
	echo "SKIP: vessel-vmm not built ($vmm)"
	exit 77
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$vmm" --bios "$elf" --cpus "$cpus" --timeout "$tmo" ${mem:+--mem "$mem"} \
	</dev/null >"$out"
rc=$?
cat "$out"
if [ "$rc" -ne "$want" ]; then
	echo "vessel-vmm exit status $rc, expected $want"
	exit 1
fi
if [ -n "$want_out" ] && ! tr -d '\r' <"$out" | tr '\n' ' ' | grep -Eq "$want_out"; then
	echo "output does not match: $want_out"
	exit 1
fi
exit 0
