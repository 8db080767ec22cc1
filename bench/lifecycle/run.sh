#!/bin/bash
# bench/lifecycle/run.sh - VM lifecycle operations, vessel-vmm (control API)
# vs qemu-system-riscv64 -M virt TCG (QMP), same kernel/initramfs/firmware,
# same run; prints medians and vessel/qemu ratios (lifecycle_bench.py).
# Env: BENCH_ITERATIONS (30), VESSEL_VESSEL_VMM (default: the vessel-vmm
# under build/), VESSEL_GUEST_DIR (default: guest/build.sh --print-dir).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${VESSEL_VESSEL_VMM:-}" ]; then
	VESSEL_VESSEL_VMM=$(find "$root/build/cmd" -name vessel-vmm -type f -perm -u+x 2>/dev/null | head -n 1)
	export VESSEL_VESSEL_VMM
fi
if [ -z "${VESSEL_GUEST_DIR:-}" ]; then
	VESSEL_GUEST_DIR=$("$root/guest/build.sh" --print-dir) || {
		echo "bench/lifecycle: guest images not built (run guest/build.sh)" >&2
		exit 1
	}
	export VESSEL_GUEST_DIR
fi
python3 "$root/bench/lifecycle/lifecycle_bench.py"
"$root/bench/lifecycle/snapshot.sh"
