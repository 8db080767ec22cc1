#!/bin/bash
# Resource limits enforced on the container (through the cgroup module):
# an allocation past the memory limit is OOM-killed, a pids limit stops
# forks, and a container starts under a 512 KiB memory limit.  Each has a
# control run with a generous limit.
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

b=$(bundle lim-tiny ".linux.resources = {memory: {limit: 524288}} | .process.args = [\"true\"]")
rt run --bundle "$b" lim-tiny
check "a container starts and exits 0 under a 512 KiB memory limit" eq 0 $?
check "no cgroups left" bash -c "$(declare -f cgroup_exists no_cgroup); no_cgroup $CGP/lim-oom && no_cgroup $CGP/lim-pids && no_cgroup $CGP/lim-tiny"

finish
