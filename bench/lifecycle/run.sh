#!/bin/bash
# bench/lifecycle/run.sh - VM lifecycle operations, vessel-vmm (control API)
# vs qemu-system-riscv64 -M virt TCG (QMP), same kernel/initramfs/firmware,
# same run; prints medians and vessel/qemu ratios (lifecycle_bench.py).
# libvirt 9 (virsh suspend/resume, setmem --live, save/restore) is measured
# in the same run when it is installed (make bench installs it): libvirtd
# and virtlogd are started here (no systemd on these hosts) in a private
# network namespace under a subreaper (bench/manager/peers.sh), and stopped
# at the end, even on failure.
# Env: BENCH_ITERATIONS (30), VESSEL_VESSEL_VMM (default: the vessel-vmm
# under build/), VESSEL_GUEST_DIR (default: guest/build.sh --print-dir),
# BENCH_LIBVIRT=0 (leave libvirt out).
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
T=$(mktemp -d /tmp/vessel-bench-lifecycle-peers.XXXXXX)
. "$root/bench/manager/peers.sh"
done_peers() {
	libvirt_stop
	peer_ns_stop
	rm -rf "$T"
}
trap done_peers EXIT
if [ "$(id -u)" = 0 ] && libvirt_start; then
	export BENCH_LIBVIRT_URI=$VIRSH_URI
fi
python3 "$root/bench/lifecycle/lifecycle_bench.py"
done_peers
trap - EXIT
"$root/bench/lifecycle/snapshot.sh"
