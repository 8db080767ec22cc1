#!/bin/bash
# test_move_live.sh - `vessel move` of a running VM between two vesseld
# (own state dirs, TLS listener, one private network namespace): it moves
# live (the VMM's migration with its disks copied, relayed by both vesseld).
# 1. A relay cut mid-stream (B's test hook): the move fails, the VM runs on
#    at A, the same guest process counting on; B holds nothing of it.
# 2. The live move: the same guest process counts on at B (higher than
#    before), the move printed the downtime; A has no instance, no VM
#    directory, no VMM and no cgroup of it left.
# SKIPs (77) without the guest images.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
VMM=${VESSEL_VESSEL_VMM:?run through meson test}
G=${VESSEL_GUEST_DIR:-}
if [ -z "$G" ] || [ ! -f "$G/Image" ] || [ ! -f "$G/disk.qcow2" ]; then
	echo "SKIP: no guest images (set VESSEL_GUEST_DIR, see guest/build.sh)"
	exit 77
fi
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 missing"; exit 77; }

private_netns || exit 1
in_netns ip link set lo up || exit 1
export VESSEL_CONFIG_DIR=$T/cfg
start_daemon --vmm "$VMM" --guest-image "$G" || exit 1
STATE2=$T/state2
SOCK2=$T/b.sock
CUT=$T/cut
VESSEL_TEST_MIGRATE_CUT_FILE=$CUT "${DAEMON_PREFIX[@]}" "$VESSELD" --state-dir "$STATE2" \
	--socket "$SOCK2" --runtime "$RUNTIME" --vmm "$VMM" --guest-image "$G" \
	--listen 127.0.0.1:8443 >>"$T/vesseld-b.log" 2>&1 &
DPID2=$!
vb() { VESSEL_SOCKET=$SOCK2 "$VESSEL" "$@"; }
cleanup_b() {
	if [ "${FAILS:-0}" != 0 ]; then
		echo "--- vesseld B's log (tail)"; tail -20 "$T/vesseld-b.log"
		echo "--- B's VMM logs"; tail -5 "$STATE2"/vms/*/vmm.log 2>/dev/null
		echo "--- A's VMM logs"; tail -8 "$STATE"/vms/*/vmm.log 2>/dev/null
		echo "--- vesseld A's log (tail)"; grep -v 'api: GET' "$T/vesseld.log" | tail -15
	fi
	if kill -0 "$DPID2" 2>/dev/null; then
		for n in $(vb list --format csv 2>/dev/null | cut -d, -f1); do
			vb delete --force "$n" >/dev/null 2>&1
		done
		kill "$DPID2" 2>/dev/null
		local deadline=$((SECONDS + 60))
		while kill -0 "$DPID2" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
		kill -9 "$DPID2" 2>/dev/null
	fi
	cleanup
}
trap cleanup_b EXIT
deadline=$((SECONDS + 180))
until vb list >/dev/null 2>&1; do
	kill -0 "$DPID2" 2>/dev/null || { echo "vesseld B died"; cat "$T/vesseld-b.log"; exit 1; }
	[ $SECONDS -ge $deadline ] && { echo "vesseld B did not answer"; exit 1; }
	sleep 0.1
done
check "remote add b (B's TLS listener)" in_netns v remote add b https://127.0.0.1:8443 --accept-certificate
check "B trusts the client's certificate" vb config trust add "$T/cfg/client.crt"
b_state() {
	sqlite3 "$STATE2/vessel.db" "SELECT name FROM instances ORDER BY name"
	ls "$STATE2/vms" 2>/dev/null
}
before_b=$(b_state)

check "launch v1 (no NIC) on A" v launch vessel-guest v1 --vm
check "start a counter process in v1" v exec v1 -- sh -c \
	'setsid sh -c "i=0; while :; do echo \$i >/tmp/cnt; i=\$((i+1)); sleep 0.1; done" </dev/null >/dev/null 2>&1 & echo $! >/tmp/cnt.pid'
wait_for "the counter runs" sh -c "[ \"\$(v exec v1 -- cat /tmp/cnt)\" -ge 3 ]"
pid=$(v exec v1 -- cat /tmp/cnt.pid)
# the counter's value (its writer truncates the file, then writes: read again if empty)
cnt() {
	local i c
	for i in $(seq 50); do
		c=$("$@" exec v1 -- cat /tmp/cnt 2>/dev/null)
		[ -n "$c" ] && { echo "$c"; return 0; }
		sleep 0.1
	done
	return 1
}
id=$(sqlite3 "$STATE/vessel.db" "SELECT runtime_id FROM instances WHERE name = 'v1'")

# ---- 1. the relay cut mid-stream ----
echo 1048576 >"$CUT"
check_fails "move v1 b: with the relay cut after 1 MiB: fails" "stays here, running" in_netns v move v1 b:
rm -f "$CUT"
check "  ... v1 running on A" test "$(status v1)" = Running
c1=$(cnt v)
check "  ... the same counter process, counting on" \
	sh -c "[ \"\$(v exec v1 -- cat /tmp/cnt.pid)\" = '$pid' ] && v exec v1 -- kill -0 $pid"
wait_for "  ... its counter goes on past $c1" sh -c "[ \"\$(v exec v1 -- cat /tmp/cnt)\" -gt $c1 ] 2>/dev/null"
wait_for "  ... nothing of it left on B" sh -c "[ \"\$(sqlite3 '$STATE2/vessel.db' 'SELECT name FROM instances ORDER BY name'; ls '$STATE2/vms' 2>/dev/null)\" = '$before_b' ]"

# ---- 2. the live move ----
c2=$(cnt v)
move_v1() { in_netns v move v1 b: >"$T/move.out"; }
check "move v1 b: (running: live)" move_v1
check "  ... printed the downtime" grep -Eq "moved live: total [0-9.]+ ms, downtime [0-9.]+ ms" "$T/move.out"
check "  ... v1 gone from A" sh -c "! v info v1"
check "  ... running on B" test "$(VESSEL_SOCKET=$SOCK2 status v1)" = Running
check "  ... the same counter process (pid $pid) alive on B" \
	sh -c "[ \"\$(VESSEL_SOCKET=$SOCK2 v exec v1 -- cat /tmp/cnt.pid)\" = '$pid' ] && VESSEL_SOCKET=$SOCK2 v exec v1 -- kill -0 $pid"
c3=$(cnt vb)
check "  ... its count continued ($c3 after $c2 on A)" test "$c3" -ge "$c2"
wait_for "  ... and goes on" sh -c "[ \"\$(VESSEL_SOCKET=$SOCK2 v exec v1 -- cat /tmp/cnt)\" -gt $c3 ]"
check "  ... no VM directory left on A" test -z "$(ls "$STATE/vms" 2>/dev/null)"
check "  ... no VMM of it left on A" sh -c "! pgrep -f '[v]essel-vmm .*$STATE/vms/$id/' >/dev/null"
check "  ... no cgroup of it left on A" sh -c "! ls -d /sys/fs/cgroup/vessel-vm-$id /sys/fs/cgroup/*/vessel-vm-$id 2>/dev/null | grep -q ."
check "delete v1 on B" vb delete --force v1
stop_daemon
finish
