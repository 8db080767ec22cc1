#!/bin/bash
# bench/lifecycle/snapshot.sh - snapshot, restore and live migration rows,
# vessel-vmm vs qemu-system-riscv64 TCG in the same run (snapshot_bench.py).
# Env: BENCH_SNAPSHOT_ITERATIONS (3), VESSEL_VESSEL_VMM, VESSEL_GUEST_DIR.
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
exec python3 "$root/bench/lifecycle/snapshot_bench.py"
