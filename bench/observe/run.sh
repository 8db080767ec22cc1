#!/bin/bash
# bench/observe/run.sh - what usage history costs (bench/observe/observe.c):
#   - the sampler's CPU per round for 1,000 simulated instances (real
#     cgroups made for the run in every hierarchy, read with the sampler's
#     own code, one tick's rows stored), as a share of one core at 10 s,
#     side by side with systemd-cgtop (systemd's cgroup monitor) reading
#     the same cgroups: its CPU per refresh (startup subtracted);
#   - the database size after a simulated year for 100 instances;
#   - the advice's response time over that history.
# Usage: bench/observe/run.sh [INSTANCES]
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
B=${VESSEL_BUILD_ROOT:-$ROOT/build}
OBS=$B/bench/observe
N=${1:-1000}
if [ "$(id -u)" != 0 ]; then echo "bench/observe: needs root (skipped)"; exit 0; fi
[ -x "$OBS" ] || { echo "bench/observe: build first (skipped)"; exit 0; }
T=$(mktemp -d /tmp/vessel-bench-observe.XXXXXX)
HIER="cpu cpuacct memory blkio unified"
[ -d /sys/fs/cgroup/cpu ] || HIER=.
cleanup() {
	for h in $HIER; do
		for i in $(seq 0 $((N - 1))); do rmdir "/sys/fs/cgroup/$h/vessel-bench-$(printf %04d "$i")" 2>/dev/null; done
	done
	rm -rf "$T"
}
trap cleanup EXIT
for h in $HIER; do
	for i in $(seq 0 $((N - 1))); do mkdir -p "/sys/fs/cgroup/$h/vessel-bench-$(printf %04d "$i")"; done
done
echo "== bench/observe ($N simulated instances: real cgroups)"
OBSERVE_CGROUPS_EXIST=1 "$OBS" "$T/state" "$N" | tee "$T/out" | grep -v '^ROUND_CPU_MS'
ours=$(awk '/^ROUND_CPU_MS/ {print $2}' "$T/out")
if command -v systemd-cgtop >/dev/null && [ -n "$ours" ]; then
	python3 - "$ours" <<'PY'
import resource, subprocess, sys
def cpu(n):
    a = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(["systemd-cgtop", "-b", "-n", str(n), "-d", "0.1", "--raw"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (b.ru_utime - a.ru_utime) + (b.ru_stime - a.ru_stime)
one = min(cpu(1) for _ in range(3))
many = min(cpu(11) for _ in range(3))
peer = (many - one) / 10 * 1000
ours = float(sys.argv[1])
print("peer: systemd-cgtop, one refresh of the same cgroups: %.1f ms CPU; vessel's round "
      "(reads + storing the rows): %.1f ms; ratio vessel/peer %.2f" % (peer, ours, ours / peer if peer > 0 else float("nan")))
PY
else
	echo "peer: systemd-cgtop not installed (skipped)"
fi
