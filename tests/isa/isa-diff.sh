#!/bin/sh
# isa-diff.sh ELF [CPUS]: differential test.  Runs the same bare-metal ELF
# under qemu-system-riscv64 -M virt -bios none and under vessel-vmm and
# requires identical UART output and the same pass/fail verdict.
# QEMU's reset ROM jumps to the DRAM base (0x80000000) with a0 = mhartid,
# which is where the link script puts _start, so both start alike.
elf=$1 cpus=${2:-1}
vmm=${VESSEL_VESSEL_VMM:-${VESSEL_BUILD_ROOT:-.}/cmd/vessel-vmm/vessel-vmm}
qemu=${QEMU_SYSTEM_RISCV64:-qemu-system-riscv64}
if [ ! -s "$elf" ]; then
	echo "SKIP: no ELF (riscv64-linux-gnu-gcc missing?)"
	exit 77
fi
if ! command -v "$qemu" >/dev/null 2>&1; then
	echo "SKIP: $qemu not installed"
	exit 77
fi
if [ ! -x "$vmm" ]; then
	echo "SKIP: vessel-vmm not built ($vmm)"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
timeout 60 "$qemu" -M virt -bios none -nographic -monitor none -smp "$cpus" \
	-kernel "$elf" </dev/null >"$tmp/qemu.out" 2>"$tmp/qemu.err"
qrc=$?
"$vmm" --bios "$elf" --cpus "$cpus" --timeout 60 </dev/null >"$tmp/vessel.out" 2>"$tmp/vessel.err"
vrc=$?
tr -d '\r' <"$tmp/qemu.out" >"$tmp/q"
tr -d '\r' <"$tmp/vessel.out" >"$tmp/v"
status=0
if [ $qrc -ne 0 ]; then
	echo "reference run failed on QEMU (exit $qrc): the test itself is broken"
	tail -5 "$tmp/q" "$tmp/qemu.err"
	status=1
fi
if ! diff -u --label qemu --label vessel "$tmp/q" "$tmp/v" >"$tmp/diff"; then
	echo "output differs between QEMU and vessel:"
	head -60 "$tmp/diff"
	status=1
fi
if [ $vrc -ne 0 ]; then
	echo "vessel-vmm exit $vrc (QEMU exit $qrc)"
	tail -5 "$tmp/vessel.err"
	status=1
fi
[ $status -eq 0 ] && echo "identical output ($(wc -l <"$tmp/q") lines), both passed"
exit $status
