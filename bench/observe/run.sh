#!/bin/bash
# bench/observe/run.sh - what usage history costs (bench/observe/observe.c):
#   - the sampler's CPU per round for 1,000 simulated instances (real
#     cgroups made for the run in every hierarchy, read with the sampler's
#     own code, one tick's rows stored), as a share of one core at 10 s;
#   - the database size after a simulated year for 100 instances;
#   - the advice's response time over that history.
# Peer: none installed on this host (Incus/LXD and Proxmox keep usage in
# their own RRD/metrics back ends, not available here); the figures are
# absolute, against the issue's bound (< 1% of one core).
# Usage: bench/observe/run.sh [INSTANCES]
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
B=${VESSEL_BUILD_ROOT:-$ROOT/build}
OBS=$B/bench/observe
if [ "$(id -u)" != 0 ]; then echo "bench/observe: needs root (skipped)"; exit 0; fi
[ -x "$OBS" ] || { echo "bench/observe: build first (skipped)"; exit 0; }
T=$(mktemp -d /tmp/vessel-bench-observe.XXXXXX)
trap 'rmdir /sys/fs/cgroup/*/vessel-bench-* /sys/fs/cgroup/vessel-bench-* 2>/dev/null; rm -rf "$T"' EXIT
echo "== bench/observe"
"$OBS" "$T/state" "${1:-1000}"
