#!/bin/bash
# bench/boot/run.sh - boot time, boot-to-poweroff time and a CPU-bound guest
# workload under vessel-vmm and qemu-system-riscv64 -M virt (TCG), same
# kernel/initramfs/firmware, same run; prints medians and vessel/qemu ratios.
# Env: BENCH_ITERATIONS (5), BENCH_CPUS (1), VESSEL_VESSEL_VMM (default: the
# vessel-vmm found under build/), VESSEL_GUEST_DIR (default: guest/build.sh).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${VESSEL_VESSEL_VMM:-}" ]; then
	VESSEL_VESSEL_VMM=$(find "$root/build/cmd" -name vessel-vmm -type f -perm -u+x 2>/dev/null | head -n 1)
	export VESSEL_VESSEL_VMM
fi
if [ -z "${VESSEL_GUEST_DIR:-}" ]; then
	VESSEL_GUEST_DIR=$("$root/guest/build.sh" --print-dir) || {
		echo "bench/boot: guest images not built (run guest/build.sh)" >&2
		exit 1
	}
	export VESSEL_GUEST_DIR
fi
exec python3 "$root/bench/boot/boot_bench.py"
