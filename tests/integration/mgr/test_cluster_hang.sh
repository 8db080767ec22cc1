#!/bin/bash
# test_cluster_hang.sh - a cluster member that hangs (issue 13), on the
# three namespaced vesseld of lib.sh's cluster_setup.  A SIGSTOPped vesseld
# is the worst kind of failure: its kernel still accepts TCP connections
# (API and Raft ports), but nothing answers.  It must count as offline as
# a dead one does:
#  - the Raft leader stopped: the other two elect a new leader (dqlite) and
#    answer writes and reads within a generous deadline; a request forwarded
#    to the hung member (exec in its instance) fails within a bounded time
#    instead of hanging; `vessel cluster list` shows it Offline (its
#    heartbeat stale), its instance Offline;
#  - SIGCONT: it is Online again, caught up, and writes;
#  - the same for a follower stopped.
# Every vessel command runs under `timeout` so that a hang is a failure,
# not a stuck test.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
for c in curl jq ip timeout; do
	command -v $c >/dev/null || { echo "SKIP: $c missing"; exit 77; }
done
STOPPED=
cluster_setup || exit 1
# a stopped vesseld hears SIGTERM only once continued
trap '[ -n "$STOPPED" ] && kill -CONT "$STOPPED" 2>/dev/null; cluster_cleanup' EXIT

# lib.sh's vm, bounded: a command that hangs fails
vm() { local n=$1; shift; VESSEL_SOCKET=$T/m$n.sock timeout 150 "$VESSEL" "$@"; }
check "m1: cluster init" vm 1 cluster init m1 10.77.0.1:9001
for n in 2 3; do
	mkdir -p "$T/s$n/cluster" && install -m 0600 "$T/s1/cluster/cluster.crt" "$T/s1/cluster/cluster.key" "$T/s$n/cluster/" || exit 1
	check "m$n joins" vm $n cluster join m$n 10.77.0.$n:9001 10.77.0.1:9001
done
for n in 1 2 3; do
	check "m$n sees three members online" wait_for "m$n: 3 online" online $n 3
done
off() { # off VIA M: member VIA lists M Offline and two Online
	vm "$1" cluster list --format json |
		jq -e --arg m "m$2" '([.[] | select(.server_name == $m) | .status] == ["Offline"]) and ([.[] | select(.status == "Online")] | length == 2)'
}
loc() { [ "$(vm "$1" list --format json | jq -r --arg i "$2" '.[] | select(.name == $i) | "\(.location) \(.status)"')" = "$3" ]; }

# hang ROLE H: SIGSTOP member H, check the survivors, SIGCONT, check H back
hang() {
	local role=$1 H=$2
	local S1=$(((H % 3) + 1)) S2=$((((H + 1) % 3) + 1)) t0 rc
	check "launch c$role$H on m$H (the $role) through m$S1" vm $S1 launch busybox c$role$H --target m$H
	check "  ... listed Running by m$S2" wait_for "c$role$H listed" loc $S2 c$role$H "m$H Running"
	kill -STOP "${DPIDS[$H]}"
	STOPPED=${DPIDS[$H]}
	# at once: m$H's heartbeat is still fresh, so m$S1 forwards to it
	t0=$SECONDS
	VESSEL_SOCKET=$T/m$S1.sock timeout 200 "$VESSEL" exec c$role$H -- true >"$T/out" 2>&1
	rc=$?
	check "exec in c$role$H through m$S1 right after m$H hung: fails (rc $rc) in bounded time ($((SECONDS - t0)) s: $(head -c 200 "$T/out"))" \
		test "$rc" != 0 -a "$rc" != 124
	t0=$SECONDS
	check "survivor m$S1 writes while m$H hangs" wait_for "write on m$S1" \
		vm $S1 cluster describe m$S1 "while-m$H-$role-hangs"
	echo "    (writes served again after $((SECONDS - t0)) s)"
	check "survivor m$S2 reads it" wait_for "read on m$S2" desc $S2 m$S1 "while-m$H-$role-hangs"
	check "survivor m$S2 writes too" vm $S2 cluster describe m$S2 "also-m$H-$role"
	check "m$S1 lists m$H Offline" wait_for "m$H offline on m$S1" off $S1 $H
	check "m$S2 lists m$H Offline" wait_for "m$H offline on m$S2" off $S2 $H
	check "c$role$H (on the hung m$H) is listed Offline by m$S2" wait_for "c$role$H offline" loc $S2 c$role$H "m$H Offline"
	t0=$SECONDS
	check_fails "exec in c$role$H through m$S2 now: a precise error" "m$H is offline" vm $S2 exec c$role$H -- true
	check "  ... at once ($((SECONDS - t0)) s)" test $((SECONDS - t0)) -le 10
	kill -CONT "${DPIDS[$H]}"
	STOPPED=
	check "SIGCONT: m$S1 lists m$H Online again" wait_for "m$H online" online $S1 3
	check "m$H caught up with the writes made while it hung" wait_for "m$H caught up" \
		desc $H m$S2 "also-m$H-$role"
	check "m$H writes again" wait_for "write on m$H" vm $H cluster describe m$H "back-$role"
	check "m$S1 reads it" wait_for "read on m$S1" desc $S1 m$H "back-$role"
	check "c$role$H listed Running again" wait_for "c$role$H back" loc $S1 c$role$H "m$H Running"
	check "delete c$role$H through m$S2" vm $S2 delete --force c$role$H
}

leader=$(cstate 1 | jq -r .metadata.leader)
L=${leader#10.77.0.}
L=${L%%:*}
check "a leader is known ($leader)" test -n "$L" -a "${DPIDS[$L]:-}" != ""
hang leader "$L"
leader=$(cstate 1 | jq -r .metadata.leader)
L=${leader#10.77.0.}
L=${L%%:*}
F=$(((L % 3) + 1))
check "a leader is known again ($leader): m$F follows" test -n "$L" -a "$F" != "$L"
hang follower "$F"

finish_cluster
