#!/bin/bash
# bench/agent/run.sh - guest agent round trips under vessel-vmm --agent and
# qemu-system-riscv64 -M virt (a virtconsole on a socket chardev), same
# guest, same run: ping and `exec true` medians and the vessel/qemu ratio.
# Env: BENCH_ITERATIONS (3 boots per VMM), BENCH_COUNT (30 round trips per
# boot), VESSEL_VESSEL_VMM / VESSEL_VESSEL_VMM_AGENT (default: under build/),
# VESSEL_GUEST_DIR (default: guest/build.sh --print-dir).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
for v in VESSEL_VESSEL_VMM:vessel-vmm VESSEL_VESSEL_VMM_AGENT:vessel-vmm-agent; do
	var=${v%%:*} name=${v#*:}
	if [ -z "${!var:-}" ]; then
		export "$var=$(find "$root/build/cmd" -name "$name" -type f -perm -u+x 2>/dev/null | head -n 1)"
	fi
done
if [ -z "${VESSEL_GUEST_DIR:-}" ]; then
	VESSEL_GUEST_DIR=$("$root/guest/build.sh" --print-dir) || {
		echo "bench/agent: guest images not built (run guest/build.sh)" >&2
		exit 1
	}
	export VESSEL_GUEST_DIR
fi
exec python3 "$root/bench/agent/agent_bench.py"
