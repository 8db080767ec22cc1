#!/bin/sh
# qemu-vmm.sh: a stand-in for vessel-vmm --bios that runs QEMU instead, used
# to validate the ISA tests themselves on the reference emulator:
#   VESSEL_VESSEL_VMM=$PWD/tests/isa/qemu-vmm.sh meson test -C build --suite isa-diff
# Accepts --bios FILE, --cpus N, --timeout S and --mem SIZE; maps QEMU's
# finisher exit codes to vessel-vmm's (0 pass, 2 fail, 124 timeout).
elf= cpus=1 tmo=30 mem=128M
while [ $# -gt 0 ]; do
	case $1 in
	--bios) elf=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--timeout) tmo=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	*) echo "qemu-vmm.sh: unknown option $1" >&2; exit 1 ;;
	esac
done
timeout "$tmo" qemu-system-riscv64 -M virt -m "$mem" -bios none -nographic \
	-monitor none -smp "$cpus" -kernel "$elf" </dev/null
rc=$?
[ $rc -eq 124 ] && exit 124
[ $rc -ne 0 ] && exit 2
exit 0
