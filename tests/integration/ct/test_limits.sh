#!/bin/bash
# Resource limits enforced on the container (through the cgroup module):
# an allocation past the memory limit is OOM-killed, a pids limit stops
# forks, and a container starts under a 512 KiB memory limit.  Each has a
# control run with a generous limit.  Every other linux.resources key is
# either written to its cgroup file or refused at create, naming the key.
source "$(dirname "$0")/lib.sh"

alloc='dd if=/dev/zero of=/dev/null bs=64M count=1 && echo alloc-ok'
b=$(bundle lim-oom ".linux.resources = {memory: {limit: 16777216, swap: 16777216}} | .process.args = $(sh_args "$alloc")")
out=$(rt run --bundle "$b" lim-oom 2>&1)
rc=$?
check "64 MiB allocation under a 16 MiB limit is OOM-killed (137)" eq 137 "$rc"
check "the allocation did not complete" bash -c "! grep -q alloc-ok <<<\"\$1\"" _ "$out"
b=$(bundle nooom ".linux.resources = {memory: {limit: 268435456}} | .process.args = $(sh_args "$alloc")")
check "control: the same allocation under 256 MiB works" contains "$(rt run --bundle "$b" lim-nooom 2>&1)" "alloc-ok"

# PID 1 sleeps; an exec'd shell forks 30 sleepers; the host counts the cgroup
pids_current() {
	cat "/sys/fs/cgroup/pids/$CGP/$1/pids.current" 2>/dev/null ||
		cat "/sys/fs/cgroup/$CGP/$1/pids.current"
}
forker='i=0; while [ $i -lt 30 ]; do sleep 30 >/dev/null 2>&1 & i=$((i+1)); done; echo forked-all'
b=$(bundle lim-pids '.linux.resources = {pids: {limit: 10}} | .process.args = ["sleep", "300"]')
rt run -d --bundle "$b" lim-pids
out=$(rt exec lim-pids sh -c "$forker" 2>&1)
check "pids limit: forks past the limit fail" contains "$out" "can't fork"
check "pids limit: the shell could not fork all" bash -c "! grep -q forked-all <<<\"\$1\"" _ "$out"
n=$(pids_current lim-pids)
check "pids limit: between 2 and 10 processes in the container ($n)" test "$n" -ge 2 -a "$n" -le 10
rt delete --force lim-pids
b=$(bundle lim-nopids '.linux.resources = {pids: {limit: 100}} | .process.args = ["sleep", "300"]')
rt run -d --bundle "$b" lim-nopids
out=$(rt exec lim-nopids sh -c "$forker" 2>&1)
check "control: 30 forks under a limit of 100" contains "$out" "forked-all"
check "control: 31 processes counted" eq 31 "$(pids_current lim-nopids)"
rt delete --force lim-nopids

# the container's own limit is what it sees in /sys/fs/cgroup, with and without a cgroup namespace
seen='cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'
b=$(bundle seen-ns ".linux.resources = {memory: {limit: 50331648}} | .process.args = $(sh_args "$seen")")
check "memory limit seen inside (cgroup namespace)" eq 50331648 "$(rt run --bundle "$b" lim-seen1 2>&1)"
b=$(bundle seen-nons ".linux.namespaces |= map(select(.type != \"cgroup\")) | .linux.resources = {memory: {limit: 50331648}} | .process.args = $(sh_args "$seen")")
check "memory limit seen inside (host cgroup namespace)" eq 50331648 "$(rt run --bundle "$b" lim-seen2 2>&1)"

# --- every linux.resources key is applied, or refused at create naming it ----------
# (runtime-spec config-linux.md "Control groups": no silent no-ops)
v1file() { cat "/sys/fs/cgroup/$1/$CGP/$2/$3" 2>/dev/null; }
dev=""
for d in /sys/block/*; do
	case ${d##*/} in zram*) continue ;; esac
	[ -r "$d/dev" ] && [ -d "$d/queue" ] && dev=$(cat "$d/dev") && break
done
maj=${dev%%:*} min=${dev##*:}
if [ -n "$dev" ] && [ -e /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device ] &&
	[ -e /sys/fs/cgroup/memory/memory.kmem.tcp.limit_in_bytes ]; then
	thr() { echo "[{major: $maj, minor: $min, rate: $1}]"; }
	# blockIO.weight needs CFQ's blkio.weight or BFQ's blkio.bfq.weight: a
	# host with neither (no bfq module loaded) refuses it, checked below
	weight=""
	if [ -e /sys/fs/cgroup/blkio/blkio.weight ] || [ -e /sys/fs/cgroup/blkio/blkio.bfq.weight ]; then
		weight="weight: 500,"
	fi
	b=$(bundle res-apply ".linux.resources = {memory: {limit: 268435456, kernelTCP: 16777216},
	  blockIO: {$weight throttleReadBpsDevice: $(thr 1048576), throttleWriteBpsDevice: $(thr 2097152),
	            throttleReadIOPSDevice: $(thr 1000), throttleWriteIOPSDevice: $(thr 2000)}} |
	  .process.args = [\"sleep\", \"300\"]")
	rt run -d --bundle "$b" res-apply
	check "kernelTCP and blockIO throttles: create works" eq 0 $?
	check "memory.kernelTCP reaches memory.kmem.tcp.limit_in_bytes" eq 16777216 "$(v1file memory res-apply memory.kmem.tcp.limit_in_bytes)"
	check "blockIO.throttleReadBpsDevice" eq "$dev 1048576" "$(v1file blkio res-apply blkio.throttle.read_bps_device)"
	check "blockIO.throttleWriteBpsDevice" eq "$dev 2097152" "$(v1file blkio res-apply blkio.throttle.write_bps_device)"
	check "blockIO.throttleReadIOPSDevice" eq "$dev 1000" "$(v1file blkio res-apply blkio.throttle.read_iops_device)"
	check "blockIO.throttleWriteIOPSDevice" eq "$dev 2000" "$(v1file blkio res-apply blkio.throttle.write_iops_device)"
	if [ -n "$weight" ]; then
		w=$(v1file blkio res-apply blkio.weight || v1file blkio res-apply blkio.bfq.weight)
		check "blockIO.weight ($w)" contains "$w" 500
	fi
	rt delete --force res-apply
else
	echo "# no v1 blkio throttling or kmem.tcp here: apply checks skipped"
fi
# res_err ID JQ-RESOURCES: the create error (through a file: a create that
# wrongly succeeds leaves a process holding its stdio)
res_err() {
	local b
	b=$(bundle "$1" ".linux.resources = $2 | .process.args = [\"true\"]")
	rt create --bundle "$b" "$1" </dev/null >/dev/null 2>"$T/res.err"
	local rc=$?
	[ $rc = 0 ] && rt delete --force "$1" >/dev/null 2>&1
	cat "$T/res.err"
	return $rc
}
# refused where this host cannot apply them; applied where it can
if [ ! -d /sys/fs/cgroup/net_cls ]; then
	check "network.classID without net_cls is refused" contains "$(res_err res-net '{network: {classID: 1048577}}')" "linux.resources.network.classID needs the v1 'net_cls' controller"
	check "network.priorities without net_prio is refused" contains "$(res_err res-prio '{network: {priorities: [{name: "lo", priority: 5}]}}')" "linux.resources.network.priorities needs the v1 'net_prio' controller"
fi
if [ ! -d /sys/fs/cgroup/rdma ]; then
	check "rdma without the rdma controller is refused" contains "$(res_err res-rdma '{rdma: {mlx5_0: {hcaHandles: 3}}}')" "linux.resources.rdma needs the v1 'rdma' controller"
fi
if [ -d /sys/fs/cgroup/blkio ] && [ ! -e /sys/fs/cgroup/blkio/blkio.weight ] &&
	[ ! -e /sys/fs/cgroup/blkio/blkio.bfq.weight ]; then
	check "blockIO.weight without CFQ or BFQ is refused, naming it" contains "$(res_err res-weight '{blockIO: {weight: 500}}')" "linux.resources.blockIO.weight"
fi
if [ ! -e /sys/fs/cgroup/blkio/blkio.leaf_weight ]; then
	check "blockIO.leafWeight without CFQ is refused" contains "$(res_err res-leaf '{blockIO: {leafWeight: 300}}')" "linux.resources.blockIO.leafWeight"
fi
if [ -n "$dev" ] && ! grep -q '\[bfq\]' "/sys/dev/block/$dev/queue/scheduler" 2>/dev/null; then
	check "blockIO.weightDevice on a device without BFQ is refused, naming it" contains "$(res_err res-wdev "{blockIO: {weightDevice: [{major: $maj, minor: $min, weight: 300}]}}")" "blockIO.weightDevice[0]"
fi
check "cpu.idle (cgroup v2 only) is refused on v1 controllers" contains "$(res_err res-idle '{cpu: {idle: 1}}')" "linux.resources.cpu.idle"
# hugetlb: v1, else (hybrid) the unified tree, else refused
huge='{hugepageLimits: [{pageSize: "2MB", limit: 4194304}]}'
if [ -d /sys/fs/cgroup/hugetlb ] || { [ -e /sys/kernel/mm/hugepages/hugepages-2048kB ] &&
	grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; }; then
	b=$(bundle res-huge ".linux.resources = $huge | .process.args = [\"sleep\", \"300\"]")
	rt run -d --bundle "$b" res-huge
	check "hugepageLimits: create works" eq 0 $?
	lim=$(v1file hugetlb res-huge hugetlb.2MB.limit_in_bytes || v1file unified res-huge hugetlb.2MB.max)
	check "hugepageLimits reaches hugetlb 2MB (v1, or the unified tree of a hybrid host)" eq 4194304 "$lim"
	rt delete --force res-huge
else
	check "hugepageLimits without a hugetlb controller is refused" contains "$(res_err res-huge "$huge")" "hugepageLimits needs the v1 'hugetlb' controller"
fi
if [ -e /sys/fs/cgroup/memory/memory.use_hierarchy ]; then
	check "memory.useHierarchy false (impossible on this kernel) is refused, naming it" contains "$(res_err res-hier '{memory: {useHierarchy: false}}')" "linux.resources.memory.useHierarchy"
fi
# checkBeforeUpdate: an update below the current usage (8 MB in a tmpfs) is refused
b=$(bundle res-cbu ".linux.resources = {memory: {limit: 67108864}} | .process.args = $(sh_args 'dd if=/dev/zero of=/tmp/fill bs=1M count=8 2>/dev/null; echo filled; sleep 300')")
rt run -d --bundle "$b" res-cbu >"$T/cbu.out"
for _ in $(seq 100); do grep -q filled "$T/cbu.out" && break; sleep 0.05; done
err=$(echo '{"memory": {"limit": 4194304, "checkBeforeUpdate": true}}' | rt update --resources - res-cbu 2>&1)
check "update below the usage with checkBeforeUpdate is refused" contains "$err" "is below the current usage"
rt delete --force res-cbu
check "malformed throttle entries are refused" contains "$(res_err res-bad '{blockIO: {throttleReadBpsDevice: [{major: 8, rate: 5}]}}')" "linux.resources.blockIO.throttleReadBpsDevice[0]: major and minor are required"
check "refused creates left no state" bash -c "ls '$ROOT' | grep -q res- && exit 1 || exit 0"

b=$(bundle lim-tiny ".linux.resources = {memory: {limit: 524288}} | .process.args = [\"true\"]")
rt run --bundle "$b" lim-tiny
check "a container starts and exits 0 under a 512 KiB memory limit" eq 0 $?
check "no cgroups left" bash -c "$(declare -f cgroup_exists no_cgroup); no_cgroup $CGP/lim-oom && no_cgroup $CGP/lim-pids && no_cgroup $CGP/lim-tiny"

finish
