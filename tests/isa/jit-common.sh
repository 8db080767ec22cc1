# jit-common.sh - sourced by the jit-*.sh tests (ELF as their first
# argument): sets elf and vmm (VESSEL_VESSEL_VMM or the build's vessel-vmm)
# and skips (77) without the ELF, without vessel-vmm, or off x86-64, where
# the JIT does not exist.
elf=$1
vmm=${VESSEL_VESSEL_VMM:-${VESSEL_BUILD_ROOT:-.}/cmd/vessel-vmm/vessel-vmm}
if [ ! -s "$elf" ] || [ ! -x "$vmm" ]; then
	echo "SKIP: no ELF or vessel-vmm"
	exit 77
fi
if [ "$(uname -m)" != x86_64 ]; then
	echo "SKIP: the JIT exists on x86-64 hosts only"
	exit 77
fi
