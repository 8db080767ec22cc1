#!/bin/bash
# bench/guest-cpu/run.sh - CPU work inside a Linux guest (busybox user space,
# paging on) under vessel-vmm and qemu-system-riscv64 -M virt (TCG), same
# run; prints seconds per row and the vessel/qemu ratio (guest_cpu.py).
# Env: BENCH_ITERATIONS (3), BENCH_KERNEL (Image path or `defconfig`),
# VESSEL_VESSEL_VMM (default: build/'s vessel-vmm), VESSEL_GUEST_DIR.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${VESSEL_VESSEL_VMM:-}" ]; then
	VESSEL_VESSEL_VMM=$(find "$root/build/cmd" -name vessel-vmm -type f -perm -u+x 2>/dev/null | head -n 1)
	export VESSEL_VESSEL_VMM
fi
if [ -z "${VESSEL_GUEST_DIR:-}" ]; then
	VESSEL_GUEST_DIR=$("$root/guest/build.sh" --print-dir) || {
		echo "bench/guest-cpu: guest images not built (run guest/build.sh)" >&2
		exit 1
	}
	export VESSEL_GUEST_DIR
fi
exec python3 "$root/bench/guest-cpu/guest_cpu.py"
