#!/bin/bash
# test_crash.sh - `kill -9` of vesseld: instances keep running, and the
# next vesseld reconciles the database with the host.  While the daemon is
# dead, one container dies, and a container of no instance appears (what a
# crash between the runtime's create and the database commit would leave);
# another kill lands in the middle of a launch.  After the restart: every
# instance is listed once, the survivor runs with the same pid, the dead
# one is Stopped with its leftovers removed, the orphan is gone, everything
# still works, and after deleting all, the host's objects are as before.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
command -v jq >/dev/null || { echo "SKIP: jq missing"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 missing"; exit 77; }

before=$(host_objects)
start_daemon || exit 1
check "launch r1" v launch busybox r1
check "launch r2" v launch busybox r2
check "init s1" v init busybox s1
pid1=$(v info r1 --format json | jq .pid)
pid2=$(v info r2 --format json | jq .pid)
id2=$(runtime_id r2)

kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=
check "r1 survives kill -9 of vesseld" kill -0 "$pid1"
check "r2 survives kill -9 of vesseld" kill -0 "$pid2"
check_fails "CLI: daemon not running" "cannot reach vesseld" v list

# while vesseld is down: r2's container dies; an orphan container appears (made without a
# terminal: no console supervisor waits for it)
kill -9 "$pid2"
ghost=vessel-00000000000000aa
mkdir -p "$STATE/containers/$ghost"
jq --arg cg "/$ghost" '.linux.cgroupsPath = $cg | .process.terminal = false' "$STATE/containers/$(runtime_id r1)/config.json" \
	>"$STATE/containers/$ghost/config.json"
check "orphan container created behind vesseld's back" sh -c \
	"'$RUNTIME' --root '$STATE/runtime' create --bundle '$STATE/containers/$ghost' $ghost </dev/null >/dev/null 2>&1 && '$RUNTIME' --root '$STATE/runtime' start $ghost"

start_daemon || exit 1
check "three instances, each listed once" test "$(v list --format csv | cut -d, -f1 | sort | tr '\n' ' ')" = "r1 r2 s1 "
check "r1 still Running with the same pid" test "$(v info r1 --format json | jq .pid)" = "$pid1"
check "r2 reconciled to Stopped" test "$(status r2)" = Stopped
check "r2's runtime state removed" test ! -e "$STATE/runtime/$id2"
check "r2's root unmounted" sh -c "! grep -q '$id2' /proc/self/mountinfo"
check "r2's cgroup removed" test -z "$(find /sys/fs/cgroup -maxdepth 2 -name "$id2")"
check "orphan container removed" test ! -e "$STATE/runtime/$ghost"
check "orphan directory removed" test ! -e "$STATE/containers/$ghost"
check "orphan cgroup removed" test -z "$(find /sys/fs/cgroup -maxdepth 2 -name "$ghost")"
check "exec in r1 after the restart" test "$(v exec r1 -- echo alive)" = alive
check "r2 starts again" v start r2
check "s1 starts" v start s1

# kill -9 in the middle of a launch: whatever the outcome, one r3 at most,
# and it can be used or deleted
v launch busybox r3 >/dev/null 2>&1 &
LPID=$!
wait_for "r3 row" sh -c "[ -n \"\$(sqlite3 '$STATE/vessel.db' \"SELECT id FROM instances WHERE name = 'r3'\")\" ]"
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=
wait "$LPID" 2>/dev/null
start_daemon || exit 1
check "r3 listed once after a kill mid-launch" test "$(v list --format csv | grep -c '^r3,')" = 1
st=$(status r3)
if [ "$st" = Stopped ]; then
	check "r3 starts after the interrupted launch" v start r3
fi
check "r3 runs" test "$(v exec r3 -- echo ok)" = ok

check "delete everything" v delete --force r1 r2 r3 s1
check "list empty" test -z "$(v list --format csv)"
stop_daemon
check "no host object left (mounts, cgroups, processes)" test "$(host_objects)" = "$before"
check "no container state left" test -z "$(find "$STATE/runtime" "$STATE/containers" -mindepth 1)"
finish
