#!/bin/bash
# test_move_live.sh - `vessel move` of a running VM with two NICs and a
# raw storage volume between two vesseld, each in its own network namespace
# (a veth pair between them, B's TLS listener on its side; own state dirs):
# it moves live (the VMM's migration with its disks copied - the root disk
# and the volume's - relayed by both vesseld).
# 1. B has no network of the first NIC's name, then none of the second's,
#    then a volume of the same name, then a snapshot of the VM's volume
#    (it would be lost): each refused before anything stops,
#    with that reason; the VM runs on at A, B holds nothing of it.
# 2. A relay cut mid-stream (B's test hook): the move fails, the VM runs on
#    at A, the same guest process counting on; B holds nothing of it (no
#    row, directory, VMM process, cgroup or TAP).
# 2b. B killed (-9) mid-stream: the move fails, the VM runs on at A; B,
#    restarted, removes the half it received.
# 3. The live move: the same guest process counts on at B (higher than
#    before), each NIC keeps its MAC and address on B's network of the same
#    name (a TAP of the VM in each bridge), the move printed the downtime;
#    the file written on the volume before the move reads the same at B
#    (its row attached to the VM at B, its file in B's pool) and the volume
#    takes writes; A has no instance, no volume (row or file), no VM
#    directory, no VMM, no cgroup and no TAP of it left.
#    Through 1-2b A keeps the volume, attached, with the file on it.
# 4. A VM without NIC and two volumes, a qcow2 one and a raw one: moved
#    live, each file written before reads the same at B (the disks kept
#    their order), both volumes there in their formats, none left on A.  The guest's downtime as seen from outside (guest_gap.py: the
#    longest pause between its console ticks, 10 ms apart) is printed.
# SKIPs (77) without the guest images.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
VMM=${VESSEL_VESSEL_VMM:?run through meson test}
require_guest_images || exit 77
for c in sqlite3 jq curl; do
	command -v $c >/dev/null || { echo "SKIP: $c missing"; exit 77; }
done

private_netns || exit 1
in_netns ip link set lo up || exit 1
# B's own network namespace, a veth pair to A's
unshare --net sleep infinity &
HOLDER2=$!
deadline=$((SECONDS + 30))
until [ "$(readlink /proc/$HOLDER2/ns/net)" != "$(readlink /proc/self/ns/net)" ]; do
	[ $SECONDS -ge $deadline ] && { echo "no second netns"; exit 1; }
	sleep 0.05
done
in_b() { nsenter --net=/proc/$HOLDER2/ns/net "$@"; }
ip link add mva netns /proc/$HOLDER/ns/net type veth peer name mvb netns /proc/$HOLDER2/ns/net || exit 1
in_netns ip addr add 10.250.0.1/30 dev mva && in_netns ip link set mva up || exit 1
in_b ip addr add 10.250.0.2/30 dev mvb && in_b ip link set mvb up && in_b ip link set lo up || exit 1
export VESSEL_CONFIG_DIR=$T/cfg
start_daemon --vmm "$VMM" --guest-image "$G" || exit 1
STATE2=$T/state2
SOCK2=$T/b.sock
CUT=$T/cut
start_b() {
	# nsenter execs vesseld (no fork): $! is vesseld
	VESSEL_TEST_MIGRATE_CUT_FILE=$CUT nsenter --net=/proc/$HOLDER2/ns/net "$VESSELD" --state-dir "$STATE2" \
		--socket "$SOCK2" --runtime "$RUNTIME" --vmm "$VMM" --guest-image "$G" \
		--listen 10.250.0.2:8443 >>"$T/vesseld-b.log" 2>&1 &
	DPID2=$!
	local deadline=$((SECONDS + 180))
	until VESSEL_SOCKET=$SOCK2 "$VESSEL" list >/dev/null 2>&1; do
		kill -0 "$DPID2" 2>/dev/null || { echo "vesseld B died"; cat "$T/vesseld-b.log"; return 1; }
		[ $SECONDS -ge $deadline ] && { echo "vesseld B did not answer"; return 1; }
		sleep 0.1
	done
}
GAPW=
vb() { VESSEL_SOCKET=$SOCK2 "$VESSEL" "$@"; }
cleanup_b() {
	[ -n "$GAPW" ] && kill "$GAPW" 2>/dev/null
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
		for n in mvol q2 r2; do vb storage volume delete $n >/dev/null 2>&1; done
		vb network delete mnet >/dev/null 2>&1
		vb network delete mnet2 >/dev/null 2>&1
		kill "$DPID2" 2>/dev/null
		local deadline=$((SECONDS + 60))
		while kill -0 "$DPID2" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
		kill -9 "$DPID2" 2>/dev/null
	fi
	kill "$HOLDER2" 2>/dev/null
	for n in $(v list --format csv 2>/dev/null | cut -d, -f1); do v delete --force "$n" >/dev/null 2>&1; done
	for n in mvol q2 r2; do v storage volume delete $n >/dev/null 2>&1; done
	v network delete mnet >/dev/null 2>&1
	v network delete mnet2 >/dev/null 2>&1
	cleanup
}
trap cleanup_b EXIT
start_b || exit 1
# the veth pair may still be coming up (ARP) on a loaded host
b_reachable() { in_netns timeout 5 bash -c 'exec 3<>/dev/tcp/10.250.0.2/8443'; }
wait_for "B's TLS listener reachable from A's namespace" b_reachable
check "remote add b (B's TLS listener)" in_netns v remote add b https://10.250.0.2:8443 --accept-certificate
check "B trusts the client's certificate" vb config trust add "$T/cfg/client.crt"
b_state() {
	sqlite3 "$STATE2/vessel.db" "SELECT name FROM instances ORDER BY name; SELECT count(*) FROM instance_nics;
		SELECT name FROM storage_volumes ORDER BY name; SELECT count(*) FROM instance_volumes"
	ls "$STATE2/vms" 2>/dev/null
	ls -A "$STATE2/storage/default" 2>/dev/null
	in_b ip -o link show type tun 2>/dev/null | grep -c .
	pgrep -f "[v]essel-vmm .*$STATE2/" | grep -c .
}
# the runtime IDs B gave its incoming instances: none may keep a cgroup
b_cgroups() {
	local i
	for i in $(sed -n 's/.*incoming v1 as \(vessel-[0-9a-f]*\).*/\1/p' "$T/vesseld-b.log"); do
		ls -d /sys/fs/cgroup/vessel-vm-$i /sys/fs/cgroup/*/vessel-vm-$i 2>/dev/null
	done | grep -q . && return 1
	return 0
}

check "network mnet on A" v network create mnet --subnet 10.251.7.0/24
check "network mnet2 on A" v network create mnet2 --subnet 10.251.8.0/24
check "volume mvol (raw, 32 MiB) on A" v storage volume create mvol --size 32MiB
check "init v1 on A, its NICs on mnet and mnet2" v init vessel-guest v1 --vm --network mnet --network mnet2
check "attach mvol to v1 at /data" v storage volume attach mvol v1 /data
check "start v1" v start v1
dev() { "$@" info v1 --format json | jq -r ".devices.$DEV"; }
DEV=eth0.hwaddr mac=$(dev v); DEV='eth0["ipv4.address"]' addr=$(dev v)
DEV=eth1.hwaddr mac1=$(dev v); DEV='eth1["ipv4.address"]' addr1=$(dev v)
check "  ... with MACs ($mac $mac1) and addresses ($addr $addr1)" \
	sh -c "[ -n '$mac' -a -n '$addr' -a -n '$mac1' -a -n '$addr1' -a '$mac1' != null -a '$addr1' != null ]"
check "write a file and 1 MiB of random data on the volume in v1" v exec v1 -- sh -c \
	'echo "data before the move" >/data/hello && dd if=/dev/urandom of=/data/blob bs=64k count=16 2>/dev/null && sync'
sum=$(v exec v1 -- md5sum /data/blob | cut -d' ' -f1)
check "  ... its checksum ($sum)" test -n "$sum"
# A keeps the volume, attached to v1, with the data, running
a_vol() {
	[ "$(v storage volume list --format csv | grep '^mvol,')" = "mvol,raw,32 MiB,v1,/data" ] &&
		[ -f "$STATE/storage/default/mvol.raw" ] &&
		[ "$(v exec v1 -- cat /data/hello)" = "data before the move" ] &&
		[ "$(v exec v1 -- md5sum /data/blob | cut -d' ' -f1)" = "$sum" ]
}
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
# taken with the VM running at A: B's state stays this through the failures
before_b=$(b_state)
id=$(sqlite3 "$STATE/vessel.db" "SELECT runtime_id FROM instances WHERE name = 'v1'")

# ---- 1. B has no network mnet ----
check_fails "move v1 b: without mnet on B: refused" "network mnet," in_netns v move v1 b:
check "  ... v1 running on A" test "$(status v1)" = Running
check "  ... the same counter process" sh -c "v exec v1 -- kill -0 $pid"
check "  ... nothing of it on B" test "$(b_state)" = "$before_b"
check "network mnet on B (the same subnet)" vb network create mnet --subnet 10.251.7.0/24
before_b=$(b_state)
check_fails "move v1 b: without mnet2 on B: refused" "NIC .eth1. on network mnet2," in_netns v move v1 b:
check "  ... v1 running on A" test "$(status v1)" = Running
check "  ... the same counter process" sh -c "v exec v1 -- kill -0 $pid"
check "  ... nothing of it on B" test "$(b_state)" = "$before_b"
check "network mnet2 on B (the same subnet)" vb network create mnet2 --subnet 10.251.8.0/24
check "a volume mvol of B's own" vb storage volume create mvol --size 16MiB
before_b=$(b_state)
check_fails "move v1 b: B has a volume mvol: refused" "storage volume mvol already exists" in_netns v move v1 b:
check "  ... v1 running on A, the same counter process" sh -c "v exec v1 -- kill -0 $pid"
check "  ... nothing of it on B, B's mvol as it was" test "$(b_state)" = "$before_b"
check "  ... A's volume attached, its data there" a_vol
check "delete B's mvol" vb storage volume delete mvol
before_b=$(b_state)
check "a snapshot of mvol on A" v storage volume snapshot create mvol s1
check_fails "move v1 b: its volume has a snapshot: refused" "volume mvol has snapshots" in_netns v move v1 b:
check "  ... v1 running on A" test "$(status v1)" = Running
check "  ... the same counter process" sh -c "v exec v1 -- kill -0 $pid"
check "  ... nothing of it on B" test "$(b_state)" = "$before_b"
check "  ... A's volume attached, its data there" a_vol
src_refuses() {
	curl -s --unix-socket "$SOCK" -H 'Connection: Upgrade' -H 'Upgrade: vessel-migrate' \
		http://vessel/1.0/instances/v1/migrate | grep -q 'volume mvol has snapshots'
}
check "  ... and the source refuses the stream itself (not only the CLI)" src_refuses
check "delete the snapshot" v storage volume snapshot delete mvol s1

# ---- 2. the relay cut mid-stream ----
echo 1048576 >"$CUT"
check_fails "move v1 b: with the relay cut after 1 MiB: fails" "stays here, running" in_netns v move v1 b:
rm -f "$CUT"
check "  ... v1 running on A" test "$(status v1)" = Running
c1=$(cnt v)
check "  ... the same counter process, counting on" \
	sh -c "[ \"\$(v exec v1 -- cat /tmp/cnt.pid)\" = '$pid' ] && v exec v1 -- kill -0 $pid"
wait_for "  ... its counter goes on past $c1" sh -c "[ \"\$(v exec v1 -- cat /tmp/cnt)\" -gt $c1 ] 2>/dev/null"
check "  ... A's volume attached, its data there" a_vol
b_now() { [ "$(b_state)" = "$before_b" ]; }
wait_for "  ... nothing of it left on B (row, NIC, directory, VMM, TAP)" b_now
check "  ... and no cgroup (B started $(grep -c 'incoming v1 as' "$T/vesseld-b.log") incoming VMM)" b_cgroups

# ---- 2b. B killed mid-transfer ----
echo "stall 1048576" >"$CUT"
in_netns v move v1 b: >"$T/kill.out" 2>&1 &
MV=$!
wait_for "B's relay stalls mid-stream" grep -q 'migration relay stalled' "$T/vesseld-b.log"
kill -9 "$DPID2"
wait "$DPID2" 2>/dev/null
rm -f "$CUT"
mv_done() { ! kill -0 "$MV" 2>/dev/null; }
wait_for "  ... B killed (-9): the move ends" mv_done
wait "$MV"
mrc=$?
check "  ... as a failure (status $mrc), the VM staying at A" sh -c "[ $mrc != 0 ] && grep -q 'stays here, running' '$T/kill.out'"
check "  ... v1 running on A" test "$(status v1)" = Running
check "  ... the same counter process" sh -c "v exec v1 -- kill -0 $pid"
check "  ... A's volume attached, its data there" a_vol
check "B restarts" start_b
wait_for "  ... nothing of it left on B (row, NIC, volume row or file, directory, VMM, TAP)" b_now
check "  ... and no cgroup" b_cgroups

# ---- 3. the live move ----
c2=$(cnt v)
# the guest prints a tick every 10 ms on its console; the watcher stamps each
# as it appears in A's, then B's console.log
v exec v1 -- sh -c 'setsid sh -c "mkfifo /tmp/tf; exec 3<>/tmp/tf; i=0; while :; do echo tick \$i >/dev/console; i=\$((i+1)); read -t 0.01 x <&3; done" </dev/null >/dev/null 2>&1 &'
python3 "$HERE/guest_gap.py" "$T/gap.out" "$STATE/vms/*/console.log" "$STATE2/vms/*/console.log" &
GAPW=$!
wait_for "  ... the watcher sees the ticks" sh -c "grep -q 'tick 20' '$STATE/vms/$id/console.log'"
move_v1() { in_netns v move v1 b: >"$T/move.out"; }
check "move v1 b: (running: live)" move_v1
check "  ... printed the downtime" grep -Eq "moved live: total [0-9.]+ ms, downtime [0-9.]+ ms" "$T/move.out"
cat "$T/move.out"
wait_for "  ... the ticks go on at B" sh -c "[ \"\$(grep -c tick \$(ls $STATE2/vms/*/console.log | head -1))\" -ge 20 ]"
kill "$GAPW"; wait "$GAPW"; GAPW=
echo "  guest's downtime as seen from outside: $(sed -n 's/^gap_ms //p' "$T/gap.out") ms (longest pause between its ticks)"
sed -n 's/^# /    /p' "$T/gap.out"
check "  ... v1 gone from A" sh -c "! v info v1"
check "  ... running on B" test "$(VESSEL_SOCKET=$SOCK2 status v1)" = Running
check "  ... the same counter process (pid $pid) alive on B" \
	sh -c "[ \"\$(VESSEL_SOCKET=$SOCK2 v exec v1 -- cat /tmp/cnt.pid)\" = '$pid' ] && VESSEL_SOCKET=$SOCK2 v exec v1 -- kill -0 $pid"
c3=$(cnt vb)
check "  ... its count continued ($c3 after $c2 on A)" test "$c3" -ge "$c2"
wait_for "  ... and goes on" sh -c "[ \"\$(VESSEL_SOCKET=$SOCK2 v exec v1 -- cat /tmp/cnt)\" -gt $c3 ]"
check "  ... no VM directory left on A" test -z "$(ls "$STATE/vms" 2>/dev/null)"
check "  ... no VMM of it left on A" sh -c "! pgrep -f '[v]essel-vmm .*$STATE/vms/$id/' >/dev/null"
DEV=eth0.hwaddr m0=$(dev vb); DEV='eth0["ipv4.address"]' a0=$(dev vb)
DEV=eth1.hwaddr m1=$(dev vb); DEV='eth1["ipv4.address"]' a1=$(dev vb)
check "  ... the same MACs and addresses on B's mnet and mnet2" test "$m0 $a0 $m1 $a1" = "$mac $addr $mac1 $addr1"
id2=$(sqlite3 "$STATE2/vessel.db" "SELECT runtime_id FROM instances WHERE name = 'v1'")
br2=$(sqlite3 "$STATE2/vessel.db" "SELECT bridge FROM networks WHERE name = 'mnet'")
br3=$(sqlite3 "$STATE2/vessel.db" "SELECT bridge FROM networks WHERE name = 'mnet2'")
check "  ... its TAPs in B's mnet bridge ($br2) and mnet2 bridge ($br3)" sh -c "nsenter --net=/proc/$HOLDER2/ns/net ip -o link show master $br2 | grep -q 'vt${id2:7:10}0' &&
	nsenter --net=/proc/$HOLDER2/ns/net ip -o link show master $br3 | grep -q 'vt${id2:7:10}1'"
check "  ... the file written before the move reads the same" \
	test "$(vb exec v1 -- cat /data/hello)" = "data before the move"
check "  ... the random data too" test "$(vb exec v1 -- md5sum /data/blob | cut -d' ' -f1)" = "$sum"
check "  ... the volume takes writes on B" vb exec v1 -- sh -c 'echo after >/data/after && sync && cat /data/after'
check "  ... mvol on B, attached to v1 at /data" test "$(vb storage volume list --format csv | grep '^mvol,')" = "mvol,raw,32 MiB,v1,/data"
check "  ... its file in B's pool" test -f "$STATE2/storage/default/mvol.raw"
check "  ... no volume left on A (row or file)" sh -c "[ -z \"\$(VESSEL_SOCKET=$SOCK $VESSEL storage volume list --format csv)\" ] && [ -z \"\$(ls -A '$STATE/storage/default')\" ]"
check "  ... no TAP of it left on A" sh -c "! nsenter --net=/proc/$HOLDER/ns/net ip -o link show | grep -q 'vt${id:7:10}'"
check "  ... no cgroup of it left on A" sh -c "! ls -d /sys/fs/cgroup/vessel-vm-$id /sys/fs/cgroup/*/vessel-vm-$id 2>/dev/null | grep -q ."
check "delete v1 on B" vb delete --force v1
check "delete mvol on B" vb storage volume delete mvol

# ---- 4. two volumes, qcow2 and raw, no NIC ----
check "volumes q2 (qcow2) and r2 (raw) on A" sh -c "v storage volume create q2 --size 16MiB --format qcow2 && v storage volume create r2 --size 16MiB"
check "init v2 (no NIC), q2 at /q, r2 at /r" sh -c "v init vessel-guest v2 --vm && v storage volume attach q2 v2 /q && v storage volume attach r2 v2 /r"
check "start v2" v start v2
check "write a file on each volume in v2" v exec v2 -- sh -c 'echo on-q >/q/f && echo on-r >/r/f && sync'
move_v2() { in_netns v move v2 b: >"$T/move2.out"; }
check "move v2 b: (running: live)" move_v2
check "  ... each file reads the same at B" test "$(vb exec v2 -- cat /q/f /r/f | tr '\n' ' ')" = "on-q on-r "
vols_b() { vb storage volume list --format csv | grep -E '^(q2|r2),' | tr '\n' ' '; }
check "  ... q2 (qcow2) and r2 (raw) on B, attached to v2" test "$(vols_b)" = "q2,qcow2,16 MiB,v2,/q r2,raw,16 MiB,v2,/r "
check "  ... their files in B's pool" test -f "$STATE2/storage/default/q2.qcow2" -a -f "$STATE2/storage/default/r2.raw"
check "  ... no volume left on A (row or file)" sh -c "[ -z \"\$(VESSEL_SOCKET=$SOCK $VESSEL storage volume list --format csv)\" ] && [ -z \"\$(ls -A '$STATE/storage/default')\" ]"
check "delete v2, q2 and r2 on B" sh -c "VESSEL_SOCKET=$SOCK2 v delete --force v2 && VESSEL_SOCKET=$SOCK2 v storage volume delete q2 && VESSEL_SOCKET=$SOCK2 v storage volume delete r2"
no_sanitizer_b() { ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T/vesseld-b.log"; }
check "no sanitizer report from vesseld B" no_sanitizer_b
stop_daemon
finish
