#!/bin/bash
# bench/smp/run.sh - multi-hart guests (1, 2, 4 harts) under vessel-vmm and
# qemu-system-riscv64 -M virt -smp N (MTTCG): CPU-bound jobs and boot times, same
# run; prints seconds per row, vessel/qemu ratios and speed-ups (smp_bench.py).
# Env: BENCH_ITERATIONS (7), BENCH_KERNEL (Image path or `defconfig`),
# VESSEL_VESSEL_VMM (default: build/'s vessel-vmm), VESSEL_GUEST_DIR.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${VESSEL_VESSEL_VMM:-}" ]; then
	VESSEL_VESSEL_VMM=$(find "$root/build/cmd" -name vessel-vmm -type f -perm -u+x 2>/dev/null | head -n 1)
	export VESSEL_VESSEL_VMM
fi
if [ -z "${VESSEL_GUEST_DIR:-}" ]; then
	VESSEL_GUEST_DIR=$("$root/guest/build.sh" --print-dir) || {
		echo "bench/smp: guest images not built (run guest/build.sh)" >&2
		exit 1
	}
	export VESSEL_GUEST_DIR
fi
exec python3 "$root/bench/smp/smp_bench.py"
