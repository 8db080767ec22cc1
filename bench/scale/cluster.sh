#!/bin/bash
# bench/scale/cluster.sh - cluster API latency for a write: PATCH of a
# member's description (one UPDATE through dqlite, Raft-committed) on a
# cluster of one member against the same request on a cluster of three
# (through the leader, and through a follower whose vesseld reaches the
# leader over the network), in one run.  Four vesseld processes, each in
# its own network namespace on a bridge (as in tests/integration/mgr/
# test_cluster.sh): m1-m3 form one cluster, m4 a cluster of its own.  The
# requests are interleaved (one-member, leader, follower, again) so that
# load on a shared machine weighs on all three alike.  Prints medians (ms)
# and the three/one ratios, with the load average before and after.
# Usage: bench/scale/cluster.sh [REQUESTS]
set -u
N=${1:-200}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
B=${VESSEL_BUILD_ROOT:-$ROOT/build}
VESSELD=$B/cmd/vesseld/vesseld
VESSEL=$B/cmd/vessel/vessel
RT=$B/cmd/vessel-runtime/vessel-runtime

if [ "$(id -u)" != 0 ]; then echo "bench/scale cluster: needs root (skipped)"; exit 0; fi
for t in curl jq ip; do
	command -v "$t" >/dev/null || { echo "bench/scale cluster: $t missing (skipped)"; exit 0; }
done
[ -x "$VESSELD" ] && [ -x "$VESSEL" ] || { echo "bench/scale cluster: build first (skipped)"; exit 0; }

T=$(mktemp -d /tmp/vessel-bench-cluster.XXXXXX)
HOLDERS=()
DPIDS=()
cleanup() {
	for p in "${DPIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${DPIDS[@]}"; do
		local deadline=$((SECONDS + 30))
		while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for h in "${HOLDERS[@]}"; do kill "$h" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
netns() { local n=$1; shift; nsenter --net=/proc/${HOLDERS[$n]}/ns/net "$@"; }
vm() { local n=$1; shift; VESSEL_SOCKET=$T/m$n.sock "$VESSEL" "$@"; }
for n in 0 1 2 3 4; do
	unshare --net sleep infinity &
	HOLDERS+=($!)
done
for n in 0 1 2 3 4; do
	until [ "$(readlink /proc/${HOLDERS[$n]}/ns/net 2>/dev/null)" != "$(readlink /proc/self/ns/net)" ]; do sleep 0.05; done
done
netns 0 ip link add br0 type bridge && netns 0 ip link set br0 up || exit 1
for n in 1 2 3 4; do
	netns 0 ip link add sw$n type veth peer name eth0 netns /proc/${HOLDERS[$n]}/ns/net &&
		netns 0 ip link set sw$n master br0 up && netns $n ip link set lo up &&
		netns $n ip addr add 10.78.0.$n/24 dev eth0 && netns $n ip link set eth0 up || exit 1
	# nsenter itself (not the netns function, whose subshell $! would name)
	nsenter --net=/proc/${HOLDERS[$n]}/ns/net "$VESSELD" --state-dir "$T/s$n" --socket "$T/m$n.sock" --runtime "$RT" \
		--busybox none --listen 10.78.0.$n:8443 >>"$T/m$n.log" 2>&1 &
	DPIDS+=($!)
done
for n in 1 2 3 4; do
	deadline=$((SECONDS + 120))
	until vm $n list >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && { echo "bench/scale cluster: vesseld m$n did not start"; exit 1; }
		sleep 0.1
	done
done

# one SOCKET MEMBER I: the latency of one PATCH in seconds
one() {
	curl -s -o /dev/null -w "%{http_code} %{time_total}\n" --unix-socket "$1" -X PATCH \
		-H 'Content-Type: application/json' --data "{\"description\":\"w$3\"}" \
		"http://x/1.0/cluster/members/$2"
}
# median_ms FILE: the median of its latencies; any answer but 200 is an error
median_ms() {
	if grep -qv '^200 ' "$1"; then
		echo "bench/scale cluster: failed requests: $(grep -v '^200 ' "$1" | sort | uniq -c | head -3)" >&2
		return 1
	fi
	cut -d' ' -f2 "$1" | sort -n | awk '{a[NR] = $1} END {printf "%.3f", 1000 * a[int((NR + 1) / 2)]}'
}

vm 4 cluster init m4 10.78.0.4:9001 >/dev/null || exit 1
vm 1 cluster init m1 10.78.0.1:9001 >/dev/null || exit 1
# the Raft port speaks TLS with the cluster certificate: copied before a join
# (a build from before it has none: nothing to copy)
if [ -f "$T/s1/cluster/cluster.crt" ]; then
	for n in 2 3; do
		mkdir -p "$T/s$n/cluster" &&
			install -m 0600 "$T/s1/cluster/cluster.crt" "$T/s1/cluster/cluster.key" "$T/s$n/cluster/" || exit 1
	done
fi
vm 2 cluster join m2 10.78.0.2:9001 10.78.0.1:9001 >/dev/null || exit 1
vm 3 cluster join m3 10.78.0.3:9001 10.78.0.1:9001 >/dev/null || exit 1
leader=$(curl -s --unix-socket "$T/m1.sock" http://x/1.0/cluster | jq -r .metadata.leader)
L=${leader#10.78.0.}
L=${L%%:*}
F=$(((L % 3) + 1))
[ -n "$L" ] && [ "$L" -ge 1 ] 2>/dev/null && [ "$L" -le 3 ] ||
	{ echo "bench/scale cluster: no leader among m1-m3 ($leader)"; exit 1; }
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for i in $(seq 1 "$N"); do
	one "$T/m4.sock" m4 "$i" >>"$T/one"
	one "$T/m$L.sock" m1 "$i" >>"$T/leader"
	one "$T/m$F.sock" m1 "f$i" >>"$T/follower"
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
o=$(median_ms "$T/one") && l=$(median_ms "$T/leader") && f=$(median_ms "$T/follower") || exit 1
echo "bench/scale cluster: API write latency (PATCH /1.0/cluster/members, median of $N, interleaved)"
printf '  %-34s %8s ms\n' "1 member (m4)" "$o" \
	"3 members, via the leader (m$L)" "$l" \
	"3 members, via a follower (m$F)" "$f"
awk -v a="$l" -v b="$f" -v o="$o" 'BEGIN {
	printf "  ratio 3/1 via the leader: %.2f, via a follower: %.2f\n", a / o, b / o }'
echo "  load average before: $load0, after: $load1 ($(nproc) cores)"
